"""Splits, caps, partitions, sampling weights and the mixture sampler (smoke preset, real Bible text)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from atlas import corpus, sampling as S
from atlas.presets import Preset
from atlas.tokenizer import get_tokenizer

PRESET = "smoke"


@pytest.fixture(scope="module")
def cfg():
    return Preset.load(PRESET)


@pytest.fixture(scope="module")
def plan(cfg):
    return S.split_plan(cfg)


@pytest.fixture(scope="module")
def tok(cfg):
    return get_tokenizer(cfg, "multi")


@pytest.fixture(scope="module")
def full_data(cfg, tok):
    return {lang: S.language_data(cfg, lang, tok) for lang in cfg.languages}


# ---------------------------------------------------------------------------------------------- split rule


def test_split_plan_holds_out_whole_books_in_every_language(cfg, plan):
    assert set(plan.test_books) == set(cfg.data["test_books"])
    assert plan.test_refs and all(S.ref_book(r) in plan.test_books for r in plan.test_refs)
    for lang in cfg.languages:
        frame = corpus.bible_verses(lang)
        in_books = set(frame.loc[frame["book"].isin(plan.test_books), "ref"])
        assert in_books <= plan.test_refs  # the same refs are held out in every language
    assert not set(plan.train_refs()) & plan.test_refs


@pytest.mark.parametrize(
    "total, available, expected, which",
    [(10**6, 10**6, 4000, "cap"), (10_000, 10**6, 2000, "fraction"), (10**6, 1500, 1500, "available")],
)
def test_test_size_is_min_of_cap_fraction_and_available(plan, total, available, expected, which):
    assert plan.test_cap_tokens == 4000 and plan.test_fraction == 0.2
    assert plan.test_size(total, available) == (expected, which)


def test_bible_test_split_follows_the_papers_rule(cfg, plan, tok, full_data):
    """test = min(test_cap_tokens, test_fraction * total), total = capped training pool + held-out pool."""
    for lang, d in full_data.items():
        enc = S.encoded_bible(tok, lang)
        lens = np.diff(enc.offsets) + 1
        held = np.isin(enc.books.astype(str), plan.test_books)
        available = int(lens[held].sum())
        pool = int(lens[~held][: plan.max_train_verses].sum())
        u_cap = plan.unique_token_caps.get(lang, pool)
        total = min(pool, u_cap) + available
        assert d.total_tokens == total
        assert len(d.test["bible"]) == min(plan.test_cap_tokens, int(plan.test_fraction * total), available)
        assert d.test["flores"].size > 0 and d.unique_tokens == len(d.train)


def test_fraction_binds_when_a_language_is_small(cfg, tok):
    small = cfg.replace(data={**cfg.data, "max_train_verses": 100, "test_cap_tokens": 10**9})
    d = S.language_data(small, "eng", tok)
    assert d.test_limit == "fraction"
    assert len(d.test["bible"]) == int(0.2 * d.total_tokens)


def test_bad_split_settings_are_rejected(cfg):
    bad = cfg.replace(data={**cfg.data, "test_books": ["GEN", "XYZ"]})
    with pytest.raises(S.SamplingError, match="XYZ"):
        S.split_plan(bad)


# ------------------------------------------------------------------------------------------- no leakage


def _verse_streams(tok, lang, refs):
    enc = S.encoded_bible(tok, lang)
    pos = {r: i for i, r in enumerate(enc.refs)}
    return [enc.tokens[enc.offsets[pos[r]] : enc.offsets[pos[r] + 1]] for r in refs]


def _contains(haystack: np.ndarray, needle: np.ndarray) -> bool:
    hb, nb = haystack.astype(np.int32).tobytes(), needle.astype(np.int32).tobytes()
    start = hb.find(nb)
    while start != -1:
        if start % 4 == 0:
            return True
        start = hb.find(nb, start + 1)
    return False


def test_training_streams_are_exactly_the_training_refs(cfg, plan, tok, full_data):
    for lang, d in full_data.items():
        assert d.train_refs and not set(d.train_refs) & plan.test_refs
        assert all(not plan.is_test(r) for r in d.train_refs)
        rebuilt = np.concatenate([np.append(v, tok.eos_id) for v in _verse_streams(tok, lang, d.train_refs)])
        np.testing.assert_array_equal(rebuilt[: len(d.train)], d.train)
        assert set(d.test_refs) <= plan.test_refs


def test_held_out_verse_text_never_appears_in_training_streams(cfg, plan, tok, full_data):
    """Token-level check: every distinctive test verse (>= 12 tokens, text unique in the Bible) is absent."""
    checked = 0
    for lang, d in full_data.items():
        frame = corpus.bible_verses(lang)
        counts = frame["text"].value_counts()
        unique_refs = [r for r, t in zip(frame["ref"], frame["text"]) if r in set(d.test_refs) and counts[t] == 1]
        for verse in _verse_streams(tok, lang, unique_refs):
            if len(verse) >= 12:
                checked += 1
                for other in full_data.values():  # no language's training stream holds it
                    assert not _contains(other.train, verse)
    assert checked > 50


def test_no_leak_with_the_whole_bible_and_early_test_books(cfg, tok, plan):
    """Without the verse limit (as in the cpu preset) and with a held-out book early in the canon."""
    data = cfg.data
    whole = cfg.replace(data={**data, "max_train_verses": None, "test_books": ["RUT", *data["test_books"]]})
    whole_plan = S.split_plan(whole)
    d = S.language_data(whole, "eng", tok)
    assert len(d.train_refs) > 30_000 and not set(d.train_refs) & whole_plan.test_refs
    assert {S.ref_book(r) for r in whole_plan.test_refs} == set(whole_plan.test_books)
    frame = corpus.bible_verses("eng")
    counts = frame["text"].value_counts()
    held = [r for r, t in zip(frame["ref"], frame["text"]) if whole_plan.is_test(r) and counts[t] == 1]
    verses = [v for v in _verse_streams(tok, "eng", held) if len(v) >= 12]
    assert len(verses) > 50 and not any(_contains(d.train, v) for v in verses)


def test_partitions_are_disjoint_and_never_hold_test_refs(cfg, plan, tok):
    langs = cfg.languages
    refs = plan.train_refs(langs)
    parts = S.partition_refs(refs, langs, seed=3)
    assert sorted(itertools.chain(*parts.values()), key=S.ref_sort_key) == refs
    for a, b in itertools.combinations(langs, 2):
        assert not set(parts[a]) & set(parts[b])
    data = {lang: S.language_data(cfg, lang, tok, parts[lang]) for lang in langs}
    for a, b in itertools.combinations(langs, 2):  # no free translations in a disjoint mixture
        assert not set(data[a].train_refs) & set(data[b].train_refs)
    for d in data.values():
        assert not set(d.train_refs) & plan.test_refs
        assert set(d.train_refs) <= set(parts[d.lang])


def test_partition_weights_parallel_and_determinism():
    refs = [f"GEN.1.{i}" for i in range(1, 101)]
    parts = S.partition_refs(refs, ["eng", "fra"], weights={"eng": 0.75, "fra": 0.25}, seed=0)
    assert (len(parts["eng"]), len(parts["fra"])) == (75, 25)
    assert parts == S.partition_refs(refs, ["en", "fr"], weights={"en": 0.75, "fr": 0.25}, seed=0)
    assert parts != S.partition_refs(refs, ["eng", "fra"], weights={"eng": 0.75, "fra": 0.25}, seed=1)
    assert parts["eng"] == sorted(parts["eng"], key=refs.index)  # input order kept
    par = S.partition_refs(refs, ["eng", "fra"], parallel=True)
    assert par["eng"] == par["fra"] == refs


def test_passing_a_test_ref_is_an_error(cfg, plan, tok):
    leaked = sorted(plan.test_refs)[:2] + ["GEN.1.1"]
    with pytest.raises(S.SamplingError, match="held-out"):
        S.language_data(cfg, "eng", tok, leaked)


def test_sampler_rows_come_only_from_training_streams(cfg, plan, tok, full_data):
    streams = {lang: d.train for lang, d in full_data.items()}
    weights = S.temperature_weights({k: len(v) for k, v in streams.items()}, 3.0)
    sampler = S.MixtureSampler(streams, weights, seq_len=cfg.seq_len, batch_size=8, seed=0)
    start = dict(sampler.pos)
    rows_by_lang = {k: [] for k in streams}
    for _ in range(20):
        batch = sampler.next_batch().numpy()
        for row in batch:
            # identify the row's language: it must be the next window of exactly one stream
            hits = [k for k in streams if np.array_equal(row, streams[k].take(
                start[k] + len(rows_by_lang[k]) * sampler.seq_len + np.arange(sampler.seq_len + 1), mode="wrap"))]
            assert len(hits) == 1
            rows_by_lang[hits[0]].append(row)
    assert {k: len(v) for k, v in rows_by_lang.items()} == sampler.rows
    sampled = np.concatenate([np.concatenate(v) for v in rows_by_lang.values() if v])
    for lang, d in full_data.items():  # and no held-out Bible or FLORES window was drawn
        for name, stream in d.test.items():
            for i in range(0, len(stream) - 32, 997):
                window = stream[i : i + 32]
                if not _contains(np.concatenate(list(streams.values())), window):
                    assert not _contains(sampled, window)


# ------------------------------------------------------------------------------------------------- caps


def test_unique_token_caps(cfg, tok, full_data):
    cap = cfg.data["unique_token_caps"]["cmn"]
    assert full_data["cmn"].unique_tokens == cap == len(full_data["cmn"].train) and full_data["cmn"].capped
    assert full_data["eng"].unique_tokens > cap and not full_data["eng"].capped
    assert len(full_data["eng"].train_refs) == cfg.data["max_train_verses"]
    half = S.partition_refs(S.split_plan(cfg).train_refs(), ["cmn", "eng"], seed=0)["cmn"]
    assert S.language_data(cfg, "cmn", tok, half).unique_tokens == cap


# ---------------------------------------------------------------------------------------------- weights


def test_temperature_weights():
    sizes = {"a": 900.0, "b": 90.0, "c": 10.0}
    p1 = S.temperature_weights(sizes, 1.0)
    assert p1 == pytest.approx({"a": 0.9, "b": 0.09, "c": 0.01})
    p100 = S.temperature_weights(sizes, 100.0)
    assert sum(p100.values()) == pytest.approx(1.0)
    assert max(p100.values()) - min(p100.values()) < 0.02
    p3 = S.temperature_weights(sizes, 3.0)
    assert p3["a"] < p1["a"] and p3["c"] > p1["c"]
    with pytest.raises(S.SamplingError, match="temperature"):
        S.temperature_weights(sizes, 0)
    with pytest.raises(S.SamplingError, match="positive"):
        S.temperature_weights({"a": 0.0}, 1.0)


def test_unimax_weights_cap_epochs_and_redistribute():
    sizes = {"a": 1000.0, "b": 10.0, "c": 1.0}
    w = S.unimax_weights(sizes, budget_tokens=300, max_epochs=4)
    # c: min(100, 4) = 4; b: min(296/2, 40) = 40; a gets the rest, 256
    assert w == pytest.approx({"a": 256 / 300, "b": 40 / 300, "c": 4 / 300})
    uniform = S.unimax_weights(sizes, budget_tokens=3, max_epochs=4)
    assert uniform == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    all_capped = S.unimax_weights({"a": 1.0, "b": 3.0}, budget_tokens=100, max_epochs=1)
    assert all_capped == pytest.approx({"a": 0.25, "b": 0.75})
    with pytest.raises(S.SamplingError, match="max_epochs"):
        S.unimax_weights(sizes, 10, 0)


# ---------------------------------------------------------------------------------------------- sampler


def _streams():
    rng = np.random.default_rng(0)
    return {"eng": rng.integers(0, 50, 5000), "fra": rng.integers(50, 100, 3000), "cmn": rng.integers(100, 150, 300)}


def test_sampler_allocates_rows_exactly():
    weights = {"eng": 0.55, "fra": 0.3, "cmn": 0.15}
    s = S.MixtureSampler(_streams(), weights, seq_len=16, batch_size=7, seed=1)
    for _ in range(60):
        b = s.next_batch()
        assert tuple(b.shape) == (7, 17) and str(b.dtype) == "torch.int64"
        for k, w in weights.items():
            assert abs(s.rows[k] - w * s.total_rows) < 1.0
    total = sum(s.tokens_seen.values())
    assert total == 60 * 7 * 16
    for k, w in weights.items():
        assert abs(s.tokens_seen[k] - w * total) < s.seq_len
    assert s.epochs["cmn"] > 1  # the small stream was repeated
    # rows of one language: ids from that language's range only
    b = s.next_batch().numpy()
    assert all(len({int(x) // 50 for x in row}) == 1 for row in b)


def test_sampler_is_deterministic_and_resumable():
    weights = {"eng": 0.5, "fra": 0.5}
    a = S.MixtureSampler(_streams(), weights, 16, 4, seed=7)
    b = S.MixtureSampler(_streams(), weights, 16, 4, seed=7)
    first = [a.next_batch() for _ in range(10)]
    assert all((x == b.next_batch()).all() for x in first)
    state = a.state_dict()
    expected = [a.next_batch() for _ in range(10)]
    c = S.MixtureSampler(_streams(), weights, 16, 4, seed=7)
    c.load_state_dict(state)
    assert all((x == c.next_batch()).all() for x in expected)
    assert c.tokens_seen == a.tokens_seen
    other = S.MixtureSampler(_streams(), weights, 16, 4, seed=8)
    assert not (other.next_batch() == S.MixtureSampler(_streams(), weights, 16, 4, seed=7).next_batch()).all()
    with pytest.raises(S.SamplingError, match="seq_len"):
        S.MixtureSampler(_streams(), weights, 32, 4, seed=7).load_state_dict(state)


def test_sampler_rejects_bad_weights():
    with pytest.raises(S.SamplingError, match="sum to 1"):
        S.MixtureSampler(_streams(), {"eng": 0.5, "fra": 0.2}, 16, 4, 0)
    with pytest.raises(S.SamplingError, match="without a stream"):
        S.MixtureSampler(_streams(), {"deu": 1.0}, 16, 4, 0)


def test_unigram_log_probs():
    lp = S.unigram_log_probs([np.array([0, 0, 1]), np.array([1, 1])], vocab_size=4)
    assert np.exp(lp).sum() == pytest.approx(1.0)
    assert np.exp(lp) == pytest.approx(np.array([3, 4, 1, 1]) / 9)
    with pytest.raises(S.SamplingError, match="token ids"):
        S.unigram_log_probs([np.array([5])], vocab_size=4)


def test_encoded_bible_join_puts_eos_after_every_verse_in_the_given_order():
    from atlas.sampling import EncodedBible

    verses = [[5, 6, 7], [], [8], [9, 10]]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in verses])]).astype(np.int64)
    enc = EncodedBible(refs=("a", "b", "c", "d"), books=np.array(["A"] * 4, dtype=object), offsets=offsets,
                       tokens=np.array([t for v in verses for t in v], dtype=np.int32))
    order = [3, 1, 0, 2, 3]
    want = [t for i in order for t in verses[i] + [1]]
    got = enc.join(np.array(order), eos_id=1)
    assert got.dtype == np.int32 and got.tolist() == want
    assert enc.join(np.array([], dtype=np.int64), eos_id=1).size == 0
