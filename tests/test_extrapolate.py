"""Random-forest extrapolation (paper App. B.6): planted signal is learned, shuffled labels are not, the
completed matrix keeps measured cells, too few cells is one clear error, and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest

from atlas import cli
from atlas import extrapolate as ex
from atlas.fas import FEATURE_NAMES

LANGS = [f"l{i:02d}" for i in range(12)]
SEEDS = (0, 1)  # two seeds keep the test quick; the default is five


def planted(rng, n_measured=90, noise=0.02):
    """Features of every ordered pair, BTS = a smooth function of them; ``n_measured`` cells observed."""
    g = pd.Series(rng.normal(size=len(LANGS)), index=LANGS)
    rows = []
    for s in LANGS:
        for t in LANGS:
            if s != t:
                d = rng.normal()
                rows.append({"source": s, "target": t, "g_s_z": g[s], "g_t_z": g[t], "g_diff_z": g[s] - g[t],
                             "delta_z": d})
    feats = pd.DataFrame(rows).set_index(["source", "target"]).sort_index()
    truth = (0.6 * feats["g_diff_z"] - 0.5 * feats["delta_z"] + 0.1 * feats["g_t_z"]
             + noise * rng.normal(size=len(feats)))
    full = pd.DataFrame(np.nan, index=LANGS, columns=LANGS)
    for (s, t), v in truth.items():
        full.at[t, s] = v
    measured = full.copy()
    pairs = list(truth.index)
    hidden = [pairs[i] for i in rng.choice(len(pairs), len(pairs) - n_measured, replace=False)]
    for s, t in hidden:
        measured.at[t, s] = np.nan
    return feats, measured, full, hidden


def test_planted_signal_is_learned_and_shuffled_is_not():
    rng = np.random.default_rng(0)
    feats, measured, full, hidden = planted(rng)
    res = ex.extrapolate(measured, feats, seeds=SEEDS)
    assert res.n_measured == 90 and res.n_predicted == len(hidden) == 42
    assert res.cv.r2 > 0.6 and res.cv.spearman > 0.7 and res.cv.r2_pooled > 0.6
    assert len(res.cv.folds) == 5 * len(SEEDS)
    assert np.isfinite([res.cv.r2_fold_sd, res.cv.r2_seed_sd, res.cv.spearman_fold_sd]).all()
    # estimates of hidden cells track the truth
    est = [res.matrix.at[t, s] for s, t in hidden]
    tru = [full.at[t, s] for s, t in hidden]
    assert np.corrcoef(est, tru)[0, 1] > 0.7
    # shuffled labels: no signal left
    X, y, _ = ex.training_set(measured, feats)
    shuffled = ex.cross_validate(X, rng.permutation(y), seeds=SEEDS)
    assert shuffled.r2 < 0.2 and shuffled.r2_pooled < 0.2


def test_measured_cells_are_kept_and_masked():
    rng = np.random.default_rng(1)
    feats, measured, _, hidden = planted(rng)
    # a measured language without features stays in the matrix as measured
    measured.loc["zzz"] = np.nan
    measured["zzz"] = np.nan
    measured.at["l00", "zzz"] = 0.3
    res = ex.extrapolate(measured, feats, seeds=(0,))
    assert res.n_measured_without_features == 1
    m = res.matrix
    assert m.at["l00", "zzz"] == 0.3 and res.measured.at["l00", "zzz"]
    obs = measured.notna()
    for t in LANGS:
        for s in LANGS:
            if obs.at[t, s]:
                assert m.at[t, s] == measured.at[t, s] and res.measured.at[t, s]
    assert all(not res.measured.at[t, s] and np.isfinite(m.at[t, s]) for s, t in hidden)
    assert np.isnan(np.diag(m.to_numpy())).all()
    assert np.isnan(m.at["zzz", "l00"])  # neither measured nor predictable
    out = res.summary()
    assert {"n_measured", "n_predicted", "cv_r2", "cv_spearman", "cv_r2_fold_sd", "cv_r2_seed_sd"} <= set(out)
    json.dumps(out)


def test_prediction_is_deterministic():
    feats, measured, _, _ = planted(np.random.default_rng(2))
    a = ex.extrapolate(measured, feats, seeds=(3,))
    b = ex.extrapolate(measured, feats, seeds=(3,))
    pd.testing.assert_frame_equal(a.matrix, b.matrix)
    assert a.cv.r2 == b.cv.r2


def test_too_few_cells_is_one_clear_error():
    feats, measured, _, _ = planted(np.random.default_rng(3), n_measured=14)
    with pytest.raises(ex.ExtrapolationError, match=r"14 measured BTS cells have features; 5-fold CV needs >= 15"):
        ex.extrapolate(measured, feats)
    with pytest.raises(ex.ExtrapolationError, match="lack column"):
        ex.training_set(measured, feats.drop(columns=["delta_z"]))
    with pytest.raises(ex.ExtrapolationError, match="square"):
        ex.training_set(measured.iloc[:, ::-1], feats)


def test_forest_is_the_papers():
    f = ex.make_forest(7)
    assert (f.n_estimators, f.max_depth, f.random_state) == (300, None, 7)
    assert ex.FEATURE_NAMES == FEATURE_NAMES == ["g_s_z", "g_t_z", "g_diff_z", "delta_z"]


def test_cli_extrapolate(monkeypatch, capsys):
    feats, measured, _, _ = planted(np.random.default_rng(4))

    def fake_runs(preset, **kwargs):
        assert preset == "cpu" and kwargs["seeds"] == (0, 1)
        return ex.extrapolate(measured, feats, seeds=kwargs["seeds"])

    monkeypatch.setattr(ex, "extrapolate_runs", fake_runs)
    assert cli.main(["bts", "extrapolate", "--preset", "cpu", "--seeds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_measured"] == 90 and out["n_predicted"] == 42 and out["cv_r2"] > 0.5
    assert {"cv_spearman", "cv_r2_fold_sd", "cv_spearman_seed_sd", "paper"} <= set(out)


def test_cli_extrapolate_errors_are_one_line(capsys):
    assert cli.main(["bts", "extrapolate", "--preset", "nope", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    # the plain two-curve form still parses
    with pytest.raises(SystemExit):
        cli.main(["bts"])


def test_cli_extrapolate_on_committed_runs(capsys):
    """Today's cpu runs: finetunes on 4 languages (features for 3) -> one line naming what is missing."""
    from atlas import records

    if not any(records.iter_runs("cpu", "finetune")) or not any(records.iter_runs("cpu", "bilingual")):
        pytest.skip("no committed cpu runs")
    rc = cli.main(["bts", "extrapolate", "--preset", "cpu", "--seeds", "1", "--json"])
    captured = capsys.readouterr()
    if rc == 0:
        assert json.loads(captured.out)["n_measured"] >= 15
    else:
        err = captured.err.strip()
        assert rc == 2 and "\n" not in err and "features for" in err


