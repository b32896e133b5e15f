"""Trainer throughput: our training step versus Hugging Face's ``LlamaForCausalLM``, in one process.

For one shape (by default the largest shape of the ``cpu`` preset, with its multilingual vocabulary size,
sequence length and batch size) the benchmark times these *variants* of one optimiser step:

* ``ours_eager`` / ``ours_compiled`` -- :class:`atlas.model.Transformer` trained as :func:`atlas.train.train_run`
  trains it (fused chunked output projection + cross-entropy, AdamW, gradient clipping), eagerly or under
  ``torch.compile``, in float32;
* ``ours_eager_bf16`` / ``ours_compiled_bf16`` -- the same under ``torch.autocast("cpu", torch.bfloat16)``
  (what ``train.mixed_precision: bf16`` does): matmuls in bfloat16 (AMX / AVX512-BF16 where the CPU has them),
  weights, optimiser and loss in float32;
* ``hf_llama`` -- ``transformers.LlamaForCausalLM`` with the same ``d_model``, layers, heads, head width, ``ffw``,
  vocabulary, tied embeddings and no biases, trained by a plain float32 AdamW loop (SDPA attention).

Load honesty. ``repeats`` rounds are interleaved: each round runs ``steps`` steps of every variant and then
measures the matmul peak (best of three ``2048^3`` ``torch.mm``) of every dtype in use. A variant's MFU is the
median over rounds of (its achieved ``6 N`` FLOP/s in that round) / (the peak of its dtype in that round), and
its ratio to HF the median of per-round ratios, so a load that comes and goes distorts numerator and
denominator alike. Each figure carries its *spread* ((max - min) / median over rounds); a spread above
:data:`LOADED_SPREAD` (or a 1-minute load average above the thread count) marks the machine as loaded, where
absolute tokens/s and MFU mean little and only the interleaved ratios do.

Steps return the loss tensor; the host reads it once per round (``float``), not once per step. On a CPU this
makes no measurable difference (there is no device queue to drain); on an accelerator it lets steps overlap.
Finally the benchmark checks that two short runs of the best variant with the same seed give identical losses.

Where the time of a step goes (per-op profile of ``ours_eager`` and ``hf_llama`` on the same workload, and
the ceiling the GEMMs set): :mod:`atlas.bench_profile` (``python -m atlas bench profile``).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch

from atlas.model import Shape, Transformer, flops_per_token, param_count
from atlas.presets import Preset, resolve

LOADED_SPREAD = 0.10  # (max - min) / median of per-round tokens/s above this: the machine is not quiet
PEAK_N = 2048  # matmul peak: an n x n x n torch.mm (17 GFLOP)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}

Step = Callable[[], torch.Tensor]


@dataclass(frozen=True)
class Variant:
    """One way of running our training step: compiled or not, float32 or bfloat16 autocast."""

    name: str
    compile: bool
    dtype: str  # key of DTYPES: the dtype of the matmuls, whose peak the MFU is relative to


def variants(compile: bool | None = None, precision: str = "both") -> list[Variant]:
    """Our variants for ``compile`` (None = eager and compiled) and ``precision`` (fp32, bf16 or both)."""
    if precision not in ("fp32", "bf16", "both"):
        raise ValueError(f"precision must be fp32, bf16 or both, got {precision!r}")
    modes = [False, True] if compile is None else [compile]
    dtypes = {"fp32": ["float32"], "bf16": ["bfloat16"], "both": ["float32", "bfloat16"]}[precision]
    return [Variant(f"ours_{'compiled' if c else 'eager'}{'_bf16' if d == 'bfloat16' else ''}", c, d)
            for d in dtypes for c in modes]


def _autocast(dtype: str) -> ContextManager[Any]:
    """CPU autocast to ``dtype`` for bfloat16; no-op for float32."""
    return torch.autocast("cpu", dtype=DTYPES[dtype]) if dtype != "float32" else contextlib.nullcontext()


def matmul_peak(dtype: str = "float32", n: int = PEAK_N, repeats: int = 3) -> float:
    """Best FLOP/s of ``repeats`` ``n x n`` ``torch.mm`` in ``dtype`` (2 n^3 FLOPs each) on this CPU's threads."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g).to(DTYPES[dtype]), torch.randn(n, n, generator=g).to(DTYPES[dtype])
    torch.mm(a, b)  # warm-up: first call pays for packing buffers
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def _ours(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, v: Variant, seed: int = 0) -> Step:
    """Our step for variant ``v``, as train_run runs it; returns the loss tensor (no host sync)."""
    torch.manual_seed(seed)
    model = Transformer(shape, vocab, seq_len)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), foreach=True)
    fwd = torch.compile(model) if v.compile else model
    x, y = batch[:, :-1], batch[:, 1:]

    def step() -> torch.Tensor:
        with _autocast(v.dtype):
            loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    step.model = model  # type: ignore[attr-defined]  # for atlas.bench_profile's labels
    return step


