"""Language metadata: scripts, families, code resolution, the paper's 38 codes, clear errors."""

from __future__ import annotations

import csv

import pytest
import yaml

from atlas import languages as L
from atlas.paths import package_data


def _paper_codes() -> list[str]:
    with package_data("paper/transfer_matrix_figC2_38x38.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    return header[1:]


@pytest.mark.parametrize(
    "code, script, family, group",
    [
        ("eng", "Latn", "Indo-European", "Germanic"),
        ("rus", "Cyrl", "Indo-European", "Slavic"),
        ("cmn", "Hans", "Sino-Tibetan", "Sinitic"),
        ("hin", "Deva", "Indo-European", "Indo-Iranian"),
        ("arb", "Arab", "Afro-Asiatic", "Semitic"),
        ("heb", "Hebr", "Afro-Asiatic", "Semitic"),
        ("swh", "Latn", "Atlantic-Congo", "Benue-Congo"),
        ("jpn", "Jpan", "Japonic", "Japanese"),
        ("kor", "Hang", "Koreanic", "Buyeo"),
        ("fin", "Latn", "Uralic", "Finnic"),
        ("ell", "Grek", "Indo-European", "Hellenic"),
    ],
)
def test_script_family_group_of_known_languages(code, script, family, group):
    assert (L.script(code), L.family(code), L.group(code)) == (script, family, group)


@pytest.mark.parametrize(
    "given, iso3",
    [("en", "eng"), ("ENG", "eng"), ("eng_Latn", "eng"), ("zh", "cmn"), ("zho_Hans", "cmn"), ("zho", "cmn"),
     ("sw", "swh"), ("no", "nob"), ("nb", "nob"), ("fa", "pes"), ("ar", "arb"), ("fil", "fil"), (" fr ", "fra")],
)
def test_code_resolution(given, iso3):
    assert L.resolve(given) == iso3


def test_all_38_paper_codes_are_known():
    codes = _paper_codes()
    assert len(codes) == 38 and len(set(codes)) == 38
    resolved = [L.resolve(c) for c in codes]
    assert len(set(resolved)) == 38
    sets = yaml.safe_load(package_data("paper/language_sets.yaml").read_text(encoding="utf-8"))
    for name in ("L_mono", "L_pairs"):
        assert all(L.resolve(c) for c in sets[name])


def test_corpus_languages_have_text_and_metadata():
    langs = L.corpus_languages()
    assert len(langs) == 27 and "ell" not in langs
    for code in langs:
        meta = L.get(code)
        assert meta.in_corpus and meta.flores_code and meta.genus and meta.script
    frame = L.metadata_frame(["en", "zh"])
    assert list(frame.index) == ["eng", "cmn"] and list(frame["script"]) == ["Latn", "Hans"]


def test_bad_codes_are_rejected_with_a_message():
    with pytest.raises(L.UnknownLanguageError) as err:
        L.resolve("xx")
    msg = str(err.value)
    assert "'xx'" in msg and "allowed:" in msg and "eng" in msg
    with pytest.raises(L.UnknownLanguageError, match="no text in the bundled corpus.*allowed: .*eng"):
        L.resolve("yo", require_corpus=True)
    with pytest.raises(L.UnknownLanguageError, match=r"\['xx', 'qq'\]"):
        L.validate_languages(["en", "xx", "qq"])
    with pytest.raises(L.UnknownLanguageError, match="duplicate"):
        L.validate_languages(["en", "eng"])
    with pytest.raises(L.UnknownLanguageError, match="string"):
        L.validate_languages("en")
    assert L.validate_languages(["en", "ru"]) == ["eng", "rus"]
