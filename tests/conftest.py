"""Test session set-up: a headless plotting backend and one tokenizer/token cache shared by the session.

``ATLAS_CACHE_DIR`` points at a fresh temporary folder (unless the caller set it, e.g. CI keeping a cache
between jobs), so tests never read tokenizers trained by an earlier, possibly different, checkout; the
folder is removed when the session ends. Subprocesses (papermill kernels) inherit both variables.
"""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
_OWN_CACHE = None
if "ATLAS_CACHE_DIR" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="atlas-test-cache-")
    os.environ["ATLAS_CACHE_DIR"] = _OWN_CACHE


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001 - pytest hook signature
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
