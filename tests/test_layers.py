"""The package's layers and the chapter registry.

* Imports point down: the book layer (``atlas.chapters``, ``atlas.bookbuild``) may import anything; nothing
  else in ``atlas`` imports it (the analysis and experiment modules must stay usable on anyone's runs).
  ``sampling`` does not import ``tokenizer`` (which imports it): no cycle between the data modules.
* The registry (:data:`atlas.chapters.CHAPTERS`) is the book: its chapters are exactly the chapter sources in
  ``notebooks/`` and, with the prose pages, exactly ``_toc.yml``'s entries, in the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from atlas import chapters
from atlas.chapters import verdicts

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "atlas"
BOOK_LAYER = {"atlas.chapters", "atlas.bookbuild"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``atlas...`` module a file imports, at any depth (``from atlas import x`` counts as atlas.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("atlas")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("atlas") and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _in(module: str, layer: set[str]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in layer)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", [m for m in MODULES if not _in(m, BOOK_LAYER)])
def test_only_the_book_layer_knows_chapters(module):
    upward = sorted(i for i in _imports(MODULES[module]) if _in(i, BOOK_LAYER))
    assert not upward, f"{module} imports the book layer ({upward}); move that code into atlas/chapters/"


def test_sampling_and_tokenizer_do_not_import_each_other():
    """One direction only: a vocabulary is trained on the data split (tokenizer -> sampling); sampling takes any
    object with ``encode`` and ``eos_id`` and never imports the tokenizer module."""
    assert not [i for i in _imports(MODULES["atlas.sampling"]) if i.startswith("atlas.tokenizer")]


def test_the_import_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from atlas.chapters import verdicts\n    from atlas import bookbuild\n")
    assert {i for i in _imports(bad) if _in(i, BOOK_LAYER)} == {"atlas.chapters", "atlas.chapters.verdicts",
                                                               "atlas.bookbuild"}


def test_registry_matches_the_chapter_sources():
    names = [c.name for c in chapters.CHAPTERS]
    assert len(set(names)) == len(names)
    assert set(names) == {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.md")}
    assert [c.name for c in chapters.CHAPTERS if c.part == "intro"] == ["00_intro"]


def test_registry_matches_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    in_toc = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    expected = [f"book/{c.name}" for c in chapters.CHAPTERS if c.part == "intro"]
    expected += [f"book/{c.name}" for c in chapters.CHAPTERS if c.part == "chapter"]
    appendix = [c.name for c in chapters.CHAPTERS if c.part == "appendix"]
    expected += [f"book/{n}" for n in list(chapters.PROSE_PAGES["appendix"]) + appendix]
    assert in_toc == expected
    captions = [part["caption"] for part in toc["parts"]]
    assert captions == ["Chapters", "Appendix"]


def test_reproduction_map_comes_from_the_registry():
    cmap = verdicts.chapter_map()
    assert list(cmap["chapter"].unique()) == [c.title for c in chapters.reproduced_chapters()]
    assert all((ROOT / s).exists() for s in cmap["source"])
    empty = verdicts.reproduction_map(verdicts.load_all(Path("/nonexistent")))
    assert (empty["claim"] == verdicts.NOT_EXECUTED).all() and len(empty) == len(chapters.reproduced_chapters())
    with pytest.raises(ValueError, match="unknown chapter '99_nope'"):
        verdicts.record("99_nope", [])
