"""How chapter pages show tables and numbers (atlas.chapters.page), and how bookbuild prepares an executed
chapter for the HTML (folded code, one parameters cell, one output per captioned figure)."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd

from atlas import bookbuild
from atlas.chapters import page


def test_numbers_and_words_for_people():
    assert page.num(1285120) == "1,285,120" and page.num(np.int64(5120)) == "5,120"
    assert page.num(0.12345) == "0.123" and page.num(2.5e21) == "2.5e+21" and page.num(1234.0) == "1,234"
    assert page.num(float("nan")) == page.MISSING and page.num(np.bool_(True)) == "yes"
    assert page.words([np.int64(1), np.int64(2)]) == "1, 2"
    assert page.words({"hin": 20000}) == "hin: 20,000" and page.words({}) == "none"


def test_tables_drop_the_default_index_and_format_numbers():
    html = page.table_html(pd.DataFrame({"params_formula": [1285120], "kv": [128], "names": [["a", "b"]]}))
    assert "1,285,120" in html and "params formula" in html and "a, b" in html
    assert "<th></th>" not in html and ">0<" not in html  # no 0..n index column
    indexed = page.table_html(pd.DataFrame({"v": [0.5]}, index=pd.Index(["eng"], name="lang")))
    assert "lang" in indexed and "eng" in indexed
    styled = page.table_html(pd.DataFrame({"share": [0.91], "n": [9044352]}).style.format({"share": "{:.0%}"}))
    assert "91%" in styled and "9,044,352" in styled  # the chapter's format where given, ours elsewhere


def test_blank_tables_become_sentences():
    assert "<table" not in page.table_html(pd.DataFrame({"a": [np.nan] * 24, "b": [None] * 24}))
    assert "All 24 rows" in page.table_html(pd.DataFrame({"a": [np.nan] * 24}))
    assert "No rows" in page.table_html(pd.DataFrame(columns=["a"]))


def test_prepare_for_html_folds_code_and_isolates_figures(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "smoke"', metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('preset = "cpu"', metadata={"tags": ["injected-parameters"]})
    figure = nbformat.v4.new_code_cell("plot()", metadata={"mystnb": {"figure": {"caption": "c", "name": "fig-x"}}})
    figure.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<p>before</p>"}),
                      nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}),
                      nbformat.v4.new_output("display_data", data={"text/html": "<p>after</p>"})]
    nb.cells = [params, injected, figure]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    bookbuild.prepare_for_html(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [c.metadata.get("tags") for c in cells] == [["parameters", "remove-cell"], ["injected-parameters"],
                                                       ["remove-input"], ["hide-input"], ["remove-input"]]
    assert [list(o.data) for c in cells[2:] for o in c.outputs] == [["text/html"], ["image/png"], ["text/html"]]
    assert "mystnb" in cells[3].metadata and "mystnb" not in cells[2].metadata
    assert cells[2].source and cells[4].source  # myst-nb drops a cell with no source, outputs and all
