"""FAS, delta, adaptation gains and the z-scored features (paper App. B.5.2): hand-computed values, records."""

import math

import numpy as np
import pandas as pd
import pytest

from atlas import fas, records


def test_fas_by_hand():
    """Base 5.0; evaluations (1, 4.0), (2, 3.0), (4, 3.0). Gains at d = 0, 1, 2, 4: 0, 1, 2, 2.
    Trapezoids: 0.5 + 1.5 + 4.0 = 6.0 nats*tokens over d_max = 4 -> FAS = 1.5; delta = 3.0 - 5.0 = -2.0."""
    assert fas.fas_from_curve([1, 2, 4], [4.0, 3.0, 3.0], 5.0) == pytest.approx(1.5)
    assert fas.delta_from_curve([1, 2, 4], [4.0, 3.0, 3.0], 5.0) == pytest.approx(-2.0)


def test_fas_unsorted_and_recorded_zero_row():
    """Order does not matter; a recorded d = 0 row is the base itself and is replaced by base_loss."""
    a = fas.fas_from_curve([4, 1, 2], [3.0, 4.0, 3.0], 5.0)
    b = fas.fas_from_curve([0, 1, 2, 4], [9.9, 4.0, 3.0, 3.0], 5.0)
    assert a == pytest.approx(1.5) and b == pytest.approx(1.5)


def test_fas_of_a_constant_and_a_forgetting_curve():
    assert fas.fas_from_curve([10, 20], [5.0, 5.0], 5.0) == 0.0
    # loss rises linearly from 5 to 7 over 100 tokens: the mean loss gain is -1 (interference), delta +2
    d = np.linspace(10, 100, 10)
    assert fas.fas_from_curve(d, 5.0 + 2.0 * d / 100, 5.0) == pytest.approx(-1.0)
    assert fas.delta_from_curve(d, 5.0 + 2.0 * d / 100, 5.0) == pytest.approx(2.0)


@pytest.mark.parametrize("tokens, loss, base, match", [
    ([1, 2], [4.0], 5.0, "token values"),
    ([1, 1], [4.0, 3.0], 5.0, "duplicated"),
    ([0], [4.0], 5.0, "at least one"),
    ([1, 2], [4.0, float("nan")], 5.0, "finite"),
    ([-1, 2], [4.0, 3.0], 5.0, ">= 0"),
    ([1, 2], [4.0, 3.0], float("nan"), "base loss"),
])
def test_bad_curves_are_clear_errors(tokens, loss, base, match):
    with pytest.raises(fas.FASInputError, match=match):
        fas.fas_from_curve(tokens, loss, base)


def _curves(gain: dict, base: dict) -> pd.DataFrame:
    """Curves whose FAS is exactly ``gain[(s, t)]``: constant loss base - gain after d = 0 at a dense grid is
    not exact (the first trapezoid), so use one evaluation: FAS = gain / 2, delta = -gain."""
    rows = [{"source": s, "eval_lang": t, "tokens": 100.0, "loss": base[t] - v} for (s, t), v in gain.items()]
    return pd.DataFrame(rows)


