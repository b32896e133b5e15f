"""Book build test: every chapter executed with the smoke preset, built strictly, opened in headless Chromium.

This is the slowest test (a few minutes on 2 cores). It builds outside the repository (a temp dir), so it
never touches book/. Chromium is Debian's package (`apt-get install chromium`); `.ci/run` installs it and sets
ATLAS_REQUIRE_BROWSER=1 so that CI fails, rather than skips, when the browser is missing.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from atlas import bookbuild

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
ERROR_PATTERNS = [r"Traceback \(most recent call last\)", r"\bError:", r"Exception:", r"PapermillExecutionError"]


def _chromium() -> str | None:
    """ATLAS_BROWSER (a path or command) if set, else Debian's chromium, else Google Chrome (GitHub runners)."""
    if os.environ.get("ATLAS_BROWSER"):
        return shutil.which(os.environ["ATLAS_BROWSER"]) or os.environ["ATLAS_BROWSER"]
    for name in ("chromium", "google-chrome", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _dump_dom(browser: str, page: Path, profile: Path) -> str:
    result = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", dom))


#: On the kernels' PYTHONPATH: torch and accelerate fail to import, as on the base install `make book` uses.
NO_TORCH = Path(__file__).parent / "fixtures" / "no_torch"


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("book")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NO_TORCH), saved) if p)
    try:
        return bookbuild.build("smoke", root)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.mark.slow
def test_every_chapter_executes_and_builds(built_book: Path):
    pages = {p.stem for p in built_book.glob("book/*.html")}
    for nb in bookbuild.chapters():
        assert nb.stem in pages, f"chapter {nb.stem} missing from the HTML build"


@pytest.mark.slow
def test_chapters_render_in_headless_chromium(built_book: Path, tmp_path: Path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("ATLAS_REQUIRE_BROWSER"):
            pytest.fail("ATLAS_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("chromium not installed (apt-get install chromium)")
    for nb in bookbuild.chapters():
        page = built_book / "book" / f"{nb.stem}.html"
        dom = _dump_dom(browser, page, tmp_path / "profile")
        text = _visible_text(dom)
        assert "<h1" in dom, f"{nb.stem}: no title rendered"
        images = re.findall(r"<img\b[^>]*src=\"([^\"]+)\"", dom)
        figures = [src for src in images if "_static" not in src and "logo" not in src]
        assert figures, f"{nb.stem}: no figure rendered"
        for src in figures:
            if not src.startswith("data:"):
                assert (page.parent / src).resolve().exists(), f"{nb.stem}: broken image {src}"
        for pattern in ERROR_PATTERNS:
            assert not re.search(pattern, text), f"{nb.stem}: error text {pattern!r} on the page"
    shot = tmp_path / "intro.png"
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
                    f"--screenshot={shot}", (built_book / "book" / "00_intro.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000, "intro screenshot is suspiciously small (blank page?)"
