"""One Preset type: loaded once per name, validated, read-only, passed down instead of a name or a dict."""

from __future__ import annotations

import re

import pytest

from atlas.presets import Preset, PresetError, available_presets, resolve


def test_every_shipped_preset_loads_with_its_sections():
    assert available_presets() == ["cpu", "gpu", "paper", "smoke"]
    for name in available_presets():
        p = Preset.load(name)
        assert p.name == name and p.languages and p.shapes and p.seq_len > 0 and p.batch_size > 0
        assert p.vocab_size("multi") == p.tokenizer["vocab_size"] and p.vocab_size("mono") == p.tokenizer["mono_vocab_size"]
    assert not Preset.load("paper").runnable and Preset.load("paper").not_runnable_reason
    assert Preset.load("paper").reported_runs == 774 and Preset.load("cpu").reported_runs is None
    assert Preset.load("cpu").runnable and Preset.load("cpu").corpus == "bundled"


def test_load_reads_each_file_once_and_resolve_converts_a_name_once():
    assert Preset.load("smoke") is Preset.load("smoke")  # cached: one read per name and process
    smoke = Preset.load("smoke")
    assert resolve("smoke") is smoke and resolve(smoke) is smoke
    assert repr(smoke) == "Preset(name='smoke')"


@pytest.mark.parametrize("bad", ["nope", "", None, 3, {"name": "smoke"}])
def test_a_bad_name_is_one_line_naming_the_allowed_presets(bad):
    with pytest.raises(PresetError) as err:
        resolve(bad)
    assert str(err.value) == f"unknown preset {bad!r}; allowed: cpu, gpu, paper, smoke"


def test_accessors_hand_out_copies():
    smoke = Preset.load("smoke")
    smoke.data["test_books"].append("GEN")
    smoke.experiments.clear()
    smoke.shapes[0]["layers"] = 99
    smoke.languages.append("deu")
    assert "GEN" not in smoke.data["test_books"] and smoke.experiments and smoke.shapes[0]["layers"] == 1
    assert smoke.languages == ["eng", "fra", "rus", "cmn"]
    with pytest.raises(AttributeError):
        smoke.name = "cpu"  # frozen


def test_edited_presets_come_from_from_dict_or_replace():
    smoke = Preset.load("smoke")
    raw = smoke.to_dict()
    raw["train"]["n_evals"] = 3
    edited = Preset.from_dict(raw)
    raw["train"]["n_evals"] = 4  # from_dict copied the mapping
    assert edited.train["n_evals"] == 3 and smoke.train["n_evals"] == 6 and edited != smoke
    assert Preset.from_dict(smoke.to_dict()) == smoke and hash(Preset.from_dict(smoke.to_dict())) == hash(smoke)
    fewer = smoke.replace(languages=["eng", "fra"])
    assert fewer.languages == ["eng", "fra"] and fewer.data == smoke.data and smoke.languages == ["eng", "fra", "rus", "cmn"]


@pytest.mark.parametrize("config,message", [
    ({"name": "x"}, "preset 'x' lacks the section(s) ['languages', 'data', 'tokenizer', 'model', 'train']"),
    ({**Preset.load("smoke").to_dict(), "name": ""}, "name must be a non-empty string"),
    (["smoke"], "a preset is a mapping of sections, got list"),
])
def test_from_dict_checks_the_sections(config, message):
    with pytest.raises(PresetError, match=re.escape(message)):
        Preset.from_dict(config)