def test_fas_scores_and_features_by_hand():
    base = {"a": 9.0, "b": 9.0, "c": 9.0}
    gain = {("a", "a"): 2.0, ("b", "b"): 4.0, ("c", "c"): 6.0,  # g = 1, 2, 3 (FAS = gain / 2)
            ("a", "b"): 1.0, ("c", "b"): 3.0, ("b", "a"): 0.5, ("c", "a"): 1.5, ("a", "c"): 0.0, ("b", "c"): 2.0}
    table = fas.fas_scores(_curves(gain, base), base)
    assert list(table.columns) == fas.FAS_COLUMNS
    row = table.set_index(["source", "target"]).loc[("a", "b")]
    assert row["fas"] == pytest.approx(0.5) and row["delta"] == pytest.approx(-1.0) and row["d_max"] == 100
    g = fas.adaptation_gains(table)
    assert g.to_dict() == pytest.approx({"a": 1.0, "b": 2.0, "c": 3.0})
    feats = fas.transfer_features(table)
    assert len(feats) == 6
    sd = math.sqrt(2 / 3)  # population sd of 1, 2, 3
    x = feats.loc[("a", "b")]
    assert x["g_s_z"] == pytest.approx(-1 / sd) and x["g_t_z"] == pytest.approx(0.0)
    assert x["g_diff_z"] == pytest.approx(-1 / sd)
    # target b: deltas of sources a, c are -1 and -3 -> z = +1, -1
    assert x["delta_z"] == pytest.approx(1.0) and feats.loc[("c", "b"), "delta_z"] == pytest.approx(-1.0)
    assert list(feats.columns[-4:]) == fas.FEATURE_NAMES


def test_missing_base_loss_is_nan_with_reason_and_drops_features():
    base = {"a": 5.0, "b": 5.0}
    gain = {("a", "a"): 2.0, ("b", "b"): 4.0, ("a", "b"): 1.0, ("b", "a"): 1.0, ("a", "c"): 1.0, ("b", "c"): 1.0}
    table = fas.fas_scores(_curves(gain, {**base, "c": 5.0}), base)
    c = table[table["target"] == "c"]
    assert c["fas"].isna().all() and c["reason"].str.contains("no base loss on c").all()
    feats = fas.transfer_features(table)
    # each target has one source only -> delta~ undefined -> no features at all
    assert feats.empty


def test_seeds_are_averaged_before_features():
    base = {"a": 9.0, "b": 9.0, "c": 9.0}
    gain = {("a", "a"): 2.0, ("b", "b"): 4.0, ("c", "c"): 6.0, ("a", "b"): 1.0, ("c", "b"): 3.0,
            ("b", "a"): 0.5, ("c", "a"): 1.5, ("a", "c"): 0.0, ("b", "c"): 2.0}
    one = fas.fas_scores(_curves(gain, base), base)
    hi, lo = one.copy(), one.copy()
    hi[["fas", "delta"]] += 0.1
    lo[["fas", "delta"]] -= 0.1
    pd.testing.assert_frame_equal(fas.transfer_features(pd.concat([hi, lo])), fas.transfer_features(one))


# ------------------------------------------------------------------------------------------ records

SHAPE = {"name": "s0", "d_model": 8, "layers": 1, "heads": 1, "kv": 8, "ffw": 16}


def _write(root, experiment, run_id, spec_extra, losses, steps=(5, 10, 20)):
    """losses: {eval_lang: function of step -> loss}; tokens = 100 x step."""
    path = records.run_dir("smoke", experiment, run_id, root)
    spec = {"run_id": run_id, "experiment": experiment, "preset": "smoke", "shape": SHAPE, "params": 1000,
            "seed": 0, "tokens": 100 * steps[-1], **spec_extra}
    rows = [{"step": s, "tokens": 100 * s, "eval_lang": lang, "eval_set": es, "loss": f(s), "loss_u": 0.0,
             "lr": 1e-3, "train_loss": 1.0} for lang, f in losses.items() for es in ("bible", "flores") for s in steps]
    records.atomic_write_json(path / records.SPEC, spec)
    records.atomic_write_csv(path / records.METRICS, pd.DataFrame(rows))
    records.atomic_write_json(path / records.SUMMARY, {"status": "done"})


