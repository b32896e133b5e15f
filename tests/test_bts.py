"""BTS from loss curves: planted transfer is recovered, out-of-range is NaN with a reason, runs -> matrix, CLI."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from atlas import bts, cli, records
from atlas.chapters import transfer_matrix


def mono_loss(d, A=40.0, b=0.3):
    """A pure power law: exactly linear in log-log space, so interpolation adds no error."""
    return A * np.asarray(d, float) ** -b


def curves(tau, d_max=4e5, n=25, A=40.0, b=0.3):
    """Bilingual loss on t = the monolingual curve at (1 + tau)/2 of the bilingual model's total tokens."""
    mt = np.geomspace(1e3, 1e5, n)
    bt = np.geomspace(1e3, d_max, n)
    return mt, mono_loss(mt, A, b), bt, mono_loss((1 + tau) / 2 * bt, A, b)


@pytest.mark.parametrize("tau", [-0.6, -0.3, 0.0, 0.25, 0.5, 0.9])
def test_planted_transfer_is_recovered(tau):
    mt, ml, bt, bl = curves(tau)
    res = bts.bts_from_curves(mt, ml, bt, bl, d_mono=3e4)
    expected = 2 - 2 / (1 + tau)
    assert res.reason is None
    assert res.bts == pytest.approx(expected, abs=1e-9)
    assert res.d_bi == pytest.approx(2 * 3e4 / (1 + tau), rel=1e-9)
    assert res.target_loss == pytest.approx(float(mono_loss(3e4)), rel=1e-12)
    # recover tau from the score
    assert 2 / (2 - res.bts) - 1 == pytest.approx(tau, abs=1e-9)


def test_planted_transfer_with_an_irreducible_term_is_close():
    """With L = E + A d^-b the log-log interpolation is only approximate; a dense grid keeps it within 1e-3."""
    f = lambda d: 1.7 + 30 * np.asarray(d, float) ** -0.35  # noqa: E731
    mt, bt = np.geomspace(1e3, 1e5, 60), np.geomspace(1e3, 4e5, 80)
    for tau in (-0.4, 0.3):
        res = bts.bts_from_curves(mt, f(mt), bt, f((1 + tau) / 2 * bt), 5e4)
        assert res.bts == pytest.approx(2 - 2 / (1 + tau), abs=1e-3)


def test_out_of_range_is_nan_with_a_reason_never_extrapolated():
    mt, ml, bt, bl = curves(0.5, d_max=5e4)
    # d_mono beyond the monolingual evaluations
    r = bts.bts_from_curves(mt, ml, bt, bl, d_mono=2e5)
    assert math.isnan(r.bts) and math.isnan(r.d_bi) and "outside the monolingual" in r.reason
    # the bilingual run is too short to reach the target loss (needs 2*4e4/1.5 > 5e4 tokens)
    r = bts.bts_from_curves(mt, ml, bt, bl, d_mono=4e4)
    assert math.isnan(r.bts) and "never reaches" in r.reason and r.d_mono == 4e4
    # target loss already beaten at the first bilingual evaluation: the crossing lies before the range
    mt, ml, _, _ = curves(0.9)
    bt = np.geomspace(1e4, 1e5, 5)
    r = bts.bts_from_curves(mt, ml, bt, mono_loss(0.95 * bt), d_mono=1.5e3)
    assert math.isnan(r.bts) and "before the observed range" in r.reason


def test_non_monotone_curve_uses_the_first_crossing():
    mt, ml = [1e3, 1e4, 1e5], [4.0, 3.0, 2.0]
    # the bilingual curve reaches 3.0 at exactly 2e4, bumps above it at 4e4, comes back later
    bt, bl = [1e3, 1e4, 2e4, 4e4, 8e4], [4.5, 3.5, 3.0, 3.3, 2.8]
    r = bts.bts_from_curves(mt, ml, bt, bl, d_mono=1e4)
    assert r.d_bi == pytest.approx(2e4) and r.bts == pytest.approx(0.0)
    # an exact hit at the first evaluation is in range; unsorted input is sorted
    r = bts.bts_from_curves(mt, ml, [4e4, 1e4], [2.0, 3.0], d_mono=1e4)
    assert r.d_bi == pytest.approx(1e4) and r.bts == pytest.approx(1.0)


