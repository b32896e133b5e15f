"""Text sources: the bundled offline corpus, and MADLAD-400 / FLORES+ through HF ``datasets``.

Offline (the default; everything ships compressed in ``data/`` and is read straight from the ``.xz`` files,
never decompressed to disk):

* :func:`bible_verses` -- one verse-aligned Bible per language (``data/bible/<iso3>.tsv.xz``, refs such
  as ``GEN.1.1`` in KJV versification). Training text and the in-domain held-out test books come from here.
* :func:`flores_devtest` -- FLORES-200 devtest (1012 lines, line-aligned across languages).
* :func:`ntrex` -- NTREX-128 (1997 lines, line-aligned).

Hub (for users with network access to the Hugging Face hub, or a local copy of the files):

* :func:`load_madlad` -- MADLAD-400 (Kudugunta et al. 2023; the paper's training data), one document per
  record with a ``text`` field.
* :func:`load_flores_plus` -- FLORES+ (``openlanguagedata/flores_plus``; records carry ``iso_639_3``,
  ``iso_15924``, ``glottocode``, ``text`` ...).

Both hub loaders accept ``data_files`` (local paths or globs) so that they run offline on small fixtures.
All functions take any accepted language code (``en``, ``eng``, ``eng_Latn``) and return plain strings.
"""

from __future__ import annotations

import csv
import lzma
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from atlas import languages as L
from atlas.paths import data_dir

#: The evaluation sets the bundled corpus provides: held-out Bible books, FLORES-200 devtest, NTREX-128.
EVAL_SETS = ("bible", "flores", "ntrex")
#: The ones every shipped preset's runs record, and so the ones the analyses and chapters read.
RECORDED_EVAL_SETS = EVAL_SETS[:2]


class CorpusError(ValueError):
    """A source that is missing or malformed, or a bad argument to a loader."""


def _xz_path(*parts: str) -> Path:
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise CorpusError(f"corpus file {path} is missing (set ATLAS_DATA_DIR to the bundled data/ folder)")
    return path


def _read_lines(path: Path) -> list[str]:
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


@lru_cache(maxsize=64)
def _bible(iso3: str) -> pd.DataFrame:
    path = _xz_path("bible", f"{iso3}.tsv.xz")
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    if list(frame.columns) != ["ref", "text"]:
        raise CorpusError(f"{path}: expected the header 'ref<TAB>text', got {list(frame.columns)}")
    frame = frame[frame["text"].str.len() > 0].reset_index(drop=True)
    frame.insert(1, "book", frame["ref"].str.split(".", n=1).str[0])
    return frame


def bible_verses(lang: str) -> pd.DataFrame:
    """The Bible of ``lang``: columns ``ref`` (``GEN.1.1``), ``book`` (``GEN``), ``text``; canonical order.

    Cached in memory; a copy is returned so callers may modify it.
    """
    return _bible(L.resolve(lang, require_corpus=True)).copy()


@lru_cache(maxsize=64)
def _flores(iso3: str) -> tuple[str, ...]:
    code = L.registry()[iso3].flores_code
    return tuple(_read_lines(_xz_path("flores200", "devtest", f"{code}.txt.xz")))


def flores_devtest(lang: str) -> list[str]:
    """FLORES-200 devtest sentences of ``lang`` (1012 lines, aligned across languages)."""
    return list(_flores(L.resolve(lang, require_corpus=True)))


@lru_cache(maxsize=64)
def _ntrex(iso3: str) -> tuple[str, ...]:
    return tuple(_read_lines(_xz_path("ntrex128", f"{iso3}.txt.xz")))


def ntrex(lang: str) -> list[str]:
    """NTREX-128 sentences of ``lang`` (1997 lines, aligned across languages; English is the source side)."""
    return list(_ntrex(L.resolve(lang, require_corpus=True)))


def eval_texts(lang: str, eval_set: str) -> list[str]:
    """Held-out *non-Bible* evaluation text by name: ``flores`` or ``ntrex``."""
    sources = {"flores": flores_devtest, "ntrex": ntrex}
    if eval_set not in sources:
        raise CorpusError(f"unknown evaluation set {eval_set!r}; allowed: {', '.join(sources)}")
    return sources[eval_set](lang)


# --------------------------------------------------------------------------------------------------------
# Hub loaders (MADLAD-400, FLORES+) via HF `datasets`
# --------------------------------------------------------------------------------------------------------

