"""SentencePiece vocabularies: one multilingual vocabulary per preset and one monolingual per language.

As in the paper (App. B.1: SentencePiece, 64,000 + 512 special tokens, temperature T = 100 over
languages, 99.9995% character coverage; the monolingual vocabularies use the same settings on one
language), scaled by the preset's ``tokenizer:`` section:

* ``vocab_size`` / ``mono_vocab_size`` -- pieces in the multilingual / monolingual vocabularies
  (including the special pieces ``<unk>``, ``</s>`` and, with ``byte_fallback``, 256 byte pieces);
* ``temperature`` -- languages are sampled for the multilingual vocabulary with ``p_l ∝ n_l^(1/T)``,
  ``n_l`` = training characters of language l;
* ``character_coverage`` -- when the characters needed for it would take more than half of the vocabulary
  (Chinese and Japanese with miniature vocabularies), the rarest characters are blanked out of the training
  input so that they get no piece of their own; the share of training characters that keep their own piece
  is recorded as ``meta["effective_character_coverage"]``. ``byte_fallback`` spells the other characters as
  UTF-8 bytes, so no text maps to ``<unk>``;
* ``model_type`` (``unigram`` or ``bpe``), ``sentences_per_language`` (sentences drawn per language).

Training text is TRAINING text only: Bible verses outside the preset's held-out books (never FLORES, NTREX
or a held-out verse). Models are cached under ``cache_dir()/tokenizers`` by a content hash of the settings
and the exact training text; a file lock serialises concurrent trainers and files are moved into place
atomically, so parallel processes never see half a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from atlas import corpus
from atlas import languages as L
from atlas.paths import cache_dir
from atlas.sampling import split_plan, temperature_weights

if TYPE_CHECKING:  # pragma: no cover
    from atlas.presets import Preset  # the type only: vocabularies read a preset, they never load one

KINDS = ("multi", "mono")
_DEFAULTS = {
    "vocab_size": 64000,
    "mono_vocab_size": 64000,
    "temperature": 100.0,
    "character_coverage": 0.999995,
    "model_type": "unigram",
    "sentences_per_language": 20000,
    "byte_fallback": True,
    "seed": 0,
}
UNK_ID, EOS_ID = 0, 1
_N_SPECIAL = 2  # <unk>, </s>
_MAX_CHAR_SHARE = 0.5  # at most this share of the non-special vocabulary is spent on single characters
# SentencePiece's unigram EM sums per-thread statistics, so the trained model depends on the thread count
# (1 and 2 threads give different cpu-preset vocabularies). Pinned, so every machine trains the vocabulary
# the committed runs used (they were trained on 2 cores, with 2 threads).
TRAIN_THREADS = 2


class TokenizerError(ValueError):
    """Bad tokenizer settings or arguments."""


@dataclass
class Tokenizer:
    """A trained SentencePiece model.

    ``name`` identifies what the model was trained from (it ends in a hash of the settings and the training
    sentences), :attr:`sha256` the model file itself; ``vocab_size`` is the number of pieces (token ids are
    ``0 .. vocab_size - 1``), ``eos_id`` ends every verse/sentence in token streams.
    """

    name: str
    vocab_size: int
    eos_id: int
    kind: str
    languages: tuple[str, ...]
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_file=str(self.path))

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the model file (hex): equal inputs give another model under another SentencePiece build."""
        return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()

    def encode(self, texts: Sequence[str] | str) -> list[list[int]]:
        """Token ids of each text (no EOS appended). A single string is treated as a list of one."""
        if isinstance(texts, str):
            texts = [texts]
        return self._sp.encode(list(texts))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids (EOS and other control pieces are dropped)."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self._sp.decode([int(i) for i in ids])

    def pieces(self, text: str) -> list[str]:
        return self._sp.encode(text, out_type=str)

    def __repr__(self) -> str:
        return f"Tokenizer(name={self.name!r}, vocab_size={self.vocab_size}, kind={self.kind!r})"