def test_chapter_draws_the_completed_matrix_like_fig_c2():
    """Chapter 04's CV table sits beside the paper's figures; the figure puts the measured block first, boxed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Rectangle

    from atlas.chapters import transfer_matrix as C04

    nine = ["eng", "rus", "spa", "fra", "deu", "por", "cmn", "vie", "jpn"]
    real = nine + ["arb", "heb", "kor"]
    rng = np.random.default_rng(3)
    feats, _, full, _ = planted(rng)
    rename = dict(zip(LANGS, real))
    feats = feats.rename(index=rename)
    full = full.rename(index=rename, columns=rename)
    measured = full.where(pd.DataFrame([[t in nine and s in nine for s in full.columns] for t in full.index],
                                       index=full.index, columns=full.columns))
    res = ex.extrapolate(measured, feats, seeds=(0, 1))
    assert res.n_measured == 72 and res.n_predicted == 12 * 11 - 72
    table = C04.cv_table(res)
    assert list(table["paper"]) == [0.85, 0.88] and table["s.d. over seeds"].notna().all()
    fig = C04.plot_extrapolated(res, "test")
    ax = fig.axes[0]
    box = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill() is False]
    assert len(box) == 1 and box[0].get_width() == 9  # the measured 9x9 block, outlined
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:9] == ["en", "ru", "es", "fr", "de", "pt", "zh", "vi", "ja"]  # Fig. C.2's order
    assert set(labels[9:]) == {"ar", "he", "ko"}
