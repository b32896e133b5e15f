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

from atlas.paths import REPO_ROOT
from atlas.presets import load_preset


#: The committed study the book shows when its runs are complete; otherwise the book falls back to smoke.
STUDY_PRESET, FALLBACK_PRESET = "cpu", "smoke"


def resolve_preset(preset: str) -> str:
    """``auto`` -> ``cpu`` when every run of the cpu grid is recorded, else ``smoke`` (said loudly)."""
    if preset != "auto":
        return preset
    from atlas.grid import grid_status

    status = grid_status(STUDY_PRESET)
    missing = status[status["status"] != "done"]
    if missing.empty:
        return STUDY_PRESET
    by_exp = missing.groupby("experiment").size().to_dict()
    print(f"note: runs/{STUDY_PRESET} is incomplete ({len(missing)} of {len(status)} runs not recorded: {by_exp}); "
          f"building the book from runs/{FALLBACK_PRESET}. Finish it with `make runs PRESET={STUDY_PRESET}` "
          f"or force it with BOOK_PRESET={STUDY_PRESET}.", file=sys.stderr)
    return FALLBACK_PRESET


def chapters(notebook_dir: Path | None = None) -> list[Path]:
    """Chapter templates in execution order: body chapters by number, then the intro (``00_*``)."""
    found = sorted(Path(notebook_dir or REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not p.name.startswith("00_")] + [p for p in found if p.name.startswith("00_")]


def execute_chapters(preset: str, book_dir: Path, only: list[str] | None = None) -> list[Path]:
    """Execute chapters into ``book_dir`` with ``-p preset``; returns the executed notebooks."""
    import papermill as pm

    load_preset(preset)  # fail before any work on a bad preset
    book_dir = Path(book_dir)
    book_dir.mkdir(parents=True, exist_ok=True)
    todo = chapters()
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
    out = []
    for nb in tqdm(todo, desc=f"chapters ({preset})", unit="chapter"):
        target = book_dir / nb.name
        start = time.perf_counter()
        pm.execute_notebook(str(nb), str(target), parameters={"preset": preset}, cwd=str(book_dir),
                            kernel_name="python3", progress_bar=False, log_output=False)
        tqdm.write(f"  {nb.stem}: {time.perf_counter() - start:.1f} s -> {target}")
        out.append(target)
    return out


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
    return staging


def build(preset: str, root: Path | None = None) -> Path:
    """Execute every chapter and build the HTML. ``root`` defaults to the repository (HTML in book/_build)."""
    if root is None:
        root = REPO_ROOT
    else:
        root = stage_sources(root)
    execute_chapters(preset, root / "book")
    html = build_html(root, root / "book")
    print(f"HTML: {html / 'index.html'}")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlas.bookbuild", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True,
                        help="whose committed runs the chapters read; 'auto' = cpu if its grid is complete, else smoke")
    parser.add_argument("--only", nargs="*", help="execute just these chapters (e.g. 01_data_sampling), no HTML")
    parser.add_argument("--root", type=Path, help="build outside the repository (sources are copied there)")
    args = parser.parse_args(argv)
    try:
        args.preset = resolve_preset(args.preset)
        if args.only:
            execute_chapters(args.preset, (args.root or REPO_ROOT) / "book", args.only)
        else:
            build(args.preset, args.root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
