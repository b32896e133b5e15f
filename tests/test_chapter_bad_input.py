"""Bad chapter parameters fail in the chapter's validation cell, and the book build prints just that message."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from atlas import bookbuild
from atlas.chapters import scaling as scaling_report
from atlas.params import ParameterError, validate_notebook_params
from atlas.paths import REPO_ROOT


def test_eval_set_must_be_one_the_runs_are_evaluated_on():
    with pytest.raises(ParameterError, match=r"eval_set 'ntrex': the runs of preset 'smoke' are not evaluated on "
                                             r"it; allowed: bible, flores"):
        validate_notebook_params("smoke", eval_set="ntrex")
    with pytest.raises(ParameterError, match=r"unknown eval_set 'wmt'; allowed: bible, flores"):
        validate_notebook_params("smoke", eval_set="wmt")
    validate_notebook_params("smoke", eval_set="flores")


@pytest.mark.parametrize("n_boot", [-5, 2.5, True])
def test_chapter_06_rejects_a_bad_n_boot(n_boot):
    with pytest.raises(scaling_report.ChapterParamError, match=f"n_boot must be a non-negative integer.*{n_boot!r}"):
        scaling_report.validate_params("bible", "loss", 4, 1, n_boot)
    scaling_report.validate_params("bible", "loss", 4, 1, 0)  # 0 skips the bootstrap


def _notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "smoke"\neval_set = "bible"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), params, *map(nbformat.v4.new_code_cell, cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_book_build_prints_the_validation_message_only(tmp_path, monkeypatch, capsys):
    src = tmp_path / "nb"
    src.mkdir()
    _notebook(src / "08_bad.ipynb",
              "from atlas.params import validate_notebook_params\n"
              "validate_notebook_params(preset, eval_set='ntrex')", "x = 1")
    _notebook(src / "09_late.ipynb", "x = 1", "raise KeyError('N')")
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the kernels import this checkout's atlas
    monkeypatch.setattr(bookbuild, "chapters", lambda notebook_dir=None: sorted(src.glob("*.ipynb")))
    assert bookbuild.main(["--preset", "smoke", "--only", "08_bad", "--root", str(tmp_path), "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("error: chapter 08_bad: ParameterError: eval_set 'ntrex': the runs of preset 'smoke' are not "
                       "evaluated on it; allowed: bible, flores"), err
    assert not any("Traceback" in line for line in err) and sum(line.startswith("error:") for line in err) == 1
    # a chapter that fails after its validation cell is a bug, not bad input: the full report stays
    with pytest.raises(bookbuild.ChaptersFailed, match="09_late: KeyError") as info:
        bookbuild.main(["--preset", "smoke", "--only", "09_late", "--root", str(tmp_path), "--jobs", "1"])
    assert info.value.input_errors == []


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_retrain_switches_must_be_booleans(value):
    with pytest.raises(ParameterError, match=rf"retrain_tokenizers must be True or False, got {value!r}"):
        validate_notebook_params("smoke", retrain_tokenizers=value)
    validate_notebook_params("smoke", retrain_tokenizers=True)
