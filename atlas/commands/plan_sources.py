"""``python -m atlas plan sources --target LANG [--k 3] [--matrix paper|PRESET|FILE.csv] [--json]``: the k best
co-training source languages for a target from a transfer matrix (rows = target, columns = source).

Prints ``[{"source", "code", "score", "measured"}, ...]`` in descending score; ties go to measured cells,
then to the ISO 639-3 code. ``--matrix paper`` is the paper's Fig. C.2 (its top-left 9x9 block measured);
a preset name uses its committed runs (measured BTS, completed by the random forest when the runs allow);
a CSV file is yours (optionally with ``--measured MASK.csv``, same layout, true/false cells).
"""

from __future__ import annotations

import argparse
import json
import sys


def _k(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--k must be >= 1, got {text!r}")
    return value


def add_parser(plan_sub: argparse._SubParsersAction) -> None:
    """Register ``plan sources`` on the ``plan`` command's sub-parsers."""
    p = plan_sub.add_parser("sources", help="the k best co-training source languages for a target (transfer matrix)",
                            description=__doc__.splitlines()[0].replace("``", ""))
    p.add_argument("--target", required=True, help="target language (pt, por, por_Latn ...)")
    p.add_argument("--k", type=_k, default=3, help="how many sources (default 3)")
    p.add_argument("--matrix", default="paper", help="paper (Fig. C.2, default), a preset (cpu ...) or FILE.csv")
    p.add_argument("--measured", default=None, metavar="MASK.csv",
                   help="with a FILE.csv matrix: which cells were measured (default: all scored cells)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from atlas.planning import sources  # lazy: pandas and the run records load only for this command

    matrix, measured, note = sources.load_matrix(args.matrix)
    if args.measured is not None:
        if measured is not None:
            raise sources.SourcePlanError(f"--measured applies to a FILE.csv matrix only, not {args.matrix!r}")
        measured = sources.read_mask_csv(args.measured)
    best = sources.best_sources(matrix, args.target, args.k, measured)
    if args.json:
        print(json.dumps(best, indent=2))
        return 0
    print(f"best sources for {args.target} ({note}):")
    for i, b in enumerate(best, 1):
        sys.stdout.write(f"{i:>3}. {b['code']:<4} ({b['source']})  {b['score']:+.3f}  "
                         f"{'measured' if b['measured'] else 'estimated'}\n")
    return 0
