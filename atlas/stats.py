"""Named statistical tests of script and family effects on a transfer matrix (paper Sec. 4).

The paper reports (Sec. 4, Fig. 2/C.2): mean score with a shared script -0.23, different scripts -0.39;
sharing a script or a family shifts the mean "significantly (always p < .001)", the test unnamed and no
effect sizes given; and A->B vs B->A Pearson r = -0.11. This module names its tests and reports effect sizes
and intervals, on any matrix with **rows = target, columns = source** (cell = score for source -> target):

* :func:`ols_indicators` -- OLS of the score on same-script and same-family indicators (statsmodels), with
  standard errors clustered by unordered language pair (A->B and B->A share a cluster), two-way clustered by
  target and source as a robustness check, and a **language-label permutation** p-value: the scripts and
  families are shuffled among languages (jointly, keeping each language's script/family pair), the matrix
  stays fixed. This null keeps the strong row/column structure of the matrix (e.g. a target that is bad for
  every source), which cell-level tests ignore. Exact (all permutations) when there are <= 7 languages.
* :func:`group_comparison` -- same vs different script (or family): means, Welch t, Mann-Whitney U with the
  rank-biserial correlation, a stratified cell bootstrap CI of the mean difference, and the language-label
  permutation p-value of the mean difference. Welch, Mann-Whitney and the bootstrap treat the cells as
  independent, which they are not (1,406 cells from 38 languages): read them as descriptive; the
  permutation p-value is the one whose null respects the dependence.
* :func:`symmetry` -- Pearson r of A->B against B->A, over both orders of every pair (each pair counted twice,
  which makes r independent of orientation but doubles n: its p-value is not valid) and over unordered pairs
  in the matrix's order (r then depends on which member goes first; the range over random orientations is
  reported).
* :func:`top_k_source_counts` -- how often each language is a top-k source, with ties as ranges.

Family is coded by the Glottolog top level (``family``: Indo-European, Turkic, ...) or by the 17 groups of the
Fig. C.2 legend (``group``: Germanic, Romance, Indo-Iranian, ...); both come from :mod:`atlas.languages`.
The default is ``group``, the paper's own legend. Scores are dimensionless (BTS units).
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from atlas import languages

FamilyCoding = Literal["family", "group"]
FAMILY_CODINGS = languages.FAMILY_CODINGS
EXACT_PERMUTATION_MAX_LANGS = 7  # 7! = 5040 permutations


class StatsInputError(ValueError):
    """A malformed matrix or a bad argument (named in the message)."""


# ------------------------------------------------------------------------------------------------- input


def _check_coding(family_coding: str) -> None:
    if family_coding not in FAMILY_CODINGS:
        raise StatsInputError(f"unknown family coding {family_coding!r}; allowed: {', '.join(FAMILY_CODINGS)}")


def resolve_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Return a float copy of ``matrix`` labelled by ISO 639-3 codes (rows target, columns source).

    Raises :class:`StatsInputError` naming every unknown code, duplicated language or non-numeric cell.
    """
    if not isinstance(matrix, pd.DataFrame) or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise StatsInputError("the transfer matrix must be a non-empty DataFrame (rows target, columns source)")
    labels = [str(x) for x in list(matrix.index) + list(matrix.columns)]
    unknown = []
    for code in dict.fromkeys(labels):
        try:
            languages.resolve(code)
        except languages.UnknownLanguageError:
            unknown.append(code)
    if unknown:
        shown = f"{unknown}" if len(unknown) <= 5 else f"{unknown[:5]} ... ({len(unknown)} in all)"
        raise StatsInputError(f"unknown language code(s) {shown} in the transfer matrix; known codes: "
                              f"{', '.join(sorted(languages.registry()))} (or their ISO 639-1 / paper codes)")
    rows = [languages.resolve(str(c)) for c in matrix.index]
    cols = [languages.resolve(str(c)) for c in matrix.columns]
    for axis, lst in (("rows", rows), ("columns", cols)):
        dups = sorted({c for c in lst if lst.count(c) > 1})
        if dups:
            raise StatsInputError(f"duplicated language(s) {dups} among the matrix {axis}")
    values = matrix.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & matrix.notna()
    if bad.to_numpy().any():
        i, j = np.argwhere(bad.to_numpy())[0]
        raise StatsInputError(f"non-numeric cell {matrix.iat[i, j]!r} at (target {matrix.index[i]}, "
                              f"source {matrix.columns[j]})")
    out = pd.DataFrame(values.to_numpy(float), index=pd.Index(rows, name="target"),
                       columns=pd.Index(cols, name="source"))
    return out


