"""Chapter 04 (transfer matrix): the verdicts computed from our BTS matrix, its scale table and the d_mono sweep
(the scores themselves come from :mod:`atlas.bts`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from atlas import bts, languages, paper_tables, rules, stats
from atlas.chapters.verdicts import Verdict, judged, mean_ci, spearman_ci, untestable


def _with(v: rules.Verdict, ours: str | None = None, reason: str = "") -> rules.Verdict:
    return rules.Verdict(v.claim, v.paper, ours if ours is not None else v.ours, v.status, v.rule,
                         v.reason + (f"; {reason}" if reason else ""), v.noise)


def chapter_verdicts(preset: str, matrix: pd.DataFrame | None, size_table: pd.DataFrame | None,
                     sweep: pd.DataFrame | None = None) -> list:
    """Verdicts of the transfer-matrix chapter, computed from our matrix, scale table and d_mono sweep
    (:func:`bts_sweep`; ``None``: no runs), each by a rule of :mod:`atlas.rules`."""
    ch = "04_transfer_matrix"
    none = "this preset has no finished bilingual runs"
    out = []
    # 1. interference dominates: the mean score is negative (sign rule, bootstrap over cells)
    pm = paper_tables.transfer_matrix("38x38")
    block = paper_tables.measured_block()
    d = stats.describe_matrices({"all": pm, "measured": pm.loc[block, block]})
    claim, src = "Most language pairs interfere (BTS < 0)", "Fig. 2 / Fig. C.2"
    paper = (f"38x38 mean {d.loc['all', 'mean']:.2f}, {100 * d.loc['all', 'share_negative']:.0f}% of cells < 0; "
             f"measured 9x9 mean {d.loc['measured', 'mean']:.2f}, "
             f"{100 * d.loc['measured', 'share_negative']:.0f}% < 0")
    vals = matrix.to_numpy()[np.isfinite(matrix.to_numpy())] if matrix is not None else np.array([])
    if vals.size == 0:
        out.append(untestable(ch, claim, src, paper, none if matrix is None else "no finite score in our matrix", preset))
    else:
        neg = float(np.mean(vals < 0))
        v = rules.sign(claim, paper, float(vals.mean()), mean_ci(vals, unit="cells"), expected="negative",
                       name="mean BTS", paper_value=float(d.loc["all", "mean"]))
        out.append(judged(ch, src, preset, _with(v, f"{v.ours}; {100 * neg:.0f}% of {vals.size} cells < 0")))
    # 2. agreement with the paper's directly measured cells: rank correlation with a bootstrap CI
    claim, src = "Our scores rank pairs like the paper's measured BTS", "Fig. C.2, top-left 9x9 (App. B.5.1)"
    comp = bts.compare_with_paper(matrix) if matrix is not None else pd.DataFrame(columns=["measured"])
    meas = comp[comp["measured"]] if len(comp) else comp
    if len(meas) < 5:
        out.append(untestable(ch, claim, src, "measured 9x9 block", none if matrix is None else
                              "fewer than 5 cells overlap the paper's measured block", preset,
                              ours=f"{len(meas)} overlapping measured cells"))
    else:
        x, y = meas["ours"].to_numpy(float), meas["paper"].to_numpy(float)
        rho = float(sps.spearmanr(x, y).statistic)
        v = rules.rank_trend(claim, "measured 9x9 block: ours increase with the paper's", rho, spearman_ci(x, y, unit="cells"))
        out.append(judged(ch, src, preset, _with(v, f"{v.ours} (n = {len(meas)})",
                                                 "tiny models on Bible text vs 2B models on MADLAD-400")))
    # 3. es -> pt synergy vs en -> zh interference (App. C.2): an ordering of two single cells
    claim, src = "es->pt is synergistic, en->zh interferes", "App. C.2, Fig. C.1"
    cells = {}
    if matrix is not None:
        iso = {languages.resolve(str(c)): c for c in matrix.index}
        isoc = {languages.resolve(str(c)): c for c in matrix.columns}
        for s_, t in (("spa", "por"), ("eng", "cmn")):
            if t in iso and s_ in isoc and np.isfinite(matrix.loc[iso[t], isoc[s_]]):
                cells[(s_, t)] = float(matrix.loc[iso[t], isoc[s_]])
    if len(cells) < 2:
        out.append(untestable(ch, claim, src, "es->pt 0.5, en->zh -1.0",
                              none if matrix is None else "our matrix lacks es->pt or en->zh", preset, ours="n/a"))
    else:
        sp, ez = cells[("spa", "por")], cells[("eng", "cmn")]
        v = rules.ordering(claim, "es->pt 0.5, en->zh -1.0", sp, ez,
                           rules.Noise.unknown("no noise estimate: single cells of one seed"),
                           names=("es->pt", "en->zh"), paper_gap=1.5)
        out.append(judged(ch, src, preset, v))
    # 4. BTS vs model size: the mean slope per decade of N over directions (sign rule, bootstrap over directions)
    claim, src = "Transfer scores improve with model size", "App. C.2, Fig. C.1"
    paper = "Score ~ -0.11 + 0.08 N (N in 1e9)"
    trend = bts.size_trend(size_table) if size_table is not None and len(size_table) else pd.DataFrame()
    trend = trend[np.isfinite(trend["slope_per_decade"])] if len(trend) else trend
    if len(trend) == 0:
        out.append(untestable(ch, claim, src, paper, none if size_table is None else
                              "no scale pair has finite scores at 2+ sizes", preset, ours="n/a"))
    else:
        up = int((trend["slope_per_decade"] > 0).sum())
        n_sizes = int(trend["n_shapes"].max())
        v = rules.sign(claim, paper, float(trend["slope_per_decade"].mean()),
                       mean_ci(trend["slope_per_decade"], unit="directions"), expected="positive",
                       name="mean slope per decade of N")
        out.append(judged(ch, src, preset, _with(
            v, f"{v.ours}; BTS rises with N for {up} of {len(trend)} directions",
            f"{n_sizes} model sizes spanning {trend['params_min'].min():,.0f}-{trend['params_max'].max():,.0f} "
            "parameters, one seed each")))
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


#: "the gap stays constant": its least-squares slope per doubling of d_mono within this (BTS units)
GAP_TOL = 0.05


def _training_verdicts(preset: str, sweep: pd.DataFrame | None) -> list:
    ch, src = "04_transfer_matrix", "App. C.2, Fig. C.1"
    none = "this preset has no finished bilingual runs"
    out = []
    claim, paper = "Transfer scores fall as training tokens grow", "Score ~ 0.39 - 1.31 D (D in 1e11 tokens)"
    rows, which = _longest(sweep, preset) if sweep is not None and len(sweep) else (pd.DataFrame(), "")
    trend = bts.training_trend(rows) if len(rows) else pd.DataFrame()
    trend = trend[np.isfinite(trend["slope_per_doubling"])] if len(trend) else trend
    if len(trend) == 0:
        out.append(untestable(ch, claim, src, paper, none if sweep is None else
                              "no direction has 2+ finite scores after the warmup", preset, ours="n/a"))
    else:
        down = int((trend["slope_per_doubling"] < 0).sum())
        v = rules.sign(claim, paper, float(trend["slope_per_doubling"].mean()),
                       mean_ci(trend["slope_per_doubling"], unit="directions"), expected="negative",
                       name="mean slope per doubling of d_mono")
        out.append(judged(ch, src, preset, _with(
            v, f"{v.ours}; BTS falls with d_mono for {down} of {len(trend)} directions (d_mono "
               f"{trend['d_mono_first'].min():,.0f}-{trend['d_mono_last'].max():,.0f} tokens)",
            f"{which}, after the warmup")))
    claim, paper = "The es->pt vs en->zh gap is set early and stays constant", "constant gap over training"
    gap = pd.DataFrame()
    if len(rows):
        ok = rows[np.isfinite(rows["bts"]) & (rows["steps_mono"] >= rows["warmup_steps"])]
        sp = ok[(ok.source == "spa") & (ok.target == "por")].set_index("d_mono")["bts"]
        ez = ok[(ok.source == "eng") & (ok.target == "cmn")].set_index("d_mono")["bts"]
        gap = (sp - ez).dropna().sort_index()
    if len(gap) < 2:
        out.append(untestable(ch, claim, src, paper, none if sweep is None else
                              "es->pt and en->zh lack scores at 2+ common values of d_mono after the warmup", preset,
                              ours="n/a"))
    else:
        x = np.log2(gap.index.to_numpy(float))
        slope, icpt = np.polyfit(x, gap.to_numpy(float), 1)
        if len(gap) >= 3:
            resid = gap.to_numpy(float) - (slope * x + icpt)
            se = float(np.sqrt(resid @ resid / (len(x) - 2) / np.sum((x - x.mean()) ** 2)))
            noise = rules.Noise.seed_sd(se, f"least-squares s.e. over {len(gap)} values of d_mono")
        else:
            noise = rules.Noise.unknown("no noise estimate: 2 values of d_mono")
        v = rules.value(claim, paper, float(slope), 0.0, GAP_TOL, noise, name="slope of the gap per doubling of d_mono")
        flips = not bool((np.sign(gap) == np.sign(gap.iloc[0])).all())
        if flips and v.status == rules.REPRODUCED:  # a gap that changes sign was not set early
            v = rules.Verdict(v.claim, v.paper, v.ours, rules.NOT_REPRODUCED, v.rule, v.reason, v.noise)
        out.append(judged(ch, src, preset, _with(
            v, f"{v.ours}; gap {gap.iloc[0]:+.2f} at d_mono {gap.index[0]:,.0f} -> {gap.iloc[-1]:+.2f} at "
               f"{gap.index[-1]:,.0f} tokens", which + ("; the gap changes sign" if flips else ""))))
    return out
