"""Chapter 04 (transfer matrix): the verdicts computed from our BTS matrix, its scale table and the d_mono sweep
(the scores themselves come from :mod:`atlas.bts`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from atlas import bts, languages, paper_tables, stats
from atlas.chapters.verdicts import Verdict


def chapter_verdicts(preset: str, matrix: pd.DataFrame | None, size_table: pd.DataFrame | None,
                     sweep: pd.DataFrame | None = None) -> list:
    """Verdicts of the transfer-matrix chapter, computed from our matrix, scale table and d_mono sweep
    (:func:`bts_sweep`; ``None``: no runs)."""
    ch = "04_transfer_matrix"
    none = "this preset has no finished bilingual runs"
    out = []
    # 1. interference dominates
    pm = paper_tables.transfer_matrix("38x38")
    block = paper_tables.measured_block()
    d = stats.describe_matrices({"all": pm, "measured": pm.loc[block, block]})
    claim, src = "Most language pairs interfere (BTS < 0)", "Fig. 2 / Fig. C.2"
    paper = (f"38x38 mean {d.loc['all', 'mean']:.2f}, {100 * d.loc['all', 'share_negative']:.0f}% of cells < 0; "
             f"measured 9x9 mean {d.loc['measured', 'mean']:.2f}, "
             f"{100 * d.loc['measured', 'share_negative']:.0f}% < 0")
    vals = matrix.to_numpy()[np.isfinite(matrix.to_numpy())] if matrix is not None else np.array([])
    if vals.size == 0:
        out.append(Verdict(ch, claim, src, paper, "n/a", "not testable", none if matrix is None else
                           "no finite score in our matrix", preset))
    else:
        neg = float(np.mean(vals < 0))
        status = ("reproduced" if vals.mean() < 0 and neg > 0.5 else
                  "partially" if vals.mean() < 0 or neg > 0.5 else "not reproduced")
        out.append(Verdict(ch, claim, src, paper, f"mean {vals.mean():.2f}, {100 * neg:.0f}% of {vals.size} "
                           "cells < 0", status, "reproduced = mean < 0 and most cells < 0", preset))
    # 2. agreement with the paper's directly measured cells
    claim, src = "Our scores rank pairs like the paper's measured BTS", "Fig. C.2, top-left 9x9 (App. B.5.1)"
    comp = bts.compare_with_paper(matrix) if matrix is not None else pd.DataFrame(columns=["measured"])
    meas = comp[comp["measured"]] if len(comp) else comp
    if len(meas) < 5:
        out.append(Verdict(ch, claim, src, "measured 9x9 block", f"{len(meas)} overlapping measured cells",
                           "not testable", none if matrix is None else "fewer than 5 cells overlap the paper's "
                           "measured block", preset))
    else:
        rho = sps.spearmanr(meas["ours"], meas["paper"])
        status = ("reproduced" if rho.statistic > 0.5 and rho.pvalue < 0.05 else
                  "partially" if rho.statistic > 0 else "not reproduced")
        out.append(Verdict(ch, claim, src, "measured 9x9 block", f"Spearman rho = {rho.statistic:.2f} "
                           f"(p = {rho.pvalue:.2g}, n = {len(meas)})", status,
                           "reproduced = rho > 0.5 with p < 0.05; tiny models on Bible text vs 2B models on "
                           "MADLAD-400", preset))
    # 3. es -> pt synergy vs en -> zh interference (App. C.2)
    claim, src = "es->pt is synergistic, en->zh interferes", "App. C.2, Fig. C.1"
    cells = {}
    if matrix is not None:
        iso = {languages.resolve(str(c)): c for c in matrix.index}
        isoc = {languages.resolve(str(c)): c for c in matrix.columns}
        for s, t in (("spa", "por"), ("eng", "cmn")):
            if t in iso and s in isoc and np.isfinite(matrix.loc[iso[t], isoc[s]]):
                cells[(s, t)] = float(matrix.loc[iso[t], isoc[s]])
    if len(cells) < 2:
        out.append(Verdict(ch, claim, src, "es->pt 0.5, en->zh -1.0", "n/a", "not testable",
                           none if matrix is None else "our matrix lacks es->pt or en->zh", preset))
    else:
        sp, ez = cells[("spa", "por")], cells[("eng", "cmn")]
        status = ("reproduced" if sp > 0 > ez else "partially" if sp > ez else "not reproduced")
        out.append(Verdict(ch, claim, src, "es->pt 0.5, en->zh -1.0", f"es->pt {sp:.2f}, en->zh {ez:.2f}",
                           status, "reproduced = es->pt > 0 > en->zh; partially = right order only", preset))
    # 4. BTS vs model size
    claim, src = "Transfer scores improve with model size", "App. C.2, Fig. C.1"
    trend = bts.size_trend(size_table) if size_table is not None and len(size_table) else pd.DataFrame()
    trend = trend[np.isfinite(trend["slope_per_decade"])] if len(trend) else trend
    if len(trend) == 0:
        out.append(Verdict(ch, claim, src, "Score ~ -0.11 + 0.08 N (N in 1e9)", "n/a", "not testable",
                           none if size_table is None else "no scale pair has finite scores at 2+ sizes", preset))
    else:
        up = int((trend["slope_per_decade"] > 0).sum())
        n_sizes = int(trend["n_shapes"].max())
        status = ("reproduced" if up == len(trend) and n_sizes >= 3 else "partially" if up else "not reproduced")
        out.append(Verdict(ch, claim, src, "Score ~ -0.11 + 0.08 N (N in 1e9)",
                           f"BTS rises with N for {up} of {len(trend)} directions (mean slope "
                           f"{trend['slope_per_decade'].mean():+.2f} per decade of N)", status,
                           f"{n_sizes} model sizes spanning {trend['params_min'].min():,.0f}-"
                           f"{trend['params_max'].max():,.0f} parameters, one seed each; reproduced needs a rise "
                           "in every direction over 3+ sizes", preset))
    out += _training_verdicts(preset, sweep)
    return out


def _longest(sweep: pd.DataFrame, preset: str) -> tuple[pd.DataFrame, str]:
    """The sweep rows to judge training length on: the longer-trained pairs at their longest budget, or (when
    no pair was trained at two budgets) every direction of the matrix."""
    long = bts.training_length_pairs(sweep)
    if len(long):
        top = long.groupby(["source", "target", "shape"])["budget"].transform("max")
        return long[long["budget"] == top], "the pairs trained at 2 budgets, at the longer one"
    shape, budget = bts._main_group(sweep, preset)
    return sweep[(sweep["shape"] == shape) & (sweep["budget"] == budget)], "every direction of the matrix"


def _training_verdicts(preset: str, sweep: pd.DataFrame | None) -> list:
    ch, src = "04_transfer_matrix", "App. C.2, Fig. C.1"
    none = "this preset has no finished bilingual runs"
    out = []
    claim, paper = "Transfer scores fall as training tokens grow", "Score ~ 0.39 - 1.31 D (D in 1e11 tokens)"
    rows, which = _longest(sweep, preset) if sweep is not None and len(sweep) else (pd.DataFrame(), "")
    trend = bts.training_trend(rows) if len(rows) else pd.DataFrame()
    trend = trend[np.isfinite(trend["slope_per_doubling"])] if len(trend) else trend
    if len(trend) == 0:
        out.append(Verdict(ch, claim, src, paper, "n/a", "not testable", none if sweep is None else
                           "no direction has 2+ finite scores after the warmup", preset))
    else:
        down = int((trend["slope_per_doubling"] < 0).sum())
        n_pts = int(trend["n"].min())
        status = ("reproduced" if down == len(trend) and n_pts >= 3 else
                  "partially" if down > len(trend) / 2 else "not reproduced")
        out.append(Verdict(
            ch, claim, src, paper,
            f"BTS falls with d_mono for {down} of {len(trend)} directions (median "
            f"{trend['slope_per_doubling'].median():+.2f} per doubling; d_mono "
            f"{trend['d_mono_first'].min():,.0f}-{trend['d_mono_last'].max():,.0f} tokens)", status,
            f"{which}, after the warmup; reproduced = a fall in every direction over 3+ values of d_mono", preset))
    claim, paper = "The es->pt vs en->zh gap is set early and stays constant", "constant gap over training"
    gap = pd.DataFrame()
    if len(rows):
        ok = rows[np.isfinite(rows["bts"]) & (rows["steps_mono"] >= rows["warmup_steps"])]
        sp = ok[(ok.source == "spa") & (ok.target == "por")].set_index("d_mono")["bts"]
        ez = ok[(ok.source == "eng") & (ok.target == "cmn")].set_index("d_mono")["bts"]
        gap = (sp - ez).dropna().sort_index()
    if len(gap) < 2:
        out.append(Verdict(ch, claim, src, paper, "n/a", "not testable", none if sweep is None else
                           "es->pt and en->zh lack scores at 2+ common values of d_mono after the warmup", preset))
    else:
        same_sign = bool((np.sign(gap) == np.sign(gap.iloc[0])).all())
        spread = float(gap.max() - gap.min())
        status = "reproduced" if same_sign and spread <= 0.1 else "partially" if same_sign else "not reproduced"
        out.append(Verdict(ch, claim, src, paper,
                           f"gap {gap.iloc[0]:+.2f} at d_mono {gap.index[0]:,.0f} -> {gap.iloc[-1]:+.2f} at "
                           f"{gap.index[-1]:,.0f} tokens (range {spread:.2f})", status,
                           f"{which}; reproduced = same sign throughout and a range <= 0.1", preset))
    return out
