"""``python -m atlas fit LAW RUNS.csv``: fit a scaling law to a CSV of runs (one row per evaluated point)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas.cli import lazy_help

if TYPE_CHECKING:
    import pandas as pd

#: Held-out splits (atlas.fit.SPLITS; repeated here so that parsing arguments imports no numpy).
SPLITS = ("random", "N", "D", "C", "M")

COLUMNS_HELP = """\
CSV columns (one row per evaluated point; units in brackets):
  loss        loss of the target language [nats/token]  (--loss picks another column, e.g. loss_u)
  N           parameters, embeddings included [count]
  D           target-language training tokens seen [tokens]
  U           unique target-language tokens available [tokens]; 'inf' = never repeated
  K           languages in the training mixture (klaw; the R2(M) split holds out K >= 3)
  D_tot       total training tokens seen, all languages (msl) [tokens]
  p_family    sampling ratio of the target's language family in the mixture, in (0, 1] (msl)
  D_other     tokens seen of every language that is neither the target nor a transfer language
  U_other     unique tokens of that pooled "other languages" source (sum over those languages) [tokens]
  D_k1 U_k1 .. D_k3 U_k3
              tokens seen / unique tokens of the 3 transfer languages K_t (the languages most often
              co-sampled with the target); atlas-other uses D_other = D_tot - D (all non-target tokens)
  run_id      optional: bootstrap resamples whole runs when present
Columns per law:
{laws}
Aliases: {aliases}.
R2 is computed on the loss (nats/token), not on log loss. Protocol: book appendix "Fitting protocol".
Diagnosis (JSON keys): warnings (sentences), flags (at_bound:P, not_identified:P, no_information:P),
identified, at_bound, not_identified (P -> [min, max] over the near-best optima), optima (the distinct
near-best optima: objective, rel_gap, n_starts, params), ident_rtol. --fix on every parameter scores the
given law (objective, R2) without fitting.
Example:
  python -m atlas fit csl runs.csv --json
  python -m atlas fit atlas runs.csv --heldout --bootstrap 100 --seed 0 --json
  python -m atlas fit csl runs.csv --fix E=1.69 --fix A=406.4 --fix B=410.7 --fix alpha=0.34 --fix beta=0.28 --json
"""


def _columns_help(parser: argparse.ArgumentParser) -> None:
    """Fill the law table into the epilog (atlas.laws imports numpy: only when help is printed)."""
    from atlas.laws import ALIASES, LAWS

    laws = "\n".join(f"  {name:<19} {', '.join(law.columns)}" for name, law in LAWS.items())
    parser.epilog = COLUMNS_HELP.format(laws=laws, aliases=", ".join(f"{a} -> {b}" for a, b in ALIASES.items()))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit a scaling law (csl, dcsl, msl, atlas, atlas-dt, atlas-other, klaw, ...) to a CSV of runs",
        description=__doc__.splitlines()[0].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lazy_help(p, _columns_help)
    p.add_argument("law", help="csl, dcsl, msl, atlas, atlas-dt, atlas-other, klaw ... (every law and its columns below)")
    p.add_argument("csv", metavar="RUNS.csv", help="runs table (columns below)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--loss", default="loss", help="loss column (default: loss)")
    p.add_argument("--col", action="append", default=[], metavar="LAWCOL=CSVCOL",
                   help="use CSV column CSVCOL for the law's column LAWCOL (e.g. D=D_tot for CSL on total tokens)")
    p.add_argument("--where", action="append", default=[], metavar="COL=VALUE",
                   help="keep only rows with COL == VALUE (e.g. eval_lang=eng); repeatable")
    p.add_argument("--n-starts", type=int, default=8, help="grid points optimised after screening (default 8)")
    p.add_argument("--all-starts", action="store_true", help="optimise every grid point (Chinchilla's protocol; slow)")
    p.add_argument("--fix", action="append", default=[], metavar="PARAM=VALUE", help="hold a parameter fixed")
    p.add_argument("--tie", action="append", default=[], metavar="PARAM=OTHER", help="e.g. beta=alpha")
    p.add_argument("--heldout", action="store_true", help=f"also report held-out R2 on the splits {', '.join(SPLITS)}")
    p.add_argument("--splits", default=",".join(SPLITS), help="comma list of held-out splits (with --heldout)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B", help="bootstrap replicates for CIs (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random split and the bootstrap")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes for the starts")
    p.set_defaults(func=run)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _number(text: str, option: str) -> float:
    """``text`` as a finite float, or an error naming the option and the value."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{option}: the value must be a finite number, got {text!r}")
    return value


