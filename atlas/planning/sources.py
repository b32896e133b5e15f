"""Which languages to co-train with a target: the k best sources of a transfer matrix (beyond the paper).

A transfer matrix has rows = **target** and columns = **source**; cell (t, s) is the transfer score
BTS_{s->t} (dimensionless; > 0 helps t, < 0 interferes), as in the paper's Fig. C.2 and
:func:`atlas.paper_tables.transfer_matrix`. A boolean ``measured`` mask of the same layout says which cells
were measured (BTS from bilingual runs) and which were estimated (the random forest of
:mod:`atlas.extrapolate`); in the paper's 38x38 only the top-left 9x9 block (en ru es fr de pt zh vi ja) is
measured (Fig. C.2 caption).

:func:`best_sources` ranks the sources of one target by score, descending. **Ties** (equal scores, compared
exactly: the paper's cells are printed to 0.1, so ties are common) go to measured before estimated, then
to the ISO 639-3 code in alphabetical order. The target itself and cells without a score are skipped.

Codes: targets and matrix labels may be ISO 639-1 (``pt``), ISO 639-3 (``por``) or FLORES (``por_Latn``)
codes, resolved by :func:`atlas.languages.resolve`; results name sources by ISO 639-3 (``source``) and by the
paper's code (``code``, ISO 639-1 where one exists).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from atlas import languages

#: Names of the matrices :func:`load_matrix` knows besides preset names and CSV paths.
PAPER_MATRIX = "paper"


class SourcePlanError(ValueError):
    """A bad argument or matrix for the source planner (named in the message)."""


class UnknownTargetError(SourcePlanError):
    """A target the matrix has no row for (or no language at all)."""


def _resolve_labels(labels, what: str) -> list[str]:
    """ISO 639-3 codes of matrix labels; one error naming every unknown label."""
    out, bad = [], []
    for label in labels:
        try:
            out.append(languages.resolve(str(label)))
        except languages.UnknownLanguageError:
            bad.append(str(label))
    if bad:
        raise SourcePlanError(f"unknown language code(s) in the matrix {what}: {', '.join(bad)}")
    if len(set(out)) != len(out):
        raise SourcePlanError(f"the matrix {what} name a language twice: {list(labels)}")
    return out


def normalise(matrix: pd.DataFrame, measured: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The matrix and its measured mask with ISO 639-3 labels (mask default: every scored cell measured)."""
    m = matrix.copy()
    m.index = pd.Index(_resolve_labels(matrix.index, "rows (targets)"), name="target")
    m.columns = pd.Index(_resolve_labels(matrix.columns, "columns (sources)"), name="source")
    try:
        m = m.astype(float)
    except (TypeError, ValueError) as exc:
        raise SourcePlanError(f"the matrix has non-numeric scores ({exc})") from None
    if measured is None:
        mask = m.notna()
    else:
        if measured.shape != matrix.shape:
            raise SourcePlanError(f"the measured mask is {measured.shape[0]}x{measured.shape[1]}, "
                                  f"the matrix {matrix.shape[0]}x{matrix.shape[1]}")
        mask = measured.copy()
        mask.index, mask.columns = (pd.Index(_resolve_labels(measured.index, "mask rows")),
                                    pd.Index(_resolve_labels(measured.columns, "mask columns")))
        mask = mask.reindex(index=m.index, columns=m.columns)
        if mask.isna().any().any():
            raise SourcePlanError("the measured mask names other languages than the matrix")
        mask = mask.astype(bool)
    return m, mask


def _label(iso3: str) -> str:
    """``pt/por`` (paper code / ISO 639-3), or the one code where both are the same."""
    lang = languages.registry().get(iso3)
    return iso3 if lang is None or lang.code == iso3 else f"{lang.code}/{iso3}"


def resolve_target(target: str, targets: list[str]) -> str:
    """The ISO 639-3 code of ``target`` if the matrix has a row for it; else one :class:`UnknownTargetError`
    line naming the bad value and the allowed targets (paper code / ISO 639-3)."""
    allowed = ", ".join(_label(t) for t in targets)
    try:
        iso3 = languages.resolve(str(target))
    except languages.UnknownLanguageError:
        raise UnknownTargetError(f"unknown target {target!r}; allowed: {allowed}") from None
    if iso3 not in targets:
        raise UnknownTargetError(f"target {target!r} ({iso3}) has no row in this matrix; allowed: {allowed}")
    return iso3


