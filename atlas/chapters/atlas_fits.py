"""Chapter 06 (Table 1): held-out R^2 of ATLAS and the baselines per setting, law and split; the shared-lambda
ablation; the chapter's verdicts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import fit as F, noise, rules
from atlas.chapters.scaling import TABLE1_LAWS, paper_languages
from atlas.chapters.verdicts import Verdict, fit_mark, flags_of, judged, mean_ci, untestable
from atlas.paper_tables import table1_r2
from atlas.scaling_table import fit_rows, heldout_by_language, setting_rows, summarise_r2

def table1(rows: pd.DataFrame, *, languages: dict[str, list[str]] | None = None, splits: Sequence[str] | None = None,
           progress: bool = False, **fit_kw: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our Table 1: held-out R^2 per setting, law and split, averaged over languages (``languages``: per
    setting, the languages to fit; a setting it leaves out is not fitted).

    Returns ``(long, wide)``: ``long`` one row per (setting, law, language, split) including failures;
    ``wide`` one row per (setting, law) in the paper's layout with its label and our mean R^2 per metric
    plus how many languages each mean rests on.
    """
    longs, wides = [], []
    for setting, laws in TABLE1_LAWS.items():
        srows = setting_rows(rows, setting)
        if srows.empty or (languages is not None and not languages.get(setting)):
            continue  # ``languages`` names the settings to fit
        langs = (languages or {}).get(setting) or paper_languages(srows, setting)
        long = heldout_by_language(srows, list(laws.values()), languages=langs, splits=splits, progress=progress, **fit_kw)
        long.insert(0, "setting", setting)
        longs.append(long)
        wide = summarise_r2(long)
        label = {v: k for k, v in laws.items()}
        wide.insert(0, "law_label", [label[l] for l in wide.index])
        wide.insert(0, "setting", setting)
        wides.append(wide.reset_index())
    if not longs:
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(longs, ignore_index=True), pd.concat(wides, ignore_index=True)