def _hf(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, seed: int = 0) -> Step:
    """HF Llama of the same shape, float32, plain AdamW loop; returns the loss tensor."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=shape.d_model, intermediate_size=shape.ffw, num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads, num_key_value_heads=shape.heads, head_dim=shape.kv,
        max_position_embeddings=seq_len + 1, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        use_cache=False,
    )
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = batch[:, :-1].contiguous()

    def step() -> torch.Tensor:
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.detach()

    step.model = model  # type: ignore[attr-defined]
    return step


def _hf_params(shape: Shape, vocab: int) -> int:
    """Parameters of the equivalent (tied) Llama: two RMSNorm vectors per layer and a final one."""
    return param_count(shape, vocab) + shape.layers * shape.d_model + shape.d_model


def _timed_round(fn: Step, steps: int) -> float:
    """Seconds per step over ``steps`` steps, reading the last loss once at the end (one host sync)."""
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = fn()
    float(loss)
    return (time.perf_counter() - t0) / steps


def spread(xs: list[float]) -> float:
    """(max - min) / median: the relative range over repeats (0 on a perfectly quiet machine)."""
    return (max(xs) - min(xs)) / statistics.median(xs) if xs else float("nan")


def deterministic(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, v: Variant, steps: int = 3) -> bool:
    """Two fresh models with the same seed, same batches -> bit-identical losses?"""
    a = _ours(shape, vocab, seq_len, batch, v)
    b = _ours(shape, vocab, seq_len, batch, v)
    return [float(a()) for _ in range(steps)] == [float(b()) for _ in range(steps)]


def _pick_shape(preset: Preset, shape_name: str | None) -> Shape:
    """The preset's shape called ``shape_name``, or its largest."""
    shapes = [Shape.from_dict(s) for s in preset.shapes]
    if shape_name is None:
        return max(shapes, key=lambda s: param_count(s, 1))
    names = [s.name for s in shapes]
    if shape_name not in names:
        raise ValueError(f"unknown shape {shape_name!r} for preset {preset.name!r}; allowed: {', '.join(names)}")
    return shapes[names.index(shape_name)]


def workload(preset: str | Preset, shape_name: str | None, seed: int = 0) -> tuple[Shape, int, int, int, torch.Tensor]:
    """The benchmark's shape, vocabulary, sequence length, batch size and (fixed, random) token batch."""
    preset = resolve(preset)
    shape = _pick_shape(preset, shape_name)
    vocab = preset.vocab_size("multi")
    seq_len, batch_size = preset.seq_len, preset.batch_size
    batch = torch.randint(0, vocab, (batch_size, seq_len + 1), generator=torch.Generator().manual_seed(seed))
    return shape, vocab, seq_len, batch_size, batch


def _build(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, wanted: list[Variant], hf: bool,
           seed: int) -> tuple[dict[str, Step], dict[str, Variant], dict[str, str]]:
    """Step functions by name (each run once: compiles now), their variants, and notes."""
    steps: dict[str, Step] = {}
    meta: dict[str, Variant] = {}
    notes: dict[str, str] = {}
    for v in wanted:
        try:
            fn = _ours(shape, vocab, seq_len, batch, v, seed)
            t0 = time.perf_counter()
            float(fn())
            if v.compile:
                notes[f"{v.name}_compile_seconds"] = f"{time.perf_counter() - t0:.1f}"
        except Exception as exc:  # no compiler, unsupported op, no bf16 kernels ...
            notes[v.name] = f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            continue
        steps[v.name], meta[v.name] = fn, v
    if hf:
        steps["hf_llama"] = _hf(shape, vocab, seq_len, batch, seed)
        meta["hf_llama"] = Variant("hf_llama", False, "float32")
        notes["hf_llama"] = "transformers LlamaForCausalLM, float32, eager, SDPA attention, tied embeddings"
    return steps, meta, notes


