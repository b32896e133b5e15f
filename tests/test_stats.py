"""Script/family statistics: the paper's Sec. 4 numbers from its 38x38 matrix, planted effects, symmetry, CLI."""

import json

import numpy as np
import pandas as pd
import pytest

from atlas import cli, languages, paper_tables, stats
from atlas.chapters import script_family_tests
from atlas.paths import package_data

PAPER = {"same": -0.23, "different": -0.39, "r": -0.11}


@pytest.fixture(scope="module")
def paper_result():
    return stats.transfer_tests(paper_tables.transfer_matrix("38x38"), "group", n_perm=200, n_boot=200)


def test_paper_numbers_reproduced(paper_result):
    r = paper_result
    assert r["same_script_mean"] == pytest.approx(PAPER["same"], abs=0.01)
    assert r["different_script_mean"] == pytest.approx(PAPER["different"], abs=0.01)
    assert r["symmetry_r"] == pytest.approx(PAPER["r"], abs=0.01)
    assert r["n_pairs"] == 1406 and r["n_languages"] == 38
    script = r["tests"]["script"]
    assert (script["n_same"], script["n_different"]) == (406, 1000)
    lo, hi = script["mean_diff_ci95"]
    assert lo < script["mean_diff"] < hi and lo > 0
    # resampling languages, not cells: 38 languages carry less information than 1,406 cells, so it is wider
    llo, lhi = script["mean_diff_ci95_languages"]
    assert llo < script["mean_diff"] < lhi and lhi - llo > hi - lo
    assert script["welch_p"] < 1e-3 and 0 < script["rank_biserial"] < 1
    # the transcription notes' family means: legend groups -0.205 vs -0.356, Glottolog -0.314 vs -0.362
    assert r["same_family_mean"] == pytest.approx(-0.205, abs=1e-3)
    glotto = stats.transfer_tests(paper_tables.transfer_matrix(), "family", n_perm=50, n_boot=50)
    assert glotto["same_family_mean"] == pytest.approx(-0.314, abs=1e-3)
    assert glotto["different_family_mean"] == pytest.approx(-0.362, abs=1e-3)


def test_30x30_does_not_give_the_paper_script_means():
    r = stats.transfer_tests(paper_tables.transfer_matrix("30x30"), n_perm=20, n_boot=20)
    assert r["same_script_mean"] == pytest.approx(-0.104, abs=1e-3)


def test_top5_counts_bracket_the_paper(paper_result):
    counts = stats.top_k_source_counts(paper_tables.transfer_matrix("30x30", codes="paper"), k=5)
    expected = {"en": (10, 23), "fr": (6, 24), "es": (4, 22), "he": (4, 19)}  # transcription notes
    for code, (lo, hi) in expected.items():
        assert (counts.loc[code, "min"], counts.loc[code, "max"]) == (lo, hi)
        assert lo <= paper_tables.paper_bts_findings()["top5_source_counts"][code] <= hi


LATIN = ["eng", "fra", "spa", "deu", "por", "ita"]
CYRL = ["rus", "ukr", "bul", "kaz"]
ARAB = ["arb", "urd", "pes", "pus"]


def _synthetic(effect, seed):
    codes = LATIN + CYRL + ARAB
    rng = np.random.default_rng(seed)
    scripts = np.array([languages.script(c) for c in codes])
    same = scripts[:, None] == scripts[None, :]
    row = rng.normal(0, 0.2, len(codes))[:, None]  # target effects, as in the paper's matrix
    values = -0.3 + row + effect * same + rng.normal(0, 0.15, same.shape)
    np.fill_diagonal(values, np.nan)
    return pd.DataFrame(values, index=codes, columns=codes)


def test_planted_script_effect_is_detected():
    r = stats.transfer_tests(_synthetic(0.4, seed=1), n_perm=500, n_boot=200)
    ols = r["tests"]["ols"]["coefficients"]["same_script"]
    assert ols["ci95"][0] < 0.4 < ols["ci95"][1]
    assert ols["permutation_p"] < 0.01 and r["tests"]["script"]["permutation_p"] < 0.01
    assert r["same_script_mean"] - r["different_script_mean"] == pytest.approx(0.4, abs=0.1)


def test_no_effect_gives_a_large_p():
    r = stats.transfer_tests(_synthetic(0.0, seed=2), n_perm=500, n_boot=200)
    ols = r["tests"]["ols"]["coefficients"]["same_script"]
    assert ols["permutation_p"] > 0.1 and r["tests"]["script"]["permutation_p"] > 0.1
    assert ols["ci95"][0] < 0 < ols["ci95"][1]