def tidy_pairs(matrix: pd.DataFrame, family_coding: FamilyCoding = "group") -> pd.DataFrame:
    """One row per finite off-diagonal cell: ``target, source, score, same_script, same_family, same_glottolog,
    same_group, pair`` (``pair`` = the unordered pair, e.g. ``eng|fra``; ``same_family`` follows
    ``family_coding``)."""
    _check_coding(family_coding)
    m = resolve_matrix(matrix)
    long = m.stack(future_stack=True).rename("score").reset_index()
    long = long[(long["target"] != long["source"]) & np.isfinite(long["score"])].reset_index(drop=True)
    meta = {c: languages.registry()[c] for c in set(long["target"]) | set(long["source"])}
    long["same_script"] = [meta[t].script == meta[s].script for t, s in zip(long["target"], long["source"])]
    long["same_glottolog"] = [meta[t].family == meta[s].family for t, s in zip(long["target"], long["source"])]
    long["same_group"] = [meta[t].group == meta[s].group for t, s in zip(long["target"], long["source"])]
    long["same_family"] = long["same_glottolog" if family_coding == "family" else "same_group"]
    long["pair"] = ["|".join(sorted((t, s))) for t, s in zip(long["target"], long["source"])]
    long["score"] = long["score"] + 0.0  # -0.0 -> 0.0
    return long


# ----------------------------------------------------------------------------------- permutation machinery


