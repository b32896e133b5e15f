"""Tiny helper to write chapter templates (no outputs) from a list of ("md"|"code"|"params", source) cells.

Usage from a generator script (run from the repository root): ``write_notebook(path, cells)``. The first
``params`` cell is tagged ``parameters`` for papermill. Cell ids are derived from the notebook's name and the
cell's position, so regenerating an unchanged chapter leaves its file byte for byte the same.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat


def stable_ids(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Give every cell an id that depends only on ``name`` and its index (nbformat's are random)."""
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{name}:{i}".encode()).hexdigest()[:8]
    return nb


def write_notebook(path: str | Path, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind == "params":
            nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(source))
        else:
            raise ValueError(f"unknown cell kind {kind!r}")
    stable_ids(nb, Path(path).stem)
    nbformat.validate(nb)
    Path(path).write_text(nbformat.writes(nb), encoding="utf-8")