MADLAD_REPO = "allenai/MADLAD-400"
FLORES_PLUS_REPO = "openlanguagedata/flores_plus"
_MADLAD_SPLITS = ("clean", "noisy")
_FLORES_SPLITS = ("dev", "devtest")


def _madlad_code(lang: str) -> str:
    """MADLAD-400 names its folders by BCP-47 / ISO 639-1 where one exists (``en``, ``zh``, ``sw``)."""
    return L.get(lang).code


def _flores_plus_config(lang: str, script: str | None = None) -> tuple[str, str]:
    """FLORES+ names files ``<iso 639-3>_<ISO 15924>`` (Mandarin: ``cmn_Hans``, not FLORES-200's zho_Hans)."""
    meta = L.get(lang)
    return meta.iso639_3, script or meta.script


def _load_dataset(**kwargs: Any):
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is installed in the dev environment
        raise CorpusError("the hub loaders need the 'datasets' package: pip install 'atlas-compendium[hub]'") from exc
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets.load_dataset(**kwargs)


def _texts(records, field: str, limit: int | None, where: dict[str, str] | None = None) -> Iterator[str]:
    n = 0
    for rec in records:
        if limit is not None and n >= limit:
            return
        if field not in rec:
            raise CorpusError(f"record has no {field!r} field (fields: {sorted(rec)})")
        if where and any(str(rec.get(k)) != v for k, v in where.items()):
            continue
        text = rec[field]
        if isinstance(text, str) and text.strip():
            n += 1
            yield text


def load_madlad(
    lang: str,
    split: str = "clean",
    *,
    max_docs: int | None = None,
    data_files: str | list[str] | None = None,
    repo: str = MADLAD_REPO,
    streaming: bool = True,
) -> Iterator[str]:
    """Stream MADLAD-400 documents (the ``text`` field) of ``lang``.

    By default reads ``{repo}/data/<code>/<code>_<split>_*.jsonl.gz`` from the hub (streaming, so nothing
    large is downloaded up front). Pass ``data_files`` (local JSON Lines paths or globs) to read a local copy;
    the tests use small fixtures this way. ``max_docs`` limits the number of documents yielded.
    """
    if split not in _MADLAD_SPLITS:
        raise CorpusError(f"unknown MADLAD-400 split {split!r}; allowed: {', '.join(_MADLAD_SPLITS)}")
    if max_docs is not None and max_docs < 0:
        raise CorpusError(f"max_docs must be >= 0, got {max_docs}")
    code = _madlad_code(lang)
    if data_files is None:
        ds = _load_dataset(
            path=repo, data_files=f"data/{code}/{code}_{split}_*.jsonl.gz", split="train", streaming=streaming
        )
    else:
        ds = _load_dataset(path="json", data_files=data_files, split="train", streaming=streaming)
    return _texts(ds, "text", max_docs)


def load_flores_plus(
    lang: str,
    split: str = "devtest",
    *,
    script: str | None = None,
    data_files: str | list[str] | None = None,
    repo: str = FLORES_PLUS_REPO,
) -> list[str]:
    """FLORES+ sentences of ``lang`` (``split`` = ``dev`` or ``devtest``), in record order.

    From the hub: ``{repo}/<split>/<iso3>_<Script>.parquet``. With ``data_files`` (local Parquet / JSON Lines
    files), records are filtered on their ``iso_639_3`` and ``iso_15924`` fields, so one fixture may hold
    several languages.
    """
    if split not in _FLORES_SPLITS:
        raise CorpusError(f"unknown FLORES+ split {split!r}; allowed: {', '.join(_FLORES_SPLITS)}")
    iso3, script = _flores_plus_config(lang, script)
    if data_files is None:
        ds = _load_dataset(path=repo, data_files=f"{split}/{iso3}_{script}.parquet", split="train")
    else:
        files = [data_files] if isinstance(data_files, str) else list(data_files)
        builder = "parquet" if all(str(f).endswith(".parquet") for f in files) else "json"
        ds = _load_dataset(path=builder, data_files=files, split="train")
    out = list(_texts(ds, "text", None, where={"iso_639_3": iso3, "iso_15924": script}))
    if not out:
        raise CorpusError(f"no FLORES+ records for {iso3}_{script} in split {split!r}")
    return out
