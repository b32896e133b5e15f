"""The paper's numbers, as transcribed into ``atlas/paper/`` -- loaded as tidy pandas objects.

Nothing here is computed from our runs: these are the values the chapters put *beside* ours. Every loader
names its source (section, table, figure of arXiv 2510.22037 v2) in :data:`PROVENANCE`; read
``atlas/paper/PAPER_NOTES.md`` and ``atlas/paper/transfer_matrix_figC2_38x38.md`` for how each was read.

Language codes in the transcriptions are the paper's (ISO 639-1 where one exists: ``en``, ``no``, ``fil``);
the loaders resolve them through :mod:`atlas.languages` and by default label rows/columns with the canonical
ISO 639-3 code (``eng``), so that the paper's matrix and ours (built from run mixtures keyed by ISO 639-3)
line up. Pass ``codes="paper"`` for the paper's own labels (nicer on figure axes).
"""

from __future__ import annotations

import csv
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from atlas import languages
from atlas.paths import package_data

CodeStyle = Literal["iso3", "paper"]

#: Where each transcribed table comes from and what to keep in mind when using it.
PROVENANCE: dict[str, str] = {
    "transfer_matrix_38x38": (
        "Fig. C.2 (App. C.2), arXiv 2510.22037 v2: 38x38 transfer scores, rows = target, columns = source, "
        "printed to 0.1 (-0.0 kept as printed). Only the top-left 9x9 (en ru es fr de pt zh vi ja) is measured "
        "BTS; every other cell is the paper's random-forest estimate from finetuning adaptation scores. Its "
        "Sec. 4 statistics (same-script mean -0.23, different-script -0.39, symmetry r -0.11) are reproduced "
        "from this matrix, not from the 30x30. See atlas/paper/transfer_matrix_figC2_38x38.md."
    ),
    "transfer_matrix_30x30": (
        "Fig. 2 (Sec. 4): the 30-language sub-block of Fig. C.2 ('normalized BTS'; the normalisation is not "
        "described). All 870 off-diagonal cells equal Fig. C.2's."
    ),
    "table1_r2": "Table 1 (Sec. 3): held-out R2 of each law, splits of App. B.3 (random 20%, N, D, C, M).",
    "curse_of_multilinguality": (
        "Sec. 5 / App. B.7: K-law exponents phi, psi and the iso-loss multipliers for doubling languages."
    ),
    "crossover_points": "Sec. 6, Fig. 7: pretrain-vs-finetune crossover in tokens per language (2B models).",
    "model_grid_table_b3": (
        "Table B.3: model shapes used by the paper (scales 0-46). N = V*d + L*(4*d*h*kv + 3*d*ffw + d), "
        "V = 64,512, reproduces every row (embeddings counted once)."
    ),
    "language_sets": "App. B (Tables B.1, B.4, B.5) and Sec. 4: language sets, mixtures, hyperparameters, BTS findings.",
}

#: The 9 languages of Fig. C.2's directly measured BTS block (App. B.5.1 lists 10; hi is absent), paper codes.
MEASURED_BLOCK: tuple[str, ...] = ("en", "ru", "es", "fr", "de", "pt", "zh", "vi", "ja")

_MATRIX_FILES = {"38x38": "transfer_matrix_figC2_38x38.csv", "30x30": "transfer_matrix_fig2_30x30.csv"}


class PaperTableError(ValueError):
    """A bad argument to a loader, or a transcribed file that fails its consistency checks."""


def provenance(name: str) -> str:
    """The provenance note of table ``name`` (see :data:`PROVENANCE`)."""
    if name not in PROVENANCE:
        raise PaperTableError(f"unknown paper table {name!r}; allowed: {', '.join(PROVENANCE)}")
    return PROVENANCE[name]


def _label(code: str, codes: CodeStyle) -> str:
    iso3 = languages.resolve(code)
    return iso3 if codes == "iso3" else languages.registry()[iso3].code


def _check_codes(codes: str) -> None:
    if codes not in ("iso3", "paper"):
        raise PaperTableError(f"codes must be 'iso3' or 'paper', got {codes!r}")