def best_sources(matrix: pd.DataFrame, target: str, k: int = 3, measured: pd.DataFrame | None = None
                 ) -> list[dict]:
    """The ``k`` best co-training sources for ``target``: ``[{"source", "code", "score", "measured"}, ...]``.

    ``matrix``: rows = target, columns = source, cell = transfer score (NaN = none). ``measured``: boolean
    mask of the same labels (``None``: every scored cell counts as measured). Descending score; ties: measured
    first, then ISO 639-3 code. Fewer than ``k`` entries when the target has fewer scored sources.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise SourcePlanError(f"k must be a whole number >= 1, got {k!r}")
    m, mask = normalise(matrix, measured)
    t = resolve_target(target, list(m.index))
    row = m.loc[t]
    cands = [(float(v), bool(mask.at[t, s]), s) for s, v in row.items() if s != t and math.isfinite(v)]
    cands.sort(key=lambda c: (-c[0], not c[1], c[2]))  # score desc, measured first, then ISO 639-3
    reg = languages.registry()
    return [{"source": s, "code": reg[s].code, "score": v, "measured": meas} for v, meas, s in cands[:int(k)]]


# ------------------------------------------------------------------------------------------ matrices by name


def paper_matrix() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's 38x38 (Fig. C.2) with its measured mask: the 9x9 block of directly measured BTS."""
    from atlas import paper_tables

    m = paper_tables.transfer_matrix("38x38")
    block = set(paper_tables.measured_block())
    mask = pd.DataFrame([[t in block and s in block for s in m.columns] for t in m.index],
                        index=m.index, columns=m.columns) & m.notna()
    return m, mask


def read_matrix_csv(path: str | Path) -> pd.DataFrame:
    """A user's matrix CSV: first column = target codes, header = source codes, cells = scores."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"matrix file {str(p)!r} does not exist")
    try:
        frame = pd.read_csv(p, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SourcePlanError(f"{p}: not a readable CSV ({exc})") from None
    if frame.empty:
        raise SourcePlanError(f"{p}: no rows; need targets as rows and sources as columns")
    return frame


def read_mask_csv(path: str | Path) -> pd.DataFrame:
    """A measured mask CSV in the matrix's layout: cells true/false or 1/0 (an empty cell is false)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mask file {str(p)!r} does not exist")
    try:
        raw = pd.read_csv(p, index_col=0, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SourcePlanError(f"{p}: not a readable CSV ({exc})") from None
    cells = raw.apply(lambda c: c.str.strip().str.lower())
    bad = sorted(set(cells.to_numpy().ravel()) - {"true", "false", "1", "0", ""})
    if bad:
        raise SourcePlanError(f"{p}: mask cells must be true/false or 1/0, got {bad[:5]}")
    return cells.isin(["true", "1"])


def preset_matrix(preset: str, root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A preset's matrix from its committed runs: measured BTS completed by the random forest when the runs
    support it, else measured BTS alone. Returns ``(matrix, measured, note)``."""
    from atlas import bts
    from atlas import extrapolate as ex

    try:
        res = ex.extrapolate_runs(preset, seeds=(0,), root=root)
        return res.matrix, res.measured, (f"{res.n_measured} measured cells, {res.n_predicted} estimated by the "
                                          "random forest")
    except (ValueError, FileNotFoundError) as exc:  # too few cells with features, or no finetunes at all
        m = bts.matrix_from_runs(preset, root=root)
        return m, m.notna(), f"measured BTS only (no extrapolation: {exc})"


def load_matrix(name: str, root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """``(matrix, measured, note)`` for ``"paper"`` (Fig. C.2), a preset name (its runs) or a CSV path
    (``measured`` is ``None`` for a CSV: every scored cell counts as measured)."""
    from atlas.presets import available_presets

    if name == PAPER_MATRIX:
        m, mask = paper_matrix()
        return m, mask, "paper Fig. C.2 (38x38): the 9x9 block en ru es fr de pt zh vi ja measured, the rest estimated"
    presets = [p for p in available_presets() if p != PAPER_MATRIX]  # "paper" names the figure, not the preset
    if name in presets:
        return preset_matrix(name, root)
    if name.endswith(".csv") or Path(name).exists():
        return read_matrix_csv(name), None, f"{name}: every scored cell counted as measured"
    raise SourcePlanError(f"unknown matrix {name!r}; allowed: {PAPER_MATRIX}, "
                          f"{', '.join(presets)} or a CSV file (rows = target, columns = source)")
