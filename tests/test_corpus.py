"""The bundled offline corpus and the MADLAD-400 / FLORES+ hub loaders (on local fixtures, no network)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from atlas import corpus
from atlas import languages as L
from atlas.paths import data_dir
from atlas.sampling import BOOKS, ref_sort_key

FIXTURES = Path(__file__).parent / "fixtures"


def _languages_csv() -> dict[str, dict[str, str]]:
    with (data_dir() / "languages.csv").open(encoding="utf-8") as fh:
        return {r["iso639_3"]: r for r in csv.DictReader(fh)}


@pytest.mark.parametrize("lang", ["eng", "cmn", "swh", "ind"])
def test_bible_verses(lang):
    frame = corpus.bible_verses(lang)
    assert list(frame.columns) == ["ref", "book", "text"]
    assert len(frame) == int(_languages_csv()[lang]["bible_verses"])
    assert frame["ref"].is_unique and (frame["text"].str.len() > 0).all()
    assert set(frame["book"]) <= set(BOOKS)
    assert (frame["book"] == frame["ref"].str.split(".").str[0]).all()
    keys = [ref_sort_key(r) for r in frame["ref"]]
    assert keys == sorted(keys)  # canonical order


def test_bible_codes_and_copies():
    a = corpus.bible_verses("en")
    assert a.equals(corpus.bible_verses("eng_Latn"))
    assert a.iloc[0]["ref"] == "GEN.1.1" and a.iloc[0]["text"].startswith("In the beginning")
    a.loc[0, "text"] = "changed"
    assert corpus.bible_verses("eng").iloc[0]["text"] != "changed"  # callers get a copy
    with pytest.raises(L.UnknownLanguageError, match="'xx'"):
        corpus.bible_verses("xx")
    with pytest.raises(L.UnknownLanguageError, match="no text in the bundled corpus"):
        corpus.bible_verses("yo")


@pytest.mark.parametrize("lang", ["eng", "cmn", "hin"])
def test_flores_and_ntrex_are_line_aligned(lang):
    flores, ntrex = corpus.flores_devtest(lang), corpus.ntrex(lang)
    assert len(flores) == 1012 and len(ntrex) == 1997
    assert all(s.strip() for s in flores)
    row = _languages_csv()[L.resolve(lang)]
    assert abs(sum(len(s) for s in flores) - int(row["flores_chars"])) <= 1012  # newline counting aside
    assert corpus.eval_texts(lang, "flores") == flores
    with pytest.raises(corpus.CorpusError, match="'wmt'"):
        corpus.eval_texts(lang, "wmt")


def test_missing_corpus_file_names_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    corpus._ntrex.cache_clear()
    try:
        with pytest.raises(corpus.CorpusError, match="ntrex128"):
            corpus.ntrex("eng")
    finally:
        corpus._ntrex.cache_clear()


# ------------------------------------------------------------------------------------------ hub loaders


def test_madlad_from_a_local_copy_of_the_hub_layout():
    """``repo`` = a folder laid out like allenai/MADLAD-400 exercises the hub code path offline."""
    docs = list(corpus.load_madlad("swh", repo=str(FIXTURES / "madlad400")))
    assert len(docs) == 3 and docs[0].startswith("Habari za asubuhi.\n")
    assert list(corpus.load_madlad("sw", "noisy", repo=str(FIXTURES / "madlad400"))) == [
        "bei nafuu bei nafuu bonyeza hapa"
    ]
    assert len(list(corpus.load_madlad("en", repo=str(FIXTURES / "madlad400"), max_docs=1))) == 1


def test_madlad_from_data_files_and_bad_arguments():
    files = str(FIXTURES / "madlad400" / "data" / "en" / "en_clean_0000.jsonl.gz")
    docs = list(corpus.load_madlad("en", data_files=files, streaming=False))
    assert docs == [
        "The library opens at nine.\nChildren may borrow three books each.",
        "A small bakery on the corner sells fresh bread every morning.",
    ]
    with pytest.raises(corpus.CorpusError, match="'dirty'"):
        corpus.load_madlad("en", "dirty")
    with pytest.raises(L.UnknownLanguageError, match="'xx'"):
        corpus.load_madlad("xx")


def test_madlad_hub_request(monkeypatch):
    calls = []
    monkeypatch.setattr(corpus, "_load_dataset", lambda **kw: calls.append(kw) or iter([{"text": "a"}]))
    assert list(corpus.load_madlad("zh")) == ["a"]
    assert calls == [
        {"path": "allenai/MADLAD-400", "data_files": "data/zh/zh_clean_*.jsonl.gz", "split": "train", "streaming": True}
    ]


def test_flores_plus_from_a_local_copy_of_the_hub_layout():
    repo = str(FIXTURES / "flores_plus")
    assert corpus.load_flores_plus("swh", repo=repo) == ["Jua lilichomoza mapema.", "Wanafunzi walisoma kwa bidii."]
    assert corpus.load_flores_plus("zh", repo=repo) == ["太阳很早就升起来了。", "学生们努力学习。"]
    assert corpus.load_flores_plus("en", "dev", repo=repo) == ["A quiet river ran past the village."]


def test_flores_plus_from_data_files_filters_on_record_fields():
    files = sorted(str(p) for p in (FIXTURES / "flores_plus" / "devtest").glob("*.parquet"))
    assert corpus.load_flores_plus("eng", data_files=files) == ["The sun rose early.", "The students studied hard."]
    with pytest.raises(corpus.CorpusError, match="no FLORES\\+ records for fra_Latn"):
        corpus.load_flores_plus("fra", data_files=files)
    with pytest.raises(corpus.CorpusError, match="'test'"):
        corpus.load_flores_plus("eng", "test")


def test_flores_plus_hub_request(monkeypatch):
    calls = []
    rec = {"iso_639_3": "cmn", "iso_15924": "Hans", "text": "你好"}
    monkeypatch.setattr(corpus, "_load_dataset", lambda **kw: calls.append(kw) or [rec])
    assert corpus.load_flores_plus("zho_Hans") == ["你好"]
    assert calls == [{"path": "openlanguagedata/flores_plus", "data_files": "devtest/cmn_Hans.parquet", "split": "train"}]