@pytest.fixture()
def ft_root(tmp_path):
    base_loss = {"eng": 5.0, "fra": 5.5, "rus": 6.0}  # the base does not evaluate deu
    _write(tmp_path, "unimax", "uni-a", {"mixture": {k: 0.25 for k in ("eng", "fra", "rus", "deu")}},
           {k: (lambda s, v=v: v + 1.0 / s) for k, v in base_loss.items()}, steps=(10, 40))
    for src in ("eng", "fra", "rus", "deu"):
        # own language improves; others are forgotten at a source-dependent rate (so delta~ has a spread)
        rate = {"eng": 0.01, "fra": 0.02, "rus": 0.03, "deu": 0.04}[src]
        losses = {t: (lambda s, b=base_loss.get(t, 6.5), own=(t == src), r=rate: b - (r if own else -r) * s)
                  for t in ("eng", "fra", "rus", "deu")}
        _write(tmp_path, "finetune", f"ft-{src}", {"mixture": {src: 1.0}, "base_run": "uni-a", "base_tokens": 4000},
               losses)
    # a from-scratch comparison run in the same folder is not a finetune
    _write(tmp_path, "finetune", "scratch-eng", {"mixture": {"eng": 1.0}, "base_run": None}, {"eng": lambda s: 5.0})
    return tmp_path, base_loss


def test_fas_table_from_records(ft_root):
    root, base_loss = ft_root
    table = fas.fas_table("smoke", root=root)
    assert table.attrs["shape"] == "s0" and table.attrs["base_tokens"] == 4000
    assert set(table["source"]) == {"eng", "fra", "rus", "deu"} and len(table) == 16
    # base loss is the base run's LAST evaluation (step 40: v + 1/40)
    eng = table.set_index(["source", "target"]).loc[("eng", "eng")]
    assert eng["base_loss"] == pytest.approx(5.0 + 1 / 40)
    # curve: d = 0 -> base, then steps 5, 10, 20 (tokens 500, 1000, 2000), loss 5.0 - 0.01 s
    b = 5.0 + 1 / 40
    assert eng["fas"] == pytest.approx(fas.fas_from_curve([500, 1000, 2000], [4.95, 4.9, 4.8], b))
    assert eng["delta"] == pytest.approx(4.8 - b)
    deu = table[table["target"] == "deu"]
    assert deu["fas"].isna().all() and deu["reason"].str.contains("deu").all()
    feats = fas.transfer_features(table)
    assert sorted({x for pair in feats.index for x in pair}) == ["eng", "fra", "rus"]


def test_fas_table_errors(ft_root, tmp_path_factory):
    root, _ = ft_root
    with pytest.raises(fas.FASInputError, match="no finetunes of shape 'zz'"):
        fas.fas_table("smoke", shape="zz", root=root)
    with pytest.raises(fas.FASInputError, match="no finished finetune runs"):
        fas.fas_table("smoke", root=tmp_path_factory.mktemp("empty"))
    with pytest.raises(ValueError, match="eval_set"):
        fas.fas_table("smoke", eval_set="nope", root=root)


def test_committed_cpu_finetunes_give_features():
    """The committed cpu finetunes (4 targets; the Unimax bases evaluate eng fra rus cmn hin swh, not deu)."""
    if not any(records.iter_runs("cpu", "finetune")):
        pytest.skip("no committed cpu finetunes")
    table = fas.fas_table("cpu", shape="s1")
    assert set(table["source"]) >= {"eng", "rus", "cmn"}
    assert np.isfinite(table.loc[table["source"] == table["target"], "fas"]).sum() >= 3


def test_a_longer_finetune_is_its_own_group_never_averaged_in(ft_root):
    root, _ = ft_root
    _write(root, "finetune", "ft-eng-long", {"mixture": {"eng": 1.0}, "base_run": "uni-a", "base_tokens": 4000},
           {t: (lambda s: 1.0) for t in ("eng", "fra", "rus")}, steps=(5, 10, 20, 80))
    groups = fas.finetune_groups("smoke", root)
    assert sorted(groups["tokens"]) == [2000, 8000] and list(groups["n_sources"]) == [4, 1]
    table = fas.fas_table("smoke", root=root)
    assert "ft-eng-long" not in set(table["run_id"]) and table.attrs["tokens"] == 2000
