"""Book build test: every chapter executed with the smoke preset, built strictly, opened in headless Chromium.

This is the slowest test (a few minutes on 2 cores). It builds outside the repository (a temp dir), so it
never touches book/. Chromium is Debian's package (`apt-get install chromium`); `.ci/run` installs it and sets
ATLAS_REQUIRE_BROWSER=1 so that CI fails, rather than skips, when the browser is missing.

Each page is opened twice: once as built (its DOM after scripts ran, and a screenshot saved under
``<build>/screenshots/<chapter>.png`` for people to look at), and once as a copy with a small script that
measures it in the browser once MathJax has typeset it: tables wider than their column, raw TeX left on the
page, Python reprs (``np.int64(``), folded code, parameters cells shown.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from atlas import bookbuild
from atlas.chapters import verdicts

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
ERROR_PATTERNS = [r"Traceback \(most recent call last\)", r"\bError:", r"Exception:", r"PapermillExecutionError"]
#: Text a reader must never see: Python reprs, and TeX that MathJax did not typeset.
REPR_PATTERNS = [r"np\.(int|float|bool_|str_)\d*\(", r"\barray\(\[", r"Timestamp\("]
RAW_TEX = [r"\\\(", r"\\\[", r"\$\$", r"\\(frac|lambda|alpha|beta|phi|psi|sum|mathrm|text)\b"]

#: Appended to a copy of a page: measures it after MathJax and writes the result into the DOM.
PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const r = {overflow: [], params: 0, open_code: 0, math: document.querySelectorAll("mjx-container").length};
  const article = document.querySelector("article") || document.body;
  const right = article.getBoundingClientRect().right + 1;
  for (const t of document.querySelectorAll("article table")) {
    const box = t.parentElement;
    if (t.getBoundingClientRect().right > right || box.scrollWidth > box.clientWidth + 1)
      r.overflow.push((t.innerText || "").slice(0, 80));
  }
  for (const c of document.querySelectorAll("div.cell")) {
    const input = c.querySelector("div.cell_input");
    if (!input) continue;
    const folded = c.classList.contains("tag_hide-input") || input.closest("details");
    if (/\\bpreset\\s*=/.test(input.innerText) && !folded) r.params += 1;
    if (!folded) r.open_code += 1;
  }
  const out = document.createElement("pre");
  out.id = "atlas-probe"; out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
}, 2500));
</script>
"""


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
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000",
         "--window-size=1280,1600", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _probe(browser: str, page: Path, profile: Path) -> dict:
    """Measurements of ``page`` in the browser (see :data:`PROBE`)."""
    copy = page.with_name(f"_probe_{page.name}")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        dom = _dump_dom(browser, copy, profile)
    finally:
        copy.unlink()
    found = re.search(r'<pre id="atlas-probe">(.*?)</pre>', dom, flags=re.S)
    assert found, f"{page.name}: the probe script did not run"
    return json.loads(html_lib.unescape(found.group(1)))


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style|mjx-assistive-mml)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    dom = re.sub(r"<(div|details)\b[^>]*class=\"[^\"]*(cell_input|toggle-details)[^\"]*\".*?</\1>", " ", dom,
                 flags=re.S | re.I)
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


@pytest.fixture(scope="module")
def browser() -> str:
    found = _chromium()
    if found is None:
        if os.environ.get("ATLAS_REQUIRE_BROWSER"):
            pytest.fail("ATLAS_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


@pytest.mark.slow
def test_every_chapter_executes_and_builds(built_book: Path):
    pages = {p.stem for p in built_book.glob("book/*.html")}
    for nb in bookbuild.chapters():
        assert nb.stem in pages, f"chapter {nb.stem} missing from the HTML build"
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax is not served with the book"
    for page in built_book.glob("book/*.html"):
        text = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net/npm/mathjax" not in text, f"{page.name}: MathJax from a CDN"
        for pattern in REPR_PATTERNS:
            assert not re.search(pattern, text), f"{page.name}: Python repr {pattern!r} in the HTML"


@pytest.mark.slow
def test_chapters_render_in_headless_chromium(built_book: Path, browser: str, tmp_path: Path):
    shots = built_book / "screenshots"
    shots.mkdir(exist_ok=True)
    problems = []
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
        for pattern in ERROR_PATTERNS + REPR_PATTERNS:
            if re.search(pattern, text):
                problems.append(f"{nb.stem}: {pattern!r} on the page")
        for pattern in RAW_TEX:
            hit = re.search(pattern, text)
            if hit:
                problems.append(f"{nb.stem}: raw TeX {text[max(0, hit.start() - 40):hit.end() + 40]!r}")
        if verdicts.NOT_EXECUTED in text or "not executed" in text:
            problems.append(f"{nb.stem}: a chapter is called not executed")
        if nb.stem.startswith("00_") and not re.search(r"<th[^>]*>\s*status\s*</th>", dom):
            problems.append(f"{nb.stem}: the reproduction map (a table with a status column) is not on the page")
        probe = _probe(browser, page, tmp_path / "profile")
        problems += [f"{nb.stem}: table wider than the page: {t!r}" for t in probe["overflow"]]
        if probe["params"] != 1:
            problems.append(f"{nb.stem}: {probe['params']} parameters cells shown (want exactly 1)")
        if probe["open_code"] > 1:
            problems.append(f"{nb.stem}: {probe['open_code']} code cells open (only the parameters should be)")
        shot = shots / f"{nb.stem}.png"
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                        "--window-size=1280,2400", "--virtual-time-budget=8000", f"--screenshot={shot}",
                        page.as_uri()], capture_output=True, timeout=180, check=True)
        assert shot.stat().st_size > 20_000, f"{nb.stem}: screenshot is suspiciously small (blank page?)"
    assert not problems, "\n".join(problems)
