"""Where things live: the repository root, the bundled corpus, the run records, caches.

Every location can be overridden by an environment variable, so the package also works when installed
outside the repository (``ATLAS_DATA_DIR``, ``ATLAS_RUNS_DIR``, ``ATLAS_CACHE_DIR``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The offline corpus (Bible, FLORES-200 devtest, NTREX-128, languages.csv)."""
    return Path(os.environ.get("ATLAS_DATA_DIR", REPO_ROOT / "data"))


def runs_dir() -> Path:
    """Committed run records: ``runs/<preset>/<experiment>/<run_id>/``."""
    return Path(os.environ.get("ATLAS_RUNS_DIR", REPO_ROOT / "runs"))


def cache_dir() -> Path:
    """Tokenizers and tokenised corpora (never committed; ``make clean`` removes it)."""
    path = Path(os.environ.get("ATLAS_CACHE_DIR", REPO_ROOT / ".cache" / "atlas"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_data(relative: str) -> Path:
    """A file shipped inside the package (presets, the paper's transcribed tables)."""
    return Path(str(resources.files("atlas").joinpath(relative)))