def test_zero_token_points_dropped_and_bad_curves_rejected():
    r = bts.bts_from_curves([0, 1e3, 1e4], [9.0, 4.0, 3.0], [0, 1e3, 1e5], [9.0, 4.0, 2.0], 1e4)
    assert np.isfinite(r.bts)
    with pytest.raises(bts.BTSInputError, match="duplicated"):
        bts.bts_from_curves([1e3, 1e3], [4.0, 3.0], [1e3, 1e4], [4.0, 3.0], 1e3)
    with pytest.raises(bts.BTSInputError, match="finite and > 0"):
        bts.bts_from_curves([1e3, 1e4], [4.0, float("nan")], [1e3, 1e4], [4.0, 3.0], 1e3)
    with pytest.raises(bts.BTSInputError, match="2 token values but 3"):
        bts.bts_from_curves([1e3, 1e4], [4.0, 3.0, 2.0], [1e3, 1e4], [4.0, 3.0], 1e3)
    with pytest.raises(bts.BTSInputError, match="d_mono"):
        bts.bts_from_curves([1e3, 1e4], [4.0, 3.0], [1e3, 1e4], [4.0, 3.0], -5)


# ------------------------------------------------------------------------------------------ fake run dirs

SHAPES = {"xs": {"name": "xs", "layers": 1, "d_model": 32, "heads": 2, "kv": 16, "ffw": 64},
          "s": {"name": "s", "layers": 2, "d_model": 48, "heads": 3, "kv": 16, "ffw": 96}}
PARAMS = {"xs": 30000, "s": 60000}
AMP = {"eng": 40.0, "fra": 45.0, "rus": 50.0}
BASE_TOKENS = 40000


def _write_run(root, run_id, mixture, shape, tokens, losses, status="done"):
    """losses: {eval_lang: function of total tokens -> loss}."""
    path = records.run_dir("smoke", "bilingual", run_id, root)
    spec = {"run_id": run_id, "experiment": "bilingual", "preset": "smoke", "shape": SHAPES[shape],
            "params": PARAMS[shape], "params_non_embedding": PARAMS[shape] // 2,
            "vocab": {"kind": "multi", "size": 512, "name": "smoke-multi-512"}, "mixture": mixture,
            "unique_tokens": {k: 10**6 for k in mixture}, "tokens": tokens, "seq_len": 64, "batch_size": 8,
            "seed": 0, "train": {"lr": 3e-3}}
    grid = np.concatenate([[0], np.geomspace(1000, tokens, 12)])
    rows = [{"step": i, "tokens": t, "eval_lang": lang, "eval_set": es, "loss": f(t) if t else 9.0,
             "loss_u": (f(t) if t else 9.0) / 2, "lr": 1e-3, "train_loss": 1.0}
            for lang, f in losses.items() for es in ("bible", "flores") for i, t in enumerate(grid)]
    records.atomic_write_json(path / records.SPEC, spec)
    records.atomic_write_csv(path / records.METRICS, pd.DataFrame(rows))
    records.atomic_write_json(path / records.SUMMARY, {"status": status, "final": {}})


# planted tau (source -> target) per shape
TAU = {"xs": {("fra", "eng"): 0.4, ("eng", "fra"): 0.2, ("rus", "eng"): -0.3, ("eng", "rus"): -0.2,
              ("rus", "fra"): 0.0, ("fra", "rus"): 0.1},
       "s": {("fra", "eng"): 0.6, ("eng", "fra"): 0.3}}


@pytest.fixture()
def runs_root(tmp_path):
    for shape, taus in TAU.items():
        langs = sorted({x for pair in taus for x in pair})
        for lang in langs:  # monolingual baselines; ids deliberately not "mono-<lang>"
            _write_run(tmp_path, f"baseline{len(lang)}-{lang[::-1]}-{shape}", {lang: 1.0}, shape, BASE_TOKENS,
                       {lang: lambda d, A=AMP[lang]: mono_loss(d, A)})
        for a, b in {tuple(sorted(p)) for p in taus}:
            losses = {t: (lambda d, A=AMP[t], tau=taus[(s, t)]: mono_loss((1 + tau) / 2 * d, A))
                      for s, t in ((a, b), (b, a))}
            _write_run(tmp_path, f"run-{shape}-{b}{a}", {a: 0.5, b: 0.5}, shape, 2 * BASE_TOKENS, losses)
    return tmp_path


