"""Language metadata: script (ISO 15924), family (Glottolog top level), group (the Fig. C.2 legend).

Two tables are merged:

* ``atlas/paper/language_registry.csv`` -- every language the paper's transfer matrices name (38 codes plus
  Hindi) and every language of our corpus, with script, Glottolog top-level family and the family *group*
  printed in the legend of the paper's Fig. C.2 (e.g. Germanic, Romance, Indo-Iranian).
* ``data/languages.csv`` -- the bundled corpus's metadata (WALS genus, Bible translation, licence, sizes).

Codes: the canonical code is ISO 639-3 (``eng``); ISO 639-1 / the paper's codes (``en``, ``no``, ``fil``)
and FLORES codes (``eng_Latn``) are accepted everywhere and resolved by :func:`resolve`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from atlas.paths import data_dir, package_data

#: How a transfer matrix's "same family" is coded (atlas.stats): Glottolog top level or Fig. C.2 legend group.
FAMILY_CODINGS = ("family", "group")

_ALIASES = {"nb": "no", "zho": "cmn", "zh_hans": "cmn", "ara": "arb", "fas": "pes", "swa": "swh", "nor": "nob"}


class UnknownLanguageError(ValueError):
    """A language code that the registry does not know (or that has no text in the corpus)."""


@dataclass(frozen=True)
class Language:
    """One language's metadata."""

    iso639_3: str
    code: str  # the paper's code (ISO 639-1 where one exists)
    name: str
    script: str  # ISO 15924
    family: str  # Glottolog top-level family
    group: str  # family group as in the legend of the paper's Fig. C.2
    genus: str = ""  # WALS genus (corpus languages only)
    flores_code: str = ""  # FLORES-200 file code (corpus languages only)
    in_corpus: bool = False  # True when data/ ships Bible, FLORES and NTREX text for it


@lru_cache(maxsize=1)
def registry() -> dict[str, Language]:
    """All known languages keyed by ISO 639-3 code."""
    corpus: dict[str, dict[str, str]] = {}
    corpus_csv = data_dir() / "languages.csv"
    if corpus_csv.exists():
        with corpus_csv.open(encoding="utf-8") as fh:
            corpus = {r["iso639_3"]: r for r in csv.DictReader(fh)}
    out: dict[str, Language] = {}
    with package_data("paper/language_registry.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            c = corpus.get(r["iso639_3"], {})
            out[r["iso639_3"]] = Language(
                iso639_3=r["iso639_3"],
                code=r["code"],
                name=r["name"],
                script=r["script"],
                family=r["family"],
                group=r["group"],
                genus=c.get("genus", ""),
                flores_code=c.get("flores_code", ""),
                in_corpus=bool(c),
            )
    return out


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for iso3, lang in registry().items():
        table[iso3] = iso3
        table[lang.code] = iso3
        if lang.flores_code:
            table[lang.flores_code.lower()] = iso3
    for alias, target in _ALIASES.items():
        table.setdefault(alias, table.get(target, target))
    return table


def resolve(code: str, *, require_corpus: bool = False) -> str:
    """Return the ISO 639-3 code for ``code`` (``en``, ``eng``, ``eng_Latn`` ...).

    Raises :class:`UnknownLanguageError` naming the bad code and listing the allowed ones.
    """
    key = str(code).strip().lower()
    iso3 = _lookup().get(key)
    if iso3 is None:
        allowed = corpus_languages() if require_corpus else sorted(registry())
        raise UnknownLanguageError(f"unknown language code {code!r}; allowed: {', '.join(allowed)}")
    if require_corpus and not registry()[iso3].in_corpus:
        raise UnknownLanguageError(
            f"language {code!r} has no text in the bundled corpus; allowed: {', '.join(corpus_languages())}"
        )
    return iso3


def validate_languages(codes: Iterable[str], *, require_corpus: bool = True, min_count: int = 1) -> list[str]:
    """Resolve a list of codes, failing once with a message that names every bad value."""
    if isinstance(codes, str):
        raise UnknownLanguageError(f"languages must be a list of codes, got the string {codes!r}")
    codes = list(codes)
    bad, out = [], []
    for c in codes:
        try:
            out.append(resolve(c, require_corpus=require_corpus))
        except UnknownLanguageError:
            bad.append(c)
    if bad:
        allowed = corpus_languages() if require_corpus else sorted(registry())
        raise UnknownLanguageError(f"unknown language code(s) {bad!r}; allowed: {', '.join(allowed)}")
    if len(out) < min_count:
        raise UnknownLanguageError(f"need at least {min_count} language(s), got {codes!r}")
    if len(set(out)) != len(out):
        raise UnknownLanguageError(f"duplicate languages in {codes!r}")
    return out


def get(code: str) -> Language:
    """Metadata of one language (any accepted code)."""
    return registry()[resolve(code)]


def corpus_languages() -> list[str]:
    """ISO 639-3 codes of the languages the bundled corpus has text for, sorted."""
    return sorted(k for k, v in registry().items() if v.in_corpus)


def script(code: str) -> str:
    return get(code).script


def family(code: str) -> str:
    return get(code).family


def group(code: str) -> str:
    return get(code).group


def metadata_frame(codes: Iterable[str] | None = None):
    """A pandas DataFrame of metadata, one row per language (all known languages by default)."""
    import pandas as pd

    langs = [get(c) for c in codes] if codes is not None else list(registry().values())
    return pd.DataFrame([vars(lang) for lang in langs]).set_index("iso639_3")