def test_symmetric_matrix_has_r_one_and_asymmetry_table():
    rng = np.random.default_rng(0)
    codes = ["eng", "fra", "rus", "cmn", "jpn", "deu"]
    a = rng.normal(size=(6, 6))
    b = a + a.T
    np.fill_diagonal(b, np.nan)
    sym = pd.DataFrame(b, index=codes, columns=codes)
    s = stats.symmetry(sym)
    assert s["r_both_orders"] == pytest.approx(1.0) and s["r_unordered"] == pytest.approx(1.0)
    assert s["mean_abs_asymmetry"] == pytest.approx(0.0)
    anti = pd.DataFrame(a - a.T, index=codes, columns=codes)
    assert stats.symmetry(anti)["r_both_orders"] == pytest.approx(-1.0)
    tab = stats.asymmetry_table(paper_tables.transfer_matrix(codes="paper"))
    zh_fa = tab[(tab.a == "zh") & (tab.b == "fa")].iloc[0]
    assert (zh_fa.a_to_b, zh_fa.b_to_a) == (-0.1, -1.4)  # fa <- zh is -0.1, zh <- fa is -1.4


def test_top_k_ties_are_ranges():
    m = pd.DataFrame([[np.nan, 0.5, 0.1, 0.1], [0.2, np.nan, 0.2, 0.2], [0.0, 0.0, np.nan, 0.3],
                      [0.1, 0.1, 0.1, np.nan]], index=["eng", "fra", "rus", "deu"], columns=["eng", "fra", "rus", "deu"])
    c = stats.top_k_source_counts(m, k=1)
    # eng row: fra wins; fra row: 3-way tie; rus row: deu wins; deu row: 3-way tie
    assert tuple(c.loc["fra"]) == (1, 2, 3) and tuple(c.loc["eng"]) == (0, 2, 3) and tuple(c.loc["deu"]) == (1, 2, 3)
    assert tuple(c.loc["rus"]) == (0, 2, 3)


def test_degenerate_and_bad_input():
    m = paper_tables.transfer_matrix().loc[["eng", "fra", "rus"], ["eng", "fra", "rus"]]
    r = stats.transfer_tests(m, n_perm=10, n_boot=10)  # no same-family pair among Germanic/Romance/Slavic
    assert r["tests"]["ols"]["dropped"] == ["same_family"] and r["tests"]["script"]["permutation_exact"]
    bad = pd.DataFrame([[np.nan, 0.1], [0.2, np.nan]], index=["en", "xx"], columns=["en", "xx"])
    with pytest.raises(stats.StatsInputError, match=r"unknown language code\(s\) \['xx'\]"):
        stats.transfer_tests(bad)
    with pytest.raises(stats.StatsInputError, match="family coding"):
        stats.transfer_tests(m, "genus")
    # Germanic (deu, eng), then Romance, then Slavic; labels come back as given
    assert stats.order_languages(["ru", "en", "fr", "de"]) == ["de", "en", "fr", "ru"]


def test_cli_on_the_paper_matrix(capsys, tmp_path):
    path = str(package_data("paper/transfer_matrix_figC2_38x38.csv"))
    assert cli.main(["stats", "transfer", path, "--json", "--n-perm", "50", "--n-boot", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("same_script_mean", "different_script_mean", "same_family_mean", "different_family_mean",
                "symmetry_r", "n_pairs", "tests"):
        assert key in out
    assert out["same_script_mean"] == pytest.approx(-0.23, abs=0.01)
    assert out["different_script_mean"] == pytest.approx(-0.39, abs=0.01)
    assert out["symmetry_r"] == pytest.approx(-0.11, abs=0.01)
    assert cli.main(["stats", "transfer", path, "--family-coding", "family", "--json", "--n-perm", "20",
                     "--n-boot", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["same_family_mean"] == pytest.approx(-0.314, abs=1e-3)
    bad = tmp_path / "bad.csv"
    bad.write_text("target\\source,en,zz,qq\nen,,0.1,0.2\nzz,0.1,,0.3\nqq,0.1,0.2,\n")
    assert cli.main(["stats", "transfer", str(bad), "--json"]) == 2
    assert "unknown language code(s) ['zz', 'qq']" in capsys.readouterr().err


def test_chapter_verdicts_and_tables(paper_result):
    v = script_family_tests.chapter_verdicts("smoke", paper_result, None)
    assert v[0].status == "reproduced"  # the transcription reproduces the Sec. 4 means
    assert [x.status for x in v[2:]] == ["not testable"] * 3
    tab = stats.tests_table(paper_result)
    assert {"script", "family", "symmetry"} == set(tab["effect"])
    assert tab["p"].dropna().between(0, 1).all()
    with pytest.raises(stats.StatsInputError, match="n_perm"):
        stats.validate_params("group", 0)


@pytest.mark.slow
def test_statistics_chapter_runs_without_runs(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    from atlas.paths import REPO_ROOT

    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path / "no_runs"))
    monkeypatch.setenv("ATLAS_VERDICT_DIR", str(tmp_path / "verdicts"))
    out = tmp_path / "05.ipynb"
    papermill.execute_notebook(str(REPO_ROOT / "notebooks/05_script_family_tests.ipynb"), str(out),
                               parameters={"preset": "smoke", "n_perm": 200}, kernel_name="python3",
                               progress_bar=False, cwd=str(tmp_path))
    assert "Missing:" in out.read_text()
    saved = json.loads((tmp_path / "verdicts" / "05_script_family_tests.json").read_text())
    assert saved[0]["status"] == "reproduced"
