"""Build the book: papermill every chapter with a preset, then ``jupyter-book build`` strictly.

``python -m atlas.bookbuild --preset cpu`` is what ``make book`` runs. Chapters are executed by papermill
(``notebooks/NN_*.ipynb`` -> ``<book-dir>/NN_*.ipynb``, cwd = the book directory), never by Jupyter Book
(``execute_notebooks: off``). The intro (``00_*``) runs last because it gathers the verdicts the other
chapters record. The build is strict (``-W -n --keep-going``): a warning or a broken chapter fails it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from atlas.chapters import CHAPTERS
from atlas.chapters.page import BOOK_NOTE_ENV
from atlas.paths import REPO_ROOT
from atlas.presets import Preset


#: The committed study the book shows; a chapter whose experiments it has not finished falls back to smoke.
STUDY_PRESET, FALLBACK_PRESET = "cpu", "smoke"
AUTO = "auto"
#: The environment variable through which a chapter's kernel learns why it shows the fallback preset.
NOTE_ENV = BOOK_NOTE_ENV


def chapter_presets(preset: str) -> dict[str, tuple[str, str]]:
    """``{chapter: (preset it reads, note)}``. A named preset: every chapter reads it (no note).

    ``auto``: a chapter reads ``cpu`` when every experiment it reads (:attr:`atlas.chapters.Chapter.experiments`)
    is complete in ``runs/cpu``, else ``smoke``, with a note naming what is missing (shown at the top of the
    page and printed here); chapters that read no runs, the intro and the appendices read ``cpu``.
    """
    if preset != AUTO:
        Preset.load(preset)  # a bad name fails before any work
        return {c.name: (preset, "") for c in CHAPTERS}
    from atlas.grid import grid_status

    status = grid_status(Preset.load(STUDY_PRESET))
    runs = status.groupby("experiment")["status"]
    done, total = runs.apply(lambda x: int((x == "done").sum())), runs.size()
    out = {}
    for c in CHAPTERS:
        missing = [e for e in c.experiments if e not in total or done.get(e, 0) < total[e]]
        if not missing:
            out[c.name] = (STUDY_PRESET, "")
            continue
        counts = ", ".join(f"{e} {done.get(e, 0)} of {total.get(e, 0)}" for e in missing)
        out[c.name] = (FALLBACK_PRESET, (
            f"The committed `{STUDY_PRESET}` study has not finished the runs this chapter reads ({counts} recorded), "
            f"so this page shows the `{FALLBACK_PRESET}` preset, whose numbers only prove that the pipeline runs. "
            f"`make runs PRESET={STUDY_PRESET}` finishes them; `BOOK_PRESET={STUDY_PRESET}` shows the partial study."))
    fallback = [name for name, (p, _) in out.items() if p == FALLBACK_PRESET]
    if fallback:
        print(f"note: runs/{STUDY_PRESET} is incomplete; chapters {', '.join(fallback)} show {FALLBACK_PRESET} "
              f"(the others show {STUDY_PRESET}).", file=sys.stderr)
    return out


def chapters(notebook_dir: Path | None = None) -> list[Path]:
    """Chapter templates in execution order: body chapters in the registry's order, then the intro (``00_*``).

    The chapters are the registry's (:data:`atlas.chapters.CHAPTERS`); a ``notebook_dir`` other than
    ``notebooks/`` (tests) is read as it is: its ``NN_*.ipynb`` by number.
    """
    if notebook_dir is None:
        found = [REPO_ROOT / "notebooks" / f"{c.name}.ipynb" for c in CHAPTERS]
    else:
        found = sorted(Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not p.name.startswith("00_")] + [p for p in found if p.name.startswith("00_")]


#: Chapters started first when several run at once (the slowest ones, as the registry marks them).
SLOW_CHAPTERS = tuple(c.name for c in CHAPTERS if c.slow)


def default_jobs() -> int:
    """Chapters executed at once: one per core, at most 4 (each chapter is one mostly single-threaded kernel)."""
    return max(1, min(4, os.cpu_count() or 1))


def check_jobs(jobs: int | None) -> int:
    """``jobs`` chapters at once (``None``: :func:`default_jobs`); anything below 1 is refused."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: must be a positive number of chapters to execute at once")
    return jobs


