"""Chapter 03 (monolingual scaling): CSL/DCSL/ATLAS fits per language and vocabulary, compute-optimal
frontiers, the vocabulary tax, repetition, and the chapter's verdicts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import fit as F
from atlas import languages as L
from atlas import rules
from atlas.chapters.verdicts import Verdict, flags_of, judged, mean_ci, untestable
from atlas.planning import optimal

def monolingual_fits(rows: pd.DataFrame, laws: Sequence[str] = ("csl", "dcsl", "atlas-dt"), **fit_kw: Any) -> pd.DataFrame:
    """One fit per (law, vocabulary, language) on the from-scratch K = 1 runs; failed fits kept."""
    mono = rows[(rows["K"] == 1) & (rows["base_tokens"].fillna(0) == 0)]
    parts = []
    for law in laws:
        t = F.fit_groups(law, mono, by=["vocab", "eval_lang"], **fit_kw)
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def fitted_frontiers(fits: pd.DataFrame, C: np.ndarray) -> pd.DataFrame:
    """Compute-optimal (N, D, loss) along budgets ``C`` from every successful CSL fit (Chinchilla frontier)."""
    out = []
    for r in fits[(fits["law"] == "csl") & (fits["status"] == "ok")].to_dict("records"):
        try:
            f = optimal.frontier(C, r)
        except ValueError:
            continue
        out.append(f.assign(vocab=r["vocab"], eval_lang=r["eval_lang"]))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["C", "N", "D", "loss", "vocab", "eval_lang"])


def vocabulary_tax(table: pd.DataFrame, eval_set: str, loss: str = "loss_u") -> pd.DataFrame:
    """Compute a multilingual vocabulary costs over a monolingual one to reach the same loss, per language.

    Uses the vocabulary-insensitive ``loss_u`` (comparable across tokenizers; no law is fitted, so its sign
    does not matter) on the measured frontiers of from-scratch K = 1 runs. One row per language: the median
    ratio ``C_multi / C_mono`` over the loss levels both frontiers reach (NaN + reason otherwise).
    """
    t = table[(table["eval_set"] == eval_set) & (table["D"] > 0) & (table["K"] == 1)
              & (table["base_tokens"].fillna(0) == 0) & np.isfinite(table[loss])]
    out = []
    for lang, g in t.groupby("eval_lang"):
        fr = {v: optimal.empirical_frontier(gg, loss=loss) for v, gg in g.groupby("vocab")}
        if "mono" not in fr or "multi" not in fr:
            out.append({"eval_lang": lang, "median_ratio": np.nan, "n_levels": 0,
                        "reason": f"needs runs with both vocabularies; has {sorted(fr)}"})
            continue
        tax = optimal.compute_tax(fr["mono"], fr["multi"], loss=loss).dropna()
        out.append({"eval_lang": lang, "median_ratio": float(tax["ratio"].median()) if len(tax) else np.nan,
                    "n_levels": len(tax), "reason": "" if len(tax) else "the two frontiers share no loss range"})
    return pd.DataFrame(out)


def repetition_r2(rows: pd.DataFrame, laws: Sequence[str] = ("csl", "dcsl", "atlas-dt"), **fit_kw: Any) -> pd.DataFrame:
    """Held-out R^2(D) (top-20 % data held out) per law for each language whose runs repeat data (D > U).

    This is where a saturation term should matter: the held-out points are the most repeated ones.
    """
    mono = rows[(rows["K"] == 1) & (rows["base_tokens"].fillna(0) == 0)]
    out = []
    for (vocab, lang), g in mono.groupby(["vocab", "eval_lang"]):
        if not np.any(g["D"].to_numpy(float) > g["U"].to_numpy(float)):
            continue
        for law in laws:
            h = F.heldout_r2(law, g.reset_index(drop=True), splits=["D"], **fit_kw).iloc[0]
            out.append({"vocab": vocab, "eval_lang": lang, "law": law, "r2_D": h["r2"], "status": h["status"],
                        "reason": h["reason"], "max_epochs": float(np.nanmax(g["D"] / g["U"])),
                        "flags": h["flags"] if isinstance(h.get("flags"), str) else ""})
    return pd.DataFrame(out, columns=["vocab", "eval_lang", "law", "r2_D", "status", "reason", "max_epochs", "flags"])


def unimax_tax(table: pd.DataFrame, eval_set: str, loss: str = "loss") -> pd.DataFrame:
    """The Unimax frontier against the one-language frontier (same multilingual vocabulary, so cross-entropy is
    comparable): per language, the median ratio ``C_unimax / C_mono`` to reach the same loss (NaN + reason)."""
    t = table[(table["eval_set"] == eval_set) & (table["vocab"] == "multi") & (table["D"] > 0)
              & (table["base_tokens"].fillna(0) == 0) & np.isfinite(table[loss])]
    uni = t[t["experiment"] == "unimax"]
    mono = t[(t["K"] == 1) & (t["experiment"] != "unimax")]
    out = []
    for lang in sorted(set(uni["eval_lang"])):
        a, b = mono[mono["eval_lang"] == lang], uni[uni["eval_lang"] == lang]
        if len(a) < 2 or len(b) < 2:
            out.append({"eval_lang": lang, "median_ratio": np.nan, "n_levels": 0,
                        "reason": f"{len(a)} one-language and {len(b)} Unimax points (2 of each needed)"})
            continue
        tax = optimal.compute_tax(optimal.empirical_frontier(a, loss=loss), optimal.empirical_frontier(b, loss=loss),
                                  loss=loss).dropna()
        out.append({"eval_lang": lang, "median_ratio": float(tax["ratio"].median()) if len(tax) else np.nan,
                    "n_levels": len(tax), "reason": "" if len(tax) else "the two frontiers share no loss range"})
    return pd.DataFrame(out, columns=["eval_lang", "median_ratio", "n_levels", "reason"])


def frontier_exponents(fits: pd.DataFrame) -> pd.DataFrame:
    """The compute-optimal frontier's exponent N_opt ~ C^(beta / (alpha + beta)) of every successful CSL fit."""
    ok = fits[(fits["law"] == "csl") & (fits["status"] == "ok")] if len(fits) else pd.DataFrame()
    if not len(ok):
        return pd.DataFrame(columns=["vocab", "eval_lang", "a", "flags"])
    return pd.DataFrame({"vocab": ok["vocab"], "eval_lang": ok["eval_lang"],
                         "a": ok["beta"] / (ok["alpha"] + ok["beta"]), "flags": ok["flags"]}).reset_index(drop=True)


