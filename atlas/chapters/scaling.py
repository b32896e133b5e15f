"""What the scaling-law chapters share (03 monolingual scaling, 06 ATLAS fits, 07 curse of multilinguality):
their parameters, the tidy rows they fit (:mod:`atlas.scaling_table`) and the paper's Table 1 settings."""

from __future__ import annotations

import pandas as pd

from atlas.corpus import RECORDED_EVAL_SETS as EVAL_SETS
from atlas.records import iter_runs
from atlas.scaling_table import build_table, fit_rows

#: Table 1's rows -> our law names.
TABLE1_LAWS = {
    "mono": {"CSL": "csl", "DCSL": "dcsl", "ATLAS (D_t only)": "atlas-dt"},
    "multi": {"CSL": "csl", "MSL": "msl", "ATLAS (D_t only)": "atlas-dt", "ATLAS (+D_other)": "atlas-other",
              "ATLAS (full)": "atlas"},
}
#: The languages Table 1 averages over (App. B.3): EN FR RU ZH HI SW, plus ES DE in the multilingual setting.
PAPER_R2_LANGUAGES = {"mono": ["eng", "fra", "rus", "cmn", "hin", "swh"],
                      "multi": ["eng", "fra", "rus", "cmn", "hin", "swh", "spa", "deu"]}


class ChapterParamError(ValueError):
    """A bad chapter parameter (evaluation set, loss column, start count)."""


def validate_params(eval_set: str, loss: str, n_starts: int = 4, n_jobs: int = 1, n_boot: int = 0) -> None:
    """Check a scaling chapter's parameters before any work.

    ``loss`` must be ``loss`` (cross-entropy): the laws are fitted in log space and our vocabulary-insensitive
    ``loss_u`` is negative for any model better than a unigram model (see the fitting-protocol appendix).
    """
    if eval_set not in EVAL_SETS:
        raise ChapterParamError(f"unknown eval_set {eval_set!r}; allowed: {', '.join(EVAL_SETS)}")
    if loss != "loss":
        raise ChapterParamError(
            f"loss {loss!r} cannot be fitted: the laws need a positive loss and loss_u (CE + mean log unigram "
            "probability) is negative for any useful model; allowed: loss"
        )
    if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
        raise ChapterParamError(f"n_starts must be a positive integer, got {n_starts!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ChapterParamError(f"n_jobs must be a positive integer (processes for the fits), got {n_jobs!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise ChapterParamError(f"n_boot must be a non-negative integer (bootstrap replicates; 0 skips the "
                                f"bootstrap), got {n_boot!r}")


def have_runs(preset: str, experiment: str | None = None) -> bool:
    """Whether ``runs/<preset>`` holds finished runs (of ``experiment``)."""
    return next(iter(iter_runs(preset, experiment)), None) is not None


def load_rows(preset: str, eval_set: str, loss: str = "loss") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(table, rows, exclusions)``: the full tidy table, the fit rows of ``eval_set``, and what was excluded."""
    table = build_table(preset)
    rows, report = fit_rows(table, eval_set=eval_set, loss=loss)
    return table, rows, report


def paper_languages(rows: pd.DataFrame, setting: str) -> list[str]:
    """The paper's Table 1 languages that our rows have (in the paper's order), else every language we have."""
    have = set(rows["eval_lang"])
    chosen = [l for l in PAPER_R2_LANGUAGES[setting] if l in have]
    return chosen or sorted(have)