def tokenizer_settings(preset: Preset, kind: str) -> dict[str, Any]:
    """The SentencePiece settings for ``kind`` under ``preset`` (defaults: the paper's)."""
    s = {**_DEFAULTS, **preset.tokenizer}
    vocab = int(s["mono_vocab_size"] if kind == "mono" else s["vocab_size"])
    out = {
        "vocab_size": vocab,
        "temperature": float(s["temperature"]),
        "character_coverage": float(s["character_coverage"]),
        "model_type": str(s["model_type"]),
        "sentences_per_language": int(s["sentences_per_language"]),
        "byte_fallback": bool(s["byte_fallback"]),
        "seed": int(s["seed"]),
    }
    if out["model_type"] not in ("unigram", "bpe"):
        raise TokenizerError(f"tokenizer.model_type {out['model_type']!r} not allowed; allowed: unigram, bpe")
    floor = _N_SPECIAL + (256 if out["byte_fallback"] else 0) + 32
    if vocab < floor:
        raise TokenizerError(f"vocabulary size {vocab} too small; need at least {floor} with these settings")
    if not 0.98 <= out["character_coverage"] <= 1:
        raise TokenizerError(f"character_coverage must be in [0.98, 1] (SentencePiece), got {out['character_coverage']}")
    if out["temperature"] <= 0 or out["sentences_per_language"] < 1:
        raise TokenizerError("tokenizer.temperature must be > 0 and sentences_per_language >= 1")
    return out


def training_sentences(preset: Preset, kind: str, lang: str | None = None) -> dict[str, list[str]]:
    """The exact sentences a vocabulary is trained on, per language (training verses only).

    ``multi``: the preset's languages, ``round(p_l * sentences_per_language * n_languages)`` verses each
    (at most all of them), ``p_l`` the temperature weights of the languages' training characters.
    ``mono``: ``sentences_per_language`` verses of ``lang``. Verses are drawn without replacement by a
    seeded generator from the verses outside the preset's held-out books.
    """
    kind = _check_kind(kind)
    settings = tokenizer_settings(preset, kind)
    plan = split_plan(preset)
    langs = list(plan.languages) if kind == "multi" else [L.resolve(_need_lang(lang), require_corpus=True)]
    pools = {}
    for code in langs:
        frame = corpus.bible_verses(code)
        pools[code] = frame.loc[~frame["book"].isin(plan.test_books), "text"].tolist()
    n_per = settings["sentences_per_language"]
    if kind == "multi":
        chars = {c: float(sum(len(t) for t in pools[c])) for c in langs}
        p = temperature_weights(chars, settings["temperature"])
        counts = {c: int(round(p[c] * n_per * len(langs))) for c in langs}
    else:
        counts = {langs[0]: n_per}
    out = {}
    for i, code in enumerate(langs):
        pool = pools[code]
        rng = np.random.default_rng([settings["seed"], i, len(pool)])
        k = min(counts[code], len(pool))
        idx = np.sort(rng.choice(len(pool), size=k, replace=False))
        out[code] = [pool[j] for j in idx]
    return out


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise TokenizerError(f"unknown vocabulary kind {kind!r}; allowed: {', '.join(KINDS)}")
    return kind


def _need_lang(lang: str | None) -> str:
    if lang is None:
        raise TokenizerError("a monolingual vocabulary needs lang=<code>")
    return lang


def _fit_characters(sentences: list[str], coverage: float, char_budget: int) -> tuple[list[str], float]:
    """Keep the training text's characters within ``char_budget`` pieces.

    SentencePiece gives every character needed for ``coverage`` its own piece and refuses coverages below
    0.98, which a miniature CJK vocabulary cannot afford. If the characters covering ``coverage`` of the
    text outnumber ``char_budget``, the rarer characters are replaced by spaces *in the training input only*
    (at encoding time they are spelt as UTF-8 bytes with ``byte_fallback``). Returns the (possibly) filtered
    sentences and the share of training characters whose character kept its own piece.
    """
    from collections import Counter

    counts = {ch: n for ch, n in Counter("".join(sentences)).items() if not ch.isspace()}  # C-speed counting
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    freq = np.array([counts[c] for c in ranked], dtype=np.float64)
    cum = np.cumsum(freq) / max(freq.sum(), 1.0)
    needed = int(np.searchsorted(cum, coverage, side="left")) + 1
    if needed <= char_budget:
        return sentences, coverage
    table = {ord(c): " " for c in ranked[char_budget:]}
    return [s.translate(table) for s in sentences], float(cum[char_budget - 1])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX: atomic renames still prevent torn files
            pass
        try:
            yield
        finally:
            try:
                import fcntl

                fcntl.flock(fh, fcntl.LOCK_UN)
            except ImportError:  # pragma: no cover
                pass


def _train(sentences: list[str], settings: dict[str, Any], coverage: float) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=settings["vocab_size"],
        model_type=settings["model_type"],
        character_coverage=coverage,
        byte_fallback=settings["byte_fallback"],
        unk_id=UNK_ID,
        eos_id=EOS_ID,
        bos_id=-1,
        pad_id=-1,
        hard_vocab_limit=False,
        max_sentence_length=1 << 16,
        shuffle_input_sentence=False,
        num_threads=TRAIN_THREADS,
        minloglevel=2,
    )
    return model.getvalue()


