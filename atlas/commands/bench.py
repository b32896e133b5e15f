"""``python -m atlas bench train|fit [--json]``: trainer tokens/s vs HF Llama and MFU; ATLAS fitting time.

``bench fit`` times the full ATLAS fit (54,000-point start grid screened, 8 starts optimised with L-BFGS-B)
on ``--points`` synthetic points from planted parameters (:mod:`atlas.synthetic`), against a Chinchilla
(CSL) fit of the same points in the same run, and reports seconds and the ratio.

``bench train`` times variants of our training step (eager / compiled, float32 / bfloat16 autocast) and
Hugging Face's LlamaForCausalLM (same shape, vocabulary, no biases, tied embeddings) in one process,
interleaved with the matmul peak of each dtype: ``--repeats`` rounds of ``--steps`` steps of every variant,
each round followed by the peaks. Per variant: median tokens/s, spread over rounds, MFU (6 N x tokens/s over
its dtype's peak, paired round by round) and the ratio to HF (paired round by round); the speed-up of the
best variant (goal >= 1.8x), a loaded-machine verdict (spread > 10% or load average above the threads) and
whether the best variant is deterministic. See :mod:`atlas.bench`.
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="trainer throughput vs HF transformers, and MFU",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["train", "fit"])
    p.add_argument("--points", type=int, default=300, help="bench fit: synthetic points (default 300)")
    p.add_argument("--preset", default="cpu", help="preset whose shape/vocab/batch to use (default cpu)")
    p.add_argument("--shape", default=None, help="shape name (default: the preset's largest)")
    p.add_argument("--steps", type=int, default=4, help="optimiser steps per timed round (default 4)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="time our step compiled with torch.compile: auto (both variants), on, off")
    p.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both",
                   help="our step in float32, bfloat16 autocast, or both (default)")
    p.add_argument("--no-hf", action="store_true", help="skip the HF Llama baseline")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", default=None, help="bench train: also write the JSON to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "fit":
        from atlas.bench import bench_fit

        result = bench_fit(args.points, repeats=args.repeats)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"ATLAS full fit on {result['points']} points: {result['atlas_seconds']:.2f} s (median of "
                  f"{result['repeats']}); CSL fit of the same points: {result['csl_seconds']:.2f} s; "
                  f"ratio ATLAS/CSL = {result['ratio']:.1f}; {result['converged']} starts converged")
            print(f"same ATLAS fit through lmfit.Minimizer: {result['atlas_lmfit_seconds']:.2f} s; direct engine "
                  f"speed-up {result['engine_speedup']:.2f}x; identical parameters: {result['identical']}")
        return 0
    from atlas.bench import bench_train, format_report  # imports torch: only when the command runs

    compile = {"auto": None, "on": True, "off": False}[args.compile]
    result = bench_train(args.preset, args.shape, steps=args.steps, repeats=args.repeats, compile=compile,
                         precision=args.precision, hf=not args.no_hf)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0