def test_matrix_from_runs_recovers_planted_scores(runs_root):
    m = bts.matrix_from_runs("smoke", root=runs_root)
    assert m.attrs["shape"] == "xs"  # the shape with the most pairs
    assert list(m.index) == ["eng", "fra", "rus"] and list(m.columns) == ["eng", "fra", "rus"]
    for (s, t), tau in TAU["xs"].items():
        assert m.loc[t, s] == pytest.approx(2 - 2 / (1 + tau), abs=1e-9), (s, t)
    assert np.isnan(np.diag(m.to_numpy())).all()
    table = bts.bts_table("smoke", shape="xs", root=runs_root)
    assert (table["d_mono"] == 0.5 * BASE_TOKENS).all()  # default d_mono = half the baseline budget
    m2 = bts.matrix_from_runs("smoke", shape="s", eval_set="flores", loss="loss_u", d_mono=1e4, root=runs_root)
    assert m2.loc["eng", "fra"] == pytest.approx(2 - 2 / 1.6, abs=1e-9)


def test_bts_vs_size_and_missing_or_diverged_runs(runs_root):
    size = bts.bts_vs_size("smoke", root=runs_root)
    assert set(zip(size.source, size.target)) == {("fra", "eng"), ("eng", "fra")}
    fe = size[(size.source == "fra") & (size.target == "eng")]
    assert list(fe["shape"]) == ["xs", "s"] and list(fe["params"]) == [30000, 60000]
    assert fe["bts"].to_numpy() == pytest.approx([2 - 2 / 1.4, 2 - 2 / 1.6])
    # a diverged bilingual run and a pair without a baseline give NaN with reasons
    _write_run(runs_root, "zz-diverged", {"eng": 0.5, "cmn": 0.5}, "xs", 2 * BASE_TOKENS,
               {"eng": lambda d: mono_loss(d), "cmn": lambda d: mono_loss(d)}, status="diverged")
    table = bts.bts_table("smoke", shape="xs", root=runs_root)
    bad = table[table.run_id == "zz-diverged"].set_index("target")
    assert "no monolingual baseline for cmn" in bad.loc["cmn", "reason"]
    assert "diverged" in bad.loc["eng", "reason"]
    m = bts.matrix_from_runs("smoke", shape="xs", root=runs_root)
    assert np.isnan(m.loc["cmn", "eng"]) and ("cmn", "eng") in m.attrs["reasons"]


def test_matrix_from_runs_errors(runs_root, tmp_path_factory):
    with pytest.raises(bts.BTSInputError, match="eval_set"):
        bts.matrix_from_runs("smoke", eval_set="ntrex", root=runs_root)
    with pytest.raises(bts.BTSInputError, match="loss column"):
        bts.matrix_from_runs("smoke", loss="ppl", root=runs_root)
    with pytest.raises(ValueError, match="unknown preset"):
        bts.matrix_from_runs("nope", root=runs_root)
    with pytest.raises(bts.BTSInputError, match="shape 'xl'"):
        bts.matrix_from_runs("smoke", shape="xl", root=runs_root)
    empty = tmp_path_factory.mktemp("empty")
    assert not bts.bilingual_available("smoke", root=empty)
    assert bts.bilingual_available("smoke", root=runs_root)
    with pytest.raises(bts.BTSInputError, match="no finished bilingual runs"):
        bts.matrix_from_runs("smoke", root=empty)


# ------------------------------------------------------------------------------------------------- CLI


def _csv(path, tokens, loss):
    pd.DataFrame({"tokens": tokens, "loss": loss}).to_csv(path, index=False)
    return str(path)