def bench_train(
    preset: str | Preset = "cpu",
    shape_name: str | None = None,
    *,
    steps: int = 4,
    repeats: int = 5,
    compile: bool | None = None,
    precision: str = "both",
    hf: bool = True,
    seed: int = 0,
    check_determinism: bool = True,
    peak_n: int = PEAK_N,
) -> dict[str, Any]:
    """Tokens/s, spread, MFU and ratio to HF Llama of each variant for ``shape_name`` (default: the largest).

    ``compile``: ``None`` times our step eagerly and compiled; ``True`` / ``False`` only that mode.
    ``precision``: ``fp32``, ``bf16`` (autocast) or ``both``. ``peak_n``: size of the peak matmul.
    Returns a JSON-able dict (see the module doc).
    """
    if steps < 1 or repeats < 1:
        raise ValueError(f"steps and repeats must be >= 1, got {steps}, {repeats}")
    preset = resolve(preset)
    shape, vocab, seq_len, batch_size, batch = workload(preset, shape_name, seed)
    tokens_per_step = batch_size * seq_len
    wanted = variants(compile, precision)

    fns, meta, notes = _build(shape, vocab, seq_len, batch, wanted, hf, seed)
    for fn in fns.values():  # warm-up: allocator, packed weights, autotuned kernels
        _timed_round(fn, 2)
    dtypes = sorted({v.dtype for v in meta.values()})
    secs: dict[str, list[float]] = {k: [] for k in fns}
    peaks: dict[str, list[float]] = {d: [] for d in dtypes}
    for _ in range(repeats):  # interleaved rounds: every variant, then every peak
        for name, fn in fns.items():
            secs[name].append(_timed_round(fn, steps))
        for d in dtypes:
            peaks[d].append(matmul_peak(d, peak_n))

    n = param_count(shape, vocab)
    fpt6, fpt_att = 6.0 * n, flops_per_token(shape, vocab, seq_len, attention=True)
    out: dict[str, Any] = {
        "preset": preset.name, "shape": shape.as_dict(), "vocab_size": vocab, "seq_len": seq_len,
        "batch_size": batch_size, "params": n, "params_hf": _hf_params(shape, vocab),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "steps": steps, "repeats": repeats,
        "matmul_peak_n": peak_n, "matmul_peak_flops": {d: statistics.median(p) for d, p in peaks.items()},
        "matmul_peak_spread": {d: spread(p) for d, p in peaks.items()},
        "variants": {}, "notes": notes,
    }
    for name, ts in secs.items():
        tps = [tokens_per_step / t for t in ts]
        peak = peaks[meta[name].dtype]
        out["variants"][name] = {
            "dtype": meta[name].dtype, "compiled": meta[name].compile,
            "seconds_per_step": statistics.median(ts),
            "tokens_per_second": statistics.median(tps),
            "tokens_per_second_rounds": tps,
            "spread": spread(tps),
            "flops_per_second_6N": fpt6 * statistics.median(tps),
            "mfu_6N": statistics.median(fpt6 * x / p for x, p in zip(tps, peak)),  # paired with its own round
            "mfu_with_attention": statistics.median(fpt_att * x / p for x, p in zip(tps, peak)),
        }
        if "hf_llama" in secs:
            out["variants"][name]["ratio_vs_hf"] = statistics.median(h / t for h, t in zip(secs["hf_llama"], ts))
    _summarise(out, shape, vocab, seq_len, batch, meta, check_determinism)
    return out