class _LabelPermuter:
    """Recomputes same-script / same-family indicators under permutations of the languages' metadata."""

    def __init__(self, pairs: pd.DataFrame, family_coding: str, n_perm: int, seed: int):
        langs = sorted(set(pairs["target"]) | set(pairs["source"]))
        pos = {c: i for i, c in enumerate(langs)}
        self.t = pairs["target"].map(pos).to_numpy()
        self.s = pairs["source"].map(pos).to_numpy()
        reg = languages.registry()
        attr = "family" if family_coding == "family" else "group"
        self.script = pd.factorize(np.array([reg[c].script for c in langs]))[0]
        self.family = pd.factorize(np.array([getattr(reg[c], attr) for c in langs]))[0]
        n = len(langs)
        if n <= EXACT_PERMUTATION_MAX_LANGS and math.factorial(n) <= max(n_perm, 1) * 10:
            self.perms = [np.array(p) for p in itertools.permutations(range(n))]
            self.exact = True
        else:
            rng = np.random.default_rng(seed)
            self.perms = [rng.permutation(n) for _ in range(n_perm)]
            self.exact = False

    def indicators(self, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sc, fa = self.script[perm], self.family[perm]
        return sc[self.t] == sc[self.s], fa[self.t] == fa[self.s]

    def p_value(self, observed: float, null: np.ndarray) -> float:
        """Two-sided: share of permutations with |stat| >= |observed| (the identity counted once if random)."""
        null = np.asarray(null, float)
        null = null[np.isfinite(null)]
        if not np.isfinite(observed) or null.size == 0:
            return float("nan")
        hits = np.sum(np.abs(null) >= abs(observed) - 1e-12)
        if self.exact:
            return float(hits / null.size)
        return float((hits + 1) / (null.size + 1))


# -------------------------------------------------------------------------------------------------- tests


def _mean_diff(y: np.ndarray, mask: np.ndarray) -> float:
    if mask.all() or not mask.any():
        return float("nan")
    return float(y[mask].mean() - y[~mask].mean())


def group_comparison(
    pairs: pd.DataFrame,
    indicator: str,
    *,
    n_boot: int = 2000,
    n_perm: int = 2000,
    seed: int = 0,
    family_coding: FamilyCoding = "group",
    _permuter: _LabelPermuter | None = None,
) -> dict[str, Any]:
    """Same vs different (``indicator`` = ``same_script`` or ``same_family``) on the cells of ``pairs``.

    Returns n, mean and median of each group, ``mean_diff`` (same - different) with a stratified bootstrap
    95% CI (``n_boot`` resamples of cells within each group, seeded) and a bootstrap over languages
    (``mean_diff_ci95_languages``, :func:`language_bootstrap`: cells sharing a language move together),
    Welch's t test, the Mann-Whitney U test (two-sided) with the rank-biserial correlation (``2 U_same / (n_same n_diff) - 1``: +1 when every
    same-group cell beats every different-group cell), and the language-label permutation p-value of the
    mean difference.
    """
    if indicator not in ("same_script", "same_family"):
        raise StatsInputError(f"indicator must be 'same_script' or 'same_family', got {indicator!r}")
    y = pairs["score"].to_numpy(float)
    mask = pairs[indicator].to_numpy(bool)
    a, b = y[mask], y[~mask]
    out: dict[str, Any] = {
        "test": "Welch t; Mann-Whitney U (rank-biserial r); language-label permutation of the mean difference",
        "n_same": int(a.size), "n_different": int(b.size),
        "mean_same": float(a.mean()) if a.size else float("nan"),
        "mean_different": float(b.mean()) if b.size else float("nan"),
        "median_same": float(np.median(a)) if a.size else float("nan"),
        "median_different": float(np.median(b)) if b.size else float("nan"),
        "mean_diff": _mean_diff(y, mask),
    }
    nan = float("nan")
    if a.size >= 2 and b.size >= 2 and (a.std() > 0 or b.std() > 0):
        with warnings.catch_warnings():  # near-constant groups (tiny matrices): the t statistic is still defined
            warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
            w = sps.ttest_ind(a, b, equal_var=False)
        out.update(welch_t=float(w.statistic), welch_df=float(w.df), welch_p=float(w.pvalue))
    else:
        out.update(welch_t=nan, welch_df=nan, welch_p=nan)
    if a.size and b.size:
        u = sps.mannwhitneyu(a, b, alternative="two-sided")
        out.update(mannwhitney_u=float(u.statistic), mannwhitney_p=float(u.pvalue),
                   rank_biserial=float(2 * u.statistic / (a.size * b.size) - 1))
        rng = np.random.default_rng(seed)
        boots = (rng.choice(a, (n_boot, a.size)).mean(1) - rng.choice(b, (n_boot, b.size)).mean(1))
        lo, hi = np.percentile(boots, [2.5, 97.5])
        out.update(mean_diff_ci95=[float(lo), float(hi)])
        by_lang = language_bootstrap(pairs, lambda r: _mean_diff(r["score"].to_numpy(float),
                                                                 r[indicator].to_numpy(bool)), n_boot, seed)
        out.update(mean_diff_ci95_languages=list(by_lang) if by_lang else [nan, nan])
    else:
        out.update(mannwhitney_u=nan, mannwhitney_p=nan, rank_biserial=nan, mean_diff_ci95=[nan, nan],
                   mean_diff_ci95_languages=[nan, nan])
    perm = _permuter or _LabelPermuter(pairs, family_coding, n_perm, seed)
    which = 0 if indicator == "same_script" else 1
    null = np.array([_mean_diff(y, perm.indicators(p)[which]) for p in perm.perms])
    out.update(permutation_p=perm.p_value(out["mean_diff"], null), n_permutations=len(perm.perms),
               permutation_exact=perm.exact)
    if not (a.size and b.size):
        out["note"] = f"no cells with {indicator} = {not a.size}: the comparison is undefined"
    return out


def _ols_coefficients(y: np.ndarray, script: np.ndarray, family: np.ndarray, use: list[str]) -> np.ndarray:
    cols = [np.ones_like(y)] + [script if u == "same_script" else family for u in use]
    X = np.column_stack(cols).astype(float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        return np.full(X.shape[1], np.nan)
    return beta


def ols_indicators(
    pairs: pd.DataFrame,
    *,
    n_perm: int = 2000,
    seed: int = 0,
    family_coding: FamilyCoding = "group",
    _permuter: _LabelPermuter | None = None,
) -> dict[str, Any]:
    """OLS ``score ~ 1 + same_script + same_family`` (statsmodels), pair-clustered SEs, permutation p-values.

    Per coefficient: ``coef``, ``se`` and ``p`` (clustered by unordered pair), ``ci95`` (same), ``se_twoway``
    and ``p_twoway`` (clustered by target and by source), ``permutation_p`` (language labels permuted).
    An indicator that never varies (e.g. no same-family pair among the languages) is dropped and named in
    ``dropped``.
    """
    import statsmodels.api as sm

    y = pairs["score"].to_numpy(float)
    use = [c for c in ("same_script", "same_family") if pairs[c].nunique() > 1]
    dropped = [c for c in ("same_script", "same_family") if c not in use]
    out: dict[str, Any] = {
        "test": "OLS score ~ same_script + same_family; SEs clustered by unordered pair; "
                "language-label permutation p-values",
        "n": int(y.size), "n_clusters": int(pairs["pair"].nunique()), "dropped": dropped, "coefficients": {},
    }
    if y.size < len(use) + 2 or out["n_clusters"] < 2:
        out["note"] = f"too few cells ({y.size}) or pair clusters ({out['n_clusters']}) for the regression"
        return out
    X = sm.add_constant(pairs[use].astype(float), has_constant="add")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        out["note"] = "same script and same family coincide in every pair: the regression cannot separate them"
        return out
    groups = pd.factorize(pairs["pair"])[0]
    with warnings.catch_warnings():
        # a sandwich with few clusters can have a negative variance (its SE is NaN) and a constant score has no
        # R2: both are reported as NaN, not warned about
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups})
        bse, pvalues, ci, r2 = fit.bse, fit.pvalues, fit.conf_int(0.05), float(fit.rsquared)  # r2: NaN if y is constant
        try:
            two = np.column_stack([pd.factorize(pairs["target"])[0], pd.factorize(pairs["source"])[0]])
            fit2 = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": two})
            se2, p2 = fit2.bse, fit2.pvalues
        except Exception:  # too few clusters for a two-way sandwich
            se2 = p2 = pd.Series(np.nan, index=X.columns)
    perm = _permuter or _LabelPermuter(pairs, family_coding, n_perm, seed)
    null = np.array([_ols_coefficients(y, *perm.indicators(p), use) for p in perm.perms])
    for k, name in enumerate(X.columns):
        key = "intercept" if name == "const" else name
        out["coefficients"][key] = {
            "coef": float(fit.params[name]), "se": float(bse[name]), "p": float(pvalues[name]),
            "ci95": [float(ci.loc[name, 0]), float(ci.loc[name, 1])],
            "se_twoway": float(se2[name]), "p_twoway": float(p2[name]),
            "permutation_p": perm.p_value(float(fit.params[name]), null[:, k]) if key != "intercept" else None,
        }
    out.update(r2=r2, n_permutations=len(perm.perms), permutation_exact=perm.exact)
    if out["n_clusters"] < 20:
        out["note"] = (f"only {out['n_clusters']} pair clusters: clustered standard errors are unreliable; "
                       "rely on the permutation p-values")
    return out


