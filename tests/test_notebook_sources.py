"""The chapter templates are generated: each ``notebooks/NN_*.ipynb`` must be exactly what its generator in
``tools/`` writes (an edit made to the notebook alone would be lost at the next regeneration), and papermill must
be able to read every parameter of every chapter (a comment it cannot parse makes ``-p`` silently ignore it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = sorted((ROOT / "tools").glob("make_*.py"))
#: Chapters written by hand (no generator): edited as JSON.
HAND_WRITTEN = {"02_training"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """Every generator run once in a scratch copy of tools/ (they write to ./notebooks relative to the root)."""
    root = tmp_path_factory.mktemp("gen")
    shutil.copytree(ROOT / "tools", root / "tools")
    (root / "notebooks").mkdir()
    for gen in GENERATORS:
        subprocess.run([sys.executable, str(root / "tools" / gen.name)], cwd=root, check=True,
                       capture_output=True, text=True)
    return {p.stem: p for p in (root / "notebooks").glob("*.ipynb")}


def test_every_generated_chapter_has_a_generator_and_vice_versa(generated):
    committed = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(generated) == committed - HAND_WRITTEN


def test_committed_chapters_match_their_generators(generated):
    stale = [name for name, path in generated.items()
             if path.read_bytes() != (ROOT / "notebooks" / f"{name}.ipynb").read_bytes()]
    assert not stale, f"regenerate with `python tools/make_NN.py` (or port the notebook edit to it): {stale}"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_papermill_parses_every_parameter(notebook, caplog):
    import nbformat
    import papermill as pm

    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [line.split("=")[0].strip() for line in cell.source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    with caplog.at_level("WARNING"):
        found = pm.inspect_notebook(str(notebook))
    assert list(found) == names, f"papermill read {list(found)}, the cell assigns {names}"
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]

