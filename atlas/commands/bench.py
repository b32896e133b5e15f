"""``python -m atlas bench train|profile|fit [--json [PATH]]``: trainer tokens/s vs HF Llama and MFU, where its
time goes; ATLAS fitting time.

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

``bench profile`` profiles (torch.profiler, CPU) ``--steps`` optimiser steps of our eager float32 step and
of HF's Llama on the same workload, and splits each step's self CPU time into categories (matmul,
attention, output projection + cross-entropy, RMSNorm, RoPE, elementwise, optimizer, memory / copies,
other, framework): ms per step and share, per model; then the GEMM kernels' time, FLOP/s and share, and
the ceiling they set (the speed-up and MFU if every non-GEMM op took no time). See :mod:`atlas.bench_profile`.

``--json`` alone prints the JSON instead of the table; ``--json PATH`` writes it to PATH and prints the table
(put ``--json`` after the subcommand: ``bench profile --json out.json``).
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="trainer throughput vs HF transformers, and MFU",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["train", "profile", "fit"])
    p.add_argument("--points", type=int, default=300, help="bench fit: synthetic points (default 300)")
    p.add_argument("--preset", default="cpu", help="preset whose shape/vocab/batch to use (default cpu)")
    p.add_argument("--shape", default=None, help="shape name (default: the preset's largest)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimiser steps per timed round (train: default 4) / profiled (profile: default 5)")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved rounds (train, fit: default 5; profile: default 3)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="time our step compiled with torch.compile: auto (both variants), on, off")
    p.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both",
                   help="our step in float32, bfloat16 autocast, or both (default)")
    p.add_argument("--no-hf", action="store_true", help="skip the HF Llama baseline")
    p.add_argument("--threads", type=int, default=None,
                   help="train, profile: torch intra-op threads (default: torch's, one per core); on a loaded "
                        "machine --threads 1 keeps a profile's shares honest (no waiting on a descheduled thread)")
    p.add_argument("--json", nargs="?", const=True, default=None, metavar="PATH",
                   help="print JSON instead of a table; with PATH, write the JSON there and print the table")
    p.add_argument("--out", default=None, help="also write the JSON to this file (as --json PATH)")
    p.set_defaults(func=run)


def _outputs(args: argparse.Namespace) -> list[str]:
    """The files the JSON goes to (``--json PATH``, ``--out``), checked before any work starts."""
    from pathlib import Path

    paths = [p for p in (args.json if isinstance(args.json, str) else None, args.out) if p]
    for p in paths:
        if Path(p).is_dir():
            raise IsADirectoryError(21, "Is a directory", p)
    return paths


def _emit(args: argparse.Namespace, result: dict, table: str) -> None:
    """Print the table (or the JSON for a bare ``--json``) and write the JSON files."""
    from pathlib import Path

    print(json.dumps(result, indent=2) if args.json is True else table)
    for p in _outputs(args):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
        Path(p).write_text(json.dumps(result, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    _outputs(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        if args.what != "fit":
            import torch

            torch.set_num_threads(args.threads)
    if args.what == "fit":
        from atlas.bench import bench_fit

        result = bench_fit(args.points, repeats=5 if args.repeats is None else args.repeats)
        table = (f"ATLAS full fit on {result['points']} points: {result['atlas_seconds']:.2f} s (median of "
                 f"{result['repeats']}); CSL fit of the same points: {result['csl_seconds']:.2f} s; "
                 f"ratio ATLAS/CSL = {result['ratio']:.1f}; {result['converged']} starts converged\n"
                 f"same ATLAS fit through lmfit.Minimizer: {result['atlas_lmfit_seconds']:.2f} s; direct engine "
                 f"speed-up {result['engine_speedup']:.2f}x; identical parameters: {result['identical']}")
        _emit(args, result, table)
        return 0
    if args.what == "profile":
        from atlas.bench_profile import bench_profile, format_profile  # imports torch: only when it runs

        result = bench_profile(args.preset, args.shape, steps=5 if args.steps is None else args.steps,
                               rounds=3 if args.repeats is None else args.repeats, hf=not args.no_hf)
        _emit(args, result, format_profile(result))
        return 0
    from atlas.bench import bench_train, format_report  # imports torch: only when the command runs

    compile = {"auto": None, "on": True, "off": False}[args.compile]
    result = bench_train(args.preset, args.shape, steps=4 if args.steps is None else args.steps,
                         repeats=5 if args.repeats is None else args.repeats, compile=compile,
                         precision=args.precision, hf=not args.no_hf)
    _emit(args, result, format_report(result))
    return 0
