"""Generate notebooks/05_script_family_tests.ipynb (run from the repository root)."""
import sys
sys.path.insert(0, "tools")
from nbbuild import write_notebook  # noqa: E402

write_notebook("notebooks/05_script_family_tests.ipynb", [
    ("md", r"""
# Script and family: named tests on the transfer matrix

**What the paper says (Sec. 4).** From "the full language matrix" it reports that the mean score is
**-0.23 for source/target pairs sharing a script and -0.39 otherwise**; that sharing a script or a language
family shifts the mean significantly, *"always p < .001"*, the effect being strongest for shared scripts; and that
transfer is asymmetric, A->B against B->A having **Pearson r = -0.11** (a "triangle pattern": same-family,
same-script pairs such as fr-es and ru-uk are close to symmetric, zh-fa and ru-vi are highly asymmetric). EN is a
top-5 source for 19 of 30 targets, FR for 16, ES for 13, HE for 11. The test is **not named**, and no effect
sizes or confidence intervals are given.

**What we do.** We re-run these statistics with named tests, effect sizes and intervals
(`atlas.stats`, also `python -m atlas stats transfer MATRIX.csv --json`):

* **OLS** of the score on same-script and same-family indicators, with standard errors clustered by unordered
  language pair (A->B and B->A share a cluster), two-way clustered by target and source as a check, and a
  **language-label permutation test**: scripts and families are shuffled among the languages while the matrix
  stays fixed. This null keeps the matrix's strong row structure (some targets, e.g. yo or ckb, are bad for
  every source), which cell-level tests ignore.
* **Welch t** and **Mann-Whitney U** (with the rank-biserial correlation) of same vs different, and a
  bootstrap CI of the mean difference. These treat the 1,406 cells as independent -- they are not (38
  languages generate them) -- so their p-values are optimistic; we report them because the paper's unnamed test
  was probably one of this kind.
* **Symmetry**: Pearson r of A->B vs B->A over both orders of every pair (orientation-free, but each pair
  enters twice) and over unordered pairs (then r depends on which member goes first; we give the range).

Family is coded two ways, both from `atlas.languages`: the 17 groups printed in the Fig. C.2 legend (`group`:
Germanic, Romance, Indo-Iranian, ...) and the Glottolog top level (`family`: Indo-European, Turkic, ...).
"""),
    ("params", """
preset = "smoke"
family_coding = "group"   # group (Fig. C.2 legend) or family (Glottolog top level) for our matrix
n_perm = 2000             # language-label permutations
"""),
    ("code", """
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from atlas import bts, languages, paper_tables, stats, verdicts
from atlas.params import validate_notebook_params

cfg, _ = validate_notebook_params(preset)
stats.validate_params(family_coding, n_perm)
findings = paper_tables.paper_bts_findings()
"""),
    ("md", """
## Which matrix is behind the paper's numbers?

The paper says its statistics come from "the full language matrix (Figure 2)", the 30x30. We transcribed both
Fig. 2 and the 38x38 of Fig. C.2 (Fig. 2 is exactly Fig. C.2's 30-language sub-block). The descriptive numbers
below decide the question; the last row is the paper's text.
"""),
    ("code", """
m38 = paper_tables.transfer_matrix("38x38")
m30 = paper_tables.transfer_matrix("30x30")
block = paper_tables.measured_block()
desc = stats.describe_matrices({"Fig. C.2 (38x38)": m38, "Fig. 2 (30x30)": m30, "Fig. C.2 measured 9x9": m38.loc[block, block]})
desc.loc["paper, Sec. 4 text"] = {"same_script_mean": findings["mean_same_script"],
                                  "different_script_mean": findings["mean_different_script"],
                                  "symmetry_r": findings["symmetry_pearson_r"]}
display(desc.round(3))
d = desc.round(3)
display(Markdown(
    f"Only the **38x38** reproduces the text: same script {d.loc['Fig. C.2 (38x38)', 'same_script_mean']}, "
    f"different {d.loc['Fig. C.2 (38x38)', 'different_script_mean']}, symmetry r "
    f"{d.loc['Fig. C.2 (38x38)', 'symmetry_r']} (paper -0.23, -0.39, -0.11). The 30x30 gives same-script "
    f"{d.loc['Fig. 2 (30x30)', 'same_script_mean']} and r {d.loc['Fig. 2 (30x30)', 'symmetry_r']}, so the text's "
    "'Figure 2' is evidently a slip for Fig. C.2 (or the numbers were computed before the matrix was cut to 30 "
    "languages). The small symmetry difference (-0.119 vs -0.11) is what rounding every cell to 0.1 does; the "
    "paper presumably used unrounded scores. The directly measured 9x9 block alone tells a different story: a "
    f"*positive* symmetry r ({d.loc['Fig. C.2 measured 9x9', 'symmetry_r_unordered']} over unordered pairs) -- "
    "the negative whole-matrix r comes from the estimated rows of added languages (yo, ckb, ps ...), which are "
    "bad targets for every source while being only mildly bad sources."))
"""),
    ("md", """
## Named tests on the paper's matrix (38x38), both family codings
"""),
    ("code", """
res = {c: stats.transfer_tests(m38, c, n_perm=n_perm) for c in ("group", "family")}
table = pd.concat([stats.tests_table(r).assign(family_coding=c) for c, r in res.items()])
table = table[~((table["family_coding"] == "family") & (table["effect"] != "family"))]  # script/symmetry rows once
with pd.option_context("display.max_colwidth", 90, "display.float_format", "{:.3g}".format):
    display(table.reset_index(drop=True))
means = pd.DataFrame({c: {"same family": r["same_family_mean"], "different family": r["different_family_mean"],
                          "n same": r["tests"]["family"]["n_same"], "n different": r["tests"]["family"]["n_different"]}
                      for c, r in res.items()}).T
display(means.round(3))
"""),
    ("code", """
g, f = res["group"]["tests"], res["family"]["tests"]
fam_tests = {f"{t} ({coding})": r["tests"]["family"][k] for coding, r in (("legend groups", res["group"]), ("Glottolog", res["family"]))
             for t, k in (("Welch", "welch_p"), ("Mann-Whitney", "mannwhitney_p"), ("permutation", "permutation_p"))}
below = [name for name, p in fam_tests.items() if p < 1e-3]
display(Markdown(f'''
**Script.** Sharing a script raises the mean by {g['script']['mean_diff']:.3f} (95% bootstrap CI
{g['script']['mean_diff_ci95'][0]:.3f} to {g['script']['mean_diff_ci95'][1]:.3f}; rank-biserial r =
{g['script']['rank_biserial']:.2f}). Cell-level tests give Welch p = {g['script']['welch_p']:.1g} and
Mann-Whitney p = {g['script']['mannwhitney_p']:.1g}; the language-label permutation test, which respects that the
cells come from 38 languages, gives p = {g['script']['permutation_p']:.3f} for the difference and p =
{g['ols']['coefficients']['same_script']['permutation_p']:.3f} for the OLS coefficient (pair-clustered p =
{g['ols']['coefficients']['same_script']['p']:.1g}, two-way clustered p =
{g['ols']['coefficients']['same_script']['p_twoway']:.2g}).

**Family.** With the legend groups: Welch p = {g['family']['welch_p']:.2g}, Mann-Whitney p =
{g['family']['mannwhitney_p']:.1g}, permutation p = {g['family']['permutation_p']:.3f}. With Glottolog families
(Indo-European alone is 23 of the 38 languages) the family gap shrinks to {f['family']['mean_diff']:.3f} (Welch
p = {f['family']['welch_p']:.2g}, Mann-Whitney p = {f['family']['mannwhitney_p']:.2g}, permutation p =
{f['family']['permutation_p']:.2f}). p < .001 holds in {len(below)} of these six family tests
({', '.join(below) if below else 'none'}), so the paper's "always p < .001" for family is not what its
transcribed matrix gives under most named tests. Controlling for script in the OLS, the family coefficient is
{g['ols']['coefficients']['same_family']['coef']:.3f} (groups, pair-clustered p =
{g['ols']['coefficients']['same_family']['p']:.2g}) and {f['ols']['coefficients']['same_family']['coef']:.3f}
(Glottolog, p = {f['ols']['coefficients']['same_family']['p']:.2g}). Why the paper may still have seen p < .001:
it presumably used unrounded scores (the transcription is rounded to 0.1, which coarsens ranks and creates
ties), an unnamed cell-level test, or a family coding it does not list. Its remark that the effect "is strongest
for shared scripts" agrees with every analysis here: the script gap is larger than the family gap under both
codings, and the script coefficient is larger than the family coefficient in the joint OLS.
'''))
"""),
    ("md", """
### Script x family

Same family with a *different* script is the lowest cell of the 2x2 under the legend coding: those pairs are
mostly Indo-Iranian pairs with ckb, ps, ur or gu, whose rows are strongly negative overall -- an example of why
the row structure matters more than the indicators.
"""),
    ("code", """
display(pd.concat({c: stats.four_groups(stats.tidy_pairs(m38, c)) for c in ("group", "family")}).round(3))
"""),
    ("md", """
## Asymmetry
"""),
    ("code", """
pm = paper_tables.transfer_matrix("38x38", codes="paper")
asym = stats.asymmetry_table(pm)
both = pd.DataFrame({"A -> B": pd.concat([asym["a_to_b"], asym["b_to_a"]]),
                     "B -> A": pd.concat([asym["b_to_a"], asym["a_to_b"]]),
                     "pair": np.tile(np.where(asym["same_script"], "same script", "different script"), 2)})
both[["A -> B", "B -> A"]] += np.random.default_rng(0).normal(0, 0.02, (len(both), 2))  # jitter: cells are rounded to 0.1
fig, ax = plt.subplots(figsize=(5.2, 5))
sns.scatterplot(data=both, x="A -> B", y="B -> A", hue="pair", s=10, alpha=0.5, ax=ax)
ax.plot([-1.7, 0.6], [-1.7, 0.6], c="grey", lw=0.6)
ax.set(title=f"Fig. C.2: A->B vs B->A, r = {res['group']['symmetry_r']:.3f} (jittered)")
plt.show()
examples = [("fr", "es"), ("ru", "uk"), ("zh", "fa"), ("ru", "vi")]
sel = asym[[tuple(sorted((a, b))) in {tuple(sorted(e)) for e in examples} for a, b in zip(asym["a"], asym["b"])]]
display(Markdown("The paper's examples (fr-es and ru-uk near-symmetric; zh-fa and ru-vi highly asymmetric), then the "
                 "10 most asymmetric pairs:"))
display(sel)
display(asym.head(10))
"""),
    ("md", """
## Top-5 sources

The paper counts how often each language is among the 5 best sources of a target on the 30x30 (EN 19 of 30, FR
16, ES 13, HE 11). Its bold top-5 markers are lost in the transcription and scores are rounded to 0.1, so ties
make each count a range: `min` if every tie ranks ahead, `max` if every tie ranks behind.
"""),
    ("code", """
top = stats.top_k_source_counts(paper_tables.transfer_matrix("30x30", codes="paper"), k=5)
top["paper"] = pd.Series(findings["top5_source_counts"])
top["paper within range"] = [(lo <= p <= hi) if p == p else None for lo, hi, p in zip(top["min"], top["max"], top["paper"])]
display(top.head(12))
"""),
    ("md", """
## Our matrix

The same tests on the BTS matrix of this build's bilingual runs (`runs/<preset>/bilingual`, see the transfer
matrix chapter), with the family coding given by the `family_coding` parameter. The box plots set the four
script x family cells of our matrix beside the same cells of the paper's 38x38.
"""),
    ("code", """
ours_res = None
if bts.bilingual_available(preset):
    ours = bts.matrix_from_runs(preset)
    n_lang = len(ours)
    display(Markdown(f"Our matrix: {n_lang} languages ({', '.join(languages.get(c).code for c in ours.index)}), "
                     f"shape {ours.attrs['shape']}, {int(np.isfinite(ours.to_numpy()).sum())} finite scores."))
    ours_res = stats.transfer_tests(ours, family_coding, n_perm=n_perm)
    summary = pd.DataFrame({
        "paper (Sec. 4)": [findings["mean_same_script"], findings["mean_different_script"], np.nan, np.nan,
                           findings["symmetry_pearson_r"]],
        "paper matrix, recomputed": [res[family_coding][k] for k in ("same_script_mean", "different_script_mean",
                                     "same_family_mean", "different_family_mean", "symmetry_r")],
        f"ours ({preset})": [ours_res[k] for k in ("same_script_mean", "different_script_mean", "same_family_mean",
                             "different_family_mean", "symmetry_r")]},
        index=["same script mean", "different script mean", "same family mean", "different family mean", "symmetry r"])
    display(summary.round(3))
    both = []
    for label, m in (("paper, Fig. C.2 (38x38)", paper_tables.transfer_matrix("38x38")), (f"ours ({preset})", ours)):
        t = stats.tidy_pairs(m, family_coding)
        t["matrix"] = label
        t["cell"] = np.where(t["same_script"], "same script", "different script") + np.where(
            t["same_family"], ", same family", ", different family")
        both.append(t)
    both = pd.concat(both, ignore_index=True)
    order = ["same script, same family", "same script, different family", "different script, same family",
             "different script, different family"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=False)
    for ax, (label, t) in zip(axes, both.groupby("matrix", sort=False)):
        sns.boxplot(data=t, x="score", y="cell", order=order, ax=ax, color="C0", fliersize=2)
        ax.axvline(0, c="grey", lw=0.6)
        ax.set(title=label, xlabel="transfer score (source -> target)", ylabel="")
    plt.tight_layout()
    plt.show()
    with pd.option_context("display.max_colwidth", 90, "display.float_format", "{:.3g}".format):
        display(stats.tests_table(ours_res))
    perm = ours_res["tests"]["script"]
    if perm["permutation_exact"]:
        display(Markdown(f"With {n_lang} languages there are only {ours_res['n_pairs']} directed scores and "
                         f"{perm['n_permutations']} label permutations (all enumerated), so no permutation p-value "
                         f"can fall below 1/{perm['n_permutations']} = {1 / perm['n_permutations']:.3f}: these "
                         "tests have almost no power here and mainly show that the pipeline runs."))
else:
    display(Markdown(f"**Missing:** `runs/{preset}/bilingual` holds no finished bilingual runs, so there is no matrix "
                     f"of our own to test in this build. Generate them with "
                     f"`python -m atlas grid run --preset {preset} --experiment bilingual`."))
"""),
    ("md", """
## Verdicts
"""),
    ("code", """
chapter_verdicts = stats.chapter_verdicts(preset, res["group"], ours_res)
verdicts.record("05_script_family_tests", chapter_verdicts)
with pd.option_context("display.max_colwidth", 110):
    display(pd.DataFrame([v.__dict__ for v in chapter_verdicts])[["claim", "paper", "ours", "status", "reason"]])
"""),
    ("md", """
## What this chapter can and cannot show

* **The paper's descriptive numbers are reproduced exactly** from its own (transcribed) 38x38 matrix, which
  settles which matrix they came from. Its significance claim holds for script under cell-level tests, is
  weaker under a test that respects the language structure, and does not hold as stated ("always p < .001")
  for family under any test we ran on the transcription.
* **Most of that matrix is estimated.** Outside the 9x9 block, Fig. C.2's scores are a random forest's
  predictions from finetuning scores; statistics over the whole matrix partly describe that estimator.
* **Our matrix is small.** A miniature study can afford bilingual runs among a handful of languages, so tests
  on our matrix have little power; the permutation p-values say so honestly rather than pretending otherwise.
"""),
])
