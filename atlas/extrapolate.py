"""Random-forest extrapolation of transfer scores from finetuning features (paper App. B.6).

The paper measures BTS directly for a 9x9 block and estimates every other cell of its 38x38 matrix (Fig. C.2)
with a random-forest regressor (300 trees, unlimited depth) trained on the measured scores, with the
features of :func:`atlas.fas.transfer_features` (``[g~_s, g~_t, g~_s - g~_t, delta~_{s->t}]``). It reports
5-fold cross-validated R2 = 0.85 and Spearman rho = 0.88.

Here (the rules the tests pin down):

* **Training set**: every measured (finite) BTS cell whose pair has features; cells without features are
  counted but unused.
* **Cross-validation**: ``KFold(5, shuffle=True, random_state=seed)`` with the forest seeded by the same
  seed, repeated over several seeds. Per fold: R2 (``sklearn.metrics.r2_score``) and Spearman rho of the
  held-out cells. Reported: the mean over all folds and seeds, the spread over folds (SD of the fold values)
  and over seeds (SD of the per-seed means), and the *pooled* out-of-fold R2 / rho (all held-out
  predictions of one seed scored together, then averaged over seeds) -- the paper does not say which of
  the two it reports. CV needs at least 3 cells per fold (15 for 5 folds): fewer is one clear error.
* **Prediction**: one forest (the first seed) fit on all training cells predicts every pair with features;
  measured cells keep their measured value, and a boolean mask says which cells were measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas.fas import FEATURE_NAMES

#: The paper's estimator (App. B.6): 300 trees, unlimited depth.
RF_TREES = 300
CV_FOLDS = 5
CV_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
#: Fewest held-out cells per fold for a fold's R2 and Spearman to mean anything.
MIN_PER_FOLD = 3
#: The paper's 5-fold CV figures (App. B.6).
PAPER_CV = {"r2": 0.85, "spearman": 0.88, "n_measured": 90, "source": "App. B.6 (5-fold CV on the measured BTS)"}


class ExtrapolationError(ValueError):
    """Too few measured cells with features, or a malformed input (named in the message)."""


@dataclass(frozen=True)
class CVResult:
    """Cross-validation of the forest. R2 and Spearman are dimensionless.

    ``folds``: one row per (seed, fold): ``seed, fold, n_test, r2, spearman``. ``r2``/``spearman``: mean over
    every fold and seed; ``*_fold_sd``: SD over those fold values; ``*_seed_sd``: SD of the per-seed means;
    ``*_pooled``: score of all out-of-fold predictions of a seed together, mean over seeds.
    """

    folds: pd.DataFrame
    r2: float
    r2_fold_sd: float
    r2_seed_sd: float
    r2_pooled: float
    spearman: float
    spearman_fold_sd: float
    spearman_seed_sd: float
    spearman_pooled: float
    n_splits: int
    seeds: tuple[int, ...]

    def summary(self) -> dict[str, Any]:
        """The CV figures as a flat dict with ``cv_`` keys (JSON-ready)."""
        keys = ["r2", "r2_fold_sd", "r2_seed_sd", "r2_pooled", "spearman", "spearman_fold_sd", "spearman_seed_sd",
                "spearman_pooled"]
        out: dict[str, Any] = {f"cv_{k}": float(getattr(self, k)) for k in keys}
        out.update(cv_folds=self.n_splits, cv_seeds=list(self.seeds))
        return out


@dataclass(frozen=True)
class Extrapolation:
    """The completed transfer matrix and how it was obtained.

    ``matrix``: rows = target, columns = source, cell = BTS (measured where ``measured`` is True, the forest's
    estimate elsewhere, NaN where neither exists; diagonal NaN). ``cv``: :class:`CVResult`. ``n_measured``:
    training cells (measured with features); ``n_measured_without_features``: measured cells the forest could
    not use; ``n_predicted``: estimated cells. ``feature_languages``: languages with a gain and features.
    """

    matrix: pd.DataFrame
    measured: pd.DataFrame
    cv: CVResult
    n_measured: int
    n_measured_without_features: int
    n_predicted: int
    feature_languages: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """``n_measured, n_predicted``, the CV figures, the paper's figures and the provenance (JSON-ready)."""
        return {"n_measured": self.n_measured, "n_predicted": self.n_predicted, **self.cv.summary(),
                "n_measured_without_features": self.n_measured_without_features,
                "feature_languages": self.feature_languages, "paper": PAPER_CV, **self.info}


