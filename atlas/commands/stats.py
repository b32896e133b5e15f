"""``python -m atlas stats transfer MATRIX.csv [--family-coding family|group] [--json]``.

MATRIX.csv: first column = target language, header = source languages (the layout of
``atlas/paper/transfer_matrix_figC2_38x38.csv``); cell = score for source -> target; empty cells (the
diagonal, unmeasured pairs) are skipped. Codes may be ISO 639-3, ISO 639-1 or the paper's; every code must be
known to :mod:`atlas.languages`. Prints script/family means, the symmetry r and the named tests of
:func:`atlas.stats.transfer_tests` (NaN is printed as JSON ``null``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas.languages import FAMILY_CODINGS

if TYPE_CHECKING:
    import pandas as pd

#: Fewer languages leave fewer than 3 unordered pairs: no clustered standard error, no symmetry r.
MIN_LANGUAGES = 3


def read_matrix(path: str) -> pd.DataFrame:
    """Read a transfer-matrix CSV (rows target, columns source); errors name the file and the problem."""
    import pandas as pd

    from atlas.stats import StatsInputError

    p = Path(path)
    if p.is_dir():
        raise StatsInputError(f"{path} is a directory; give a transfer-matrix CSV (first column target, "
                              "header = source codes)")
    if not p.is_file():
        raise StatsInputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(p, index_col=0, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StatsInputError(f"{path}: not a readable CSV ({exc})") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise StatsInputError(f"{path}: expected a matrix (first column target, header = source codes)")
    _check_codes(frame, path)
    frame = frame.apply(lambda col: col.str.strip()).replace("", float("nan"))
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & frame.notna()
    if bad.to_numpy().any():
        raise StatsInputError(f"{path}: non-numeric cell(s) {_cells(frame, bad.to_numpy())}")
    return numeric


def _check_codes(frame: pd.DataFrame, path: str) -> None:
    """Row and column labels are language codes (before the cells are read: a runs CSV fails here, briefly)."""
    from atlas import languages
    from atlas.stats import StatsInputError, resolve_matrix

    def known(label: str) -> bool:
        try:
            languages.resolve(label)
        except languages.UnknownLanguageError:
            return False
        return True

    def few(labels: Any) -> str:
        labels = [str(x) for x in labels]
        return ", ".join(labels[:5]) + (f" ... ({len(labels)} in all)" if len(labels) > 5 else "")

    labels = list(dict.fromkeys(str(x) for x in [*frame.index, *frame.columns]))
    if not any(known(label) for label in labels):
        raise StatsInputError(f"{path}: not a transfer matrix: no label is a language code (first column: "
                              f"{few(frame.index)}; header: {few(frame.columns)}); the first column (targets) and "
                              "the header (sources) must be language codes, e.g. en, eng or eng_Latn")
    if not all(known(label) for label in labels):
        resolve_matrix(frame)  # raises naming the unknown codes


def _value(cell: Any) -> str:
    """A cell for a message: text quoted, numbers plain."""
    return repr(cell) if isinstance(cell, str) else f"{float(cell):g}"


def _cells(frame: pd.DataFrame, mask: Any) -> str:
    """The first few masked cells as ``(target, source)=value``."""
    import numpy as np

    found = [f"({frame.index[i]}, {frame.columns[j]})={_value(frame.iat[i, j])}" for i, j in np.argwhere(mask)]
    return ", ".join(found[:5]) + (f" ... ({len(found)} in all)" if len(found) > 5 else "")


def check_matrix(matrix: pd.DataFrame, path: str) -> None:
    """A square matrix of known languages (rows and columns the same set), at least 3 of them, finite cells.

    Raises :class:`atlas.stats.StatsInputError` naming the file and the first bad values.
    """
    import numpy as np

    from atlas import languages
    from atlas.stats import StatsInputError, resolve_matrix

    resolved = resolve_matrix(matrix)  # unknown codes, duplicates
    rows, cols = list(resolved.index), list(resolved.columns)
    if set(rows) != set(cols):
        only_rows = [c for c in matrix.index if languages.resolve(str(c)) not in cols]
        only_cols = [c for c in matrix.columns if languages.resolve(str(c)) not in rows]
        raise StatsInputError(f"{path}: rows (targets) and columns (sources) must list the same languages; "
                              f"only in rows: {only_rows[:5] or 'none'}, only in columns: {only_cols[:5] or 'none'}")
    if len(rows) < MIN_LANGUAGES:
        raise StatsInputError(f"{path}: {len(rows)} languages; the tests need at least {MIN_LANGUAGES}")
    infinite = np.isinf(matrix.to_numpy(float))
    if infinite.any():
        raise StatsInputError(f"{path}: infinite cell(s) {_cells(matrix, infinite)}; a score must be a finite "
                              "number, or empty where it was not measured")


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _fmt(x: Any) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def run(args: argparse.Namespace) -> int:
    if args.n_perm < 1 or args.n_boot < 1:
        raise ValueError(f"--n-perm and --n-boot must be >= 1, got {args.n_perm} and {args.n_boot}")
    from atlas.stats import transfer_tests

    matrix = read_matrix(args.matrix)
    check_matrix(matrix, args.matrix)
    res = transfer_tests(matrix, args.family_coding, n_perm=args.n_perm, n_boot=args.n_boot, seed=args.seed)
    if args.json:
        print(json.dumps(_clean(res)))
        return 0
    t = res["tests"]
    print(f"{res['n_pairs']} ordered pairs, {res['n_languages']} languages, family coding {res['family_coding']!r}")
    for key in ("script", "family"):
        g = t[key]
        print(f"{key:>6}: same {_fmt(g['mean_same'])} (n={g['n_same']})  different {_fmt(g['mean_different'])} "
              f"(n={g['n_different']})  diff {_fmt(g['mean_diff'])} CI95 [{_fmt(g['mean_diff_ci95'][0])}, "
              f"{_fmt(g['mean_diff_ci95'][1])}]  Welch p {_fmt(g['welch_p'])}  Mann-Whitney p "
              f"{_fmt(g['mannwhitney_p'])} (rank-biserial {_fmt(g['rank_biserial'])})  permutation p "
              f"{_fmt(g['permutation_p'])}")
    for name, c in t["ols"]["coefficients"].items():
        print(f"   OLS {name}: {_fmt(c['coef'])} (pair-clustered SE {_fmt(c['se'])}, p {_fmt(c['p'])}; "
              f"permutation p {_fmt(c['permutation_p'])})")
    s = t["symmetry"]
    print(f"symmetry: Pearson r {_fmt(res['symmetry_r'])} over both orders; unordered r {_fmt(s['r_unordered'])} "
          f"(orientation range {_fmt(s['r_orientation_range'][0])} to {_fmt(s['r_orientation_range'][1])})")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("stats", help="statistics of a transfer matrix (script/family effects, symmetry)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    t = sub.add_parser("transfer", help="script/family tests and symmetry of a transfer matrix CSV")
    t.add_argument("matrix", metavar="MATRIX.csv", help="rows target, columns source (first column = target)")
    t.add_argument("--family-coding", choices=FAMILY_CODINGS, default="group",
                   help="family = Glottolog top level; group = the paper's Fig. C.2 legend groups (default)")
    t.add_argument("--n-perm", type=int, default=2000, help="language-label permutations (default 2000)")
    t.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=run)
