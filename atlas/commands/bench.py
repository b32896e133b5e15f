"""``python -m atlas bench train [--preset cpu] [--shape s4] [--json]``: trainer tokens/s vs HF Llama, and MFU.

Times our training step and Hugging Face's LlamaForCausalLM (same shape, vocabulary, no biases, tied
embeddings) in the same process, interleaved, medians of ``--repeats`` rounds of ``--steps`` steps; reports
tokens/s, achieved FLOP/s (6 N x tokens/s, and with attention) as a fraction of a float32 matmul peak
measured in the same run, the speed-up ours/HF (goal >= 1.3x) and whether our step is deterministic.
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="trainer throughput vs HF transformers, and MFU",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["train"])
    p.add_argument("--preset", default="cpu", help="preset whose shape/vocab/batch to use (default cpu)")
    p.add_argument("--shape", default=None, help="shape name (default: the preset's largest)")
    p.add_argument("--steps", type=int, default=5, help="optimiser steps per timed round (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="time our step compiled with torch.compile: auto (both variants), on, off")
    p.add_argument("--no-hf", action="store_true", help="skip the HF Llama baseline")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from atlas.bench import bench_train, format_report  # imports torch: only when the command runs

    compile = {"auto": None, "on": True, "off": False}[args.compile]
    result = bench_train(args.preset, args.shape, steps=args.steps, repeats=args.repeats, compile=compile,
                         hf=not args.no_hf)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0