_MEMORY: dict[str, Tokenizer] = {}  # by model file path
_BY_SETTINGS: dict[str, Tokenizer] = {}  # by (kind, settings, languages, held-out books, lang, cache dir)


def get_tokenizer(preset: Preset, kind: str, lang: str | None = None) -> Tokenizer:
    """The ``multi`` vocabulary of ``preset``'s languages, or the ``mono`` vocabulary of ``lang``.

    Trained on first use (seconds), then loaded from ``cache_dir()/tokenizers/<name>.model``. For
    ``multi``, ``lang`` may be given (one of the preset's languages) and is ignored.
    """
    kind = _check_kind(kind)
    if kind == "multi" and lang is not None:
        langs = L.validate_languages(preset.languages, require_corpus=True)
        if L.resolve(lang, require_corpus=True) not in langs:
            raise TokenizerError(f"language {lang!r} is not in the multilingual vocabulary's languages {langs}")
        lang = None
    settings = tokenizer_settings(preset, kind)
    plan = split_plan(preset)
    fast_key = json.dumps(
        [kind, settings, list(plan.languages), list(plan.test_books), lang and L.resolve(lang), str(cache_dir())]
    )
    if fast_key in _BY_SETTINGS:
        return _BY_SETTINGS[fast_key]
    per_lang = training_sentences(preset, kind, lang)
    sentences = [s for code in per_lang for s in per_lang[code]]
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "settings": settings, "langs": list(per_lang)}, sort_keys=True).encode())
    for s in sentences:
        h.update(s.encode("utf-8"))
        h.update(b"\n")
    digest = h.hexdigest()[:12]
    tag = next(iter(per_lang)) if kind == "mono" else f"{len(per_lang)}lang"
    name = f"spm-{kind}-{tag}-{settings['vocab_size']}-{digest}"
    folder = cache_dir() / "tokenizers"
    model_path, meta_path = folder / f"{name}.model", folder / f"{name}.json"
    if str(model_path) in _MEMORY:  # by file, not name: another cache may hold another model of that name
        _BY_SETTINGS[fast_key] = _MEMORY[str(model_path)]
        return _MEMORY[str(model_path)]

    with file_lock(folder / f".{name}.lock"):
        if not (model_path.exists() and meta_path.exists()):
            char_budget = int((settings["vocab_size"] - _N_SPECIAL - 256 * settings["byte_fallback"]) * _MAX_CHAR_SHARE)
            fitted, coverage = _fit_characters(sentences, settings["character_coverage"], char_budget)
            blob = _train(fitted, settings, settings["character_coverage"])
            meta = {
                "name": name,
                "kind": kind,
                "languages": list(per_lang),
                "settings": settings,
                "effective_character_coverage": coverage,  # share of training characters with own piece
                "character_budget": char_budget,
                "sentences": {c: len(v) for c, v in per_lang.items()},
                "characters": {c: int(sum(len(t) for t in v)) for c, v in per_lang.items()},
                "source": "Bible verses outside the held-out test books",
            }
            tmpdir = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
            try:
                (tmpdir / "m.model").write_bytes(blob)
                (tmpdir / "m.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                os.replace(tmpdir / "m.json", meta_path)
                os.replace(tmpdir / "m.model", model_path)  # the model's presence marks a complete entry
            finally:
                shutil.rmtree(tmpdir, ignore_errors=True)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    tok = Tokenizer(name=name, vocab_size=0, eos_id=EOS_ID, kind=kind, languages=tuple(meta["languages"]),
                    path=model_path, meta=meta)
    tok.vocab_size = int(tok._sp.get_piece_size())
    if tok._sp.eos_id() != EOS_ID:
        raise TokenizerError(f"{model_path}: EOS id {tok._sp.eos_id()} != {EOS_ID}")
    _MEMORY[str(model_path)] = _BY_SETTINGS[fast_key] = tok
    return tok


def fertility(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """Tokens per character of ``texts`` (no EOS; characters counted without whitespace)."""
    ids = tokenizer.encode(list(texts))
    chars = sum(len("".join(t.split())) for t in texts)  # non-whitespace characters (str.isspace), at C speed
    if chars == 0:
        raise TokenizerError("fertility of empty text")
    return sum(len(x) for x in ids) / chars