def transfer_matrix(which: str = "38x38", codes: CodeStyle = "iso3") -> pd.DataFrame:
    """The paper's transfer matrix: rows = **target**, columns = **source**, cell = score for source -> target.

    ``which``: ``"38x38"`` (Fig. C.2, the matrix behind the paper's Sec. 4 statistics) or ``"30x30"`` (Fig. 2).
    Values are as printed (to 0.1); the diagonal is NaN (the figure prints nothing there). Cells printed
    ``-0.0`` keep their sign bit (``-0.0 == 0.0`` numerically, so statistics are unaffected). The frame is
    square with rows and columns in the figure's order; ``frame.attrs["provenance"]`` holds the source note.
    """
    _check_codes(codes)
    if which not in _MATRIX_FILES:
        raise PaperTableError(f"unknown transfer matrix {which!r}; allowed: {', '.join(_MATRIX_FILES)}")
    path = package_data(f"paper/{_MATRIX_FILES[which]}")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    sources = header[1:]
    targets = [r[0] for r in body]
    if sources != targets:
        raise PaperTableError(f"{path.name}: row order differs from column order")
    values = np.full((len(targets), len(sources)), np.nan)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise PaperTableError(f"{path.name}: row {row[0]!r} has {len(row) - 1} cells, expected {len(sources)}")
        for j, cell in enumerate(row[1:]):
            if cell.strip() == "":
                if i != j:
                    raise PaperTableError(f"{path.name}: empty off-diagonal cell ({targets[i]}, {sources[j]})")
                continue
            values[i, j] = float(cell)
    labels = [_label(c, codes) for c in targets]
    frame = pd.DataFrame(values, index=pd.Index(labels, name="target"), columns=pd.Index(labels, name="source"))
    frame.attrs["provenance"] = PROVENANCE[f"transfer_matrix_{which}"]
    return frame


def measured_block(codes: CodeStyle = "iso3") -> list[str]:
    """The 9 languages whose Fig. C.2 cells are directly measured BTS (the rest are estimates)."""
    _check_codes(codes)
    return [_label(c, codes) for c in MEASURED_BLOCK]


def _read_csv(name: str) -> pd.DataFrame:
    frame = pd.read_csv(package_data(f"paper/{name}.csv"))
    frame.attrs["provenance"] = PROVENANCE[name]
    return frame


def table1_r2() -> pd.DataFrame:
    """Table 1: columns ``setting`` (mono|multi), ``law``, ``r2``, ``r2_N``, ``r2_D``, ``r2_C``, ``r2_M``
    (NaN where the paper prints '-')."""
    return _read_csv("table1_r2")


def curse_of_multilinguality() -> pd.DataFrame:
    """Sec. 5 constants, indexed by ``quantity`` (``phi``, ``psi``, ``exp_N``, ``mult_D_2x`` ...), columns
    ``value`` and ``note``."""
    frame = _read_csv("curse_of_multilinguality").set_index("quantity")
    frame.attrs["provenance"] = PROVENANCE["curse_of_multilinguality"]
    return frame


def crossover_points() -> pd.DataFrame:
    """Sec. 6 crossovers: ``language`` (ISO 639-3), ``code`` (paper's), ``crossover_tokens`` (tokens, float)."""
    frame = _read_csv("crossover_points").rename(columns={"language": "code"})
    frame["crossover_tokens"] = frame["crossover_tokens"].astype(float)
    frame.insert(0, "language", [languages.resolve(c) for c in frame["code"]])
    frame.attrs["provenance"] = PROVENANCE["crossover_points"]
    return frame


def model_grid_table_b3() -> pd.DataFrame:
    """Table B.3 shapes: ``scale, heads, layers, d_model, ffw, kv, params`` (params incl. embeddings)."""
    return _read_csv("model_grid_table_b3")


#: Short alias used by the book's intro chapter.
model_grid_b3 = model_grid_table_b3


def language_sets() -> dict[str, Any]:
    """``language_sets.yaml`` as a dict (paper codes as in the paper; see :func:`resolve_set`)."""
    with package_data("paper/language_sets.yaml").open(encoding="utf-8") as fh:
        out = yaml.safe_load(fh)
    if not isinstance(out, dict):
        raise PaperTableError("language_sets.yaml is malformed (expected a mapping)")
    return out


def resolve_set(codes: list[str]) -> list[str]:
    """Resolve a list of paper codes (e.g. ``language_sets()["L_pairs"]``) to ISO 639-3."""
    return [languages.resolve(c) for c in codes]


def paper_bts_findings() -> dict[str, Any]:
    """The Sec. 4 numbers the statistics chapter compares against (means, symmetry r, top-5 counts)."""
    return dict(language_sets()["bts_findings"])