def _ipc_kernel_manager(socket_dir: str) -> type:
    """A kernel manager whose kernel talks over Unix sockets in ``socket_dir`` (private to this user).

    Jupyter's default is unencrypted TCP on localhost, which ipykernel (rightly) warns about once per chapter.
    """
    from jupyter_client import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(transport="ipc", ip=os.path.join(socket_dir, "kernel"), **kwargs)

    return IPCKernelManager


def _execute_one(nb: str, target: str, preset: str, cwd: str, note: str = "") -> float:
    """Execute one chapter with papermill; returns its wall time in seconds (runs in a worker process).
    ``note`` reaches the chapter's kernel through :data:`NOTE_ENV` (shown by :func:`atlas.chapters.page.setup`)."""
    import tempfile

    import papermill as pm

    if note:
        os.environ[NOTE_ENV] = note
    else:
        os.environ.pop(NOTE_ENV, None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="atlas-kernel-") as sockets:
        pm.execute_notebook(nb, target, parameters={"preset": preset}, cwd=cwd,
                            kernel_name="python3", progress_bar=False, log_output=False,
                            kernel_manager_class=_ipc_kernel_manager(sockets))
    prepare_for_html(target)
    return time.perf_counter() - start


class ChaptersFailed(RuntimeError):
    """Chapters failed. ``input_errors``: one line per chapter that stopped in its validation cell (bad input),
    empty when any chapter failed elsewhere."""

    def __init__(self, message: str, input_errors: list[str]):
        super().__init__(message)
        self.input_errors = input_errors