def read_runs_csv(path: str | Path) -> pd.DataFrame:
    """Read the runs CSV (clear errors for a missing, empty or non-CSV file)."""
    import pandas as pd

    from atlas.fit import FitDataError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"runs CSV {str(path)!r} does not exist")
    if not path.is_file():
        raise FitDataError(f"runs CSV {str(path)!r} is a directory, not a file; give the path of a CSV file")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise FitDataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FitDataError(f"{path}: not a valid CSV ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf -> null, numpy scalars -> Python."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _check_options(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, float], dict[str, str], list[str]]:
    """Validate the options that need no data: ``(columns, fixed, tie, splits)``; raises naming the bad value."""
    columns = _pairs(args.col, "--col")
    fixed = {k: _number(v, f"--fix {k}={v}") for k, v in _pairs(args.fix, "--fix").items()}
    tie = _pairs(args.tie, "--tie")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}; allowed: {', '.join(SPLITS)}")
    if args.n_starts < 1:
        raise ValueError(f"--n-starts must be >= 1, got {args.n_starts}")
    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if args.n_jobs < 1:
        raise ValueError(f"--n-jobs must be >= 1 (worker processes), got {args.n_jobs}")
    return columns, fixed, tie, splits


def run(args: argparse.Namespace) -> int:
    columns, fixed, tie, splits = _check_options(args)
    from atlas.fit import FitDataError, bootstrap, fit, heldout_r2, validate_data
    from atlas.laws import get_law

    law = get_law(args.law)
    for k in columns:
        if k not in law.columns:
            raise ValueError(f"--col {k}=...: law {law.name!r} has no column {k!r}; its columns: {', '.join(law.columns)}")
    for name in list(fixed) + list(tie) + list(tie.values()):
        law.param(name)  # raises naming the allowed parameters

    frame = read_runs_csv(args.csv)
    for col, value in _pairs(args.where, "--where").items():
        if col not in frame:
            raise FitDataError(f"{args.csv}: --where column {col!r} not found; columns: {', '.join(frame.columns)}")
        frame = frame[frame[col].astype(str) == value]
        if frame.empty:
            raise FitDataError(f"{args.csv}: no rows with {col} == {value!r}")
    frame = frame.reset_index(drop=True)
    # line numbers are only meaningful before filtering
    validate_data(law, frame, columns=columns, loss=args.loss, source=str(args.csv),
                  line_offset=1 if not args.where else None)
    kw: dict[str, Any] = dict(loss=args.loss, columns=columns, fixed=fixed, tie=tie, n_jobs=args.n_jobs,
                              n_starts=None if args.all_starts else args.n_starts)
    res = fit(law, frame, validate=False, **kw)
    out: dict[str, Any] = {
        "law": law.name,
        "title": law.title,
        "formula": law.formula,
        "status": res.status,
        "message": res.message,
        "params": res.params,
        "r2": res.r2,
        "r2_on": "loss (nats/token), in-sample",
        "n_points": res.n_points,
        "objective": res.objective,
        "huber_delta": res.huber_delta,
        "n_grid": res.n_grid,
        "n_starts": res.n_starts,
        "n_converged": res.n_converged,
        "n_at_best": res.n_at_best,
        "best_start": res.best_start,
        "warnings": res.warnings,
        "flags": res.flags,
        "identified": res.identified,
        "at_bound": res.at_bound,
        "not_identified": res.not_identified,
        "ident_rtol": res.ident_rtol,
        "optima": res.optima,
        "seconds": res.seconds,
    }
    if args.heldout:
        h = heldout_r2(law, frame, splits=splits, seed=args.seed, **kw)
        out["heldout"] = h[[c for c in ("split", "metric", "n_train", "n_test", "r2", "status", "reason") if c in h]].to_dict("records")
    if args.bootstrap and res.ok:
        b = bootstrap(law, frame, n_boot=args.bootstrap, seed=args.seed, base=res,
                      **{k: v for k, v in kw.items() if k not in ("n_starts", "n_jobs")})
        out["bootstrap"] = b.to_dict()
    out = _clean(out)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        _print_human(out)
    return 0 if res.ok else 1


def _print_human(out: dict[str, Any]) -> None:
    w = sys.stdout.write
    w(f"{out['title']}  [{out['law']}]\n  {out['formula']}\n")
    w(f"status: {out['status']} ({out['message']}); {out['n_points']} points; "
      f"{out['n_converged']}/{out['n_starts']} starts converged, {out['n_at_best']} at the best objective\n")
    for k, v in (out["params"] or {}).items():
        ci = out.get("bootstrap", {}).get("ci", {}).get(k)
        extra = f"   [{ci[0]:.4g}, {ci[1]:.4g}]" if ci and None not in ci else ""
        w(f"  {k:>10} = {v:.6g}{extra}\n" if v is not None else f"  {k:>10} = nan\n")
    r2 = out["r2"]
    w(f"R2 (in-sample, on loss) = {r2:.4f}\n" if r2 is not None else "R2 = nan\n")
    for row in out.get("heldout", []):
        r = row["r2"]
        w(f"  {row['metric']:<6} = {r:.4f}  (train {row['n_train']}, test {row['n_test']})\n" if r is not None
          else f"  {row['metric']:<6} = nan  ({row['reason']})\n")
    for msg in out["warnings"]:
        w(f"warning: {msg}\n")
    if len(out.get("optima") or []) > 1:
        w(f"distinct near-best optima (objective within {out['ident_rtol']:.2%} of the best):\n")
        for o in out["optima"]:
            vals = ", ".join(f"{k}={v:.4g}" for k, v in o["params"].items() if v is not None)
            w(f"  +{o['rel_gap']:.3%}  ({o['n_starts']} start(s))  {vals}\n")