def seed_spread_table(seed_longs: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Per Table 1 cell the paper reports: the statistic its verdict judges (:func:`_cell_statistic`: the mean
    R2 of a baseline, else the mean paired difference from the law it is compared with) on every seed variant,
    with its s.d. over seeds. Cells no replicate moves are left out."""
    cols = ["setting", "law", "compared with", "metric", "mean", "seed s.d.", "seeds"]
    if len(seed_longs) < 2:
        return pd.DataFrame(columns=cols)
    out = []
    for setting, laws in TABLE1_LAWS.items():
        for label, law in laws.items():
            ref = TABLE1_REFERENCE[setting][label]
            for metric in METRIC_COLS.values():
                vals = [_cell_statistic(lg, setting, law, laws[ref] if ref else None, metric) for lg in seed_longs.values()]
                sd = _seed_sd(vals)
                if np.isfinite(sd) and sd > 0:
                    out.append({"setting": setting, "law": label, "compared with": ref or "(its value)",
                                "metric": metric, "mean": float(np.nanmean(vals)), "seed s.d.": sd,
                                "seeds": int(np.isfinite(vals).sum())})
    return pd.DataFrame(out, columns=cols)


def table1_seed_longs(table: pd.DataFrame, long: pd.DataFrame, eval_set: str, **fit_kw: Any) -> dict[int, pd.DataFrame]:
    """Table 1's long table on every seed variant of the runs (:func:`atlas.noise.seed_variants`).

    Only the (setting, language) cells a replicated run can move are refitted -- the languages trained in a
    replicated run, in the settings its vocabulary belongs to; every other row is ``long``'s. Keys are seeds;
    the primary seed maps to ``long`` itself. Empty without replicates.
    """
    variants = noise.seed_variants(table)
    if not variants or not len(long):
        return {}
    rep = table[noise.is_replicate(table["run_id"]) & (table["eval_set"] == eval_set) & (table["D"] > 0)]
    out: dict[int, pd.DataFrame] = {}
    primary = next(iter(variants))  # seed_variants lists the primary runs first
    for seed, variant in variants.items():
        if seed == primary:  # the table already fitted
            out[seed] = long
            continue
        rows, _ = fit_rows(variant, eval_set=eval_set)
        affected = {}
        for setting in TABLE1_LAWS:
            langs = set(setting_rows(rep, setting)["eval_lang"]) & set(long.loc[long["setting"] == setting, "eval_lang"])
            if langs:
                affected[setting] = sorted(langs)
        if not affected:
            out[seed] = long
            continue
        fresh, _ = table1(rows, languages=affected, **fit_kw)
        fresh = fresh[[lang in affected.get(st, []) for st, lang in zip(fresh["setting"], fresh["eval_lang"])]]
        keep = [lang not in affected.get(st, []) for st, lang in zip(long["setting"], long["eval_lang"])]
        out[seed] = pd.concat([long[np.asarray(keep, bool)], fresh], ignore_index=True)
    return out


def extrapolation_error(long: pd.DataFrame) -> pd.DataFrame:
    """Why an extrapolation cell is low: per (setting, split), over every scored fit (all laws and languages),
    the median held-out points, the mean s.d. of the held-out losses, the prediction bias (predicted minus
    observed, averaged over a fit's held-out points) as its mean and its mean absolute value, the mean RMSE
    (nats/token; RMSE^2 = bias^2 + the variance of the errors), and the mean R^2. Since R^2 = 1 - MSE / var, a split whose held-out points
    barely differ (one D value, one model size) turns a small error into a large negative R^2."""
    cols = ["setting", "metric", "fits", "held-out points", "held-out loss s.d.", "bias", "|bias|", "RMSE", "mean R2"]
    need = {"test_sd", "bias", "rmse"}
    if not len(long) or not need <= set(long.columns):
        return pd.DataFrame(columns=cols)
    ok = long[(long["status"] == "ok") & np.isfinite(long["r2"].astype(float))]
    out = []
    for (setting, metric), g in ok.groupby(["setting", "metric"], sort=False):
        out.append({"setting": setting, "metric": metric, "fits": len(g), "held-out points": float(g["n_test"].median()),
                    "held-out loss s.d.": float(g["test_sd"].mean()), "bias": float(g["bias"].mean()),
                    "|bias|": float(g["bias"].abs().mean()),
                    "RMSE": float(g["rmse"].mean()), "mean R2": float(g["r2"].astype(float).mean())})
    order = {m: i for i, m in enumerate(METRIC_COLS.values())}
    return (pd.DataFrame(out, columns=cols).sort_values(["setting", "metric"], key=lambda c: c.map(order) if c.name == "metric" else c)
            .reset_index(drop=True))


def extrapolation_sentence(err: pd.DataFrame, long: pd.DataFrame, rows: pd.DataFrame) -> str:
    """Computed sentences on the worst-scored split: its held-out spread against the laws' error, and the
    languages that pull its mean down, with the most epochs their runs make over their unique tokens."""
    if not len(err):
        return ""
    w = err.loc[err["mean R2"].idxmin()]
    text = (f"The lowest mean is {w['setting']} {w['metric']} ({w['mean R2']:.2f}): its held-out losses spread by "
            f"{w['held-out loss s.d.']:.3f} nats (s.d.), and the laws miss them by {w['RMSE']:.3f} nats RMS; "
            f"a fit's errors share a bias of {w['|bias|']:.3f} nats on average (in absolute value).")
    cell = long[(long["setting"] == w["setting"]) & (long["metric"] == w["metric"]) & (long["status"] == "ok")]
    by_law = cell.groupby("law", sort=False)["r2"].mean()
    text += " By law: " + ", ".join(f"{law} {r2:.2f}" for law, r2 in by_law.items()) + "."
    per_lang = cell.groupby("eval_lang")["r2"].mean()
    srows = setting_rows(rows, w["setting"])
    epochs = (srows["D"] / srows["U"]).groupby(srows["eval_lang"]).max()
    bad = per_lang[per_lang < 0].sort_values()
    if len(bad):
        parts = [f"{lang} ({r2:.2f}; up to {epochs.get(lang, np.nan):.0f} epochs)" for lang, r2 in bad.items()]
        good = per_lang[per_lang >= 0]
        text += f" By language (mean over laws), the negative ones: {', '.join(parts)}"
        text += (f"; the others average {good.mean():.2f} (up to {epochs.reindex(good.index).max():.0f} epochs)."
                 if len(good) else ".")
    return text


def compare_table1(wide: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the paper's Table 1: one row per (setting, law, metric) with ``paper``, ``ours``, ``n_scored``."""
    paper = table1_r2()
    metric_cols = {"r2": "R2", "r2_N": "R2(N)", "r2_D": "R2(D)", "r2_C": "R2(C)", "r2_M": "R2(M)"}
    out = []
    for p in paper.to_dict("records"):
        mine = wide[(wide["setting"] == p["setting"]) & (wide["law_label"] == p["law"])] if len(wide) else wide
        for col, metric in metric_cols.items():
            ours = float(mine[metric].iloc[0]) if len(mine) and metric in mine else np.nan
            n = int(mine[f"n_scored {metric}"].iloc[0]) if len(mine) and f"n_scored {metric}" in mine else 0
            out.append({"setting": p["setting"], "law": p["law"], "metric": metric,
                        "paper": p[col], "ours": ours, "n_scored": n})
    return pd.DataFrame(out)


def lambda_ablation(rows: pd.DataFrame, *, languages: list[str] | None = None, table1_long: pd.DataFrame | None = None,
                    **fit_kw: Any) -> pd.DataFrame:
    """Shared vs per-term lambda (reviewer R1): held-out R^2 (random 20 %) of ``atlas`` vs ``atlas-perlam``.

    ``table1_long``: the long table of :func:`table1` fitted with the same ``fit_kw``; its ``atlas`` rows on
    the random split are reused instead of being fitted again (same data, split and seed: the same fits).
    """
    srows = setting_rows(rows, "multi")
    if srows.empty:
        return pd.DataFrame()
    langs = languages or paper_languages(srows, "multi")
    known = pd.DataFrame()
    if table1_long is not None and len(table1_long):
        known = table1_long[(table1_long["setting"] == "multi") & (table1_long["law"] == "atlas")
                            & (table1_long["split"] == "random") & table1_long["eval_lang"].isin(langs)]
        known = known.drop(columns="setting")
    if len(known) and set(known["eval_lang"]) == set(langs):
        fresh = heldout_by_language(srows, ["atlas-perlam"], languages=langs, splits=["random"], **fit_kw)
        order = {lang: i for i, lang in enumerate(langs)}  # language-major, atlas before atlas-perlam, as fitted
        return pd.concat([known, fresh], ignore_index=True).sort_values(
            "eval_lang", key=lambda c: c.map(order), kind="stable", ignore_index=True)
    return heldout_by_language(srows, ["atlas", "atlas-perlam"], languages=langs, splits=["random"], **fit_kw)


#: Table 1's own comparisons: each law's cells are judged against the law the paper sets it beside
#: (None: a baseline, judged on its value). "+D_other" is judged against "D_t only" (the gain of other
#: languages' tokens) and "full" against "+D_other" (the gain of the transfer terms), as the paper reads them.
TABLE1_REFERENCE = {
    "mono": {"CSL": None, "DCSL": "CSL", "ATLAS (D_t only)": "CSL"},
    "multi": {"CSL": None, "MSL": "CSL", "ATLAS (D_t only)": "CSL", "ATLAS (+D_other)": "ATLAS (D_t only)",
              "ATLAS (full)": "ATLAS (+D_other)"},
}
#: |paper difference| below this is the paper's own tie: the claim is then "equal", judged by the value rule
TIE = 0.02
#: tolerance of a baseline cell's value (absolute R2): our miniature must land within it of the paper's number
VALUE_TOL = 0.1
METRIC_COLS = {"r2": "R2", "r2_N": "R2(N)", "r2_D": "R2(D)", "r2_C": "R2(C)", "r2_M": "R2(M)"}


def fit_marks(long: pd.DataFrame) -> pd.DataFrame:
    """The long table's flagged fits: ``setting, law, eval_lang, split, fit`` (``at bound: E`` ...), one row each."""
    if not len(long) or "flags" not in long:
        return pd.DataFrame(columns=["setting", "law", "eval_lang", "split", "r2", "fit"])
    flagged = long[long["flags"].fillna("").astype(str).str.len() > 0]
    out = flagged[["setting", "law", "eval_lang", "split", "r2"]].copy()
    out["fit"] = [fit_mark(f) for f in flagged["flags"]]
    return out.reset_index(drop=True)


def _cell(long: pd.DataFrame, setting: str, law: str, metric: str) -> pd.DataFrame:
    if not len(long):
        return pd.DataFrame(columns=["eval_lang", "r2", "status", "reason", "flags"])
    return long[(long["setting"] == setting) & (long["law"] == law) & (long["metric"] == metric)]


def cell_verdict(preset: str, setting: str, label: str, metric: str, paper: pd.DataFrame,
                 long: pd.DataFrame, seed_longs: dict[int, pd.DataFrame] | None = None) -> Verdict:
    """The verdict of one Table 1 cell (``setting`` x ``label`` x ``metric``), by the paper's own comparison.

    ``paper``: :func:`atlas.paper_tables.table1_r2`; ``long``: the long table of :func:`table1` (per language,
    with each fit's ``flags``). The noise is a bootstrap over languages of the mean (paired) difference, or
    unknown with fewer than 3 languages; with ``seed_longs`` (:func:`table1_seed_longs`), the wider of that and
    the s.d. over seeds of the same statistic; flags of any fit the cell rests on bar "reproduced". A cell no
    language could score is "not testable" when the data cannot carry it (no held-out point, fewer points than
    parameters), and "not reproduced" when fits failed.
    """
    ch, src = "06_atlas_fits", f"Table 1 ({setting}, {metric})"
    laws = TABLE1_LAWS[setting]
    col = {v: k for k, v in METRIC_COLS.items()}[metric]
    pval = paper.set_index(["setting", "law"])[col]
    p_a = float(pval.get((setting, label), np.nan))
    ref = TABLE1_REFERENCE[setting][label]
    a = _cell(long, setting, laws[label], metric)
    claim_head = f"{setting} {metric}: {label}"
    if ref is None:
        claim, paper_txt = f"{claim_head} = {p_a:.2f}", f"{label} {p_a:.2f}"
        parts = [a]
    else:
        p_b = float(pval.get((setting, ref), np.nan))
        gap = p_a - p_b
        rel = "beats" if gap >= TIE else ("trails" if gap <= -TIE else "ties")
        claim = f"{claim_head} {rel} {ref}"
        paper_txt = f"{label} {p_a:.2f} vs {ref} {p_b:.2f}"
        b = _cell(long, setting, laws[ref], metric)
        parts = [a, b]
    scored = [pt[np.isfinite(pt["r2"].astype(float))] for pt in parts]
    empty = [pt for pt, sc in zip(parts, scored) if len(sc) == 0]
    if empty:
        bad = pd.concat(empty)
        reasons = "; ".join(sorted(set(bad["reason"].fillna("").astype(str)) - {""})[:2]) or "no rows for this law"
        no_data = (bad["status"] == "skipped") | bad["reason"].fillna("").astype(str).str.startswith("underdetermined")
        if not len(bad) or no_data.all():  # the data cannot carry the cell: too few (held-out) points
            return untestable(ch, claim, src, paper_txt, f"no language could be scored on this split: {reasons}",
                              preset, ours="no scored language")
        return _failed(ch, src, preset, claim, paper_txt, reasons)
    flags = flags_of(pd.concat(scored)["flags"] if "flags" in pd.concat(scored) else [])
    seed_sd = _seed_sd([_cell_statistic(lg, setting, laws[label], laws[ref] if ref else None, metric)
                        for lg in (seed_longs or {}).values()])
    if ref is None:
        vals = scored[0]["r2"].astype(float)
        noise_ = _with_seeds(mean_ci(vals, unit="languages"), seed_sd, len(seed_longs or {}))
        v = rules.value(claim, paper_txt, float(vals.mean()), p_a, VALUE_TOL, noise_,
                        name=f"{label} (mean over {len(vals)} languages)", flags=flags)
        return judged(ch, src, preset, v)
    pa = scored[0].set_index("eval_lang")["r2"].astype(float)
    pb = scored[1].set_index("eval_lang")["r2"].astype(float)
    both = pa.index.intersection(pb.index)
    if len(both) == 0:
        return _failed(ch, src, preset, claim, paper_txt, "the two laws were scored on no common language")
    d = (pa[both] - pb[both])
    noise_ = _with_seeds(mean_ci(d, unit="languages (paired difference)"), seed_sd, len(seed_longs or {}))
    ma, mb = float(pa[both].mean()), float(pb[both].mean())
    if abs(gap) < TIE:  # the paper's own tie: the claim is equality of the two laws
        v = rules.value(claim, paper_txt, ma - mb, gap, TIE, noise_,
                        name=f"{label} - {ref} (mean over {len(both)} languages)", flags=flags)
    elif gap > 0:
        v = rules.ordering(claim, paper_txt, ma, mb, noise_, names=(label, ref), paper_gap=gap, flags=flags)
    else:
        v = rules.ordering(claim, paper_txt, mb, ma, noise_, names=(ref, label), paper_gap=-gap, flags=flags)
    return judged(ch, src, preset, v)


def _cell_statistic(long: pd.DataFrame, setting: str, law: str, ref: str | None, metric: str) -> float:
    """What a cell's verdict judges: the mean R2 over languages (a baseline) or the mean paired difference
    ``law - ref`` over the languages both scored."""
    def scored(name: str) -> pd.Series:
        c = long[(long["setting"] == setting) & (long["law"] == name) & (long["metric"] == metric)]
        r = c.set_index("eval_lang")["r2"].astype(float)
        return r[np.isfinite(r)]
    a = scored(law)
    if ref is None:
        return float(a.mean()) if len(a) else float("nan")
    b = scored(ref)
    both = a.index.intersection(b.index)
    return float((a[both] - b[both]).mean()) if len(both) else float("nan")


def _seed_sd(values: Sequence[float]) -> float:
    """The s.d. over seeds of one statistic (NaN with fewer than 2 finite values), as :class:`noise.SeedSpread`."""
    return noise.SeedSpread(dict(enumerate(values))).sd


def _with_seeds(base: rules.Noise, seed_sd: float, n_seeds: int) -> rules.Noise:
    """The cell's noise: the wider of the bootstrap over languages and the s.d. over seeds (when measured)."""
    if not np.isfinite(seed_sd):
        return base
    return rules.wider(base, rules.Noise.seed_sd(seed_sd, f"{n_seeds} seeds of the replicated runs"))


def _failed(ch: str, src: str, preset: str, claim: str, paper_txt: str, reasons: str) -> Verdict:
    """A cell whose fits failed: not reproduced, never dropped."""
    return Verdict(ch, claim, src, paper_txt, "fit failed, no R2", rules.NOT_REPRODUCED,
                   f"the cell could not be scored: {reasons}", preset, "ordering")


def chapter06_verdicts(preset: str, long: pd.DataFrame, c1: pd.DataFrame | None = None,
                       seed_longs: dict[int, pd.DataFrame] | None = None) -> list[Verdict]:
    """One verdict per Table 1 cell the paper reports (setting x law x split), then Table C.1's exponents."""
    paper = table1_r2()
    out = []
    for p in paper.to_dict("records"):
        for col, metric in METRIC_COLS.items():
            if pd.isna(p[col]):
                continue
            out.append(cell_verdict(preset, p["setting"], p["law"], metric, paper, long, seed_longs))
    out += table_c1_verdicts(preset, c1 if c1 is not None else pd.DataFrame())
    return out


# ----------------------------------------------------------------------------------------------------------
# Table C.1: per-language CSL fits of the monolingual runs

#: Table C.1's exponents (alpha, beta) per language, mono vocabulary and multilingual vocabulary, monolingual
#: training. [I]: the PDF extraction garbles the table; these digits are reconstructed (atlas/paper/PAPER_NOTES.md).
PAPER_C1 = {
    "mono": {"eng": (0.41, 0.41), "fra": (0.11, 0.24), "rus": (0.07, 0.28), "cmn": (0.46, 0.37), "hin": (0.39, 0.39),
             "swh": (0.26, 0.26)},
    "multi": {"eng": (0.63, 0.06), "fra": (0.45, 0.45), "rus": (0.49, 0.49), "cmn": (0.49, 0.90), "hin": (0.43, 0.43),
              "swh": (0.30, 0.30)},
}
#: tolerance of an exponent (absolute)
C1_TOL = 0.1


def table_c1(rows: pd.DataFrame, **fit_kw: Any) -> pd.DataFrame:
    """CSL per language on the from-scratch K = 1 runs of each vocabulary, beside Table C.1's exponents.

    One row per (vocab, language): ``alpha, beta`` ours and the paper's, ``r2``, ``fit`` (the diagnosis).
    """
    mono = rows[(rows["K"] == 1) & (rows["base_tokens"].fillna(0) == 0)]
    if mono.empty:
        return pd.DataFrame(columns=["vocab", "eval_lang", "alpha", "beta", "paper alpha", "paper beta", "r2", "fit"])
    fits = F.fit_groups("csl", mono, by=["vocab", "eval_lang"], **fit_kw)
    out = []
    for r in fits.to_dict("records"):
        pa, pb = PAPER_C1.get(r["vocab"], {}).get(r["eval_lang"], (np.nan, np.nan))
        ok = r["status"] == "ok"
        out.append({"vocab": r["vocab"], "eval_lang": r["eval_lang"], "alpha": r.get("alpha") if ok else np.nan,
                    "beta": r.get("beta") if ok else np.nan, "paper alpha": pa, "paper beta": pb, "r2": r["r2"],
                    "flags": r["flags"], "fit": fit_mark(r["flags"])})
    return pd.DataFrame(out)


def table_c1_verdicts(preset: str, c1: pd.DataFrame) -> list[Verdict]:
    """Table C.1: our mean alpha and beta (over the languages both have) against the paper's, within C1_TOL."""
    ch, src = "06_atlas_fits", "Table C.1 [I]"
    out = []
    for vocab in ("mono", "multi"):
        for p, i in (("alpha", 0), ("beta", 1)):
            claim = f"Table C.1 ({vocab} vocabulary): CSL exponent {p} per language"
            sub = c1[(c1["vocab"] == vocab) & c1[f"paper {p}"].notna()] if len(c1) else c1
            if not len(sub):
                out.append(untestable(ch, claim, src, f"mean {p} over 6 languages "
                                      f"{np.mean([v[i] for v in PAPER_C1[vocab].values()]):.2f}",
                                      f"no {vocab}-vocabulary monolingual runs of the paper's languages in this preset",
                                      preset))
                continue
            ok = sub[np.isfinite(sub[p].astype(float))]
            paper_mean = float(sub[f"paper {p}"].mean())
            ours = float(ok[p].mean()) if len(ok) else np.nan
            noise = mean_ci(ok[p], unit="languages")
            v = rules.value(claim, f"mean {p} over {len(sub)} languages {paper_mean:.2f} (digits reconstructed [I])",
                            ours, paper_mean, C1_TOL, noise, name=f"our mean {p}", flags=flags_of(sub["flags"]))
            out.append(judged(ch, src, preset, v))
    return out
