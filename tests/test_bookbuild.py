"""Chapter execution: chapters run several at a time, the intro last, and a failing chapter is named."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from atlas import bookbuild


def _notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_intro_runs_after_every_body_chapter(tmp_path: Path):
    src = tmp_path / "nb"
    src.mkdir()
    stamp = tmp_path / "stamps"
    stamp.mkdir()
    for name in ("01_a", "02_b", "03_c"):
        _notebook(src / f"{name}.ipynb", f"open(r'{stamp}/{name}', 'w').write(preset)")
    _notebook(src / "00_intro.ipynb",
              f"import os\nassert sorted(os.listdir(r'{stamp}')) == ['01_a', '02_b', '03_c'], os.listdir(r'{stamp}')")
    out = bookbuild.execute_chapters("smoke", tmp_path / "book", jobs=2, notebook_dir=src)
    assert [p.stem for p in out] == ["01_a", "02_b", "03_c", "00_intro"]
    assert all(p.exists() for p in out)
    assert (stamp / "02_b").read_text() == "smoke"


def test_failing_chapter_is_named_and_others_still_run(tmp_path: Path):
    src = tmp_path / "nb"
    src.mkdir()
    _notebook(src / "01_ok.ipynb", "x = 1")
    _notebook(src / "02_broken.ipynb", "raise ValueError('planted failure')")
    _notebook(src / "00_intro.ipynb", "x = 1")
    with pytest.raises(RuntimeError, match=r"02_broken: ValueError: planted failure"):
        bookbuild.execute_chapters("smoke", tmp_path / "book", jobs=2, notebook_dir=src)
    assert (tmp_path / "book" / "01_ok.ipynb").exists()
    assert not (tmp_path / "book" / "00_intro.ipynb").exists(), "the intro must not run over a failed chapter"


@pytest.mark.parametrize("jobs", [0, -2])
def test_bad_jobs_is_refused_before_work(tmp_path: Path, jobs: int):
    with pytest.raises(ValueError, match=f"jobs={jobs}"):
        bookbuild.execute_chapters("smoke", tmp_path / "book", jobs=jobs)
    assert not (tmp_path / "book").exists()
    with pytest.raises(ValueError, match=f"jobs={jobs}"):
        bookbuild.build("smoke", tmp_path / "staged", jobs=jobs)
    assert not (tmp_path / "staged").exists()  # nothing staged before the check


def test_auto_gives_each_chapter_the_study_only_where_its_runs_are_complete(monkeypatch, capsys):
    import pandas as pd

    from atlas import grid
    from atlas.chapters import CHAPTERS

    status = pd.DataFrame({"experiment": ["monolingual"] * 2 + ["unimax", "capacity"],
                           "status": ["done", "done", "done", "todo"]})
    monkeypatch.setattr(grid, "grid_status", lambda *a, **k: status)
    chosen = bookbuild.chapter_presets("auto")
    assert set(chosen) == {c.name for c in CHAPTERS}
    assert chosen["03_monolingual_scaling"] == ("cpu", "")  # monolingual + unimax done
    assert chosen["01_data_sampling"][0] == chosen["00_intro"][0] == "cpu"  # no runs read
    preset, note = chosen["07_curse_of_multilinguality"]
    assert preset == "smoke" and "capacity 0 of 1 recorded" in note
    assert chosen["04_transfer_matrix"][0] == "smoke" and "bilingual 0 of 0" in chosen["04_transfer_matrix"][1]
    assert "07_curse_of_multilinguality" in capsys.readouterr().err
    assert set(bookbuild.chapter_presets("smoke").values()) == {("smoke", "")}
    with pytest.raises(ValueError, match="unknown preset"):
        bookbuild.chapter_presets("nope")


def test_a_fallback_note_reaches_the_page(tmp_path: Path, monkeypatch):
    src = tmp_path / "nb"
    src.mkdir()
    _notebook(src / "01_a.ipynb", "from atlas.chapters import page\npage.setup(preset)")
    monkeypatch.setattr(bookbuild, "chapter_presets", lambda p: {"01_a": ("smoke", "planted fallback note")})
    out = bookbuild.execute_chapters("auto", tmp_path / "book", jobs=1, notebook_dir=src)
    text = out[0].read_text()
    assert "planted fallback note" in text
