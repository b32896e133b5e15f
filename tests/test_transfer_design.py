"""The transfer grid (issue 14): the paper's nine languages, 20 tokens per parameter, unique-token parity."""

from __future__ import annotations

import itertools
import math

from atlas.grid import build_plan, half_assignment
from atlas.presets import Preset

NINE = ["eng", "rus", "spa", "fra", "deu", "por", "cmn", "vie", "jpn"]


def test_36_pairs_over_the_nine_languages_at_20_tokens_per_parameter():
    runs = {s["run_id"]: s for s in build_plan(Preset.load("cpu"), "bilingual").runs}
    pairs = [s for s in runs.values() if len(s["languages"]) == 2 and s["shape"]["name"] == "s0" and s["seed"] == 0]
    assert {tuple(s["languages"]) for s in pairs} == {tuple(sorted(p)) for p in itertools.combinations(NINE, 2)}
    for s in pairs:
        d_mono = s["bts"]["d_mono"]
        assert d_mono / s["params"] >= 20
        stable = s["tokens"] * (1 - s["train"]["decay_fraction"])
        assert stable >= 3 * d_mono  # d_bi of a score down to -1 lies in the stable phase
        for lang, base_key in s["bts"]["baselines"].items():
            base = runs[base_key.split("/", 1)[1]]
            # parity: the baseline trains on the very verses the pair gives its target
            assert base["sampling"]["slots"] == {lang: s["sampling"]["slots"][lang]}
            assert {k: base["sampling"][k] for k in ("pool", "n_slots", "slot_seed")} == \
                   {k: s["sampling"][k] for k in ("pool", "n_slots", "slot_seed")}
            assert base["tokens"] * (1 - base["train"]["decay_fraction"]) >= d_mono  # read before the decay
            assert base["seed"] == s["seed"] and base["shape"] == s["shape"]


def test_pairs_take_opposite_halves_and_the_rule_is_seeded():
    pairs = [tuple(sorted(p)) for p in itertools.combinations(NINE, 2)]
    halves = half_assignment(pairs, 0)
    assert all(sorted(h.values()) == [0, 1] for h in halves.values())
    assert half_assignment(pairs, 0) == halves and half_assignment(pairs, 1) != halves


def test_seed_replicates_and_a_second_shape_cover_six_directions():
    runs = build_plan(Preset.load("cpu"), "bilingual").runs
    seeded = [s for s in runs if len(s["languages"]) == 2 and s["seed"] != 0]
    larger = [s for s in runs if len(s["languages"]) == 2 and s["shape"]["name"] == "s1"]
    assert 2 * len(seeded) >= 6 and 2 * len(larger) >= 6
    assert all(s["bts"]["d_mono"] / s["params"] >= 20 for s in larger)


def test_fas_finetunes_cover_every_language_and_evaluate_all():
    plan = build_plan(Preset.load("cpu"), "finetune")
    fas = [s for s in plan.runs if s["run_id"].endswith("-s0-from-4M")]
    langs = plan.preset.languages
    assert {s["languages"][0] for s in fas} == set(langs)
    assert all(set(s["eval_langs"]) == set(langs) for s in fas)
    base = next(s for s in plan.runs if s["run_id"] == "unimax-s0-4M")
    assert set(base["eval_langs"]) == set(langs)
    assert all(math.isfinite(s["tokens"]) for s in fas)


def test_a_replicate_seed_equal_to_the_training_seed_is_refused():
    import pytest

    from atlas.grid import GridError

    cpu = Preset.load("cpu")
    block = dict(cpu.experiments["bilingual"])
    for bad in ([0], [1, 1]):  # 0 is the preset's training seed: the "replicate" would be its primary
        block["seeds"] = {**block["seeds"], "values": bad}
        with pytest.raises(GridError, match=r"distinct seeds other than the training seed 0"):
            build_plan(cpu.replace(experiments={**cpu.experiments, "bilingual": block}), "bilingual")
