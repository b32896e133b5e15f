"""``python -m atlas bts extrapolate --preset P [--json]``: the paper's random-forest BTS extrapolation (B.6)
on a preset's committed runs -- measured BTS from ``bilingual``, FAS features from ``finetune``.

Prints ``{"n_measured", "n_predicted", "cv_r2", "cv_spearman"}`` with their spreads over folds and seeds,
the pooled out-of-fold figures and the paper's (0.85 / 0.88). Too few measured cells with features is one
error line naming what is missing.

``bts`` itself takes two CSV paths (``bts MONO.csv BI.csv``), which cannot share argparse's sub-command slot,
so :func:`attach` routes a first word ``extrapolate`` to this parser before the two-curve parser sees it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from atlas.commands.bts import _tokens  # one reading of a token count for every bts command


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value




def build_parser(prog: str) -> argparse.ArgumentParser:
    """The ``bts extrapolate`` parser (``func`` set to :func:`run`)."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].replace("``", ""))
    p.add_argument("--preset", required=True, help="preset whose committed runs to use (e.g. cpu)")
    p.add_argument("--shape", default=None, help="model shape of the BTS matrix and the finetunes "
                                                 "(default: the BTS matrix's shape)")
    p.add_argument("--base-tokens", type=_tokens, default=None, metavar="TOKENS",
                   help="budget of the Unimax base the finetunes start from (default: the group with the most "
                        "finetuned languages, then the larger base)")
    p.add_argument("--eval-set", default="bible", help="held-out set: bible (default) or flores")
    p.add_argument("--loss", default="loss", help="loss column: loss (default) or loss_u")
    p.add_argument("--seeds", type=_positive_int, default=5, metavar="N",
                   help="CV repetitions (seeds 0..N-1 for the fold split and the forest; default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, command="bts")
    return p


def attach(bts_parser: argparse.ArgumentParser) -> None:
    """Route ``bts extrapolate ...`` to :func:`build_parser`'s parser; anything else to ``bts_parser``."""
    extrapolate = build_parser(f"{bts_parser.prog} extrapolate")
    plain = bts_parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if args[:1] == ["extrapolate"]:
            return extrapolate.parse_known_args(args[1:], namespace)
        return plain(args, namespace)

    bts_parser.parse_known_args = parse_known_args  # type: ignore[method-assign]
    bts_parser.epilog = ((bts_parser.epilog or "") + " Also: `bts extrapolate --preset P` (random-forest "
                         "extrapolation of BTS from finetuning features; see `bts extrapolate -h`).").strip()


def _json_value(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def run(args: argparse.Namespace) -> int:
    from atlas import extrapolate as ex  # lazy: scikit-learn and the run records load only for this command

    res = ex.extrapolate_runs(args.preset, shape=args.shape, base_tokens=args.base_tokens, eval_set=args.eval_set,
                              loss=args.loss, seeds=tuple(range(args.seeds)))
    out = {k: _json_value(v) for k, v in res.summary().items()}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    p = ex.PAPER_CV
    print(f"measured cells used: {out['n_measured']} (without features: {out['n_measured_without_features']}), "
          f"predicted: {out['n_predicted']}")
    print(f"{out['cv_folds']}-fold CV over {len(out['cv_seeds'])} seed(s): R2 {out['cv_r2']:.3f} "
          f"(fold sd {out['cv_r2_fold_sd']:.3f}, seed sd {out['cv_r2_seed_sd']:.3f}; pooled {out['cv_r2_pooled']:.3f})"
          f", Spearman {out['cv_spearman']:.3f} (fold sd {out['cv_spearman_fold_sd']:.3f}, seed sd "
          f"{out['cv_spearman_seed_sd']:.3f}; pooled {out['cv_spearman_pooled']:.3f}); paper: R2 {p['r2']}, "
          f"Spearman {p['spearman']}")
    return 0
