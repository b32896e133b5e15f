"""Seed noise (atlas.noise): replicates are swapped in for their primary run, never added as data points."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from atlas import noise
from atlas.scaling_table import fit_rows


def _table(extra_seeds=(1, 2), offsets=None) -> pd.DataFrame:
    offsets = offsets or {0: 0.0, 1: 0.1, 2: -0.1}
    rows = []
    for run, seed in [("mono-eng-s2", 0), ("mono-eng-s1", 0)] + [(f"mono-eng-s2-seed{s}", s) for s in extra_seeds]:
        shift = offsets[seed] if run.startswith("mono-eng-s2") else 1.0
        for D in (1e5, 1e6):
            rows.append({"experiment": "monolingual", "run_id": run, "seed": seed, "eval_lang": "eng",
                         "shape": run.split("-")[2], "eval_set": "bible", "D": D, "decayed": True,
                         "status": "finished", "loss": 4.0 + shift - np.log10(D) / 10})
    return pd.DataFrame(rows)


def test_replicate_key_and_seeds():
    assert noise.replicate_key("mono-eng-s2-seed12") == "mono-eng-s2"
    assert noise.replicate_key("bi-eng-fra-s0") == "bi-eng-fra-s0"
    assert noise.replicate_seeds(_table()) == [1, 2]
    assert noise.replicate_seeds(_table(extra_seeds=())) == []


def test_variants_swap_the_primary_and_keep_run_ids():
    t = _table()
    variants = noise.seed_variants(t)
    assert sorted(variants) == [0, 1, 2]
    for seed, v in variants.items():
        assert sorted(v["run_id"].unique()) == ["mono-eng-s1", "mono-eng-s2"]
        s2 = v[v["run_id"] == "mono-eng-s2"]
        assert set(s2["seed"]) == {seed}
        assert len(v) == 4
    assert noise.seed_variants(_table(extra_seeds=())) == {}


def test_unfinished_replicate_keeps_the_primary():
    v = noise.seed_variants(_table(extra_seeds=(1,)))
    assert sorted(v) == [0, 1]


def test_seed_spread_and_final_loss_spread():
    t = _table()
    spread = noise.seed_spread(t, lambda v: v.loc[v["run_id"] == "mono-eng-s2", "loss"].mean())
    assert spread.n == 3
    assert spread.sd == pytest.approx(0.1)
    failing = noise.seed_spread(t, lambda v: 1 / 0 if v["seed"].max() == 1 else 1.0)
    assert np.isnan(failing.values[1]) and failing.n == 2
    fl = noise.final_loss_spread(t)
    assert list(fl["run_id"].unique()) == ["mono-eng-s2"] and (fl["n_seeds"] == 3).all()
    assert fl["sd"].to_numpy() == pytest.approx([0.1, 0.1])


def test_fit_rows_leaves_replicates_out_and_says_so():
    rows, report = fit_rows(_table())
    assert not noise.is_replicate(rows["run_id"]).any()
    assert report.set_index("reason").loc["seed replicate (the noise floor, not a data point)", "rows"] == 4
    kept, _ = fit_rows(_table(), seed_replicates=True)
    assert noise.is_replicate(kept["run_id"]).sum() == 4


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=3))
def test_spread_is_the_sd_of_the_seed_shifts(shifts):
    t = _table(offsets=dict(enumerate(shifts)))
    spread = noise.seed_spread(t, lambda v: v.loc[v["run_id"] == "mono-eng-s2", "loss"].iloc[0])
    assert spread.sd == pytest.approx(np.std(shifts, ddof=1), abs=1e-9)


def test_seed_spreads_gives_one_spread_per_key():
    t = _table()
    out = noise.seed_spreads(t, lambda v: v.groupby("run_id")["loss"].mean().to_dict())
    assert set(out) == {"mono-eng-s1", "mono-eng-s2"}
    assert out["mono-eng-s1"].sd == pytest.approx(0.0) and out["mono-eng-s2"].sd == pytest.approx(0.1)


def test_a_swapped_in_replicate_takes_its_primary_rows_places():
    t = _table()
    variants = noise.seed_variants(t)
    order = lambda v: list(zip(v["run_id"], v["D"]))  # noqa: E731
    assert order(variants[1]) == order(variants[0]) == order(variants[2])
    assert order(variants[0]) == order(t[~noise.is_replicate(t["run_id"])])


def test_only_the_named_experiments_replicates_are_swapped():
    t = _table()
    other = t.assign(experiment="capacity")
    assert noise.seed_variants(t, experiments=["capacity"]) == {}
    assert sorted(noise.seed_variants(pd.concat([t, other]), experiments=["capacity"])) == [0, 1, 2]
    assert noise.primary_seed(t) == 0 and noise.primary_seed(t[~noise.is_replicate(t["run_id"])]) is None