def _summarise(out: dict[str, Any], shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor,
               meta: dict[str, Variant], check_determinism: bool) -> None:
    """Add the best variant, its speed-up over HF, the load verdict and the determinism check to ``out``."""
    vs = out["variants"]
    ours = [k for k in vs if k.startswith("ours")]
    best = max(ours, key=lambda k: vs[k]["tokens_per_second"]) if ours else None
    out["best_ours"] = best
    if best and "hf_llama" in vs:
        out["speedup_vs_hf"] = vs[best]["ratio_vs_hf"]
    if best:
        out["mfu_6N_best"] = vs[best]["mfu_6N"]
    worst = max([v["spread"] for v in vs.values()] + list(out["matmul_peak_spread"].values()), default=0.0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    out["max_spread"], out["loadavg_1min"] = worst, load
    out["loaded"] = bool(worst > LOADED_SPREAD or (load is not None and load > out["threads"] + 0.5))
    if best and check_determinism:
        out["deterministic"] = deterministic(shape, vocab, seq_len, batch, meta[best])


def format_report(r: dict[str, Any]) -> str:
    """A short table: variant, dtype, tokens/s, spread, MFU (6N, vs its dtype's peak), ratio to HF."""
    s = r["shape"]
    peaks = ", ".join(f"{d} {p / 1e9:,.0f} GFLOP/s (spread {r['matmul_peak_spread'][d]:.0%})"
                      for d, p in r["matmul_peak_flops"].items())
    lines = [
        f"bench train: preset {r['preset']}, shape {s['name']} (layers {s['layers']}, d {s['d_model']}, heads {s['heads']}, "
        f"kv {s['kv']}, ffw {s['ffw']}), vocab {r['vocab_size']}, {r['batch_size']} x {r['seq_len']} tokens/step, "
        f"{r['threads']} threads, torch {r['torch']}",
        f"  N = {r['params']:,} parameters (HF Llama: {r['params_hf']:,}); {r['repeats']} interleaved rounds of "
        f"{r['steps']} steps; matmul peak {r['matmul_peak_n']}^3: {peaks}",
        f"  {'variant':<20} {'dtype':<9} {'tokens/s':>9} {'spread':>7} {'MFU 6N':>7} {'vs HF':>6}",
    ]
    for name, v in r["variants"].items():
        ratio = f"{v['ratio_vs_hf']:.2f}x" if "ratio_vs_hf" in v else "-"
        lines.append(f"  {name:<20} {v['dtype']:<9} {v['tokens_per_second']:>9,.0f} {v['spread']:>7.0%} "
                     f"{v['mfu_6N']:>7.1%} {ratio:>6}")
    for k, v in r["notes"].items():
        lines.append(f"  note: {k}: {v}")
    if r.get("best_ours"):
        sp = f", {r['speedup_vs_hf']:.2f}x HF Llama (goal 1.8x)" if "speedup_vs_hf" in r else ""
        lines.append(f"  best: {r['best_ours']}{sp}, MFU {r['mfu_6N_best']:.0%} of its dtype's peak (goal 60%)")
    load = f"{r['loadavg_1min']:.1f}" if r.get("loadavg_1min") is not None else "n/a"
    if r["loaded"]:
        lines.append(f"  LOADED MACHINE: spread up to {r['max_spread']:.0%} (quiet: <= {LOADED_SPREAD:.0%}), "
                     f"1-min load average {load} on {r['threads']} threads -- tokens/s and MFU are not the "
                     f"machine's; the interleaved ratios are the robust figures")
    else:
        lines.append(f"  quiet machine: spread <= {r['max_spread']:.0%}, 1-min load average {load}")
    if "deterministic" in r:
        lines.append(f"  deterministic (same seed, bit-identical losses, {r['best_ours']}): {r['deterministic']}")
    return "\n".join(lines)


def bench_fit(points: int = 300, repeats: int = 3, seed: int = 5) -> dict[str, Any]:
    """Seconds for the full ATLAS fit of ``points`` synthetic points: the default engine vs lmfit, and vs CSL.

    Medians over ``repeats`` interleaved rounds in one process, so the ratios are robust to machine load.
    ``engine_speedup`` = lmfit engine seconds / direct engine seconds on the same fit; ``identical`` says
    whether both engines returned the same parameters bit for bit (they should).
    """
    import statistics
    import time

    from atlas.fit import fit
    from atlas.synthetic import synthetic

    if points < 20:
        raise ValueError(f"--points must be >= 20, got {points}")
    data = synthetic("atlas", n=points, seed=seed)
    atlas_s, lmfit_s, csl_s, converged, identical = [], [], [], "", True
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        res = fit("atlas", data)
        atlas_s.append(time.perf_counter() - t0)
        converged = f"{res.n_converged}/{res.n_starts}"
        t0 = time.perf_counter()
        ref = fit("atlas", data, engine="lmfit")
        lmfit_s.append(time.perf_counter() - t0)
        identical = identical and ref.internal == res.internal
        t0 = time.perf_counter()
        fit("csl", data)
        csl_s.append(time.perf_counter() - t0)
    a, m, c = statistics.median(atlas_s), statistics.median(lmfit_s), statistics.median(csl_s)
    return {"points": points, "repeats": max(1, repeats), "atlas_seconds": a, "atlas_lmfit_seconds": m,
            "engine_speedup": m / a, "identical": identical, "csl_seconds": c, "ratio": a / c,
            "grid": res.n_grid, "converged": converged}
