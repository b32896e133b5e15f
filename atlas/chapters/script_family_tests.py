"""Chapter 05 (script and family statistics): the paper's Sec. 4 claims re-tested on its transcribed matrix and
on ours (the tests themselves live in :mod:`atlas.stats`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from atlas import languages, paper_tables, rules
from atlas.chapters.verdicts import EXACT, Verdict, judged, untestable

#: "weakly asymmetric": our r within this of the paper's -0.11 (absolute)
SYMMETRY_TOL = 0.2


def _effect_verdict(preset: str, res: dict[str, Any] | None, key: str) -> Verdict:
    """'Sharing <key> raises the score' on our matrix: the sign rule on the mean difference (same - different)
    with the wider of its stratified cell-bootstrap and language-bootstrap 95 % CIs; the language-label
    permutation p-value is quoted beside it."""
    ch, src = "05_script_family_tests", "Sec. 4, Fig. 2/C.2"
    claim = f"Sharing a {key} raises the transfer score (our runs)"
    paper = "same-script -0.23 vs different -0.39, p < .001" if key == "script" else "significant, p < .001 (no means given)"
    if res is None:
        return untestable(ch, claim, src, paper, "this preset has no finished bilingual runs", preset, ours="no bilingual runs")
    g = res["tests"][key]
    if not (g["n_same"] and g["n_different"]):
        return untestable(ch, claim, src, paper, f"no pair with the same {key} (or none with a different one) among "
                          "our languages", preset, ours=f"n same = {g['n_same']}, n different = {g['n_different']}")
    noises = []
    for key_ci, source in (("mean_diff_ci95", "stratified cell bootstrap"),
                           ("mean_diff_ci95_languages", f"bootstrap over {res['n_languages']} languages")):
        lo, hi = g.get(key_ci, [np.nan, np.nan])
        noises.append(rules.Noise.bootstrap_ci(lo, hi, source=source) if np.isfinite(lo) and np.isfinite(hi)
                      else rules.Noise.unknown(f"no {source}"))
    noise = rules.wider(*noises)  # cells that share a language are not independent: the wider interval counts
    v = rules.sign(claim, paper, g["mean_diff"], noise, expected="positive", name="mean same - different",
                   paper_value=0.16 if key == "script" else None)
    ours = (f"{v.ours}; same {g['mean_same']:.3f} (n={g['n_same']}) vs different {g['mean_different']:.3f} "
            f"(n={g['n_different']}); permutation p = {g['permutation_p']:.3g} ({res['n_languages']} languages)")
    return judged(ch, src, preset, rules.Verdict(v.claim, v.paper, ours, v.status, v.rule, v.reason, v.noise))


def chapter_verdicts(preset: str, paper: dict[str, Any], ours: dict[str, Any] | None) -> list:
    """Verdicts of the statistics chapter: the paper's Sec. 4 claims, re-tested on its transcribed 38x38
    (``paper``, results of :func:`transfer_tests`) and on our matrix (``ours``; ``None`` when missing)."""
    ch, src = "05_script_family_tests", "Sec. 4, Fig. 2/C.2"
    out = []
    dev = max(abs(paper["same_script_mean"] - -0.23), abs(paper["different_script_mean"] - -0.39),
              abs(paper["symmetry_r"] - -0.11))
    v = rules.value("Script means and symmetry r recomputed from the transcribed Fig. C.2 matrix",
                    "same script -0.23, different -0.39, r = -0.11", dev, 0.0, 0.01, EXACT,
                    name=(f"largest deviation from the printed numbers (ours {paper['same_script_mean']:.3f}, "
                          f"{paper['different_script_mean']:.3f}, r = {paper['symmetry_r']:.3f})"))
    out.append(judged(ch, src, preset, v))
    g = paper["tests"]["family"]
    fam_p = [g["welch_p"], g["mannwhitney_p"], g["permutation_p"]]
    scr = paper["tests"]["script"]
    scr_p = [scr["welch_p"], scr["mannwhitney_p"], scr["permutation_p"]]
    v = rules.ordering(
        f"Script and family shifts are significant, 'always p < .001' (transcribed matrix, family coding "
        f"'{paper['family_coding']}')", "p < .001 (test not named)", 1e-3, float(np.nanmax(fam_p + scr_p)), EXACT,
        names=("the threshold .001", "the largest p of 6 tests"))
    ptxt = (f"script: Welch {scr_p[0]:.1g}, MWU {scr_p[1]:.1g}, permutation {scr_p[2]:.2g}; family: Welch "
            f"{fam_p[0]:.1g}, MWU {fam_p[1]:.1g}, permutation {fam_p[2]:.2g}")
    reason = (v.reason + "; cell-level tests treat 1,406 cells of 38 languages as independent; the language-label "
              "permutation test, which does not, gives larger p-values")
    out.append(judged(ch, src, preset, rules.Verdict(v.claim, v.paper, ptxt, v.status, v.rule, reason, v.noise)))
    for key in ("script", "family"):
        out.append(_effect_verdict(preset, ours, key))
    claim, paper_r = "Transfer is weakly asymmetric (our runs)", "Pearson r = -0.11"
    if ours is None or not np.isfinite(ours["symmetry_r"]):
        out.append(untestable(ch, claim, src, paper_r, "no bilingual runs, or fewer than 3 pairs with both directions",
                              preset, ours="n/a"))
        return out
    r = float(ours["symmetry_r"])
    n = int(ours["tests"]["symmetry"]["n_unordered_pairs"])
    if n < 5:
        out.append(untestable(ch, claim, src, paper_r, f"{n} unordered pairs: too few for a correlation", preset,
                              ours=f"r = {r:.2f}"))
        return out
    z, se = np.arctanh(np.clip(r, -0.999999, 0.999999)), 1 / np.sqrt(n - 3)
    noise = rules.Noise.bootstrap_ci(np.tanh(z - 1.96 * se), np.tanh(z + 1.96 * se), source="Fisher-z")
    v = rules.value(claim, paper_r, r, -0.11, SYMMETRY_TOL, noise, name=f"Pearson r over {n} unordered pairs")
    reason = (v.reason + ". The paper's 9x9 measured block alone has r = +0.19; its -0.11 comes from the "
              "estimated cells")
    out.append(judged(ch, src, preset, rules.Verdict(v.claim, v.paper, v.ours, v.status, v.rule, reason, v.noise)))
    return out


def paper_same_languages(ours: pd.DataFrame) -> pd.DataFrame:
    """The paper's Fig. C.2 cells for the languages of our matrix (ISO 639-3, in our order): for the
    nine-language design, exactly the paper's directly measured 9x9 block."""
    paper = paper_tables.transfer_matrix("38x38")
    langs = [c for c in (languages.resolve(str(x)) for x in ours.index) if c in paper.index]
    return paper.loc[langs, langs]


def summary_table(findings: dict[str, Any], paper_all: dict[str, Any], paper_same: dict[str, Any] | None,
                  ours: dict[str, Any], preset: str, n_same: int) -> pd.DataFrame:
    """Script and family means and symmetry r: the paper's text, its whole matrix recomputed, its cells for our
    languages (``paper_same``, :func:`atlas.stats.transfer_tests` of :func:`paper_same_languages`; ``None``
    when fewer than 3 languages overlap) and ours (dimensionless scores)."""
    keys = ("same_script_mean", "different_script_mean", "same_family_mean", "different_family_mean", "symmetry_r")
    cols = {
        "paper (Sec. 4)": [findings["mean_same_script"], findings["mean_different_script"], np.nan, np.nan,
                           findings["symmetry_pearson_r"]],
        "paper 38x38, recomputed": [paper_all[k] for k in keys],
        f"paper, our {n_same} languages": [paper_same[k] if paper_same else np.nan for k in keys],
        f"ours ({preset})": [ours[k] for k in keys],
    }
    return pd.DataFrame(cols, index=["same script mean", "different script mean", "same family mean",
                                     "different family mean", "symmetry r"]).rename_axis("statistic").reset_index()