def make_forest(seed: int):
    """The paper's regressor: ``RandomForestRegressor(n_estimators=300, max_depth=None, random_state=seed)``."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=RF_TREES, max_depth=None, random_state=seed, n_jobs=1)


def _check_matrix(bts: pd.DataFrame) -> None:
    if list(bts.index) != list(bts.columns):
        raise ExtrapolationError("the BTS matrix must be square with rows (targets) in the order of columns (sources)")


def training_set(bts: pd.DataFrame, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Measured BTS cells with features: ``(X, y, pairs)``.

    ``bts``: rows = target, columns = source (NaN = unmeasured). ``features``: index (source, target), columns
    :data:`atlas.fas.FEATURE_NAMES`. ``X``: (n, 4) features; ``y``: BTS; ``pairs``: (source, target), sorted.
    """
    _check_matrix(bts)
    missing = [c for c in FEATURE_NAMES if c not in features.columns]
    if missing:
        raise ExtrapolationError(f"features lack column(s) {missing}; need {FEATURE_NAMES}")
    pairs, ys = [], []
    for s, t in sorted(features.index):
        if t in bts.index and s in bts.columns and s != t and np.isfinite(bts.at[t, s]):
            pairs.append((s, t))
            ys.append(float(bts.at[t, s]))
    X = features.loc[pairs, FEATURE_NAMES].to_numpy(float) if pairs else np.empty((0, len(FEATURE_NAMES)))
    return X, np.asarray(ys, float), pairs


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # undefined for a constant side
    return float(spearmanr(a, b).statistic)


def _sd(values: Sequence[float]) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size >= 2 else float("nan")


def cross_validate(X: np.ndarray, y: np.ndarray, seeds: Sequence[int] = CV_SEEDS, n_splits: int = CV_FOLDS) -> CVResult:
    """K-fold CV of the forest, repeated over ``seeds`` (fold split and forest both seeded). See :class:`CVResult`."""
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    if n_splits < 2:
        raise ExtrapolationError(f"n_splits must be >= 2, got {n_splits}")
    if not len(seeds):
        raise ExtrapolationError("need at least one seed")
    need = MIN_PER_FOLD * n_splits
    if len(y) < need:
        raise ExtrapolationError(f"{len(y)} measured BTS cells have features; {n_splits}-fold CV needs >= {need} "
                                 f"({MIN_PER_FOLD} per fold)")
    rows, pooled_r2, pooled_rho = [], [], []
    for seed in seeds:
        oof = np.full(len(y), np.nan)
        for fold, (tr, te) in enumerate(KFold(n_splits, shuffle=True, random_state=seed).split(X)):
            pred = make_forest(seed).fit(X[tr], y[tr]).predict(X[te])
            oof[te] = pred
            rows.append({"seed": seed, "fold": fold, "n_test": len(te), "r2": float(r2_score(y[te], pred)),
                         "spearman": _spearman(y[te], pred)})
        pooled_r2.append(float(r2_score(y, oof)))
        pooled_rho.append(_spearman(y, oof))
    folds = pd.DataFrame(rows)
    per_seed = folds.groupby("seed")[["r2", "spearman"]].mean()
    return CVResult(
        folds=folds,
        r2=float(np.nanmean(folds["r2"])), r2_fold_sd=_sd(folds["r2"]), r2_seed_sd=_sd(per_seed["r2"]),
        r2_pooled=float(np.nanmean(pooled_r2)),
        spearman=float(np.nanmean(folds["spearman"])), spearman_fold_sd=_sd(folds["spearman"]),
        spearman_seed_sd=_sd(per_seed["spearman"]), spearman_pooled=float(np.nanmean(pooled_rho)),
        n_splits=n_splits, seeds=tuple(int(s) for s in seeds),
    )


