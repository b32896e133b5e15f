"""Trainer throughput: our training step versus Hugging Face's ``LlamaForCausalLM``, in one process.

For one shape (by default the largest shape of the ``cpu`` preset, with its multilingual vocabulary size,
sequence length and batch size) the benchmark times

* **ours** -- :class:`atlas.model.Transformer` trained exactly as :func:`atlas.train.train_run` trains it
  (fused chunked output-projection + cross-entropy, AdamW, gradient clipping), eagerly and, if asked,
  under ``torch.compile``;
* **hf** -- ``transformers.LlamaForCausalLM`` with the same ``d_model``, layers, heads, head width, ``ffw``,
  vocabulary, tied embeddings and no biases, trained by a plain AdamW loop (``model(input_ids,
  labels=...).loss``, SDPA attention);

interleaving ``repeats`` rounds of ``steps`` optimiser steps of each and reporting medians. It also measures
a matmul peak in the same run (a large float32 ``torch.mm``) and reports achieved FLOP/s as ``6 N`` x tokens/s
(and with causal-attention FLOPs) as a fraction of that peak (a model FLOP utilisation, MFU).
Finally it checks that two short runs of our step with the same seed give bit-identical losses.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

from atlas.model import Shape, Transformer, flops_per_token, param_count


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """Median FLOP/s of an ``n x n`` float32 ``torch.mm`` (2 n^3 FLOPs) on this machine's CPU threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times)