def _labelled(matrix: pd.DataFrame) -> pd.DataFrame:
    """Validated float copy that keeps the caller's labels (codes are checked by :func:`resolve_matrix`)."""
    m = resolve_matrix(matrix)
    return pd.DataFrame(m.to_numpy(), index=[str(c) for c in matrix.index], columns=[str(c) for c in matrix.columns])


def _square(matrix: pd.DataFrame) -> pd.DataFrame:
    m = _labelled(matrix)
    iso = {c: languages.resolve(c) for c in list(m.index) + list(m.columns)}
    col_of = {iso[c]: c for c in m.columns}
    rows = [r for r in m.index if iso[r] in col_of]
    out = m.loc[rows, [col_of[iso[r]] for r in rows]]
    out.columns = rows
    return out


def symmetry(matrix: pd.DataFrame, *, n_orientations: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Pearson r between A->B and B->A (both finite), three ways.

    ``r_both_orders``: every ordered pair once as (M[a,b], M[b,a]) -- each unordered pair enters twice, so r
    does not depend on orientation, but the points are not independent (no p-value is given for it).
    ``r_unordered``: one point per unordered pair, x = M[i, j] (row i before column j in the matrix's order),
    with its Pearson p-value and Spearman rho. ``r_orientation_range``: min and max of the unordered r over
    ``n_orientations`` random choices of which member goes first (seeded).
    """
    m = _square(matrix)
    v = m.to_numpy(float)
    iu, ju = np.triu_indices(len(m), 1)
    x, y = v[iu, ju], v[ju, iu]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok] + 0.0, y[ok] + 0.0
    nan = float("nan")
    out: dict[str, Any] = {"test": "Pearson r of A->B vs B->A", "n_unordered_pairs": int(x.size)}
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        out.update(r_both_orders=nan, r_unordered=nan, p_unordered=nan, spearman_unordered=nan,
                   r_orientation_range=[nan, nan], note="fewer than 3 pairs with both directions (or no spread)")
        return out
    both_x, both_y = np.concatenate([x, y]), np.concatenate([y, x])
    r_un = sps.pearsonr(x, y)
    rng = np.random.default_rng(seed)
    rs = []
    with np.errstate(invalid="ignore", divide="ignore"):  # an orientation without spread has no r: skipped
        for _ in range(n_orientations):
            flip = rng.random(x.size) < 0.5
            rs.append(np.corrcoef(np.where(flip, y, x), np.where(flip, x, y))[0, 1])
    rs = [r for r in rs if np.isfinite(r)] or [nan]
    out.update(
        r_both_orders=float(np.corrcoef(both_x, both_y)[0, 1]),
        r_unordered=float(r_un.statistic), p_unordered=float(r_un.pvalue),
        spearman_unordered=float(sps.spearmanr(x, y).statistic),
        r_orientation_range=[float(np.min(rs)), float(np.max(rs))],
        mean_abs_asymmetry=float(np.mean(np.abs(x - y))),
    )
    return out


def asymmetry_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """Unordered pairs with both directions: ``a, b, a_to_b`` (= M[b, a]), ``b_to_a`` (= M[a, b]),
    ``asymmetry`` (a_to_b - b_to_a), ``same_script``, ``same_group``; sorted by |asymmetry| descending."""
    m = _square(matrix)
    rows = []
    for i, a in enumerate(m.index):
        for b in m.index[i + 1:]:
            ab, ba = m.loc[b, a], m.loc[a, b]
            if np.isfinite(ab) and np.isfinite(ba):
                la, lb = languages.get(a), languages.get(b)
                rows.append({"a": a, "b": b, "a_to_b": ab + 0.0, "b_to_a": ba + 0.0, "asymmetry": ab - ba,
                             "same_script": la.script == lb.script, "same_group": la.group == lb.group})
    out = pd.DataFrame(rows, columns=["a", "b", "a_to_b", "b_to_a", "asymmetry", "same_script", "same_group"])
    return out.reindex(out["asymmetry"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def top_k_source_counts(matrix: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """For each source: on how many targets it is among the top-k sources, as a range when ties straddle k.

    ``min``: targets where it is in the top k even if every tie ranks ahead of it (n_greater + n_tied_other
    + 1 <= k); ``max``: targets where it is in the top k if ties rank behind it (n_greater + 1 <= k);
    ``n_targets``: targets with a finite score from it. Sorted by ``max`` then ``min``, descending.
    """
    if not isinstance(k, int) or k < 1:
        raise StatsInputError(f"k must be a positive integer, got {k!r}")
    m = _labelled(matrix)
    lo = pd.Series(0, index=m.columns)
    hi = pd.Series(0, index=m.columns)
    n = pd.Series(0, index=m.columns)
    for target, row in m.iterrows():
        tiso = languages.resolve(target)
        row = row[[languages.resolve(c) != tiso for c in row.index]].dropna() + 0.0
        vals = row.to_numpy()
        for src, v in row.items():
            greater = int(np.sum(vals > v))
            tied = int(np.sum(vals == v)) - 1
            lo[src] += greater + tied + 1 <= k
            hi[src] += greater + 1 <= k
            n[src] += 1
    out = pd.DataFrame({"min": lo, "max": hi, "n_targets": n})
    out.index.name = "source"
    return out.sort_values(["max", "min"], ascending=False)


def four_groups(pairs: pd.DataFrame) -> pd.DataFrame:
    """n, mean and median of the score in the 2x2 of same/different family x same/different script."""
    g = pairs.assign(family=np.where(pairs["same_family"], "same family", "different family"),
                     script=np.where(pairs["same_script"], "same script", "different script"))
    return g.groupby(["family", "script"])["score"].agg(n="size", mean="mean", median="median").reset_index()


def order_languages(codes: list[str], by: FamilyCoding = "group") -> list[str]:
    """Codes ordered for display: by family (``by``), then script, then code."""
    _check_coding(by)
    reg = languages.registry()
    iso = {c: languages.resolve(c) for c in codes}
    return sorted(codes, key=lambda c: (getattr(reg[iso[c]], by), reg[iso[c]].script, iso[c]))


def transfer_tests(
    matrix: pd.DataFrame,
    family_coding: FamilyCoding = "group",
    *,
    n_perm: int = 2000,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """All Sec. 4 statistics of a transfer matrix (rows target, columns source) in one JSON-able dict.

    Keys: ``same_script_mean``, ``different_script_mean``, ``same_family_mean``, ``different_family_mean``,
    ``symmetry_r`` (Pearson r over both orders of every pair, the paper's -0.11 reading), ``n_pairs`` (ordered
    (target, source) cells with a finite score), ``n_languages``, ``family_coding``, and ``tests``:
    ``script`` and ``family`` (:func:`group_comparison`), ``ols`` (:func:`ols_indicators`), ``symmetry``
    (:func:`symmetry`).
    """
    _check_coding(family_coding)
    for name, value in (("n_perm", n_perm), ("n_boot", n_boot)):
        if not isinstance(value, int) or value < 1:
            raise StatsInputError(f"{name} must be a positive integer, got {value!r}")
    pairs = tidy_pairs(matrix, family_coding)
    if pairs.empty:
        raise StatsInputError("the transfer matrix has no finite off-diagonal cells")
    perm = _LabelPermuter(pairs, family_coding, n_perm, seed)
    script = group_comparison(pairs, "same_script", n_boot=n_boot, seed=seed, _permuter=perm)
    family = group_comparison(pairs, "same_family", n_boot=n_boot, seed=seed, _permuter=perm)
    sym = symmetry(matrix, seed=seed)
    return {
        "same_script_mean": script["mean_same"], "different_script_mean": script["mean_different"],
        "same_family_mean": family["mean_same"], "different_family_mean": family["mean_different"],
        "symmetry_r": sym["r_both_orders"], "n_pairs": int(len(pairs)),
        "n_languages": int(len(set(pairs["target"]) | set(pairs["source"]))), "family_coding": family_coding,
        "tests": {"script": script, "family": family,
                  "ols": ols_indicators(pairs, family_coding=family_coding, _permuter=perm), "symmetry": sym},
    }


# ------------------------------------------------------------------------------------------ chapter helpers


def validate_params(family_coding: str = "group", n_perm: int = 2000, n_boot: int = 2000) -> None:
    """Check the statistics chapter's parameters before any work (clear error naming the bad value)."""
    _check_coding(family_coding)
    for name, value in (("n_perm", n_perm), ("n_boot", n_boot)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise StatsInputError(f"{name} must be a positive integer, got {value!r}")


def describe_matrices(matrices: dict[str, pd.DataFrame], family_coding: FamilyCoding = "group") -> pd.DataFrame:
    """Descriptive statistics of several matrices side by side (no tests): one row per matrix.

    Columns: ``languages, n_pairs, mean, same_script_mean, different_script_mean, same_family_mean,
    different_family_mean, symmetry_r`` (both orders), ``symmetry_r_unordered``, ``share_negative``.
    """
    rows = []
    for name, m in matrices.items():
        p = tidy_pairs(m, family_coding)
        s = symmetry(m, n_orientations=1)
        grp = lambda col, val: float(p.loc[p[col] == val, "score"].mean()) if (p[col] == val).any() else float("nan")  # noqa: E731
        rows.append({"matrix": name, "languages": len(set(p["target"]) | set(p["source"])), "n_pairs": len(p),
                     "mean": float(p["score"].mean()), "same_script_mean": grp("same_script", True),
                     "different_script_mean": grp("same_script", False), "same_family_mean": grp("same_family", True),
                     "different_family_mean": grp("same_family", False), "symmetry_r": s["r_both_orders"],
                     "symmetry_r_unordered": s["r_unordered"], "share_negative": float((p["score"] < 0).mean())})
    return pd.DataFrame(rows).set_index("matrix")


def tests_table(result: dict[str, Any]) -> pd.DataFrame:
    """The named tests of :func:`transfer_tests` as one tidy table: ``effect, test, estimate, ci95, p``."""
    t = result["tests"]
    rows = []
    for key in ("script", "family"):
        g = t[key]
        ci = g["mean_diff_ci95"]
        rows += [
            {"effect": key, "test": "mean difference, same - different (stratified cell bootstrap CI)",
             "estimate": g["mean_diff"], "ci95": f"[{ci[0]:.3f}, {ci[1]:.3f}]", "p": float("nan")},
            {"effect": key, "test": "mean difference, same - different (bootstrap over languages CI)",
             "estimate": g["mean_diff"], "ci95": "[{:.3f}, {:.3f}]".format(*g.get("mean_diff_ci95_languages",
                                                                            [float("nan")] * 2)), "p": float("nan")},
            {"effect": key, "test": "Welch t", "estimate": g["welch_t"], "ci95": "", "p": g["welch_p"]},
            {"effect": key, "test": "Mann-Whitney U (estimate = rank-biserial r)", "estimate": g["rank_biserial"],
             "ci95": "", "p": g["mannwhitney_p"]},
            {"effect": key, "test": f"language-label permutation of the mean difference ({g['n_permutations']})",
             "estimate": g["mean_diff"], "ci95": "", "p": g["permutation_p"]},
        ]
    ols = t["ols"]
    for name, c in ols["coefficients"].items():
        if name == "intercept":
            continue
        effect = "script" if name == "same_script" else "family"
        rows += [
            {"effect": effect, "test": "OLS coefficient, pair-clustered SE", "estimate": c["coef"],
             "ci95": f"[{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}]", "p": c["p"]},
            {"effect": effect, "test": "OLS coefficient, two-way (target, source) clustered SE",
             "estimate": c["coef"], "ci95": "", "p": c["p_twoway"]},
            {"effect": effect, "test": "OLS coefficient, language-label permutation", "estimate": c["coef"],
             "ci95": "", "p": c["permutation_p"]},
        ]
    s = t["symmetry"]
    rows += [
        {"effect": "symmetry", "test": "Pearson r, both orders of every pair (no valid p)",
         "estimate": s["r_both_orders"], "ci95": "", "p": float("nan")},
        {"effect": "symmetry", "test": "Pearson r, unordered pairs in matrix order "
         f"(orientation range {s['r_orientation_range'][0]:.3f} to {s['r_orientation_range'][1]:.3f})",
         "estimate": s["r_unordered"], "ci95": "", "p": s["p_unordered"]},
    ]
    return pd.DataFrame(rows)


def language_bootstrap(cells: pd.DataFrame, stat: Callable[[pd.DataFrame], float], n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float] | None:
    """Percentile 95 % interval of ``stat`` over resampled *languages*, for cells of (``source``, ``target``).

    Directed cells are not independent: both directions of a pair share one overlap, and every cell shares a
    language with many others. Each replicate draws the languages with replacement and keeps every cell
    between two drawn languages, repeated count(source) x count(target) times. ``None`` when fewer than 4
    languages or when over half of the replicates give no finite value.
    """
    langs = sorted(set(cells["source"]) | set(cells["target"]))
    if len(langs) < 4:
        return None
    rng = np.random.default_rng(seed)
    index = {lang: i for i, lang in enumerate(langs)}
    src = np.fromiter((index[x] for x in cells["source"]), int, len(cells))
    tgt = np.fromiter((index[x] for x in cells["target"]), int, len(cells))
    values = []
    for _ in range(n_boot):
        drawn = np.bincount(rng.integers(0, len(langs), len(langs)), minlength=len(langs))
        rows = np.repeat(np.arange(len(cells)), drawn[src] * drawn[tgt])
        values.append(stat(cells.take(rows)) if rows.size >= 3 else np.nan)
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size < n_boot / 2:
        return None
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))