def extrapolate(bts: pd.DataFrame, features: pd.DataFrame, seeds: Sequence[int] = CV_SEEDS,
                n_splits: int = CV_FOLDS) -> Extrapolation:
    """Cross-validate the forest on the measured cells, then fill every pair that has features.

    ``bts``: measured matrix (rows = target, columns = source, NaN = unmeasured); ``features``:
    :func:`atlas.fas.transfer_features`. The result's matrix covers the union of both language sets.
    """
    X, y, pairs = training_set(bts, features)
    n_all = int(np.isfinite(bts.to_numpy(float)).sum())
    cv = cross_validate(X, y, seeds, n_splits)
    langs = sorted(set(bts.index) | {x for pair in features.index for x in pair})
    matrix = bts.reindex(index=langs, columns=langs).astype(float)
    measured = matrix.notna()
    forest = make_forest(int(seeds[0])).fit(X, y)
    todo = [(s, t) for s, t in features.index if s != t and not measured.at[t, s]]
    if todo:
        pred = forest.predict(features.loc[todo, FEATURE_NAMES].to_numpy(float))
        for (s, t), v in zip(todo, pred):
            matrix.at[t, s] = float(v)
    matrix.index.name, matrix.columns.name = "target", "source"
    measured.index.name, measured.columns.name = "target", "source"
    feature_langs = sorted({x for pair in features.index for x in pair})
    return Extrapolation(matrix=matrix, measured=measured, cv=cv, n_measured=len(y),
                         n_measured_without_features=n_all - len(y), n_predicted=len(todo),
                         feature_languages=feature_langs)


def _why_no_features(fas_rows: pd.DataFrame, bts_langs: Sequence[str]) -> str:
    """One clause per BTS language that has no features: no finetune on it, or no gain (no base loss)."""
    sources = set(fas_rows["source"])
    gains = set(fas_rows.loc[(fas_rows["source"] == fas_rows["target"]) & np.isfinite(fas_rows["fas"]), "source"])
    no_ft = [lang for lang in bts_langs if lang not in sources]
    no_gain = [lang for lang in bts_langs if lang in sources and lang not in gains]
    parts = []
    if no_ft:
        parts.append(f"no finetune on {' '.join(no_ft)}")
    if no_gain:
        parts.append(f"no base loss (hence no gain g) for {' '.join(no_gain)}")
    return "; ".join(parts) or "every language has a gain"


def extrapolate_runs(
    preset: str,
    shape: str | None = None,
    base_tokens: float | None = None,
    eval_set: str = "bible",
    loss: str = "loss",
    seeds: Sequence[int] = CV_SEEDS,
    n_splits: int = CV_FOLDS,
    root: Path | None = None,
) -> Extrapolation:
    """:func:`extrapolate` on a preset's committed runs: BTS from the ``bilingual`` experiment
    (:func:`atlas.bts.matrix_from_runs`), features from the ``finetune`` experiment at the BTS matrix's shape
    (``shape`` overrides both; ``base_tokens``: see :func:`atlas.fas.fas_table`). A direction censored below the
    bilingual run's reach enters at its bound (``info["n_censored_at_bound"]``). Too few measured cells with
    features is one :class:`ExtrapolationError` line naming what is missing."""
    from atlas import bts as bts_mod
    from atlas import fas

    # a direction below the bilingual run's reach enters at its bound, as in the chapter's sign and rank comparisons
    matrix = bts_mod.matrix_from_runs(preset, shape=shape, eval_set=eval_set, loss=loss, root=root,
                                      censored_at_bound=True)
    ft_shape = shape or matrix.attrs["shape"]
    table = fas.fas_table(preset, shape=ft_shape, base_tokens=base_tokens, eval_set=eval_set, loss=loss, root=root)
    feats = fas.transfer_features(table)
    info = {"preset": preset, "bts_shape": matrix.attrs["shape"], "bts_budget": matrix.attrs["budget"],
            "fas_shape": table.attrs["shape"], "fas_base_tokens": table.attrs["base_tokens"], "eval_set": eval_set,
            "loss": loss, "n_censored_at_bound": matrix.attrs["n_censored_at_bound"]}
    try:
        result = extrapolate(matrix, feats, seeds, n_splits)
    except ExtrapolationError as exc:
        langs = sorted({x for pair in feats.index for x in pair})
        raise ExtrapolationError(
            f"{exc}: preset {preset!r} has BTS for {len(matrix)} languages but features for {len(langs)} "
            f"({' '.join(langs) or 'none'}; {_why_no_features(table, list(matrix.index))}; finetunes of shape "
            f"{table.attrs['shape']} from a {table.attrs['base_tokens']:.0f}-token base)") from None
    return Extrapolation(**{**result.__dict__, "info": info})
