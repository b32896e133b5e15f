"""SentencePiece vocabularies: training input, caching, multilingual vs monolingual (smoke preset)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from atlas import corpus, sampling as S
from atlas import tokenizer as T
from atlas.presets import Preset

PRESET = "smoke"


@pytest.fixture(scope="module")
def cfg():
    return Preset.load(PRESET)


def _forget_in_memory():
    T._MEMORY.clear()
    T._BY_SETTINGS.clear()


def test_multi_and_mono_vocabularies(cfg):
    multi = T.get_tokenizer(cfg, "multi")
    mono = T.get_tokenizer(cfg, "mono", "en")
    assert multi.vocab_size == cfg.tokenizer["vocab_size"] and multi.kind == "multi"
    assert mono.vocab_size == cfg.tokenizer["mono_vocab_size"] and mono.kind == "mono"
    assert set(multi.languages) == set(cfg.languages) and mono.languages == ("eng",)
    assert multi.name != mono.name and multi.eos_id == mono.eos_id == T.EOS_ID
    assert multi.meta["sentences"]["eng"] > 0.8 * cfg.tokenizer["sentences_per_language"]  # T = 100: ~uniform
    flores = corpus.flores_devtest("eng")[:200]
    assert T.fertility(mono, flores) < T.fertility(multi, flores)  # the monolingual vocabulary fits English better
    text = "In the beginning God created the heavens and the earth."
    assert mono.decode(mono.encode([text])[0]) == text
    assert multi.decode(multi.encode(text)[0]) == text


def test_byte_fallback_leaves_no_unknown_tokens(cfg):
    multi = T.get_tokenizer(cfg, "multi")
    ids = [i for seq in multi.encode(corpus.flores_devtest("cmn")[:100]) for i in seq]
    assert T.UNK_ID not in ids
    assert multi.meta["effective_character_coverage"] <= cfg.tokenizer["character_coverage"]


def test_cache_hit_needs_no_training(cfg, monkeypatch):
    first = T.get_tokenizer(cfg, "mono", "fra")
    model = first.path
    mtime = model.stat().st_mtime_ns
    _forget_in_memory()

    def boom(*args, **kwargs):
        raise AssertionError("a cached tokenizer was retrained")

    monkeypatch.setattr(T, "_train", boom)
    again = T.get_tokenizer(cfg, "mono", "fra")
    assert again.name == first.name and again.path == model and model.stat().st_mtime_ns == mtime
    assert again.encode(["Au commencement"]) == first.encode(["Au commencement"])
    assert json.loads(model.with_suffix(".json").read_text())["name"] == first.name


def test_settings_change_the_cache_key(cfg):
    other = cfg.replace(tokenizer={**cfg.tokenizer, "mono_vocab_size": 700})
    a, b = T.get_tokenizer(cfg, "mono", "eng"), T.get_tokenizer(other, "mono", "eng")
    assert a.name != b.name and b.vocab_size == 700


def test_tokenizer_training_input_has_no_test_text(cfg, monkeypatch, tmp_path):
    plan = S.split_plan(cfg)
    seen: list[str] = []
    real_train = T._train

    def spy(sentences, settings, coverage):
        seen.extend(sentences)
        return real_train(sentences, settings, coverage)

    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(T, "_train", spy)
    _forget_in_memory()
    try:
        T.get_tokenizer(cfg, "mono", "eng")
        T.get_tokenizer(cfg, "multi")
    finally:
        _forget_in_memory()
    assert seen
    test_only, train_texts = set(), set()
    for lang in cfg.languages:
        frame = corpus.bible_verses(lang)
        held = frame["book"].isin(plan.test_books)
        train_texts |= set(frame.loc[~held, "text"])
        test_only |= set(frame.loc[held, "text"]) - set(frame.loc[~held, "text"])
        test_only |= set(corpus.flores_devtest(lang)) | set(corpus.ntrex(lang))
    assert not set(seen) & test_only
    eng = T.training_sentences(cfg, "mono", "eng")["eng"]
    assert set(eng) <= train_texts and len(eng) == cfg.tokenizer["sentences_per_language"]


def _train_in_child(args):
    cache, preset = args
    os.environ["ATLAS_CACHE_DIR"] = cache
    from atlas.tokenizer import get_tokenizer

    from atlas.presets import Preset

    tok = get_tokenizer(Preset.load(preset), "mono", "rus")
    return tok.name, tok.encode(["В начале сотворил Бог небо и землю."])


def test_concurrent_trainers_share_one_cache_entry(tmp_path):
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_train_in_child, [(str(tmp_path), PRESET)] * 2)
    assert results[0] == results[1]
    models = list(Path(tmp_path, "tokenizers").glob("*.model"))
    assert [m.name for m in models] == [results[0][0] + ".model"]
    assert not [p for p in Path(tmp_path, "tokenizers").iterdir() if p.is_dir()]  # no temp dirs left behind


def test_bad_arguments(cfg):
    with pytest.raises(T.TokenizerError, match="'bpe2'"):
        bad = cfg.replace(tokenizer={**cfg.tokenizer, "model_type": "bpe2"})
        T.get_tokenizer(bad, "multi")
    with pytest.raises(T.TokenizerError, match="kind 'both'"):
        T.get_tokenizer(cfg, "both")
    with pytest.raises(T.TokenizerError, match="lang="):
        T.get_tokenizer(cfg, "mono")
    with pytest.raises(ValueError, match="'xx'"):
        T.get_tokenizer(cfg, "mono", "xx")
    with pytest.raises(T.TokenizerError, match="not in the multilingual"):
        T.get_tokenizer(cfg, "multi", "deu")
