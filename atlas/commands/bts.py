"""``python -m atlas bts MONO.csv BI.csv --d-mono TOKENS [--json]``: BTS from two loss curves.

MONO.csv: the monolingual target model's curve; BI.csv: the 50/50 bilingual model's curve on the same target.
Both need columns ``tokens`` (total training tokens of that model) and ``loss`` (nats/token); other columns
are ignored. Prints ``{"bts": ..., "d_bi": ..., "d_mono": ...}`` (plus ``"reason"`` when BTS is NaN, which
is printed as JSON ``null``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

#: atlas.bts.D_MONO_FRACTION, repeated so that the help imports neither numpy nor pandas (a test keeps them equal).
D_MONO_FRACTION = 0.5


def _read_curve(path: str) -> tuple[list[float], list[float]]:
    import pandas as pd

    from atlas.bts import BTSInputError, clean_curve

    p = Path(path)
    if p.is_dir():
        raise BTSInputError(f"{path} is a directory; give a CSV file with columns tokens, loss")
    if not p.is_file():
        raise BTSInputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BTSInputError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in ("tokens", "loss") if c not in frame.columns]
    if missing:
        raise BTSInputError(f"{path}: missing column(s) {missing}; need 'tokens' and 'loss', "
                            f"found {list(frame.columns)}")
    out = []
    for col in ("tokens", "loss"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[col][values.isna()]
        if len(bad):
            raise BTSInputError(f"{path}: non-numeric {col!r} value(s) {bad.tolist()[:5]} "
                                f"(row(s) {[int(i) + 2 for i in bad.index[:5]]})")
        out.append(values.astype(float).tolist())
    clean_curve(out[0], out[1], path)  # same checks as the library: > 1 point, finite, no duplicates
    return out[0], out[1]


def _tokens(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of tokens, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of tokens > 0, got {text!r}")
    return value


def _json_value(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def run(args: argparse.Namespace) -> int:
    from atlas.bts import bts_from_curves

    mono_t, mono_l = _read_curve(args.mono)
    bi_t, bi_l = _read_curve(args.bi)
    d_mono = args.d_mono if args.d_mono is not None else D_MONO_FRACTION * max(mono_t)
    res = bts_from_curves(mono_t, mono_l, bi_t, bi_l, d_mono)
    out = {"bts": res.bts, "d_bi": res.d_bi, "d_mono": res.d_mono}
    if res.reason:
        out["reason"] = res.reason
    if args.json:
        print(json.dumps({k: _json_value(v) for k, v in out.items()}))
    elif res.reason:
        print(f"BTS = NaN (d_mono = {res.d_mono:.6g} tokens): {res.reason}")
    else:
        print(f"BTS = {res.bts:.4f}  (d_bi = {res.d_bi:.6g} total bilingual tokens, d_mono = {res.d_mono:.6g} "
              f"tokens, target loss {res.target_loss:.4f} nats/token)")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bts", help="bilingual transfer score from two loss curves (CSV)",
                              description=__doc__.splitlines()[0])
    p.add_argument("mono", metavar="MONO.csv", help="monolingual target curve: columns tokens, loss")
    p.add_argument("bi", metavar="BI.csv", help="bilingual (50/50) curve on the target: columns tokens, loss")
    p.add_argument("--d-mono", type=_tokens, default=None, metavar="TOKENS",
                   help=f"monolingual tokens at which to compare (default: {D_MONO_FRACTION} x the monolingual "
                        "curve's last evaluation)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    from atlas.commands.bts_extrapolate import attach  # `bts extrapolate ...`: its own parser and module

    attach(p)