def validation_error(exc: BaseException, template: Path) -> str | None:
    """``"<ErrorName>: <message>"`` when ``exc`` (papermill's) was raised by the chapter's validation cell --
    the first code cell after the parameters cell of ``template`` -- else ``None``."""
    source = getattr(exc, "source", None)
    if source is None:
        return None
    import nbformat

    cells = nbformat.read(template, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    first = next((c for c in cells[tagged[0] + 1:] if c.cell_type == "code"), None) if tagged else None
    if first is None or first.source.strip() != str(source).strip():
        return None
    return f"{exc.ename}: {' '.join(str(exc.evalue).split())}"


def _input_errors(failed: dict[str, BaseException], todo: list[Path]) -> list[str]:
    """One line per failed chapter if every one of them stopped on its validation cell, else ``[]``."""
    templates = {p.stem: p for p in todo}
    lines = [(stem, validation_error(exc, templates[stem])) for stem, exc in sorted(failed.items())]
    return [f"chapter {stem}: {line}" for stem, line in lines] if all(line for _, line in lines) else []


#: Tags that already say how a cell shows; folding leaves such cells alone.
_SHOW_TAGS = {"hide-input", "hide-output", "hide-cell", "remove-input", "remove-output", "remove-cell", "show-input"}


def _fold(nb) -> None:
    """Every code cell gets ``hide-input`` (a toggle shows it); papermill's ``injected-parameters`` cell stays
    open, the one parameters cell a reader sees, and the template's default ``parameters`` cell it overrides
    is removed. A cell tagged in its source (e.g. ``show-input``) keeps its own tag."""
    injected = any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags or _SHOW_TAGS & set(tags):
            continue
        tags.append("remove-cell" if injected and "parameters" in tags else "hide-input")


def _one_figure_per_cell(nb) -> None:
    """A cell with a figure caption (``mystnb: figure`` metadata) keeps its first image and nothing else:
    myst-nb wraps *every* display output of such a cell in the numbered figure. What the cell showed before the
    image moves to an output-only cell before it, what came after to one after it (same order on the page)."""
    import nbformat

    cells = []
    for cell in nb.cells:
        figure = cell.cell_type == "code" and cell.metadata.get("mystnb", {}).get("figure")
        images = [i for i, o in enumerate(cell.get("outputs", [])) if "image/png" in o.get("data", {})]
        if not figure or not images or len(cell.outputs) == 1:
            cells.append(cell)
            continue
        first = images[0]
        before, image, after = cell.outputs[:first], cell.outputs[first], cell.outputs[first + 1:]
        for outputs, where in ((before, "before"), (None, None), (after, "after")):
            if outputs is None:
                cell.outputs = [image]
                cells.append(cell)
            elif outputs:
                # (a cell with no source is skipped by myst-nb, outputs and all: hence the comment)
                extra = nbformat.v4.new_code_cell(f"# output of the figure cell {where} its figure",
                                                  metadata={"tags": ["remove-input"]})
                extra.id = f"{cell.get('id', 'cell')}-{where}"[:64]
                extra.outputs = outputs
                cells.append(extra)
    nb.cells = cells


def prepare_for_html(path: str | Path) -> None:
    """Make an executed chapter read well in Jupyter Book 1 (cell tags only; nothing is re-executed): code
    folded, one parameters cell shown, each captioned figure alone in its numbered figure."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    _one_figure_per_cell(nb)
    _fold(nb)
    nbformat.write(nb, path)


def execute_chapters(preset: str, book_dir: Path, only: list[str] | None = None,
                     jobs: int | None = None, notebook_dir: Path | None = None) -> list[Path]:
    """Execute chapters into ``book_dir`` with ``-p preset`` (``auto``: each chapter's, :func:`chapter_presets`);
    returns the executed notebooks.

    Body chapters run ``jobs`` at a time (separate kernels, independent of each other); the intro runs after
    all of them because it reads the verdicts they record. A failing chapter fails the build after the
    others have finished, naming every chapter that failed.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    presets = chapter_presets(preset)  # fails before any work on a bad preset
    jobs = check_jobs(jobs)
    book_dir = Path(book_dir)
    book_dir.mkdir(parents=True, exist_ok=True)
    todo = chapters(notebook_dir)
    if only:
        names = {p.stem for p in todo}
        bad = [o for o in only if o not in names]
        if bad:
            raise ValueError(f"unknown chapter(s) {bad}; allowed: {', '.join(sorted(names))}")
        todo = [p for p in todo if p.stem in only]
    os.environ["ATLAS_VERDICT_DIR"] = str((book_dir / "_verdicts").resolve())
    # Kernels inherit our environment; MPLBACKEND=Agg (set by the Makefile and tests for headless work) would
    # make plt.show() a no-op and leave the chapters without figures, so kernels get the inline backend.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    body = [p for p in todo if not p.name.startswith("00_")]
    intro = [p for p in todo if p.name.startswith("00_")]
    failed: dict[str, BaseException] = {}
    bar = tqdm(total=len(todo), desc=f"chapters ({preset}, {jobs} at a time)", unit="chapter")
    # chapters outside the registry (tests' notebook_dir) read the preset as given, or the study under auto
    default = (STUDY_PRESET if preset == AUTO else preset, "")

    def done(nb: Path, seconds: float | None, exc: BaseException | None) -> None:
        bar.update(1)
        if exc is None:
            tqdm.write(f"  {nb.stem}: {seconds:.1f} s -> {book_dir / nb.name}")
        else:
            failed[nb.stem] = exc
            tqdm.write(f"  {nb.stem}: FAILED ({type(exc).__name__}) -> {book_dir / nb.name}")

    args = {nb: (str(nb), str(book_dir / nb.name), chosen, str(book_dir), note)
            for nb in todo for chosen, note in [presets.get(nb.stem, default)]}

    def one_by_one(nbs: list[Path]) -> None:
        for nb in nbs:
            try:
                done(nb, _execute_one(*args[nb]), None)
            except Exception as exc:  # noqa: BLE001 - reported below with every other failure
                done(nb, None, exc)

    if jobs == 1 or len(body) <= 1:
        one_by_one(body)
    else:
        # Longest chapters first keeps the cores busy to the end (06 fits every law; 01 tokenises the corpus).
        order = sorted(body, key=lambda p: SLOW_CHAPTERS.index(p.stem) if p.stem in SLOW_CHAPTERS else len(SLOW_CHAPTERS))
        with ProcessPoolExecutor(max_workers=min(jobs, len(body))) as pool:
            futures = {pool.submit(_execute_one, *args[nb]): nb for nb in order}
            for fut in as_completed(futures):
                exc = fut.exception()
                done(futures[fut], None if exc else fut.result(), exc)
    if not failed:
        one_by_one(intro)
    bar.close()
    if failed:
        lines = [f"  {stem}: {getattr(exc, 'ename', type(exc).__name__)}: "
                 f"{getattr(exc, 'evalue', str(exc))[:300]}" for stem, exc in sorted(failed.items())]
        raise ChaptersFailed(f"{len(failed)} chapter(s) failed (executed notebooks in {book_dir}):\n"
                             + "\n".join(lines), _input_errors(failed, todo)) from next(iter(failed.values()))
    return [book_dir / nb.name for nb in todo]


def build_html(root: Path, output: Path) -> Path:
    """Run ``jupyter-book build`` strictly on ``root`` (which holds _config.yml and _toc.yml)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(root), "--path-output", str(output), "-W", "-n", "--keep-going"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return Path(output) / "_build" / "html"


def stage_sources(staging: Path) -> Path:
    """Copy the book's configuration and prose pages into ``staging`` (for builds outside the repository)."""
    staging = Path(staging)
    (staging / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_ROOT / name, staging / name)
    for page in (REPO_ROOT / "book").glob("*.md"):
        shutil.copy2(page, staging / "book" / page.name)
    shutil.copytree(REPO_ROOT / "book" / "_static", staging / "book" / "_static", dirs_exist_ok=True)
    return staging


def build(preset: str, root: Path | None = None, jobs: int | None = None) -> Path:
    """Execute every chapter and build the HTML. ``root`` defaults to the repository (HTML in book/_build)."""
    if preset != AUTO:
        Preset.load(preset)  # bad input fails before the sources are staged
    check_jobs(jobs)
    if root is None:
        root = REPO_ROOT
    else:
        root = stage_sources(root)
    start = time.perf_counter()
    execute_chapters(preset, root / "book", jobs=jobs)
    executed = time.perf_counter() - start
    html = build_html(root, root / "book")
    print(f"chapters executed in {executed:.0f} s, HTML built in {time.perf_counter() - start - executed:.0f} s: "
          f"{html / 'index.html'}")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlas.bookbuild", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True,
                        help="whose committed runs the chapters read; 'auto' = cpu for every chapter whose runs it has "
                             "finished, smoke (with a note on the page) for the others")
    parser.add_argument("--only", nargs="*", help="execute just these chapters (e.g. 01_data_sampling), no HTML")
    parser.add_argument("--root", type=Path, help="build outside the repository (sources are copied there)")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"chapters executed at once (default: one per core, at most 4; here {default_jobs()})")
    args = parser.parse_args(argv)
    try:
        if args.only:
            execute_chapters(args.preset, (args.root or REPO_ROOT) / "book", args.only, jobs=args.jobs)
        else:
            build(args.preset, args.root, jobs=args.jobs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ChaptersFailed as exc:
        if not exc.input_errors:
            raise
        # bad input to a chapter: its message is enough (the executed notebook keeps the traceback)
        print(f"error: {'; '.join(exc.input_errors)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
