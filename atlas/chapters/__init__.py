"""The book layer: the only code that knows chapters exist.

Each chapter of the book is a MyST notebook ``notebooks/<name>.md`` (paired with the ``.ipynb`` papermill runs)
and, where it needs more than a few calls into :mod:`atlas`, one module here holding its tables, verdicts and
setup (``atlas.chapters.<name without number>``). The analysis modules (``laws``, ``fit``, ``bts``, ``stats``,
``sampling``, ``planning`` ...) never import this package (``tests/test_layers.py`` enforces it).

:data:`CHAPTERS` is the registry: it orders the build (:mod:`atlas.bookbuild`), gives the intro's reproduction
map its rows (:mod:`atlas.chapters.verdicts`) and must agree with ``_toc.yml`` (a test checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: How to regenerate the runs behind a paper item; ``P`` stands for a preset.
_GRID = "python -m atlas grid run --preset P --experiment {}"


@dataclass(frozen=True)
class PaperItem:
    item: str  # the paper's table / figure / section
    topic: str
    command: str  # how to regenerate the runs behind it


@dataclass(frozen=True)
class Chapter:
    name: str  # notebook stem, e.g. "04_transfer_matrix"
    title: str
    paper: tuple[PaperItem, ...] = field(default=())
    slow: bool = False  # among the longest to execute: started first when chapters run in parallel
    part: str = "chapter"  # "intro" (executed last: it gathers the verdicts), "chapter" or "appendix"
    experiments: tuple[str, ...] = ()  # the grid experiments whose runs it reads (all must be complete to show them)

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.name}.md"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("00_intro", "ATLAS, reproduced", part="intro"),
    Chapter("01_data_sampling", "Data sampling", slow=True, paper=(
        PaperItem("§2, App. B.1", "data, test split min(20M, 20%), vocabulary", "(no runs needed)"),)),
    Chapter("02_training", "Model grid and training", experiments=("monolingual",), paper=(
        PaperItem("Tables B.2, B.3", "model grid and hyperparameters", _GRID.format("monolingual")),)),
    Chapter("03_monolingual_scaling", "Monolingual scaling", slow=True, experiments=("monolingual", "unimax"), paper=(
        PaperItem("Fig. 1, Table C.1", "monolingual scaling, vocabulary tax", _GRID.format("monolingual")),)),
    Chapter("04_transfer_matrix", "Transfer matrix (BTS)", experiments=("bilingual", "finetune"), paper=(
        PaperItem("Fig. 2, Fig. C.2, App. C.2", "bilingual transfer scores", _GRID.format("bilingual")),)),
    Chapter("05_script_family_tests", "Script and family statistics", experiments=("bilingual",), paper=(
        PaperItem("§4 statistics", "script/family effects, asymmetry", "python -m atlas stats transfer MATRIX.csv"),)),
    Chapter("06_atlas_fits", "ATLAS fits (Table 1)", slow=True,
            experiments=("monolingual", "capacity", "unimax"), paper=(
        PaperItem("Table 1", "ATLAS vs CSL/DCSL/MSL held-out R²", _GRID.format("all")),)),
    Chapter("07_curse_of_multilinguality", "Curse of multilinguality", slow=True, experiments=("capacity",), paper=(
        PaperItem("§5, Fig. 4, Fig. 5", "K-law, iso-loss multipliers", _GRID.format("capacity")),)),
    Chapter("08_pretrain_vs_finetune", "Pretrain vs finetune", experiments=("finetune", "unimax"), paper=(
        PaperItem("§6, Fig. 6, Fig. 7", "pretrain vs finetune crossover", _GRID.format("finetune")),)),
    Chapter("90_presets_and_scale", "Presets and scale", part="appendix"),
    Chapter("91_engine_vs_published", "The engine against published fits", part="appendix"),
)

#: Prose pages of the book (no notebook), in their place in the table of contents.
PROSE_PAGES = {"appendix": ("appendix_fitting_protocol",)}


def get(name: str) -> Chapter:
    """The registered chapter ``name`` (a ``ValueError`` naming the allowed ones otherwise)."""
    for chapter in CHAPTERS:
        if chapter.name == name:
            return chapter
    raise ValueError(f"unknown chapter {name!r}; allowed: {', '.join(c.name for c in CHAPTERS)}")


def reproduced_chapters() -> list[Chapter]:
    """The chapters that reproduce paper items (the rows of the intro's map), in book order."""
    return [c for c in CHAPTERS if c.paper]

