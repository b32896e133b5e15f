"""The tidy scaling table, built from a tiny fake runs directory written with atlas.records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas import records
from atlas.fit import fit
from atlas.scaling_table import (
    ScalingTableError,
    atlas_design,
    build_table,
    co_sampled,
    fit_rows,
    heldout_by_language,
    law_columns,
    mixture_id,
    relative_loss_increase,
    setting_rows,
    summarise_r2,
)

PRESET = "fake"


def write_run(root, experiment, run_id, mixture, unique, *, params=1000, tokens=(0, 100, 1000), status="done",
              langs=None, base=None, vocab="multi"):
    path = records.run_dir(PRESET, experiment, run_id, root)
    spec = {"run_id": run_id, "experiment": experiment, "preset": PRESET,
            "shape": {"name": "xs", "layers": 1, "d_model": 8, "heads": 1, "kv": 8, "ffw": 16},
            "params": params, "params_non_embedding": params // 2, "vocab": {"kind": vocab, "size": 64, "name": "v"},
            "mixture": mixture, "unique_tokens": unique, "tokens": max(tokens), "seq_len": 8, "batch_size": 2,
            "seed": 0, "train": {"lr": 1e-3}}
    if base:
        spec.update(base_run=base[0], base_tokens=base[1])
    records.atomic_write_json(path / "spec.json", spec)
    rows = []
    for step, tok in enumerate(tokens):
        for lang in langs or sorted(mixture):
            for es in ("bible", "flores"):
                rows.append({"step": step, "tokens": tok, "eval_lang": lang, "eval_set": es,
                             "loss": 5.0 / (1 + tok) ** 0.1 + (0.1 if es == "flores" else 0), "loss_u": 1.0,
                             "lr": 1e-3, "train_loss": 5.0})
    records.atomic_write_csv(path / "metrics.csv", pd.DataFrame(rows))
    records.atomic_write_json(path / "summary.json", {"status": status, "final": {}, "wall_seconds": 1.0,
                                                      "tokens_per_second": 1.0})


@pytest.fixture()
def runs(tmp_path):
    write_run(tmp_path, "monolingual", "mono-eng", {"eng": 1.0}, {"eng": 500}, vocab="mono")
    write_run(tmp_path, "bilingual", "bi-eng-fra", {"eng": 0.5, "fra": 0.5}, {"eng": 400, "fra": 300}, params=2000)
    write_run(tmp_path, "capacity", "cap-3", {"eng": 0.25, "fra": 0.25, "rus": 0.25, "deu": 0.25},
              {"eng": 100, "fra": 100, "rus": 100, "deu": 100}, langs=["eng", "rus"])
    write_run(tmp_path, "capacity", "cap-2", {"eng": 0.5, "rus": 0.5}, {"eng": 100, "rus": 100}, status="diverged")
    write_run(tmp_path, "finetune", "ft-fra", {"fra": 1.0}, {"fra": 300}, base=("bi-eng-fra", 5000))
    # an unfinished run (no summary) must be ignored
    half = records.run_dir(PRESET, "monolingual", "half", tmp_path)
    records.atomic_write_json(half / "spec.json", {"run_id": "half"})
    return tmp_path


def test_table_columns_and_token_accounting(runs):
    t = build_table(PRESET, root=runs)
    assert set(t["run_id"]) == {"mono-eng", "bi-eng-fra", "cap-3", "cap-2", "ft-fra"}
    for col in ("run_id", "experiment", "mixture_id", "eval_lang", "eval_set", "loss", "loss_u", "N", "D", "U",
                "D_tot", "D_other", "U_other", "K", "C", "p_family", "D_eng", "U_eng", "D_fra", "D_rus", "U_deu"):
        assert col in t, col
    assert len(t) == 3 * 2 * (1 + 2 + 2 + 2 + 1)  # steps x eval sets x eval languages per run
    bi = t[(t.run_id == "bi-eng-fra") & (t.eval_lang == "fra") & (t.tokens == 1000)].iloc[0]
    assert bi.D == 500 and bi.U == 300 and bi.D_tot == 1000 and bi.D_other == 500 and bi.U_other == 400
    assert bi.K == 2 and bi.N == 2000 and bi.C == 6 * 2000 * 1000
    assert bi.D_eng == 500 and bi.D_fra == 500 and bi.D_rus == 0 and bi.U_rus == 0
    assert bi.mixture_id == "eng:0.5,fra:0.5" == mixture_id({"fra": 0.5, "eng": 0.5, "rus": 0})
    cap = t[(t.run_id == "cap-3") & (t.eval_lang == "rus") & (t.tokens == 1000)].iloc[0]
    assert cap.K == 4 and cap.D == 250 and cap.U == 100 and cap.U_other == 300
    # family groups: eng and deu are Germanic, fra Romance, rus Slavic
    assert cap.p_family == pytest.approx(0.25)
    eng = t[(t.run_id == "cap-3") & (t.eval_lang == "eng")].iloc[0]
    assert eng.p_family == pytest.approx(0.5)
    ft = t[t.run_id == "ft-fra"].iloc[-1]
    assert ft.base_run == "bi-eng-fra" and ft.base_tokens == 5000 and ft.C_with_base == 6 * 1000 * (1000 + 5000)
    assert set(t[t.run_id == "cap-2"]["status"]) == {"diverged"}


def test_fit_rows_counts_every_exclusion(runs):
    t = build_table(PRESET, root=runs)
    decayed, _ = fit_rows(t, eval_set="flores")
    assert decayed["decayed"].all() and (decayed.groupby("run_id")["step"].nunique() == 1).all()  # last evals only
    rows, report = fit_rows(t, eval_set="flores", decayed_only=False)  # every checkpoint (legacy records)
    assert (rows["eval_set"] == "flores").all() and (rows["D"] > 0).all() and "cap-2" not in set(rows["run_id"])
    counts = dict(zip(report["reason"], report["rows"]))
    assert counts["eval_set != 'flores'"] == len(t) // 2
    assert counts["diverged run"] == 6  # cap-2: 3 steps x 2 languages on flores
    assert counts["target not trained on yet (D = 0) or not in the mixture"] == 6  # step 0 of the other runs
    assert sum(counts.values()) + len(rows) == len(t)


def test_co_sampling_and_atlas_design(runs):
    t = build_table(PRESET, root=runs)
    # eng is co-sampled with fra (bi, cap-3), rus (cap-3, cap-2) and deu (cap-3)
    assert co_sampled(t, "eng") == ["fra", "rus", "deu"]  # fra and rus tie on count and weight: by code
    assert co_sampled(t, "en", k=1) == ["fra"]
    assert co_sampled(t, "fra") == ["eng", "deu", "rus"]
    d = atlas_design(t, "eng", transfer=["fra", "rus"])
    assert d.attrs["transfer_languages"] == ["fra", "rus"]
    row = d[(d.run_id == "cap-3") & (d.tokens == 1000)].iloc[0]
    assert row.D_k1 == 250 and row.U_k1 == 100 and row.D_k2 == 250 and row.D_k3 == 0 and row.U_k3 == 0
    assert row.D_other == 250 and row.U_other == 100  # deu only
    assert (d["eval_lang"] == "eng").all()
    with pytest.raises(ScalingTableError, match="cannot be one of its own"):
        atlas_design(t, "eng", transfer=["eng"])
    with pytest.raises(ScalingTableError, match="no rows evaluated on 'deu'"):
        atlas_design(t, "deu")


def test_table_feeds_the_fitting_engine(runs):
    t = build_table(PRESET, root=runs)
    rows, _ = fit_rows(t, eval_set="bible")
    d = atlas_design(rows, "eng")
    res = fit("atlas", d, n_starts=1)  # 7 points for 10 parameters: reported as failed, not raised
    assert res.status == "failed" and "underdetermined" in res.message


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ScalingTableError, match="no finished runs in preset 'fake'"):
        build_table(PRESET, root=tmp_path)
    with pytest.raises(ScalingTableError, match="give a preset"):
        build_table()
    with pytest.raises(ScalingTableError, match="unknown family level"):
        build_table(PRESET, root=tmp_path, family_level="genus")
    write_run(tmp_path, "monolingual", "m", {"eng": 1.0}, {"eng": 5})
    t = build_table(PRESET, root=tmp_path)
    assert np.isnan(t["N_non_embedding"]).sum() == 0


def test_settings_split_vocabularies_and_drop_finetunes(runs):
    write_run(runs, "finetune", "multi-fra-1k", {"fra": 1.0}, {"fra": 300})  # a finetune's from-scratch twin
    rows, _ = fit_rows(build_table(PRESET, root=runs))
    assert "multi-fra-1k" in set(rows["run_id"])
    mono = setting_rows(rows, "mono")
    assert set(mono["run_id"]) == {"mono-eng"}
    multi = setting_rows(rows, "multi")
    # no finetune, no mono vocabulary, no transfer-design run (cap-2 diverged)
    assert set(multi["run_id"]) == {"cap-3"}
    assert "bi-eng-fra" in set(rows["run_id"])
    assert set(setting_rows(rows, "capacity")["run_id"]) == {"cap-3"}
    with pytest.raises(ScalingTableError, match="unknown setting 'bi'"):
        setting_rows(rows, "bi")


def test_heldout_by_language_keeps_every_law_language_split(runs):
    rows, _ = fit_rows(build_table(PRESET, root=runs))
    multi = setting_rows(rows, "multi")
    long = heldout_by_language(multi, ["csl", "atlas-other"], languages=["eng", "deu"], n_starts=1)
    assert len(long) == 2 * 2 * 5  # laws x languages x splits: failures included
    deu = long[long["eval_lang"] == "deu"]  # deu is never evaluated: every cell says so
    assert (deu["status"] == "failed").all() and deu["reason"].str.contains("no rows evaluated on 'deu'").all()
    bad = long[long["status"] != "ok"]
    assert len(bad) > 10 and bad["reason"].str.len().gt(0).all()  # 8 points: most splits cannot be scored
    wide = summarise_r2(long)
    assert list(wide.index) == ["csl", "atlas-other"]
    assert (wide.filter(like="n_scored") <= 1).all().all()  # at most eng was scored
    assert law_columns("atlas-other") == {"D_other": "D_other_all", "U_other": "U_other_all"}
    assert law_columns("atlas") == {}
    parallel = heldout_by_language(multi, ["csl", "atlas-other"], languages=["eng", "deu"], n_starts=1, n_jobs=2)
    pd.testing.assert_frame_equal(parallel, long)  # forked workers give the same table, in the same order


def test_heldout_by_language_scores_a_planted_law():
    rng = np.random.default_rng(0)
    n = 120
    D = 10 ** rng.uniform(8, 11, n)
    frame = pd.DataFrame({"run_id": [f"r{i // 6}" for i in range(n)], "eval_lang": "eng", "N": 10 ** rng.choice([7, 8, 9, 10], n),
                          "D": D, "U": np.inf, "D_tot": 2 * D, "D_other": D, "U_other": np.inf, "K": rng.choice([1, 2, 4], n),
                          "mixture_id": "eng:0.5,fra:0.5", "D_eng": D, "U_eng": np.inf, "D_fra": D, "U_fra": np.inf})
    frame["loss"] = 1.7 + 406.4 / frame["N"] ** 0.34 + 410.7 / frame["D"] ** 0.28
    long = heldout_by_language(frame, ["csl"], n_starts=2)
    ok = long[long["status"] == "ok"]
    assert set(ok["split"]) == {"random", "N", "D", "C", "M"} and (ok["r2"] > 0.99).all()


def test_relative_loss_increase_interpolates_the_k1_curve():
    base = pd.DataFrame({"eval_lang": "eng", "eval_set": "flores", "shape": "s", "K": 1, "D": [10.0, 100.0, 1000.0],
                         "loss": [4.0, 2.0, 1.0]})
    mixed = pd.DataFrame({"eval_lang": "eng", "eval_set": "flores", "shape": "s", "K": 4, "D": [np.sqrt(10) * 10, 5.0],
                          "loss": [3.3, 5.0]})
    out = relative_loss_increase(mixed, baseline=base)
    assert out["baseline_loss"].iloc[0] == pytest.approx(2 ** 1.5)  # halfway in log-log between 4 and 2
    assert out["relative_increase"].iloc[0] == pytest.approx(3.3 / 2 ** 1.5 - 1)
    assert np.isnan(out["relative_increase"].iloc[1]) and "outside the K = 1 curve" in out["reason"].iloc[1]


def test_scaling_chapters_report_gaps_as_not_testable(runs):
    from atlas.chapters import atlas_fits, curse_of_multilinguality as curse, monolingual_scaling as mono, scaling
    from atlas.chapters.verdicts import STATUSES

    rows, _ = fit_rows(build_table(PRESET, root=runs), eval_set="bible")
    long, wide = atlas_fits.table1(rows, n_starts=1)
    comp = atlas_fits.compare_table1(wide)
    assert len(comp) == 8 * 5 and set(comp["setting"]) == {"mono", "multi"}
    assert comp["paper"].notna().sum() == 37  # Table 1 as transcribed (no R2(M) in the mono block)
    fresh = atlas_fits.lambda_ablation(rows, n_starts=1)
    reused = atlas_fits.lambda_ablation(rows, n_starts=1, table1_long=long)  # atlas rows taken from Table 1's fits
    assert len(fresh) and set(fresh["eval_lang"]) <= set(long.query("setting == 'multi' and law == 'atlas'")["eval_lang"])
    key = ["eval_lang", "law"]
    pd.testing.assert_frame_equal(reused.sort_values(key, ignore_index=True)[key + ["r2", "status"]],
                                  fresh.sort_values(key, ignore_index=True)[key + ["r2", "status"]])
    v06 = atlas_fits.chapter06_verdicts("fake", long)
    assert len([v for v in v06 if v.source.startswith("Table 1")]) == 37  # every Table 1 cell judged
    v07 = curse.chapter07_verdicts("fake", curse.klaw_fits(rows, n_starts=1), relative_loss_increase(setting_rows(rows, "capacity")))
    v03 = mono.chapter03_verdicts("fake", mono.vocabulary_tax(build_table(PRESET, root=runs), "bible"), mono.repetition_r2(rows))
    for v in v03 + v06 + v07:
        assert v.status in STATUSES and v.reason
    assert {v.status for v in v07} == {"not testable"}  # 3 bible points per language: no K-law fit
    with pytest.raises(scaling.ChapterParamError, match="loss 'loss_u' cannot be fitted"):
        scaling.validate_params("bible", "loss_u")
    with pytest.raises(scaling.ChapterParamError, match="unknown eval_set 'ntrex'"):
        scaling.validate_params("ntrex", "loss")
    iso = curse.isoloss_table({"phi": 0.11, "psi": -0.04, "alpha": 0.11 / 0.243, "beta": 0.04 / 0.272})
    assert np.allclose(iso["ours N x"], iso["paper N x"], atol=0.006)