def test_cli_json(tmp_path, capsys):
    mt, ml, bt, bl = curves(0.5)
    mono, bi = _csv(tmp_path / "m.csv", mt, ml), _csv(tmp_path / "b.csv", bt, bl)
    assert cli.main(["bts", mono, bi, "--d-mono", "3e4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"bts", "d_bi", "d_mono"}
    assert out["bts"] == pytest.approx(2 - 2 / 1.5, abs=1e-9) and out["d_mono"] == 3e4
    # out of range -> null with a reason
    assert cli.main(["bts", mono, bi, "--d-mono", "1e7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bts"] is None and out["d_bi"] is None and "outside" in out["reason"]


def test_cli_malformed_csv_is_a_clear_error(tmp_path, capsys):
    good = _csv(tmp_path / "m.csv", [1e3, 1e4], [4.0, 3.0])
    (tmp_path / "nocol.csv").write_text("step,value\n1,2\n")
    assert cli.main(["bts", good, str(tmp_path / "nocol.csv"), "--d-mono", "5e3"]) == 2
    assert "missing column(s) ['tokens', 'loss']" in capsys.readouterr().err
    (tmp_path / "text.csv").write_text("tokens,loss\n1000,4.0\n2000,abc\n")
    assert cli.main(["bts", good, str(tmp_path / "text.csv"), "--d-mono", "5e3"]) == 2
    assert "non-numeric 'loss'" in capsys.readouterr().err
    assert cli.main(["bts", good, str(tmp_path / "missing.csv"), "--d-mono", "5e3"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bts", good, good, "--d-mono", "lots"])


# ----------------------------------------------------------------------------------------- the chapter


def test_chapter_helpers(runs_root):
    m = bts.matrix_from_runs("smoke", root=runs_root)
    comp = bts.compare_with_paper(m)
    assert len(comp) == 6 and comp["measured"].all()
    row = comp[(comp.source == "fra") & (comp.target == "eng")].iloc[0]
    assert row.paper == 0.2 and row.ours == pytest.approx(2 - 2 / 1.4)
    trend = bts.size_trend(bts.bts_vs_size("smoke", root=runs_root))
    assert (trend["slope_per_decade"] > 0).all() and (trend["n_shapes"] == 2).all()
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("smoke", m, bts.bts_vs_size("smoke", root=runs_root))}
    size = v["Transfer scores improve with model size"]  # rises in every direction, one seed, 2 sizes
    assert size.rule == "sign" and size.status in ("reproduced", "inconclusive") and "directions" in size.reason
    assert v["es->pt is synergistic, en->zh interferes"].status == "not testable"
    assert all(x.status == "not testable" for x in transfer_matrix.chapter_verdicts("smoke", None, None))
    cur = bts.pair_curves("smoke", "fr", "en", shape="xs", root=runs_root)
    assert set(cur["model"]) == {"monolingual", "bilingual"} and cur.attrs["bts"] == pytest.approx(2 - 2 / 1.4)


@pytest.mark.slow
def test_transfer_chapter_runs_on_fake_runs(runs_root, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    from atlas.paths import REPO_ROOT

    monkeypatch.setenv("ATLAS_RUNS_DIR", str(runs_root))
    monkeypatch.setenv("ATLAS_VERDICT_DIR", str(tmp_path / "verdicts"))
    out = tmp_path / "04.ipynb"
    papermill.execute_notebook(str(REPO_ROOT / "notebooks/04_transfer_matrix.ipynb"), str(out),
                               parameters={"preset": "smoke"}, kernel_name="python3", progress_bar=False,
                               cwd=str(tmp_path))
    text = out.read_text()
    assert "image/png" in text  # figures are rendered even under MPLBACKEND=Agg
    saved = json.loads((tmp_path / "verdicts" / "04_transfer_matrix.json").read_text())
    assert {v["claim"] for v in saved} >= {"Most language pairs interfere (BTS < 0)"}


def test_malformed_record_is_reported_in_its_cells(runs_root):
    path = records.run_dir("smoke", "bilingual", "baseline3-sur-xs", runs_root)
    metrics = pd.read_csv(path / records.METRICS)
    records.atomic_write_csv(path / records.METRICS, pd.concat([metrics, metrics]))  # every eval twice
    table = bts.bts_table("smoke", shape="xs", root=runs_root)
    bad = table[table.target == "rus"]
    assert len(bad) == 2 and bad["bts"].isna().all()
    assert bad["reason"].str.contains("malformed metrics").all() and bad["reason"].str.contains("duplicated").all()
    assert table[table.target != "rus"]["bts"].notna().all()


# ------------------------------------------------------------------------------ training length (budgets)


def _add_long_pair(root, tau_fe=0.4, tau_ef=0.2, factor=5):
    """fra/eng trained `factor` x longer at shape xs, with their own (longer) baselines."""
    long = factor * BASE_TOKENS
    for lang in ("eng", "fra"):
        _write_run(root, f"long-base-{lang}", {lang: 1.0}, "xs", long, {lang: lambda d, A=AMP[lang]: mono_loss(d, A)})
    taus = {("fra", "eng"): tau_fe, ("eng", "fra"): tau_ef}
    losses = {t: (lambda d, A=AMP[t], tau=taus[(s, t)]: mono_loss((1 + tau) / 2 * d, A)) for s, t in taus}
    _write_run(root, "long-pair", {"eng": 0.5, "fra": 0.5}, "xs", 2 * long, losses)
    return long


def test_longer_runs_use_their_own_baselines_and_stay_out_of_the_matrix(runs_root):
    long = _add_long_pair(runs_root, tau_fe=-0.3, tau_ef=0.5)
    table = bts.bts_table("smoke", shape="xs", root=runs_root)
    lp = table[table.run_id == "long-pair"].set_index("source")
    assert set(lp["baseline_run_id"]) == {"long-base-eng", "long-base-fra"}
    assert (lp["budget"] == long).all() and (lp["d_mono"] == long / 2).all()
    assert lp.loc["fra", "bts"] == pytest.approx(2 - 2 / 0.7) and lp.loc["eng", "bts"] == pytest.approx(2 - 2 / 1.5)
    m = bts.matrix_from_runs("smoke", root=runs_root)  # still the short runs' matrix
    assert m.attrs["budget"] == BASE_TOKENS and m.loc["eng", "fra"] == pytest.approx(2 - 2 / 1.4)
    size = bts.bts_vs_size("smoke", root=runs_root)
    assert (size["budget"] == BASE_TOKENS).all()
    cur = bts.pair_curves("smoke", "fra", "eng", shape="xs", budget=long, root=runs_root)
    assert cur["tokens"].max() == 2 * long and cur.attrs["bts"] == pytest.approx(2 - 2 / 0.7)
    # a bilingual run whose per-language budget has no baseline is NaN, and the reason names the budget
    _write_run(runs_root, "odd-pair", {"eng": 0.5, "rus": 0.5}, "xs", 3 * BASE_TOKENS,
               {"eng": lambda d: mono_loss(d), "rus": lambda d: mono_loss(d)})
    odd = bts.bts_table("smoke", shape="xs", root=runs_root).query("run_id == 'odd-pair'")
    assert odd["bts"].isna().all() and odd["reason"].str.contains(f"{1.5 * BASE_TOKENS:,.0f} tokens").all()


def test_sweep_recovers_planted_transfer_at_every_d_mono(runs_root):
    long = _add_long_pair(runs_root)
    sweep = bts.bts_sweep("smoke", shape="xs", root=runs_root)
    fe = sweep[(sweep.source == "fra") & (sweep.target == "eng")]
    assert set(fe["budget"]) == {BASE_TOKENS, long}
    for budget, g in fe.groupby("budget"):
        assert list(g["d_mono"]) == bts.sweep_d_monos(budget, first_eval=1000)
        assert g["bts"].to_numpy() == pytest.approx(2 - 2 / 1.4)  # power-law curves: BTS does not drift
        assert g["steps_mono"].to_numpy() == pytest.approx(g["d_mono"].to_numpy() / (8 * 64))
    pairs = bts.training_length_pairs(sweep)
    assert set(zip(pairs.source, pairs.target)) == {("fra", "eng"), ("eng", "fra")}
    summ = bts.sweep_summary(sweep)
    assert {"median", "q25", "q75", "share_negative", "n", "steps_mono"} <= set(summ.columns)
    explicit = bts.bts_sweep("smoke", shape="xs", d_monos=[2e3, 1e9], root=runs_root)
    far = explicit[explicit.d_mono == 1e9]
    assert far["bts"].isna().all() and far["reason"].str.contains("outside").all()
    with pytest.raises(bts.BTSInputError, match="d_monos"):
        bts.bts_sweep("smoke", d_monos=[0], root=runs_root)


def test_sweep_d_monos_grid():
    assert bts.sweep_d_monos(400_000) == [12_500, 25_000, 50_000, 100_000, 200_000]
    assert bts.sweep_d_monos(2_000_000, first_eval=40_000) == [50_000, 100_000, 200_000, 400_000, 800_000,
                                                                 1_000_000]


def _sweep_frame(values: dict[tuple[str, str], list[float]], d_monos=(1e5, 2e5, 4e5, 8e5), budget=2e6,
                 short_budget=4e5) -> pd.DataFrame:
    rows = []
    for (s, t), bts_values in values.items():
        for dm, b in zip(d_monos, bts_values):
            rows.append({"source": s, "target": t, "shape": "s1", "budget": budget, "bts": b, "d_mono": dm,
                         "steps_mono": dm / 4096, "warmup_steps": 20.0, "run_id": f"{min(s, t)}-{max(s, t)}-long"})
        rows.append({"source": s, "target": t, "shape": "s1", "budget": short_budget, "bts": 0.9, "d_mono": 1e5,
                     "steps_mono": 1e5 / 4096, "warmup_steps": 20.0, "run_id": f"{min(s, t)}-{max(s, t)}"})
    return pd.DataFrame(rows)


def test_training_length_verdicts():
    falling = _sweep_frame({("spa", "por"): [0.9, 0.7, 0.5, 0.3], ("eng", "cmn"): [0.5, 0.3, 0.1, -0.1],
                            ("por", "spa"): [0.8, 0.6, 0.5, 0.4], ("cmn", "eng"): [0.2, 0.1, 0.0, -0.3]})
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("cpu", None, None, falling)}
    fall = v["Transfer scores fall as training tokens grow"]
    assert fall.status == "reproduced" and "4 of 4 directions" in fall.ours and "longer one" in fall.reason
    gap = v["The es->pt vs en->zh gap is set early and stays constant"]
    assert gap.status == "reproduced" and "+0.40" in gap.ours  # 0.9 - 0.5 at every d_mono
    mixed = _sweep_frame({("spa", "por"): [0.9, 0.9, 1.0, 1.2], ("eng", "cmn"): [0.5, 0.6, 1.1, 1.4]})
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("cpu", None, None, mixed)}
    # two directions: no bootstrap over directions, so no noise estimate -> inconclusive, never a verdict
    assert v["Transfer scores fall as training tokens grow"].status == "inconclusive"
    assert v["The es->pt vs en->zh gap is set early and stays constant"].status == "not reproduced"  # sign flips
    rising = _sweep_frame({("spa", "por"): [0.9, 0.9, 1.0, 1.2], ("eng", "cmn"): [0.5, 0.6, 1.1, 1.4],
                           ("por", "spa"): [0.1, 0.3, 0.4, 0.6]})
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("cpu", None, None, rising)}
    assert v["Transfer scores fall as training tokens grow"].status == "not reproduced"  # rises beyond the noise
    # a gap that drifts by less than the tolerance with little noise is constant; one that drifts more is not
    drift = _sweep_frame({("spa", "por"): [0.9, 0.91, 0.92, 0.93], ("eng", "cmn"): [0.5, 0.5, 0.5, 0.5]})
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("cpu", None, None, drift)}
    assert v["The es->pt vs en->zh gap is set early and stays constant"].status == "reproduced"
    drift = _sweep_frame({("spa", "por"): [0.9, 1.0, 1.1, 1.2], ("eng", "cmn"): [0.5, 0.5, 0.5, 0.5]})
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("cpu", None, None, drift)}
    assert v["The es->pt vs en->zh gap is set early and stays constant"].status == "not reproduced"
    # points inside the warmup do not count
    early = _sweep_frame({("spa", "por"): [0.9, 0.7, 0.5, 0.3], ("eng", "cmn"): [0.5, 0.3, 0.1, -0.1]},
                         d_monos=(1e4, 2e4, 4e4, 8e4))
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("cpu", None, None, early)}
    assert v["Transfer scores fall as training tokens grow"].status == "not testable"
    assert all(x.status == "not testable" for x in transfer_matrix.chapter_verdicts("cpu", None, None, None))