#: "nearly parallel": the spread (max - min) of the frontier exponents within this
PARALLEL_TOL = 0.1


def _tax_verdict(ch: str, preset: str, tax: pd.DataFrame, claim: str, source: str, paper: str, what: str,
                 missing: str) -> Verdict:
    """A compute tax > 1: the sign rule on the mean tax - 1 over languages (bootstrap over languages)."""
    finite = tax.dropna(subset=["median_ratio"]) if len(tax) else tax
    finite = finite[finite["median_ratio"] > 0] if len(finite) else finite
    if len(finite) == 0:
        return untestable(ch, claim, source, paper, missing, preset, ours=f"no language with {what}")
    r = finite["median_ratio"].to_numpy(float)
    v = rules.sign(claim, paper, float(r.mean() - 1), mean_ci(r - 1, unit="languages"), expected="positive",
                   name="mean tax - 1")
    ours = v.ours + "; median C ratio: " + ", ".join(
        f"{L.get(k).code} x{x:.2f}" for k, x in zip(finite["eval_lang"], finite["median_ratio"]))
    return judged(ch, source, preset, rules.Verdict(v.claim, v.paper, ours, v.status, v.rule, v.reason, v.noise))


def chapter03_verdicts(preset: str, tax: pd.DataFrame, rep: pd.DataFrame, fits: pd.DataFrame | None = None,
                       uni: pd.DataFrame | None = None) -> list[Verdict]:
    """Vocabulary tax and Unimax tax (sign), saturating laws on repeated data (ordering), parallel frontiers
    (value of the exponents' spread), each by a rule of :mod:`atlas.rules`."""
    ch = "03_monolingual_scaling"
    out = [_tax_verdict(ch, preset, tax, "A multilingual vocabulary adds a compute tax (C_multi / C_mono > 1)",
                        "Fig. 1, Sec. 3", "tax > 1 for every language, largest for EN",
                        "both vocabularies on a shared loss range",
                        "needs monolingual runs with both a monolingual and a multilingual vocabulary")]
    out.append(_tax_verdict(ch, preset, uni if uni is not None else pd.DataFrame(),
                            "Unimax training adds a compute tax over one-language training (C_unimax / C_mono > 1)",
                            "Fig. 1 (Unimax frontier)", "the Unimax frontier lies above the monolingual one",
                            "Unimax and one-language runs on a shared loss range",
                            "needs Unimax runs and one-language runs of the same vocabulary reaching common losses"))
    claim = "Saturating laws (DCSL, ATLAS) extrapolate repeated data better than CSL"
    paper = "HI, SW bend upward; ATLAS/DCSL beat CSL out of sample (R2(N) 0.78/0.88 vs 0.68)"
    ok = rep[rep["status"] == "ok"] if len(rep) else rep
    piv = ok.pivot_table(index=["vocab", "eval_lang"], columns="law", values="r2_D") if len(ok) else pd.DataFrame()
    sat_cols = [c for c in ("dcsl", "atlas-dt") if c in piv]
    if len(piv) == 0 or "csl" not in piv or not sat_cols:
        out.append(untestable(ch, claim, "Fig. 1, Table 1", paper, "needs capped languages trained beyond one epoch "
                              "with enough points for CSL and a saturating law", preset,
                              ours="no scorable language with repeated data"))
    else:
        sat = piv[sat_cols].max(axis=1)
        both = piv["csl"].notna() & sat.notna()
        d = (sat - piv["csl"])[both]
        v = rules.ordering(claim, paper, float(sat[both].mean()), float(piv["csl"][both].mean()),
                           mean_ci(d, unit="languages (paired difference)"),
                           names=("best saturating law R2(D)", "CSL R2(D)"), paper_gap=0.1,
                           flags=flags_of(ok["flags"]) if "flags" in ok else None)
        out.append(judged(ch, "Fig. 1, Table 1", preset, v))
    claim, paper = "The monolingual compute-optimal frontiers run nearly parallel", "nearly parallel (Fig. 1)"
    ex = frontier_exponents(fits if fits is not None else pd.DataFrame())
    groups = [(voc, g) for voc, g in ex.groupby("vocab") if len(g) >= 2] if len(ex) else []
    if not groups:
        out.append(untestable(ch, claim, "Fig. 1", paper, "needs CSL fits of 2+ languages with one vocabulary", preset))
    else:
        voc, g = max(groups, key=lambda x: len(x[1]))
        spread = float(g["a"].max() - g["a"].min())
        v = rules.value(claim, paper, spread, 0.0, PARALLEL_TOL,
                        rules.Noise.unknown("no noise estimate: one fit per language, no bootstrap of the exponents"),
                        name=f"spread of the exponent of N_opt in C over {len(g)} languages ({voc} vocabulary)",
                        flags=flags_of(g["flags"]))
        out.append(judged(ch, "Fig. 1", preset, v))
    return out
