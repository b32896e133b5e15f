"""Data chapter helpers: which vocabularies are trained, and the character-coverage filter."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from atlas.chapters import data_sampling as data_report
from atlas.presets import Preset
from atlas.tokenizer import _fit_characters


def test_mono_vocabularies_only_where_the_preset_trains_with_them():
    assert data_report.mono_vocab_languages(Preset.load("cpu")) == ["eng", "fra", "rus", "cmn", "hin", "swh"]
    cfg = Preset.load("smoke")
    assert data_report.mono_vocab_languages(cfg) == ["eng", "cmn"]
    exps = cfg.experiments
    exps["monolingual"] = [{"languages": ["fra"], "shapes": ["xs"], "tokens": 10, "vocab": "multi"},
                           {"languages": ["cmn", "eng"], "shapes": ["xs"], "tokens": 10}]
    assert data_report.mono_vocab_languages(cfg.replace(experiments=exps)) == ["cmn", "eng"]
    exps.pop("monolingual")
    assert data_report.mono_vocab_languages(cfg.replace(experiments=exps)) == []


def test_tokenizers_keys(tmp_path, monkeypatch):
    cfg = Preset.load("smoke")
    toks = data_report.tokenizers(cfg, cfg.languages)
    assert {lang for kind, lang in toks if kind == "multi"} == set(cfg.languages)
    assert {lang for kind, lang in toks if kind == "mono"} == {"eng", "cmn"}
    assert len({toks[("multi", lang)].name for lang in cfg.languages}) == 1


def _reference_counts(sentences):
    counts: dict[str, int] = {}
    for s in sentences:
        for ch in s:
            if not ch.isspace():
                counts[ch] = counts.get(ch, 0) + 1
    return counts


def test_fit_characters_matches_a_plain_count():
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghij") + ["中", "文", "字", " ", "\t", "\u3000", "é"]
    sentences = ["".join(rng.choice(alphabet, size=rng.integers(1, 40))) for _ in range(300)]
    counts = _reference_counts(sentences)
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    for budget in (3, 8, len(ranked) + 1):
        out, share = _fit_characters(sentences, 0.9999, budget)
        kept = set(ranked[:budget])
        assert all(ch in kept or ch.isspace() for s in out for ch in s)
        if budget <= len(ranked):
            total = sum(counts.values())
            assert share == pytest.approx(sum(counts[c] for c in ranked[:budget]) / total)


def _copy_smoke_runs(tmp_path, monkeypatch):
    import shutil

    from atlas.paths import runs_dir

    shutil.copytree(runs_dir() / "smoke", tmp_path / "smoke")
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))


def test_tokenizer_check_compares_the_model_files(tmp_path, monkeypatch):
    """The check says whether this build's vocabularies are the model files the runs recorded."""
    import json

    from atlas import records

    _copy_smoke_runs(tmp_path, monkeypatch)
    cfg = Preset.load("smoke")
    toks = data_report.tokenizers(cfg, cfg.languages)
    multi = toks[("multi", "eng")]
    assert len(multi.sha256) == 64 and multi.sha256 == hashlib.sha256(multi.path.read_bytes()).hexdigest()

    check = data_report.tokenizer_check("smoke", toks).set_index("vocabulary")
    assert set(check.index) == {t.name for t in toks.values()}
    assert check.loc[multi.name, "runs"] > 0
    recorded_before = records.recorded_tokenizers("smoke")
    if multi.name not in recorded_before:  # runs older than the summary field: nothing to compare with
        assert check.loc[multi.name, "same"] is None and check.loc[multi.name, "recorded"] == "-"

    records.write_tokenizer_record("smoke", {multi.name: multi.sha256}, note="test")
    assert bool(data_report.tokenizer_check("smoke", toks).set_index("vocabulary").loc[multi.name, "same"]) is True

    records.write_tokenizer_record("smoke", {multi.name: "0" * 64}, note="test")
    row = data_report.tokenizer_check("smoke", toks).set_index("vocabulary").loc[multi.name]
    assert bool(row["same"]) is False and row["recorded"].startswith("000000000000")  # (+ the runs' own record)

    # a hash recorded by a run's own summary counts too (and disagreeing records are all shown)
    (tmp_path / "smoke" / records.TOKENIZERS).unlink()
    run = next(p for p in records.iter_runs("smoke") if records.read_json(p / records.SPEC)["vocab"]["name"] == multi.name)
    summary = records.read_json(run / records.SUMMARY)
    records.atomic_write_json(run / records.SUMMARY, {**summary, "vocab_sha256": "f" * 64})
    assert "f" * 64 in records.recorded_tokenizers("smoke")[multi.name]
    assert bool(data_report.tokenizer_check("smoke", toks).set_index("vocabulary").loc[multi.name, "same"]) is False
    json.dumps(records.recorded_tokenizers("smoke"))  # plain, serialisable


def test_tokenizer_record_refuses_bad_input(tmp_path, monkeypatch):
    from atlas import records

    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="note"):
        records.write_tokenizer_record("smoke", {"spm-x": "a" * 64}, note=" ")
    with pytest.raises(ValueError, match="64 hex"):
        records.write_tokenizer_record("smoke", {"spm-x": "abc"}, note="n")
    with pytest.raises(ValueError, match="64 hex"):
        records.write_tokenizer_record("smoke", {"spm-x": "g" * 64}, note="n")
    assert not (tmp_path / "smoke").exists()


@pytest.mark.parametrize("args, message", [(["--preset", "nope", "--note", "n"], "'nope'"),
                                           (["--preset", "smoke", "--note", " "], "--note is empty")])
def test_record_tool_refuses_bad_input_before_training(tmp_path, monkeypatch, capsys, args, message):
    import importlib.util

    from atlas.paths import REPO_ROOT

    _copy_smoke_runs(tmp_path, monkeypatch)
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("record_tokenizers", REPO_ROOT / "tools" / "record_tokenizers.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "smoke" / "tokenizers.json").exists()
    assert not (tmp_path / "cache" / "tokenizers").exists() or not any((tmp_path / "cache" / "tokenizers").iterdir())


def test_committed_cpu_record_names_every_vocabulary_the_runs_use():
    from atlas import records

    recorded = records.recorded_tokenizers("cpu")
    used = set(records.load_specs("cpu")["vocab.name"])
    assert used <= set(recorded), sorted(used - set(recorded))
    assert all(len(v) == 1 for v in recorded.values()), recorded
