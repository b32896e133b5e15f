"""Where the time of one training step goes: a per-op profile of our step and of HF Llama's.

:func:`bench_profile` takes the workload of ``bench train`` (same preset, shape, vocabulary, sequence length,
batch size and token batch; :func:`atlas.bench.workload`) and, for our eager float32 step (``ours_eager``,
the step :func:`atlas.train.train_run` runs) and for ``transformers.LlamaForCausalLM`` of the same shape
(``hf_llama``):

1. times ``rounds`` interleaved rounds of ``steps`` unprofiled steps of both (median seconds per step, and
   the median of the per-round ratios HF / ours), each round followed by the float32 matmul peak;
2. profiles ``steps`` optimiser steps of each with :mod:`torch.profiler` (CPU activity, shapes recorded),
   ours and HF's alternating, after one profiled-but-discarded step of each;
3. splits the *self* CPU time of every op inside a step into the categories of :data:`CATEGORIES` (within a
   step they add up to the step exactly) and reports, per category, the median over the profiled steps (a
   step in which the process was preempted -- a loaded machine -- spoils one step, not the figure), and its
   share of the sum of the medians.

Attribution. A few regions are labelled (:func:`torch.profiler.record_function`) while profiling, without
changing what runs: RMSNorm modules (pre/post forward hooks), RoPE (``apply_rope`` / HF's
``apply_rotary_pos_emb`` and rotary-embedding module), the output projection and loss (our fused chunked
:func:`atlas.metrics.linear_cross_entropy`; HF's ``lm_head`` and ``loss_function``), the optimiser
(``clip_grad_norm_`` and torch's own ``Optimizer.step`` / ``zero_grad`` labels). An op inside a labelled
region belongs to it whatever it is (the output projection's matmuls count as "output projection + CE").
A backward op belongs to the region of the forward op that created its autograd node (matched by the
autograd sequence number), so "RMSNorm" is the norms' forward *and* backward; so is attention (every op
inside SDPA's forward or backward kernel, its buffers' zero-fills included). Other ops go by name:
GEMMs, SDPA attention (forward and backward), copies / views / allocation, elementwise; time outside any op
(Python, the autograd engine, the profiler's own bookkeeping) is "framework".

Ceiling. Every GEMM kernel (``mm``, ``addmm``, ``bmm`` ..., whatever region it is in) is also summed on its own
with its FLOPs (``2 m k n`` from the recorded shapes): its time, share of the step and achieved FLOP/s (vs
the peak). If every non-GEMM op of our step took no time, our step would take the GEMM time: that bounds the
speed-up over itself (``1 / gemm share``), over HF (HF's step / our GEMM time) and the MFU
(``6 N tokens / GEMM time / peak``); and with GEMMs at the peak as well, HF's step / (GEMM FLOPs / peak).
All shares and bounds come from the profiled steps, whose ``ours`` and ``hf`` steps alternate (so a load
that comes and goes hits both alike); the unprofiled times give the MFU, the profiler's overhead and the
unprofiled ratio to HF (as ``bench train``, which remains the reference for speed).

Load. On a machine busy with other work, absolute milliseconds are inflated, and with several intra-op
threads worse: every parallel op waits for its slowest thread, so a descheduled thread stretches small ops
far more than large ones and the shares drift (measured here: RMSNorm 20% of HF's step with 2 threads at
load average 5, 6% with ``--threads 1``). Profile with one thread there (``--threads 1``), all threads on a
quiet machine.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections import defaultdict
from typing import Any, Callable, Iterator

import torch

from atlas.bench import PEAK_N, Variant, _hf, _hf_params, _ours, _timed_round, matmul_peak, workload
from atlas.model import param_count
from atlas.presets import Preset, resolve

#: Category key -> what a reader sees in the table.
CATEGORIES = {
    "matmul": "matmul (mm/addmm/bmm/linear)",
    "attention": "attention (SDPA fwd + bwd)",
    "output_ce": "output projection + cross-entropy",
    "norm": "RMSNorm (fwd + bwd)",
    "rope": "RoPE (fwd + bwd)",
    "elementwise": "elementwise / activation (silu, mul, add ...)",
    "optimizer": "optimizer (AdamW, clip_grad_norm, zero_grad)",
    "memory": "memory / copies / views",
    "other": "other ops (embedding ...)",
    "framework": "framework (Python, autograd engine, profiler)",
}
STEP = "atlas::step"
LABELS = {f"atlas::{k}": k for k in ("norm", "rope", "output_ce", "optimizer")}
EVALUATE = "autograd::engine::evaluate_function"
GEMM_KERNELS = {"aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm", "aten::baddbmm_",
                "aten::addbmm", "aten::addbmm_", "aten::_addmm_activation"}
MATMUL_OPS = GEMM_KERNELS | {"aten::matmul", "aten::linear", "aten::mv", "aten::dot", "aten::einsum"}
MEMORY_OPS = {
    "copy_", "_to_copy", "to", "contiguous", "clone", "cat", "stack", "empty", "empty_like", "empty_strided",
    "zeros", "zeros_like", "zero_", "ones", "ones_like", "fill_", "full", "new_zeros", "new_empty", "resize_",
    "pad", "constant_pad_nd", "_foreach_zero_", "arange", "lift_fresh", "set_",
    # views: no data moves, but each costs a dispatch
    "view", "reshape", "_reshape_alias", "_unsafe_view", "transpose", "t", "permute", "expand", "expand_as",
    "as_strided", "select", "slice", "narrow", "split", "split_with_sizes", "chunk", "unbind", "squeeze",
    "unsqueeze", "flatten", "unflatten", "alias", "detach", "detach_", "view_as", "type_as", "result_type",
    "promote_types", "resolve_conj", "resolve_neg", "flip", "repeat", "repeat_interleave",
}
ELEMENTWISE_OPS = {
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "exp", "exp_", "log", "log_",
    "pow", "pow_", "rsqrt", "sqrt", "reciprocal", "reciprocal_", "silu", "silu_", "silu_backward", "sigmoid",
    "sigmoid_backward", "gelu", "gelu_backward", "tanh", "tanh_backward", "relu", "threshold_backward", "where",
    "clamp", "clamp_", "clamp_min", "clamp_max", "mean", "sum", "amax", "max", "min", "addcmul_", "addcdiv_",
    "lerp_", "masked_fill", "masked_fill_", "cos", "sin", "abs", "sign", "dropout", "native_dropout",
    "native_dropout_backward", "softmax", "_softmax", "_softmax_backward_data",
}


def _is_attention(name: str) -> bool:
    return "scaled_dot_product" in name or "flash_attention" in name or "efficient_attention" in name


def _category_by_name(name: str) -> str:
    """The category of an op outside any labelled region, from its name alone."""
    if not name.startswith("aten::"):
        return "framework"  # atlas::step, autograd wrappers and nodes, AccumulateGrad ...
    if name in MATMUL_OPS:
        return "matmul"
    if _is_attention(name):
        return "attention"
    op = name[len("aten::"):]
    if op in MEMORY_OPS:
        return "memory"
    if op in ELEMENTWISE_OPS or op.startswith("_foreach_"):
        return "elementwise"
    return "other"


def _gemm_flops(evt: Any) -> float:
    """FLOPs of a GEMM kernel event, ``2 b m k n``, from its recorded input shapes.

    The last two matrix operands are ``(b,) m x k`` and ``(b,) k x n`` for ``mm``, ``addmm(_)`` (after the
    bias), ``bmm``, ``baddbmm`` and ``addbmm``; without shapes, the profiler's own count (if any).
    """
    mats = [s for s in (evt.input_shapes or []) if s and len(s) >= 2]
    if len(mats) >= 2:
        a, b = mats[-2], mats[-1]
        batch = a[0] if len(a) == 3 else 1
        return 2.0 * batch * a[-2] * a[-1] * b[-1]
    return float(getattr(evt, "flops", 0) or 0)


# ------------------------------------------------------------------------------------------- labelling


@contextlib.contextmanager
def _region(name: str) -> Iterator[None]:
    with torch.profiler.record_function(name):
        yield


def _labelled(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.profiler.record_function(name):
            return fn(*args, **kwargs)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _hook_modules(model: torch.nn.Module, pick: Callable[[str, torch.nn.Module], str | None]) -> list[Any]:
    """Label the forward of every module for which ``pick(name, module)`` gives a label; returns the handles."""
    handles = []
    for mod_name, mod in model.named_modules():
        label = pick(mod_name, mod)
        if label is None:
            continue
        stack: list[Any] = []

        def pre(_m: Any, _args: Any, label: str = label, stack: list[Any] = stack) -> None:
            rf = torch.profiler.record_function(label)
            rf.__enter__()
            stack.append(rf)

        def post(_m: Any, _args: Any, _out: Any, stack: list[Any] = stack) -> None:
            stack.pop().__exit__(None, None, None)

        handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    return handles


@contextlib.contextmanager
def labels(kind: str, model: torch.nn.Module) -> Iterator[dict[str, bool]]:
    """Label the regions of ``model``'s step (``kind``: ``ours`` or ``hf``) for the profiler; undone on exit.

    Yields a dict saying which labels could be installed (a transformers version without
    ``apply_rotary_pos_emb`` in its Llama module leaves HF's RoPE to the other categories).
    """
    patches: list[tuple[Any, str, Any]] = []  # (object, attribute, original)

    def patch(obj: Any, attr: str, label: str) -> bool:
        if not hasattr(obj, attr):
            return False
        original = getattr(obj, attr)
        patches.append((obj, attr, original))
        setattr(obj, attr, _labelled(original, label))
        return True

    def pick(_name: str, mod: torch.nn.Module) -> str | None:
        cls = type(mod).__name__
        if cls.endswith("RMSNorm"):
            return "atlas::norm"
        if cls.endswith("RotaryEmbedding"):
            return "atlas::rope"
        if kind == "hf" and _name == "lm_head":
            return "atlas::output_ce"
        return None

    installed = {"optimizer": patch(torch.nn.utils, "clip_grad_norm_", "atlas::optimizer")}
    handles = _hook_modules(model, pick)
    installed["norm"] = bool(handles)
    had_loss = "_loss_function" in vars(model)
    try:
        if kind == "ours":
            import atlas.model as ours

            installed["rope"] = patch(ours, "apply_rope", "atlas::rope")
            installed["output_ce"] = patch(ours, "linear_cross_entropy", "atlas::output_ce")
        else:
            from transformers.models.llama import modeling_llama

            installed["rope"] = patch(modeling_llama, "apply_rotary_pos_emb", "atlas::rope")
            model.loss_function = _labelled(model.loss_function, "atlas::output_ce")
            installed["output_ce"] = True
        yield installed
    finally:
        for h in handles:
            h.remove()
        for obj, attr, original in reversed(patches):
            setattr(obj, attr, original)
        if kind == "hf" and not had_loss and "_loss_function" in vars(model):
            del model._loss_function


# ------------------------------------------------------------------------------------------- attribution


def step_label(name: str) -> str:
    """The region of one step of model ``name`` in the profile."""
    return f"{STEP}#{name}"


def _profile(fns: dict[str, Callable[[], torch.Tensor]], steps: int) -> Any:
    """Profiler events of ``steps`` rounds of one step of every model (interleaved, so that a load that comes
    and goes hits all alike), each step inside its :func:`step_label` region; one discarded round first."""
    from torch.profiler import ProfilerActivity, profile, schedule

    sched = schedule(wait=0, warmup=1, active=steps, repeat=1)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, schedule=sched) as prof:
        for _ in range(steps + 1):
            for name, fn in fns.items():
                with torch.profiler.record_function(step_label(name)):
                    loss = fn()
                float(loss)
            prof.step()
    return prof.events()


def _ancestors(evt: Any) -> Iterator[Any]:
    while evt is not None:
        yield evt
        evt = evt.cpu_parent


def attribute(events: Any, step: str = STEP) -> dict[str, Any]:
    """Split the self CPU time of the ``step`` regions (:func:`step_label`) of ``events`` into :data:`CATEGORIES`.

    Returns the median over steps of the microseconds of each category, of the step (the sum of its
    categories) and of its GEMM kernels' time and FLOPs; the top ops of each category (median per step);
    the number of steps.
    """
    def label_of(evt: Any) -> str | None:
        name = evt.name
        if name in LABELS:
            return LABELS[name]
        if name.startswith(("Optimizer.step#", "Optimizer.zero_grad#")):
            return "optimizer"
        return None

    # forward op -> region, by autograd sequence number (the last op with a number created its node)
    creator: dict[int, tuple[float, Any]] = {}
    in_step: list[Any] = []
    for evt in events:
        chain = list(_ancestors(evt))
        if not any(e.name == step for e in chain):
            continue
        in_step.append((evt, chain))
        if evt.sequence_nr >= 0 and not any(e.name.startswith(EVALUATE) for e in chain):
            start = evt.time_range.start
            if evt.sequence_nr not in creator or start >= creator[evt.sequence_nr][0]:
                creator[evt.sequence_nr] = (start, evt)

    def forward_region(chain: Iterator[Any]) -> str | None:
        for e in chain:
            r = label_of(e) or ("attention" if _is_attention(e.name) else None)
            if r:
                return r
        return None

    def region(chain: list[Any]) -> str | None:
        """The labelled region (or attention kernel) an op is in, directly or through its forward op."""
        for i, e in enumerate(chain):
            if e.name.startswith(EVALUATE):  # a backward op: the region of its forward op
                r = forward_region(iter(chain[:i]))
                if r:
                    return r
                fwd = creator.get(e.sequence_nr)
                return forward_region(_ancestors(fwd[1])) if fwd else None
        return forward_region(iter(chain))

    step_ids = {id(evt): i for i, (evt, _) in enumerate(e for e in in_step if e[0].name == step)}
    n = len(step_ids)
    if n == 0:
        raise RuntimeError(f"the profile holds no {step!r} region")
    us = [defaultdict(float) for _ in range(n)]  # per step: a preempted op spoils one step, not the median
    gemm_us, gemm_flops = [0.0] * n, [0.0] * n
    ops: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * n)  # (category, op) -> per step
    for evt, chain in in_step:
        i = next(step_ids[id(e)] for e in chain if e.name == step)
        t = evt.self_cpu_time_total
        cat = region(chain) or _category_by_name(evt.name)
        us[i][cat] += t
        ops[cat, evt.name][i] += t
        if evt.name in GEMM_KERNELS:
            gemm_us[i] += t
            gemm_flops[i] += _gemm_flops(evt)
    return {
        "steps": n,
        "step_us": statistics.median(sum(u.values()) for u in us),
        "us": {k: statistics.median(u.get(k, 0.0) for u in us) for k in CATEGORIES},
        "top_ops": {k: sorted(((op, statistics.median(ts)) for (c, op), ts in ops.items() if c == k),
                              key=lambda x: -x[1])[:4] for k in CATEGORIES if any(c == k for c, _ in ops)},
        "gemm_us": statistics.median(gemm_us), "gemm_flops": statistics.median(gemm_flops),
    }


# ------------------------------------------------------------------------------------------- the benchmark


def bench_profile(
    preset: str | Preset = "cpu",
    shape_name: str | None = None,
    *,
    steps: int = 3,
    warmup: int = 2,
    rounds: int = 3,
    hf: bool = True,
    seed: int = 0,
    peak_n: int = PEAK_N,
) -> dict[str, Any]:
    """Per-category ms per step and share of the step, ours (eager float32) and HF Llama; see the module doc."""
    if steps < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"steps and rounds must be >= 1 and warmup >= 0, got {steps}, {rounds}, {warmup}")
    preset = resolve(preset)
    shape, vocab, seq_len, batch_size, batch = workload(preset, shape_name, seed)
    tokens = batch_size * seq_len
    notes: dict[str, str] = {}
    fns: dict[str, Callable[[], torch.Tensor]] = {
        "ours_eager": _ours(shape, vocab, seq_len, batch, Variant("ours_eager", False, "float32"), seed)}
    if hf:
        try:
            fns["hf_llama"] = _hf(shape, vocab, seq_len, batch, seed)
        except ModuleNotFoundError as exc:
            notes["hf_llama"] = f"skipped: {exc}"
    for fn in fns.values():
        _timed_round(fn, max(warmup, 1))

    secs: dict[str, list[float]] = {k: [] for k in fns}
    peaks: list[float] = []
    for _ in range(rounds):  # interleaved, as bench train
        for name, fn in fns.items():
            secs[name].append(_timed_round(fn, steps))
        peaks.append(matmul_peak("float32", peak_n))
    peak = statistics.median(peaks)

    n_params = param_count(shape, vocab)
    with contextlib.ExitStack() as stack:
        installed = {name: stack.enter_context(labels("ours" if name.startswith("ours") else "hf",
                                                      fn.model))  # type: ignore[attr-defined]
                     for name, fn in fns.items()}
        events = _profile(fns, steps)
    models: dict[str, Any] = {}
    for name in fns:
        a = attribute(events, step_label(name))
        if not all(installed[name].values()):
            notes[f"{name}_labels"] = "not installed: " + ", ".join(k for k, v in installed[name].items() if not v)
        step_ms, prof_ms = statistics.median(secs[name]) * 1e3, a["step_us"] / 1e3
        gemm_ms = a["gemm_us"] / 1e3
        total = sum(a["us"].values()) or 1.0  # medians per category: their sum is within noise of the step's
        models[name] = {
            "params": n_params if name.startswith("ours") else _hf_params(shape, vocab),
            "step_ms": step_ms, "step_ms_rounds": [s * 1e3 for s in secs[name]],
            "step_ms_profiled": prof_ms, "profiler_overhead": prof_ms / step_ms - 1.0,
            "categories": {k: {"ms": us / 1e3, "share": us / total} for k, us in a["us"].items()},
            "top_ops": {k: [[op, t / 1e3] for op, t in v] for k, v in a["top_ops"].items()},
            "gemm": {
                "ms": gemm_ms, "share": gemm_ms / prof_ms,
                "flops_per_step": a["gemm_flops"], "flops_6N_per_step": 6.0 * n_params * tokens,
                "flops_per_second": a["gemm_flops"] / (gemm_ms / 1e3) if gemm_ms else 0.0,
                "fraction_of_peak": a["gemm_flops"] / (gemm_ms / 1e3) / peak if gemm_ms else 0.0,
            },
            "mfu_6N": 6.0 * n_params * tokens / (step_ms / 1e3) / peak,
            "mfu_6N_ceiling": 6.0 * n_params * tokens / (gemm_ms / 1e3) / peak if gemm_ms else float("nan"),
            "speedup_bound_self": prof_ms / gemm_ms if gemm_ms else float("nan"),
        }
    out: dict[str, Any] = {
        "preset": preset.name, "shape": shape.as_dict(), "vocab_size": vocab, "seq_len": seq_len,
        "batch_size": batch_size, "tokens_per_step": tokens, "params": n_params,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "steps": steps, "warmup": warmup,
        "rounds": rounds, "matmul_peak_n": peak_n, "matmul_peak_flops": peak, "matmul_peaks": peaks,
        "categories": dict(CATEGORIES), "models": models, "notes": notes,
        "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
    }
    if "hf_llama" in models:
        ours, ref = models["ours_eager"], models["hf_llama"]
        out["speedup_vs_hf"] = statistics.median(h / o for h, o in zip(secs["hf_llama"], secs["ours_eager"]))
        out["speedup_vs_hf_profiled"] = ref["step_ms_profiled"] / ours["step_ms_profiled"]
        gemm_ms = ours["gemm"]["ms"]
        out["speedup_vs_hf_bound"] = ref["step_ms_profiled"] / gemm_ms if gemm_ms else float("nan")
        out["speedup_vs_hf_bound_at_peak"] = ref["step_ms_profiled"] / 1e3 / (ours["gemm"]["flops_per_step"] / peak)
    return out


def format_profile(r: dict[str, Any]) -> str:
    """The table: per category ms/step and share for each model, then the GEMM ceiling."""
    s, models = r["shape"], r["models"]
    names = list(models)
    lines = [
        f"bench profile: preset {r['preset']}, shape {s['name']} (layers {s['layers']}, d {s['d_model']}, "
        f"heads {s['heads']}, kv {s['kv']}, ffw {s['ffw']}), vocab {r['vocab_size']}, {r['batch_size']} x "
        f"{r['seq_len']} tokens/step, {r['threads']} threads, torch {r['torch']}",
        f"  {r['steps']} profiled steps each (self CPU time per op, summed by category); unprofiled: median of "
        f"{r['rounds']} interleaved rounds; fp32 matmul peak {r['matmul_peak_flops'] / 1e9:,.1f} GFLOP/s",
        f"  {'category':<47}" + "".join(f" {n + ' ms':>14} {'share':>6}" for n in names),
    ]
    for key, label in r["categories"].items():
        lines.append(f"  {label:<47}" + "".join(
            f" {models[n]['categories'][key]['ms']:>14,.1f} {models[n]['categories'][key]['share']:>6.1%}"
            for n in names))
    lines.append(f"  {'step, profiled (median)':<47}" + "".join(
        f" {models[n]['step_ms_profiled']:>14,.1f} {'100%':>6}" for n in names))
    lines.append(f"  {'step, unprofiled (median)':<47}" + "".join(
        f" {models[n]['step_ms']:>14,.1f} {'':>6}" for n in names))
    lines.append("  GEMM kernels (all regions, output projection included):")
    for n in names:
        g = models[n]["gemm"]
        lines.append(f"    {n:<11} {g['ms']:,.1f} ms/step = {g['share']:.0%} of the profiled step; "
                     f"{g['flops_per_step'] / 1e9:.1f} GFLOP/step "
                     f"(6N: {g['flops_6N_per_step'] / 1e9:.1f}) at {g['flops_per_second'] / 1e9:,.1f} GFLOP/s = "
                     f"{g['fraction_of_peak']:.0%} of peak; MFU 6N {models[n]['mfu_6N']:.0%}")
    if "ours_eager" in models:
        o = models["ours_eager"]
        lines.append(f"  ceiling, if every non-GEMM op of ours took no time: {o['speedup_bound_self']:.2f}x "
                     f"itself, MFU 6N <= {o['mfu_6N_ceiling']:.0%} (goal 60%)")
    if "speedup_vs_hf" in r:
        lines.append(f"  ours vs HF: {r['speedup_vs_hf']:.2f}x unprofiled, {r['speedup_vs_hf_profiled']:.2f}x "
                     f"profiled; <= {r['speedup_vs_hf_bound']:.2f}x with free "
                     f"non-GEMM ops at today's GEMM speed, <= {r['speedup_vs_hf_bound_at_peak']:.2f}x with GEMMs "
                     f"at the peak too (goal 1.8x)")
    for k, v in r["notes"].items():
        lines.append(f"  note: {k}: {v}")
    if r.get("loadavg_1min") is not None and r["loadavg_1min"] > r["threads"] + 0.5:
        hint = ("; with several threads a descheduled thread stalls every parallel op, which distorts the shares "
                "too: rerun with --threads 1" if r["threads"] > 1 else "")
        lines.append(f"  LOADED MACHINE: 1-min load average {r['loadavg_1min']:.1f} on {r['threads']} threads -- "
                     f"absolute ms are inflated; the shares and ratios are the figures to read{hint}")
    return "\n".join(lines)