def _ours(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, compile: bool, seed: int = 0) -> Callable[[], float]:
    torch.manual_seed(seed)
    model = Transformer(shape, vocab, seq_len)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), foreach=True)
    fwd = torch.compile(model) if compile else model

    def step() -> float:
        loss = fwd(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def _hf(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, seed: int = 0) -> Callable[[], float]:
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

    def step() -> float:
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(out.loss.detach())

    return step


def _hf_params(shape: Shape, vocab: int) -> int:
    """Parameters of the equivalent (tied) Llama: two RMSNorm vectors per layer and a final one."""
    return param_count(shape, vocab) + shape.layers * shape.d_model + shape.d_model


def deterministic(shape: Shape, vocab: int, seq_len: int, batch: torch.Tensor, compile: bool, steps: int = 3) -> bool:
    """Two fresh models with the same seed, same batches -> bit-identical losses?"""
    a = _ours(shape, vocab, seq_len, batch, compile)
    b = _ours(shape, vocab, seq_len, batch, compile)
    return [a() for _ in range(steps)] == [b() for _ in range(steps)]


def bench_train(
    preset: str = "cpu",
    shape_name: str | None = None,
    *,
    steps: int = 5,
    repeats: int = 5,
    compile: bool | None = None,
    hf: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Tokens/s of our step vs HF Llama for ``shape_name`` (default: the preset's largest) and MFU.

    ``compile``: ``None`` times our step both eagerly and compiled (if compilation works here); ``True`` /
    ``False`` only that variant. Returns a JSON-able dict.
    """
    from atlas.presets import load_preset

    cfg = load_preset(preset)
    shapes = [Shape.from_dict(s) for s in cfg["model"]["shapes"]]
    if shape_name is None:
        shape = max(shapes, key=lambda s: param_count(s, 1))
    else:
        names = [s.name for s in shapes]
        if shape_name not in names:
            raise ValueError(f"unknown shape {shape_name!r} for preset {preset!r}; allowed: {', '.join(names)}")
        shape = shapes[names.index(shape_name)]
    if steps < 1 or repeats < 1:
        raise ValueError(f"steps and repeats must be >= 1, got {steps}, {repeats}")
    vocab = int(cfg["tokenizer"]["vocab_size"])
    seq_len, batch_size = int(cfg["model"]["seq_len"]), int(cfg["train"]["batch_size"])
    g = torch.Generator().manual_seed(seed)
    batch = torch.randint(0, vocab, (batch_size, seq_len + 1), generator=g)
    tokens_per_step = batch_size * seq_len

    variants: dict[str, Callable[[], float]] = {}
    notes: dict[str, str] = {}
    if compile is not True:
        variants["ours_eager"] = _ours(shape, vocab, seq_len, batch, False, seed)
    if compile is not False:
        try:
            fn = _ours(shape, vocab, seq_len, batch, True, seed)
            t0 = time.perf_counter()
            fn()
            notes["compile_seconds"] = f"{time.perf_counter() - t0:.1f}"
            variants["ours_compiled"] = fn
        except Exception as exc:  # no compiler, unsupported op ...
            notes["ours_compiled"] = f"torch.compile unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    if hf:
        variants["hf_llama"] = _hf(shape, vocab, seq_len, batch, seed)
    for fn in variants.values():  # warm-up
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):  # interleaved rounds
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - t0) / steps)
    peak = matmul_peak()
    n = param_count(shape, vocab)
    fpt6 = 6.0 * n
    fpt_att = flops_per_token(shape, vocab, seq_len, attention=True)
    out: dict[str, Any] = {
        "preset": preset,
        "shape": shape.as_dict(),
        "vocab_size": vocab,
        "seq_len": seq_len,
        "batch_size": batch_size,
        "params": n,
        "params_hf": _hf_params(shape, vocab),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": steps,
        "repeats": repeats,
        "matmul_peak_flops": peak,
        "variants": {},
        "notes": notes,
    }
    for name, ts in times.items():
        med = statistics.median(ts)
        tps = tokens_per_step / med
        out["variants"][name] = {
            "seconds_per_step": med,
            "tokens_per_second": tps,
            "flops_per_second_6N": fpt6 * tps,
            "mfu_6N": fpt6 * tps / peak,
            "mfu_with_attention": fpt_att * tps / peak,
        }
    ours = [k for k in out["variants"] if k.startswith("ours")]
    best = max(ours, key=lambda k: out["variants"][k]["tokens_per_second"]) if ours else None
    out["best_ours"] = best
    if best and "hf_llama" in out["variants"]:
        out["speedup_vs_hf"] = out["variants"][best]["tokens_per_second"] / out["variants"]["hf_llama"]["tokens_per_second"]
    if best:
        out["deterministic"] = deterministic(shape, vocab, seq_len, batch, best == "ours_compiled")
    return out


def format_report(r: dict[str, Any]) -> str:
    s = r["shape"]
    lines = [
        f"bench train: preset {r['preset']}, shape {s['name']} (layers {s['layers']}, d {s['d_model']}, heads {s['heads']}, "
        f"kv {s['kv']}, ffw {s['ffw']}), vocab {r['vocab_size']}, {r['batch_size']} x {r['seq_len']} tokens/step, "
        f"{r['threads']} threads, torch {r['torch']}",
        f"  N = {r['params']:,} parameters (HF Llama equivalent: {r['params_hf']:,}: two norms per layer + final)",
        f"  matmul peak (fp32 torch.mm 2048^3): {r['matmul_peak_flops'] / 1e9:.1f} GFLOP/s",
        f"  {'variant':<14} {'tokens/s':>10} {'s/step':>8} {'GFLOP/s (6N)':>13} {'MFU 6N':>7} {'MFU +attn':>9}",
    ]
    for name, v in r["variants"].items():
        lines.append(f"  {name:<14} {v['tokens_per_second']:>10,.0f} {v['seconds_per_step']:>8.3f} "
                     f"{v['flops_per_second_6N'] / 1e9:>13.2f} {v['mfu_6N']:>7.1%} {v['mfu_with_attention']:>9.1%}")
    for k, v in r["notes"].items():
        lines.append(f"  note: {k}: {v}")
    if "speedup_vs_hf" in r:
        verdict = "meets" if r["speedup_vs_hf"] >= 1.3 else "misses"
        lines.append(f"  ours ({r['best_ours']}) / HF Llama = {r['speedup_vs_hf']:.2f}x ({verdict} the 1.3x goal)")
    if "deterministic" in r:
        lines.append(f"  deterministic (same seed, bit-identical losses): {r['deterministic']}")
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
