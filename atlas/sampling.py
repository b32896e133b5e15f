"""Train/test splits, unique-token caps, mixture partitions, sampling weights and the mixture sampler.

The rules, as in the paper (App. B) and scaled by preset:

* **Held-out test text.** The preset's ``data.test_books`` (whole Bible books) are held out in *every*
  language: the same refs everywhere, so neither a test verse nor its translation is ever trained on.
  The in-domain test split of a language is ``min(test_cap_tokens, test_fraction * total tokens)`` (the
  paper: min(20M tokens, 20%)), taken from those books in canonical order. FLORES-200 devtest (and NTREX)
  are never trained on either.
* **Unique-token caps** (``data.unique_token_caps``) simulate low-resource languages: the training stream is
  truncated to ``U`` tokens, so budgets beyond ``U`` repeat data (epochs), as for Hindi and Swahili in the
  paper.
* **Disjoint mixtures.** Bible text is parallel; :func:`partition_refs` gives the languages of a mixture
  disjoint verse sets by default (``parallel=True`` is the ablation that hands out free translations).
* **Sampling weights.** :func:`temperature_weights` and :func:`unimax_weights` (Chung et al. 2023).
* :class:`MixtureSampler` -- deterministic, resumable batches; one language per row; rows allocated so that
  tokens per language track the weights to within one sequence.

Units: token counts are tokenizer tokens (SentencePiece pieces, EOS included); ``seq_len`` is in tokens.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol

import numpy as np

from atlas import corpus
from atlas import languages as L
from atlas.paths import cache_dir, data_dir

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from atlas.presets import Preset  # the type only: sampling reads a preset, it never loads one


class Tokenizer(Protocol):
    """What sampling needs of a tokenizer (:class:`atlas.tokenizer.Tokenizer` is one); sampling does not import
    the tokenizer module, which imports this one for the data split its vocabularies are trained on."""

    name: str
    eos_id: int

    def encode(self, texts: list[str]) -> list[list[int]]: ...

BOOKS = (
    "GEN EXO LEV NUM DEU JOS JDG RUT 1SA 2SA 1KI 2KI 1CH 2CH EZR NEH EST JOB PSA PRO ECC SNG ISA JER LAM EZK "
    "DAN HOS JOL AMO OBA JON MIC NAM HAB ZEP HAG ZEC MAL MAT MRK LUK JHN ACT ROM 1CO 2CO GAL EPH PHP COL 1TH "
    "2TH 1TI 2TI TIT PHM HEB JAS 1PE 2PE 1JN 2JN 3JN JUD REV"
).split()
_BOOK_INDEX = {b: i for i, b in enumerate(BOOKS)}


class SamplingError(ValueError):
    """Bad arguments to a split, partition, weighting or sampler."""


def ref_sort_key(ref: str) -> tuple[int, int, int]:
    """Canonical order of a ``BOOK.CHAPTER.VERSE`` ref."""
    book, chapter, verse = ref.split(".")
    return _BOOK_INDEX[book], int(chapter), int(verse)


def ref_book(ref: str) -> str:
    return ref.split(".", 1)[0]


# --------------------------------------------------------------------------------------------------------
# Split plan
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitPlan:
    """What is held out and how much data each language may use.

    ``test_refs`` are the refs of the held-out books found in any of the preset's languages; membership is
    decided by *book* (:meth:`is_test`), so a ref of a held-out book is excluded in every language even if it
    is not listed here.
    """

    preset: str
    languages: tuple[str, ...]
    test_books: tuple[str, ...]
    test_refs: frozenset[str]
    test_fraction: float
    test_cap_tokens: int
    unique_token_caps: Mapping[str, int]
    max_train_verses: int | None
    eval_sets: tuple[str, ...]

    def is_test(self, ref: str) -> bool:
        return ref_book(ref) in self.test_books

    def train_refs(self, languages: Iterable[str] | None = None) -> list[str]:
        """Non-test refs present in any of ``languages`` (default: the preset's), in canonical order."""
        langs = self.languages if languages is None else [L.resolve(x, require_corpus=True) for x in languages]
        refs: set[str] = set()
        for lang in langs:
            frame = corpus.bible_verses(lang)
            refs.update(frame.loc[~frame["book"].isin(self.test_books), "ref"])
        return sorted(refs, key=ref_sort_key)

    def test_size(self, total_tokens: int, available_tokens: int) -> tuple[int, str]:
        """The test split size in tokens and which limit binds (``cap``, ``fraction`` or ``available``)."""
        options = {
            "cap": int(self.test_cap_tokens),
            "fraction": int(self.test_fraction * total_tokens),
            "available": int(available_tokens),
        }
        which = min(options, key=lambda k: (options[k], k != "available"))
        return options[which], which


def eval_windows(stream: np.ndarray, seq_len: int, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping next-token windows (inputs, targets), each ``(windows, width)`` int64, covering the
    first ``max_tokens`` targets of a token ``stream`` of at least 2 tokens: how a run cuts its evaluation text."""
    stream = np.asarray(stream, dtype=np.int64)[: max_tokens + 1]
    width = min(seq_len, len(stream) - 1)
    n = (len(stream) - 1) // width
    return stream[: n * width].reshape(n, width), stream[1: n * width + 1].reshape(n, width)


def split_plan(preset: Preset) -> SplitPlan:
    """The held-out test refs and the data limits of ``preset``."""
    data = preset.data
    books = tuple(data.get("test_books", ()))
    bad = [b for b in books if b not in _BOOK_INDEX]
    if bad:
        raise SamplingError(f"unknown test book(s) {bad}; allowed: {' '.join(BOOKS)}")
    if not books:
        raise SamplingError("data.test_books is empty: every preset must hold out at least one book")
    frac = float(data.get("test_fraction", 0.2))
    if not 0 < frac < 1:
        raise SamplingError(f"data.test_fraction must be in (0, 1), got {frac}")
    langs = tuple(L.validate_languages(preset.languages, require_corpus=True))
    caps = {L.resolve(k, require_corpus=True): int(v) for k, v in (data.get("unique_token_caps") or {}).items()}
    if any(v <= 0 for v in caps.values()):
        raise SamplingError(f"data.unique_token_caps must be positive, got {caps}")
    mtv = data.get("max_train_verses")
    eval_sets = tuple(data.get("eval_sets", ("bible", "flores")))
    bad_sets = [s for s in eval_sets if s not in corpus.EVAL_SETS]
    if bad_sets:
        raise SamplingError(f"unknown eval set(s) {bad_sets}; allowed: {', '.join(corpus.EVAL_SETS)}")
    return SplitPlan(
        preset=preset.name,
        languages=langs,
        test_books=books,
        test_refs=_test_refs(books, langs),
        test_fraction=frac,
        test_cap_tokens=int(data.get("test_cap_tokens", 20_000_000)),
        unique_token_caps=caps,
        max_train_verses=None if mtv is None else int(mtv),
        eval_sets=eval_sets,
    )


@lru_cache(maxsize=32)
def _test_refs(books: tuple[str, ...], langs: tuple[str, ...]) -> frozenset[str]:
    refs: set[str] = set()
    for lang in langs:
        frame = corpus.bible_verses(lang)
        refs.update(frame.loc[frame["book"].isin(books), "ref"])
    return frozenset(refs)


# --------------------------------------------------------------------------------------------------------
# Tokenised corpora (cached in memory and under cache_dir()/tokens)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedBible:
    """A whole Bible tokenised verse by verse: verse i is ``tokens[offsets[i]:offsets[i + 1]]`` (no EOS)."""

    refs: tuple[str, ...]
    books: np.ndarray  # object array of book codes, aligned with refs
    offsets: np.ndarray  # int64, len(refs) + 1
    tokens: np.ndarray  # int32

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def join(self, index: np.ndarray, eos_id: int) -> np.ndarray:
        """Verses ``index`` (in the given order), each followed by EOS, as one int32 stream."""
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0:
            return np.zeros(0, dtype=np.int32)
        starts = self.offsets[index]
        lens = self.offsets[index + 1] - starts
        ends = np.cumsum(lens + 1) - 1  # where each verse's EOS goes in the output
        out = np.empty(int(ends[-1]) + 1, dtype=np.int32)
        is_token = np.ones(out.size, dtype=bool)
        is_token[ends] = False
        # output position p of verse k holds tokens[starts[k] + (p - first output position of verse k)]
        shift = np.repeat(starts - (ends - lens), lens)
        out[is_token] = self.tokens[np.flatnonzero(is_token) + shift]
        out[ends] = eos_id
        return out


_ENCODED: dict[tuple[str, str, str], EncodedBible] = {}


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def encode_stream(tokenizer: "Tokenizer", texts: Iterable[str]) -> np.ndarray:
    """Texts tokenised and joined with EOS after each one, as an int32 array."""
    ids = tokenizer.encode(list(texts))
    out = np.empty(sum(len(x) for x in ids) + len(ids), dtype=np.int32)
    pos = 0
    for seq in ids:
        out[pos : pos + len(seq)] = seq
        out[pos + len(seq)] = tokenizer.eos_id
        pos += len(seq) + 1
    return out


def encoded_bible(tokenizer: "Tokenizer", lang: str) -> EncodedBible:
    """The Bible of ``lang`` tokenised by ``tokenizer``; cached in memory and as ``.npz`` under cache_dir().

    The cache key is the tokenizer's name, the first digits of its model file's SHA-256 (the name hashes the
    training input; another SentencePiece build can make another model from it), the language and a digest of
    the Bible file, so a changed tokenizer or corpus never reuses stale tokens.
    """
    iso3 = L.resolve(lang, require_corpus=True)
    model = tokenizer.sha256[:12]
    key = (tokenizer.name, model, iso3)
    if key in _ENCODED:
        return _ENCODED[key]
    frame = corpus.bible_verses(iso3)
    digest = _file_digest(data_dir() / "bible" / f"{iso3}.tsv.xz")
    path = cache_dir() / "tokens" / f"{tokenizer.name}--{model}--{iso3}--{digest}.npz"
    tokens = offsets = None
    if path.exists():
        try:
            with np.load(path) as z:
                tokens, offsets = z["tokens"], z["offsets"]
            if len(offsets) != len(frame) + 1:
                tokens = offsets = None
        except (OSError, ValueError, KeyError):
            tokens = offsets = None
    if tokens is None:
        ids = tokenizer.encode(frame["text"].tolist())
        lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(offsets[-1]))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, tokens=tokens, offsets=offsets)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    enc = EncodedBible(
        refs=tuple(frame["ref"]),
        books=frame["book"].to_numpy(dtype=object),
        offsets=np.asarray(offsets, dtype=np.int64),
        tokens=np.asarray(tokens, dtype=np.int32),
    )
    _ENCODED[key] = enc
    return enc


# --------------------------------------------------------------------------------------------------------
# Per-language data
# --------------------------------------------------------------------------------------------------------


@dataclass
class LanguageData:
    """One language's token streams for a run (all int32, EOS after every verse/sentence).

    * ``train`` -- training verses (never a held-out book), restricted to the ``refs`` given, limited to the
      preset's ``max_train_verses`` and truncated to its ``unique_token_caps[lang]``.
    * ``unique_tokens`` -- ``len(train)``: the U of ATLAS's saturation term for this run (tokens).
    * ``test`` -- ``{"bible": ..., "flores": ...}`` (plus ``"ntrex"`` if the preset lists it).
    * ``total_tokens`` -- the language's simulated total (capped training pool + held-out pool), the base of
      the ``test_fraction`` rule; ``test_limit`` says which limit set the Bible test size.
    """

    lang: str
    train: np.ndarray
    unique_tokens: int
    test: dict[str, np.ndarray]
    train_refs: tuple[str, ...] = ()
    test_refs: tuple[str, ...] = ()
    total_tokens: int = 0
    test_limit: str = ""
    capped: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def language_data(
    preset: Preset, lang: str, tokenizer: "Tokenizer", refs: Iterable[str] | None = None
) -> LanguageData:
    """Training and test streams of ``lang`` under ``preset``, tokenised with ``tokenizer``.

    ``refs`` (e.g. one language's share from :func:`partition_refs`) restricts the training verses; passing a
    held-out ref is an error. The test split never depends on ``refs``, so every run of a preset is evaluated
    on the same text.
    """
    plan = split_plan(preset)
    iso3 = L.resolve(lang, require_corpus=True)
    enc = encoded_bible(tokenizer, iso3)
    held_out = set(plan.test_books)
    is_test = np.fromiter((b in held_out for b in enc.books), dtype=bool, count=len(enc.books))
    lens = enc.lengths() + 1  # + EOS

    pool = np.flatnonzero(~is_test)
    if plan.max_train_verses is not None:
        pool = pool[: plan.max_train_verses]
    cap = plan.unique_token_caps.get(iso3)
    pool_tokens = int(lens[pool].sum())
    train_available = pool_tokens if cap is None else min(pool_tokens, cap)

    test_idx = np.flatnonzero(is_test)
    test_available = int(lens[test_idx].sum())
    total = train_available + test_available
    test_size, limit = plan.test_size(total, test_available)
    test_stream = enc.join(test_idx, tokenizer.eos_id)[:test_size]
    n_test_verses = int(np.searchsorted(np.cumsum(lens[test_idx]), test_size, side="left")) + (test_size > 0)

    if refs is not None:
        wanted = set(refs)
        leaked = sorted(r for r in wanted if plan.is_test(r))
        if leaked:
            raise SamplingError(f"refs include {len(leaked)} held-out test ref(s), e.g. {leaked[:3]}")
        chosen = np.fromiter((r in wanted for r in enc.refs), dtype=bool, count=len(enc.refs))
        pool = np.flatnonzero(~is_test & chosen)
        if plan.max_train_verses is not None:
            pool = pool[: plan.max_train_verses]
    train = enc.join(pool, tokenizer.eos_id)
    capped = cap is not None and len(train) > cap
    if capped:
        train = train[:cap]
    n_train_verses = int(np.searchsorted(np.cumsum(lens[pool]), len(train), side="left")) + (len(train) > 0)

    test = {"bible": test_stream}
    for name in plan.eval_sets:
        if name != "bible":
            test[name] = encode_stream(tokenizer, corpus.eval_texts(iso3, name))
    if "flores" not in test:
        test["flores"] = encode_stream(tokenizer, corpus.flores_devtest(iso3))
    return LanguageData(
        lang=iso3,
        train=train,
        unique_tokens=int(len(train)),
        test=test,
        train_refs=tuple(enc.refs[i] for i in pool[:n_train_verses]),
        test_refs=tuple(enc.refs[i] for i in test_idx[:n_test_verses]),
        total_tokens=int(total),
        test_limit=limit,
        capped=bool(capped),
        meta={"tokenizer": tokenizer.name, "cap": cap, "pool_tokens": pool_tokens},
    )


# --------------------------------------------------------------------------------------------------------
# Mixtures: partitions and weights
# --------------------------------------------------------------------------------------------------------


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    quota = weights / weights.sum() * total
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def partition_refs(
    refs: Iterable[str],
    langs: Iterable[str],
    *,
    weights: Mapping[str, float] | None = None,
    parallel: bool = False,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split ``refs`` among ``langs``: disjoint sets (default) or all refs to everyone (``parallel=True``).

    Disjoint shares are sized by ``weights`` (default: equal) with largest-remainder rounding, drawn by a
    seeded shuffle; each share keeps the input order of ``refs``. Keys are ISO 639-3 codes.
    """
    refs = list(dict.fromkeys(refs))
    codes = L.validate_languages(list(langs), require_corpus=True)
    if parallel:
        return {c: list(refs) for c in codes}
    if weights is None:
        w = np.ones(len(codes))
    else:
        wmap = {L.resolve(k, require_corpus=True): float(v) for k, v in weights.items()}
        missing = [c for c in codes if c not in wmap]
        if missing:
            raise SamplingError(f"weights lack language(s) {missing}")
        w = np.array([wmap[c] for c in codes])
        if (w < 0).any() or w.sum() <= 0:
            raise SamplingError(f"weights must be non-negative with a positive sum, got {dict(wmap)}")
    counts = _largest_remainder(w, len(refs))
    perm = np.random.default_rng(seed).permutation(len(refs))
    out: dict[str, list[str]] = {}
    start = 0
    for code, n in zip(codes, counts):
        chosen = np.sort(perm[start : start + n])
        out[code] = [refs[i] for i in chosen]
        start += n
    return out


def slot_refs(refs: Iterable[str], n_slots: int, seed: int = 0) -> list[list[str]]:
    """Split ``refs`` into ``n_slots`` disjoint verse sets of equal size (largest remainder), by a seeded shuffle.

    A language that always trains on the same slot has the same unique text in every mixture it joins, and
    languages on different slots never see translations of each other's verses: the partition that holds a
    language's unique tokens equal across mixture sizes K (the K-law design, :mod:`atlas.grid`). Each slot
    keeps the input order of ``refs``.
    """
    refs = list(dict.fromkeys(refs))
    if n_slots < 1 or n_slots > len(refs):
        raise SamplingError(f"n_slots must be in [1, {len(refs)}] (the number of verses), got {n_slots}")
    counts = _largest_remainder(np.ones(n_slots), len(refs))
    perm = np.random.default_rng(seed).permutation(len(refs))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [[refs[i] for i in np.sort(perm[a:b])] for a, b in zip(bounds[:-1], bounds[1:])]


def _check_sizes(sizes: Mapping[str, float]) -> dict[str, float]:
    if not sizes:
        raise SamplingError("sizes is empty")
    out = {k: float(v) for k, v in sizes.items()}
    bad = {k: v for k, v in out.items() if not np.isfinite(v) or v <= 0}
    if bad:
        raise SamplingError(f"sizes must be positive and finite, got {bad}")
    return out


def temperature_weights(sizes: Mapping[str, float], temperature: float) -> dict[str, float]:
    """Temperature sampling: ``p_l ∝ (n_l / Σ n)^(1/T)``. T = 1 is proportional, T → ∞ uniform."""
    s = _check_sizes(sizes)
    if not temperature > 0:
        raise SamplingError(f"temperature must be > 0, got {temperature}")
    n = np.array(list(s.values()))
    p = (n / n.sum()) ** (1.0 / float(temperature))
    p /= p.sum()
    return dict(zip(s, p.tolist()))


def unimax_weights(sizes: Mapping[str, float], budget_tokens: float, max_epochs: float) -> dict[str, float]:
    """UniMax (Chung et al. 2023, Alg. 1): a uniform budget with at most ``max_epochs`` per language.

    Languages are visited from smallest to largest; each gets the uniform share of the budget still left,
    ``B_left / languages_left``, but no more than ``max_epochs * size``; what a capped language cannot use
    is redistributed to the larger ones. Weights are the allocations normalised to sum to 1 (if every
    language is capped, the budget cannot be met without exceeding ``max_epochs`` and the weights are
    proportional to the caps). ``sizes`` and ``budget_tokens`` are in tokens.
    """
    s = _check_sizes(sizes)
    if not budget_tokens > 0:
        raise SamplingError(f"budget_tokens must be > 0, got {budget_tokens}")
    if not max_epochs > 0:
        raise SamplingError(f"max_epochs must be > 0, got {max_epochs}")
    order = sorted(s, key=lambda k: (s[k], k))
    left = float(budget_tokens)
    alloc: dict[str, float] = {}
    for i, lang in enumerate(order):
        share = left / (len(order) - i)
        alloc[lang] = min(share, max_epochs * s[lang])
        left -= alloc[lang]
    total = sum(alloc.values())
    return {k: alloc[k] / total for k in s}


# --------------------------------------------------------------------------------------------------------
# Mixture sampler
# --------------------------------------------------------------------------------------------------------


class MixtureSampler:
    """Deterministic, resumable batches from several language streams.

    Each row of a batch (``seq_len + 1`` tokens: inputs and shifted targets) comes from ONE language. Rows
    are allocated one at a time to the language with the largest deficit ``w_l * (rows + 1) - rows_l``
    (ties: the order of ``weights``), so after any number of rows ``|rows_l - w_l * rows| < 1``: tokens seen
    per language track the weights to within one sequence. Each language is read sequentially from a seeded
    start offset, with wrap-around (so budgets above the stream length repeat data: epochs). Consecutive rows
    of a language overlap by one token, so a language advances ``seq_len`` tokens per row, and
    ``tokens_seen[l] = rows_l * seq_len`` (training tokens = predicted positions).
    """

    def __init__(
        self,
        streams: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        seq_len: int,
        batch_size: int,
        seed: int,
    ) -> None:
        if seq_len < 1 or batch_size < 1:
            raise SamplingError(f"seq_len and batch_size must be >= 1, got {seq_len}, {batch_size}")
        extra = sorted(set(weights) - set(streams))
        if extra:
            raise SamplingError(f"weights name language(s) without a stream: {extra}")
        w = {k: float(v) for k, v in weights.items()}
        if any(v < 0 or not np.isfinite(v) for v in w.values()) or sum(w.values()) <= 0:
            raise SamplingError(f"weights must be non-negative with a positive sum, got {w}")
        total = sum(w.values())
        if abs(total - 1.0) > 1e-6:
            raise SamplingError(f"weights must sum to 1, got {total:.6f}")
        self.langs = [k for k in w if w[k] > 0]
        self.weights = {k: w[k] for k in self.langs}
        self.streams = {k: np.asarray(streams[k], dtype=np.int64) for k in self.langs}
        empty = [k for k in self.langs if len(self.streams[k]) == 0]
        if empty:
            raise SamplingError(f"empty stream(s) with positive weight: {empty}")
        self.seq_len, self.batch_size, self.seed = int(seq_len), int(batch_size), int(seed)
        self._w = np.array([self.weights[k] for k in self.langs])
        self._offsets = np.arange(self.seq_len + 1)
        self.rows = {k: 0 for k in self.langs}
        self.pos = {
            k: int(np.random.default_rng([self.seed, zlib.crc32(k.encode())]).integers(len(self.streams[k])))
            for k in self.langs
        }
        self.total_rows = 0
        self.batches = 0

    @property
    def tokens_seen(self) -> dict[str, int]:
        """Training tokens (predicted positions) drawn so far per language."""
        return {k: self.rows[k] * self.seq_len for k in self.langs}

    @property
    def epochs(self) -> dict[str, float]:
        """Passes over each language's stream so far (> 1 means repetition)."""
        return {k: self.rows[k] * self.seq_len / len(self.streams[k]) for k in self.langs}

    def _allocate(self) -> list[str]:
        counts = np.array([self.rows[k] for k in self.langs], dtype=np.float64)
        picks = []
        for r in range(self.batch_size):
            deficit = self._w * (self.total_rows + r + 1) - counts
            i = int(np.argmax(deficit))
            counts[i] += 1
            picks.append(self.langs[i])
        return picks

    def next_rows(self) -> np.ndarray:
        """A ``(batch_size, seq_len + 1)`` int64 array of token ids; advances the sampler (no torch needed)."""
        out = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for r, lang in enumerate(self._allocate()):
            stream = self.streams[lang]
            out[r] = stream.take(self.pos[lang] + self._offsets, mode="wrap")
            self.pos[lang] = (self.pos[lang] + self.seq_len) % len(stream)
            self.rows[lang] += 1
        self.total_rows += self.batch_size
        self.batches += 1
        return out

    def next_batch(self) -> "torch.LongTensor":
        """:meth:`next_rows` as a ``(batch_size, seq_len + 1)`` LongTensor (shares the array's memory)."""
        import torch

        return torch.from_numpy(self.next_rows())

    def state_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "pos": dict(self.pos),
            "total_rows": self.total_rows,
            "batches": self.batches,
            "weights": dict(self.weights),
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "stream_lengths": {k: int(len(v)) for k, v in self.streams.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        mine = self.state_dict()
        for key in ("weights", "seq_len", "batch_size", "seed", "stream_lengths"):
            theirs = state.get(key)
            if key == "weights" and theirs is not None:
                same = set(theirs) == set(mine[key]) and all(abs(theirs[k] - mine[key][k]) < 1e-12 for k in theirs)
            else:
                same = theirs == mine[key]
            if not same:
                raise SamplingError(f"sampler state does not match this sampler's {key}: {theirs!r} != {mine[key]!r}")
        self.rows = {k: int(state["rows"][k]) for k in self.langs}
        self.pos = {k: int(state["pos"][k]) for k in self.langs}
        self.total_rows = int(state["total_rows"])
        self.batches = int(state["batches"])


def unigram_log_probs(streams: Iterable[np.ndarray], vocab_size: int) -> np.ndarray:
    """``log p(w)`` (nats) for every token id, add-one smoothed, from TRAINING token counts.

    Used by the vocabulary-insensitive loss ``L_u = CE + mean_i log p(w_i)`` (Tao et al. 2024).
    """
    if vocab_size < 1:
        raise SamplingError(f"vocab_size must be >= 1, got {vocab_size}")
    counts = np.zeros(vocab_size, dtype=np.float64)
    for s in streams:
        s = np.asarray(s)
        if s.size == 0:
            continue
        if s.min() < 0 or s.max() >= vocab_size:
            raise SamplingError(f"token ids must lie in [0, {vocab_size}), got range [{s.min()}, {s.max()}]")
        counts += np.bincount(s, minlength=vocab_size)
    counts += 1.0
    return np.log(counts) - np.log(counts.sum())


def mixture_data(
    preset: Preset,
    langs: Iterable[str],
    tokenizer: "Tokenizer",
    *,
    parallel: bool = False,
    seed: int = 0,
) -> dict[str, LanguageData]:
    """:func:`language_data` for every language of a mixture, on :func:`partition_refs` shares of the preset's
    training refs (disjoint by default; one language gets all its training verses)."""
    plan = split_plan(preset)
    codes = L.validate_languages(list(langs), require_corpus=True)
    if len(codes) == 1:
        return {codes[0]: language_data(preset, codes[0], tokenizer)}
    shares = partition_refs(plan.train_refs(codes), codes, parallel=parallel, seed=seed)
    return {c: language_data(preset, c, tokenizer, shares[c]) for c in codes}
