"""Chapter sources are MyST Markdown notebooks (``notebooks/NN_name.md``, what people edit) paired by jupytext
with ``notebooks/NN_name.ipynb`` (what papermill runs, outputs stripped). Every pair must be in sync -- an edit
made to one side only is caught here (``jupytext --sync notebooks/*.md`` repairs it) -- and papermill must be
able to read every parameter of every chapter (a comment it cannot parse makes ``-p`` silently ignore it)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.md"))
TEMPLATES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _cells(nb) -> list[tuple[str, str, list[str], dict]]:
    """What a pair must agree on: cell type, source, tags and any other cell metadata (ids aside)."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", [])),
             {k: v for k, v in c.metadata.items() if k != "tags"}) for c in nb.cells]


def test_every_template_has_a_markdown_source_and_vice_versa():
    assert SOURCES, "no chapter sources under notebooks/"
    assert {p.stem for p in SOURCES} == {p.stem for p in TEMPLATES}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_has_a_jupytext_header_pairing_it(source):
    import jupytext

    text = source.read_text(encoding="utf-8")
    assert text.startswith("---\njupytext:"), f"{source.name}: no jupytext header"
    nb = jupytext.reads(text, fmt="md:myst")
    assert nb.metadata["jupytext"]["formats"] == "ipynb,md:myst", f"{source.name}: not paired with its .ipynb"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync_and_template_has_no_outputs(source):
    import jupytext
    import nbformat

    md = jupytext.read(source, fmt="md:myst")
    ipynb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _cells(md) == _cells(ipynb), (
        f"{source.stem}: notebooks/{source.stem}.md and .ipynb differ; edit the .md and run "
        f"`jupytext --sync notebooks/{source.name}`")
    for cell in ipynb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{source.stem}: template has outputs"


@pytest.mark.parametrize("notebook", TEMPLATES, ids=lambda p: p.stem)
def test_papermill_parses_every_parameter(notebook, caplog):
    import nbformat
    import papermill as pm

    nb = nbformat.read(notebook, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook.stem}: {len(tagged)} cells tagged parameters (need exactly one)"
    names = [line.split("=")[0].strip() for line in tagged[0].source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    with caplog.at_level("WARNING"):
        found = pm.inspect_notebook(str(notebook))
    assert names and list(found) == names, f"papermill read {list(found)}, the cell assigns {names}"
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]
