"""Decayed D points from one run (WSD cooldown branches), the balanced K design, and equal unique tokens."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from atlas import records, sampling
from atlas.grid import GridError, balanced_k_design, build_plan
from atlas.presets import Preset
from atlas.train_config import TrainError, cooldown_branches, wsd_lr

# ------------------------------------------------------------------------------------------- the schedule


def test_cooldown_branches_log_spaced_and_after_warmup():
    branches = cooldown_branches(2048, 6, 1.5, 0.2, warmup_steps=10)
    ends = [e for _, e in branches] + [2048]
    assert len(ends) == 6 and ends[0] == 64 and math.log10(ends[-1] / ends[0]) >= 1.5
    assert np.allclose(np.diff(np.log(ends)), np.log(2048 / 64) / 5, atol=0.02)
    for start, end in branches:
        assert end - start == math.ceil(0.2 * end) and start >= 10
        # the branch follows the schedule of a run of `end` steps: stable before, decaying after `start`
        assert wsd_lr(start - 1, end, 1.0, 10, 0.2) == 1.0 and wsd_lr(start + 1, end, 1.0, 10, 0.2) < 1.0


def test_cooldown_inside_warmup_or_colliding_points_is_refused():
    with pytest.raises(TrainError, match="inside the 20-step warm-up"):
        cooldown_branches(200, 6, 1.5, 0.2, warmup_steps=20)
    with pytest.raises(TrainError, match="collide"):
        cooldown_branches(20, 6, 1.5, 0.2)


def test_plan_refuses_a_cooldown_that_starts_in_warmup():
    cfg = Preset.load("smoke").replace(experiments={"monolingual": {
        "languages": ["eng"], "shapes": ["xs"], "tokens": 20000, "cooldown": {"points": 6, "decades": 1.5, "fraction": 0.2}}})
    with pytest.raises(GridError, match="warm-up"):
        build_plan(cfg)


# ------------------------------------------------------------------------------------------- the trainer


def _cool_preset(points: int | None) -> Preset:
    cfg = Preset.load("smoke").to_dict()
    cfg["data"]["eval_tokens"] = 256
    cfg["train"]["warmup_steps"] = 2
    block = {"languages": ["eng"], "shapes": ["xs"], "tokens": 12288, "vocab": "mono", "batch_size": 4,
             "train": {"n_evals": 3, "decay_fraction": 0.2}}
    if points:
        block["cooldown"] = {"points": points, "decades": 1.0, "fraction": 0.2}
    cfg["experiments"] = {"monolingual": block}
    return Preset.from_dict(cfg)


def _train(cfg: Preset, tmp_path, name: str, tokens: int | None = None) -> pd.DataFrame:
    from atlas.train import train_run

    spec = copy.deepcopy(build_plan(cfg).runs[0])
    if tokens is not None:
        spec["tokens"] = tokens
    out = tmp_path / name
    train_run(spec, cfg, out, progress=False)
    return pd.read_csv(out / records.METRICS)


@pytest.fixture(scope="module")
def cooled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cool")
    return _train(_cool_preset(4), tmp, "with"), _train(_cool_preset(None), tmp, "without"), tmp


def test_branches_never_change_the_main_run(cooled):
    with_b, without, _ = cooled
    main = with_b[~with_b["decayed"] | (with_b["step"] == with_b["step"].max())]
    both = main.merge(without, on=["step", "eval_lang", "eval_set"], suffixes=("", "_ref"))
    assert len(both) == len(without)  # every evaluation of the plain run exists, bit-identical
    # (train_loss averages the window since the previous evaluation, and branches add evaluations)
    assert (both["loss"] == both["loss_ref"]).all() and (both["lr"] == both["lr_ref"]).all()


def test_a_decayed_point_is_the_model_trained_on_that_budget(cooled, tmp_path):
    with_b, _, _ = cooled
    steps = with_b["step"].max()
    branch_ends = sorted(with_b.loc[with_b["decayed"] & (with_b["step"] < steps), "step"].unique())
    assert len(branch_ends) == 3
    end = int(branch_ends[1])
    alone = _train(_cool_preset(None), tmp_path, "alone", tokens=end * 4 * 64)  # a run of `end` steps
    ours = with_b[with_b["decayed"] & (with_b["step"] == end)].set_index(["eval_lang", "eval_set"])["loss"]
    ref = alone[alone["step"] == end].set_index(["eval_lang", "eval_set"])["loss"]
    assert np.allclose(ours.sort_index(), ref.sort_index(), rtol=1e-6, atol=0)


def test_branch_learning_rate_reaches_the_floor(cooled):
    with_b, _, _ = cooled
    cfg = _cool_preset(4)
    peak = cfg.train["lr"]
    for end, g in with_b[with_b["decayed"]].groupby("step"):
        floor = peak / math.ceil(0.2 * end)  # the last step of a linear decay to 0
        assert g["lr"].iloc[0] == pytest.approx(floor)
    undecayed = with_b[~with_b["decayed"] & (with_b["step"] < with_b["step"].max() * 0.8)]
    assert (undecayed["lr"] == peak).all()


def test_load_metrics_gives_legacy_records_a_decayed_column(tmp_path):
    run = tmp_path / "p" / "monolingual" / "r"
    run.mkdir(parents=True)
    records.atomic_write_json(run / records.SPEC, {"run_id": "r", "experiment": "monolingual"})
    pd.DataFrame({"step": [1, 5, 9], "loss": [3.0, 2.0, 1.0]}).to_csv(run / records.METRICS, index=False)
    records.atomic_write_json(run / records.SUMMARY, {"status": "done"})
    m = records.load_metrics("p", root=tmp_path)
    assert m["decayed"].dtype == bool and m["decayed"].tolist() == [False, False, True]


# ------------------------------------------------------------------------------------------- the K design

TARGETS = ["eng", "fra", "rus", "cmn"]
FILLERS = ["deu", "spa", "por", "vie", "jpn", "arb", "kor", "nld"]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_balanced_k_design_every_target_at_every_k_with_two_co_sets(seed):
    mixtures, slots = balanced_k_design(TARGETS, FILLERS, [1, 2, 4, 8], 2, seed)
    for t in TARGETS:
        for k in (1, 2, 4, 8):
            co = {frozenset(set(m) - {t}) for name, m, r in mixtures if len(m) == k and t in m}
            if k > 1:  # one mixture per replicate: replicate 1 is a set of unseen mixtures for R2(M)
                assert sorted(r for name, m, r in mixtures if len(m) == k and t in m) == [0, 1]
            assert len(co) == (1 if k == 1 else 2), (t, k, co)
    for name, m, r in mixtures:
        assert len({slots[x] for x in m}) == len(m), f"{name} puts two languages on one verse slot"
    assert balanced_k_design(TARGETS, FILLERS, [1, 2, 4, 8], 2, seed) == (mixtures, slots)  # seeded


def test_balanced_k_design_refuses_impossible_designs():
    with pytest.raises(GridError):
        balanced_k_design(TARGETS, [], [1, 2, 4, 8], 2)
    with pytest.raises(GridError):
        balanced_k_design(TARGETS, ["eng"], [1, 2], 1)


def test_slot_refs_disjoint_equal_and_independent_of_the_mixture():
    refs = [f"GEN {c}:{v}" for c in range(1, 40) for v in range(1, 30)]
    slots = sampling.slot_refs(refs, 8, seed=0)
    assert sum(len(s) for s in slots) == len(refs) and len(set().union(*map(set, slots))) == len(refs)
    assert max(map(len, slots)) - min(map(len, slots)) <= 1
    assert sampling.slot_refs(refs, 8, seed=0) == slots


def test_cpu_design_equal_vocabularies_unique_text_and_epochs_across_k():
    plan = build_plan(Preset.load("cpu"))
    sizes = {s["vocab"]["size"] for s in plan.runs if s["experiment"] in ("monolingual", "capacity")}
    assert len(sizes) == 1
    cap = [s for s in plan.runs if s["experiment"] == "capacity" and s["seed"] == 0]
    per_lang = {round(s["tokens"] * s["mixture"][t]) for s in cap for t in s["eval_langs"]}
    assert per_lang == {786432}  # every target sees the same tokens at every K, so the same epochs
    for t in TARGETS:
        assert {s["sampling"]["slots"][t] for s in cap if t in s["languages"]} == {TARGETS.index(t)}
        assert {len(s["languages"]) for s in cap if t in s["eval_langs"] and s["shape"]["name"] == "s1"} == {1, 2, 4, 8}
    mono = [s for s in plan.runs if s["experiment"] == "monolingual"]
    for s in mono:
        branches = cooldown_branches(s["tokens"] // (s["batch_size"] * s["seq_len"]), 6, 1.5, 0.2, 10)
        ends = [e for _, e in branches] + [s["tokens"] // (s["batch_size"] * s["seq_len"])]
        assert len(ends) >= 6 and math.log10(ends[-1] / ends[0]) >= 1.5
    for exp in ("monolingual", "capacity"):
        seeds = {}
        for s in plan.runs:
            if s["experiment"] == exp:
                key = (s["shape"]["name"], s["run_id"].split("-seed")[0])
                seeds.setdefault(key, set()).add(s["seed"])
        assert max(len(v) for v in seeds.values()) >= 3


# ------------------------------------------------------------------------------------------- the analysis


def _two_runs() -> pd.DataFrame:
    # run a: branches at 10 and 20, main run evaluated at 10, 20 (undecayed) and 40 (its own decay)
    a = pd.DataFrame({"experiment": "m", "run_id": "a", "step": [10, 10, 20, 20, 40],
                      "decayed": [False, True, False, True, True], "loss": [5.0, 4.5, 4.0, 3.6, 3.0]})
    b = pd.DataFrame({"experiment": "m", "run_id": "b", "step": [5, 9], "decayed": [False, True], "loss": [6.0, 5.0]})
    return pd.concat([a, b], ignore_index=True)


def test_main_trajectory_drops_only_cooldown_branches():
    main = records.main_trajectory(_two_runs())
    assert main[main["run_id"] == "a"]["loss"].tolist() == [5.0, 4.0, 3.0]
    assert main[main["run_id"] == "b"]["loss"].tolist() == [6.0, 5.0]
    one_run = records.main_trajectory(_two_runs().query("run_id == 'a'").drop(columns=["experiment", "run_id"]))
    assert one_run["loss"].tolist() == [5.0, 4.0, 3.0]


def test_fit_rows_uses_decayed_models_unless_asked_for_the_ablation():
    from atlas.scaling_table import fit_rows

    t = _two_runs().assign(eval_set="bible", D=1.0, status="done")
    rows, report = fit_rows(t)
    assert sorted(rows["loss"]) == [3.0, 3.6, 4.5, 5.0]
    assert report.set_index("reason")["rows"].iloc[0] == 3
    old, _ = fit_rows(t, decayed_only=False)
    assert sorted(old["loss"]) == [3.0, 4.0, 5.0, 5.0, 6.0]  # the stable-phase curve, branches dropped


def test_split_m_holds_out_the_second_replicate_and_k_t_never_sees_it():
    from atlas.fit import heldout_mask
    from atlas.scaling_table import atlas_design

    def row(run, mix, rep):
        out = {"run_id": run, "experiment": "capacity", "eval_lang": "eng", "mixture_id": mix, "replicate": rep,
               "K": mix.count(":"), "D": 1.0, "D_tot": 2.0, "D_other": 1.0, "U_other": 0.0}
        for l in ("fra", "rus", "cmn", "deu"):
            out[f"D_{l}"], out[f"U_{l}"] = (0.5, 1.0) if l in mix else (0.0, 0.0)
        return out

    t = pd.DataFrame([row("a", "eng:1", 0), row("b", "eng:0.5,fra:0.5", 0), row("c", "cmn:0.5,eng:0.5", 1),
                      row("d", "deu:0.25,eng:0.25,fra:0.25,rus:0.25", 0),
                      row("e", "cmn:0.25,deu:0.25,eng:0.25,rus:0.25", 1)])
    assert heldout_mask(t, "M").tolist() == [False, False, True, False, True]
    design = atlas_design(t, "eng")
    assert "cmn" not in design.attrs["transfer_languages"]  # only ever co-sampled in held-out mixtures
    assert design.attrs["transfer_languages"][0] == "fra"


def test_leave_group_out_r2_recovers_a_planted_k_law_on_unseen_languages_and_k():
    from atlas.fit import leave_group_out_r2
    from atlas.synthetic import synthetic

    data = synthetic("klaw", n=160, seed=3)
    data["eval_lang"] = np.array(["eng", "fra", "rus", "cmn"])[np.arange(len(data)) % 4]
    by_lang = leave_group_out_r2("klaw", data, "eval_lang", n_starts=2)
    assert list(by_lang["group"]) == ["cmn", "eng", "fra", "rus"] and (by_lang["r2"] > 0.95).all()
    by_k = leave_group_out_r2("klaw", data, "K", groups=[8.0], n_starts=2)
    assert by_k["r2"].iloc[0] > 0.9 and by_k["n_test"].iloc[0] == (data["K"] == 8).sum()
    shuffled = data.assign(loss=np.random.default_rng(0).permutation(data["loss"].to_numpy()))
    assert (leave_group_out_r2("klaw", shuffled, "eval_lang", n_starts=2)["r2"] < 0.5).all()  # it can fail


def test_slot_and_half_partitions_train_with_equal_unique_text(tmp_path):
    """A balanced-K run and a half-partition BTS pair train end to end; a language's unique tokens are the same
    in every run that gives it the same slot (its K = 1 run and its K = 4 run; a pair and its baseline)."""
    from atlas.train import prepare_data

    cfg = Preset.load("smoke").to_dict()
    cfg["data"]["eval_tokens"] = 256
    cfg["experiments"] = {
        "capacity": {"targets": ["eng", "fra"], "fillers": ["rus", "cmn"], "K": [1, 2, 4], "sets": 1,
                     "shapes": ["xs"], "tokens_per_language": 2048, "batch_size": 4},
        "bilingual": {"languages": ["eng", "fra", "rus"], "shape": "xs", "tokens_per_param": 0.05, "batch_size": 4},
    }
    cfg = Preset.from_dict(cfg)
    runs = {s["run_id"]: s for s in build_plan(cfg).runs}
    k1, k4 = prepare_data(runs["cap-k1-eng-xs"], cfg), prepare_data(runs["cap-k4a-xs"], cfg)
    assert k1.unique_tokens["eng"] == k4.unique_tokens["eng"] > 0
    assert set(k4.unique_tokens) == {"eng", "fra", "rus", "cmn"}
    pair = runs["bi-eng-fra-xs"]
    base = runs[pair["bts"]["baselines"]["fra"].split("/")[1]]
    assert prepare_data(pair, cfg).unique_tokens["fra"] == prepare_data(base, cfg).unique_tokens["fra"]
    from atlas.train import train_run

    summary = train_run(runs["cap-k4a-xs"], cfg, tmp_path / "k4", progress=False)
    assert summary["status"] == "done" and set(summary["tokens_seen"]) == {"eng", "fra", "rus", "cmn"}


def test_cooldown_branches_never_share_a_start():
    with pytest.raises(TrainError, match="same step"):
        cooldown_branches(9, 5, 0.5, 0.2)


def test_bts_design_scores_against_the_named_baseline_at_d_mono_in_the_stable_phase(tmp_path):
    from atlas import bts

    def run(run_id, mixture, tokens, **extra):
        return {"run_id": run_id, "mixture": mixture, "shape": "s0", "vocab": ("multi", 64, "v"), "tokens": tokens,
                "status": "done", **extra}

    pair = run("bi-eng-fra-s0", {"eng": 0.5, "fra": 0.5}, 1000.0,
               bts={"d_mono": 300.0, "baselines": {"eng": "bilingual/base-eng-h1-s0", "fra": "bilingual/base-fra-h0-s0"}})
    runs = [pair, run("base-eng-h0-s0", {"eng": 1.0}, 500.0), run("base-eng-h1-s0", {"eng": 1.0}, 333.0),
            run("base-fra-h0-s0", {"fra": 1.0}, 333.0)]
    chosen = {tgt: base["run_id"] for _, _, tgt, base in bts._directions(runs, None)}
    assert chosen == {"fra": "base-fra-h0-s0", "eng": "base-eng-h1-s0"}  # by name, not by budget
    metrics = pd.DataFrame({"step": [1, 2, 3, 4], "tokens": [10.0, 20.0, 30.0, 40.0], "eval_lang": "eng",
                            "eval_set": "bible", "loss": [4.0, 3.0, 2.5, 1.0], "decayed": [False] * 3 + [True]})
    metrics.to_csv(tmp_path / records.METRICS, index=False)
    tokens, _ = bts._curve(tmp_path, "eng", "bible", "loss", last_step=3)
    assert tokens.tolist() == [10.0, 20.0, 30.0]  # the decayed tail never enters a BTS curve
