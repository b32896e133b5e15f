"""Data chapter helpers: which vocabularies are trained, and the character-coverage filter."""
from __future__ import annotations

import numpy as np
import pytest

from atlas import data_report
from atlas.presets import load_preset
from atlas.tokenizer import _fit_characters


def test_mono_vocabularies_only_where_the_preset_trains_with_them():
    assert data_report.mono_vocab_languages(load_preset("cpu")) == ["eng", "fra", "rus", "cmn", "hin", "swh"]
    cfg = load_preset("smoke")
    assert data_report.mono_vocab_languages(cfg) == ["eng", "cmn"]
    cfg["experiments"]["monolingual"] = [{"languages": ["fra"], "shapes": ["xs"], "tokens": 10, "vocab": "multi"},
                                         {"languages": ["cmn", "eng"], "shapes": ["xs"], "tokens": 10}]
    assert data_report.mono_vocab_languages(cfg) == ["cmn", "eng"]
    cfg["experiments"].pop("monolingual")
    assert data_report.mono_vocab_languages(cfg) == []


def test_tokenizers_keys(tmp_path, monkeypatch):
    cfg = load_preset("smoke")
    toks = data_report.tokenizers(cfg, cfg["languages"])
    assert {lang for kind, lang in toks if kind == "multi"} == set(cfg["languages"])
    assert {lang for kind, lang in toks if kind == "mono"} == {"eng", "cmn"}
    assert len({toks[("multi", lang)].name for lang in cfg["languages"]}) == 1


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