# ------------------------------------------------------------------ the BTS design (issue 14): fake records

TPS = 512  # tokens per optimiser step of the fake design runs (batch 8 x 64)
D_TPP = 20  # tokens per parameter of the fake design


def _write_design_run(root, run_id, mixture, shape, tokens, losses, *, d_mono, baselines=None, seed=0,
                      slots=None):
    """One run of the BTS design: evaluations every few steps up to the end, decay over the last 10%."""
    steps = int(tokens // TPS)
    path = records.run_dir("smoke", "bilingual", run_id, root)
    spec = {"run_id": run_id, "experiment": "bilingual", "preset": "smoke", "shape": SHAPES[shape],
            "params": PARAMS[shape], "vocab": {"kind": "multi", "size": 512, "name": "smoke-multi-512"},
            "mixture": mixture, "unique_tokens": {k: 10**5 for k in mixture}, "tokens": tokens, "seq_len": 64,
            "batch_size": 8, "seed": seed, "steps": steps,
            "train": {"lr": 3e-3, "decay_fraction": 0.1, "warmup_steps": 2},
            "sampling": {"partition": "slots", "pool": ["cmn", "eng", "por", "spa"], "n_slots": 2, "slot_seed": 0,
                         "slots": slots or {k: 0 for k in mixture}},
            "bts": {"d_mono": d_mono, **({"baselines": baselines} if baselines else {})}}
    # like atlas.train: log-spaced evaluations, plus d_mono and the step where the decay starts
    at = sorted(set(np.unique(np.geomspace(2, steps, 40).astype(int)))
                | {d_mono // TPS, steps - math.ceil(0.1 * steps)})
    rows = [{"step": int(s), "tokens": float(s * TPS), "eval_lang": lang, "eval_set": es,
             # after the stable phase the loss drops 5% (the decay): a reading there would credit it to transfer
             "loss": f(s * TPS) * (0.95 if s > steps - math.ceil(0.1 * steps) else 1.0), "loss_u": 1.0,
             "lr": 1e-3, "train_loss": 1.0}
            for lang, f in losses.items() for es in ("bible", "flores") for s in at]
    records.atomic_write_json(path / records.SPEC, spec)
    records.atomic_write_csv(path / records.METRICS, pd.DataFrame(rows))
    records.atomic_write_json(path / records.SUMMARY, {"status": "done", "final": {}})


AMP4 = {"eng": 40.0, "spa": 44.0, "por": 46.0, "cmn": 52.0}
#: planted tau per direction (source, target); es->pt helps, en->zh interferes beyond the run's reach
TAU4 = {("spa", "por"): 0.6, ("por", "spa"): 0.5, ("eng", "cmn"): -0.5, ("cmn", "eng"): -0.2,
        ("eng", "spa"): 0.1, ("spa", "eng"): -0.1, ("eng", "por"): 0.2, ("por", "eng"): 0.0,
        ("cmn", "spa"): -0.3, ("spa", "cmn"): -0.25, ("cmn", "por"): -0.15, ("por", "cmn"): 0.3}
#: the seed-1 replicates' tau: shifted by +-0.02, so the seed s.d. of a score is known
TAU4_SEED1 = {("spa", "por"): 0.62, ("por", "spa"): 0.48, ("eng", "cmn"): -0.5, ("cmn", "eng"): -0.18}


def design_root(root):
    """Fake runs of the BTS design: 4 languages, 6 pairs at xs, es-pt and en-zh again at seed 1 and at shape s."""
    def pair(a, b, shape, taus, seed=0):
        d_mono = D_TPP * PARAMS[shape] // TPS * TPS
        suffix = f"-seed{seed}" if seed else ""
        names = {}
        for lang in (a, b):
            bid = f"base-{lang}-h0-{shape}{suffix}"
            names[lang] = f"bilingual/{bid}"
            if not (root / "smoke" / "bilingual" / bid).exists():
                _write_design_run(root, bid, {lang: 1.0}, shape, int(d_mono / 0.9 // TPS + 1) * TPS,
                                  {lang: lambda d, A=AMP4[lang]: mono_loss(d, A)}, d_mono=d_mono, seed=seed)
        losses = {t: (lambda d, A=AMP4[t], tau=taus[(s, t)]: mono_loss((1 + tau) / 2 * d, A))
                  for s, t in ((a, b), (b, a))}
        _write_design_run(root, f"bi-{a}-{b}-{shape}{suffix}", {a: 0.5, b: 0.5}, shape,
                          int(3 * d_mono / 0.9 // TPS + 1) * TPS, losses, d_mono=d_mono, baselines=names, seed=seed)
    for a, b in sorted({tuple(sorted(p)) for p in TAU4}):
        pair(a, b, "xs", TAU4)
    for a, b in (("por", "spa"), ("cmn", "eng")):
        pair(a, b, "xs", {**TAU4, **TAU4_SEED1}, seed=1)
        pair(a, b, "s", {**TAU4, ("spa", "por"): 0.7, ("por", "spa"): 0.6, ("eng", "cmn"): -0.3,
                         ("cmn", "eng"): -0.1})
    return root


def planted(tau):
    return 2 - 2 / (1 + tau)


def test_design_runs_give_the_matrix_seed_noise_and_censored_cells(tmp_path):
    root = design_root(tmp_path)
    table = bts.bts_table("smoke", root=root)
    assert table["replicate"].sum() == 4 and set(table["horizon"]) == {"20 tokens/param"}
    m = bts.matrix_from_runs("smoke", root=root)  # the replicates stay out of the matrix (no duplicate cells)
    assert m.attrs["shape"] == "xs" and m.shape == (4, 4)
    for (s, t), tau in TAU4.items():
        if planted(tau) >= -1:  # inside the reach (3 d_mono in the stable phase)
            assert m.loc[t, s] == pytest.approx(planted(tau), abs=1e-6), (s, t)
    primary_xs = table[~table.replicate & (table["shape"] == "xs")]
    cell = primary_xs[(primary_xs.source == "eng") & (primary_xs.target == "cmn")].iloc[0]
    assert np.isnan(cell.bts) and cell.censored == "below" and cell.bound == pytest.approx(-1, abs=0.01)
    seeds = bts.seed_table(table)
    assert len(seeds) == 4 and list(seeds["n_seeds"]).count(0) == 1  # en->zh is censored at both seeds
    es_pt = seeds.set_index(["source", "target"]).loc[("spa", "por")]
    assert es_pt["sd"] == pytest.approx(np.std([planted(0.6), planted(0.62)], ddof=1), rel=1e-6)
    sn = bts.score_noise(table)
    assert sn.n_directions == 3 and sn.dof == 3 and 0 < sn.sd <= sn.largest
    # BTS vs N groups the design's shapes by tokens per parameter, not by (different) budgets
    size = bts.bts_vs_size("smoke", root=root)
    assert set(size["shape"]) == {"xs", "s"} and size["budget"].nunique() == 2
    trend = bts.size_trend(size).set_index(["source", "target"])
    assert trend.loc[("spa", "por"), "slope_per_decade"] > 0
    # the sweep reads each direction up to the design's d_mono, primaries only
    sweep = bts.bts_sweep("smoke", shape="xs", root=root)
    assert not sweep["run_id"].str.contains("seed").any()
    assert sweep["d_mono"].max() == D_TPP * PARAMS["xs"] // TPS * TPS
    # the figure's curves stop where the decay starts, like the scores
    cur = bts.pair_curves("smoke", "spa", "por", root=root)
    bi = cur[cur.model == "bilingual"]
    assert bi["tokens"].max() <= 3 * D_TPP * PARAMS["xs"] / 0.9 * 0.9 + TPS


def test_chapter_comparison_on_design_runs_carries_the_seed_spread(tmp_path, monkeypatch):
    root = design_root(tmp_path)
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(root))
    s = transfer_matrix.scores("smoke")
    assert s.noise.n_directions == 3 and len(s.seeds) == 4
    c = transfer_matrix.compare(s)
    cens = c.all_cells.set_index(["source", "target"]).loc[("eng", "cmn")]
    assert cens["censored"] == "below" and cens["ours"] == pytest.approx(-1, abs=0.01)  # counted at its bound
    assert len(c.block) == 12 and c.tokens_per_param == pytest.approx(20, abs=0.1)
    # the es->pt minus en->zh contrast moves with the es->pt replicate (en->zh is censored at both seeds)
    contrast = c.spreads["contrast"]
    assert contrast.n == 2 and contrast.sd == pytest.approx(abs(planted(0.62) - planted(0.6)) / np.sqrt(2), rel=1e-6)
    table = transfer_matrix.comparison_table(c)
    assert "seed" in " ".join(table["seed spread"]) and len(table) == 5
    v = {x.claim: x for x in transfer_matrix.chapter_verdicts("smoke", s.matrix, bts.bts_vs_size("smoke"), None, c)}
    assert v["es->pt is synergistic, en->zh interferes"].status == "reproduced"
    assert "pooled seed s.d." in v["es->pt is synergistic, en->zh interferes"].reason


def test_censored_directions_enter_the_matrix_at_their_bound():
    from atlas import records

    if not any(records.iter_runs("cpu", "bilingual")):
        pytest.skip("no committed cpu runs")
    plain = bts.matrix_from_runs("cpu")
    bounded = bts.matrix_from_runs("cpu", censored_at_bound=True)
    filled = np.isnan(plain.to_numpy()) & np.isfinite(bounded.to_numpy())
    assert plain.attrs["n_censored_at_bound"] == 0 and bounded.attrs["n_censored_at_bound"] == int(filled.sum())
    assert np.array_equal(np.isfinite(plain.to_numpy()), np.isfinite(plain.to_numpy()) & np.isfinite(bounded.to_numpy()))
    assert (bounded.to_numpy()[filled] <= np.nanmin(plain.to_numpy())).all()  # a bound sits below every score
