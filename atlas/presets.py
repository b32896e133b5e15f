"""Presets: named YAML configurations shipped as package data (``atlas/presets/<name>.yaml``).

* ``smoke`` -- tests and CI; the whole pipeline in minutes on 2 CPU cores.
* ``cpu``   -- the committed miniature study (``runs/cpu``).
* ``gpu``   -- a larger miniature for one GPU.
* ``paper`` -- the paper's own grid (Table B.3 shapes); only ever dry-run here.

Every notebook and command takes ``preset``; :func:`load_preset` validates the name before any work starts.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml

from atlas.paths import package_data


class PresetError(ValueError):
    """A bad preset name or a malformed preset file."""


def available_presets() -> list[str]:
    """Names of the presets shipped with the package, sorted."""
    folder = package_data("presets")
    return sorted(p.stem for p in folder.glob("*.yaml"))


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    path = package_data(f"presets/{name}.yaml")
    with path.open(encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict) or cfg.get("name") != name:
        raise PresetError(f"preset file {path} is malformed (its 'name' must be {name!r})")
    return cfg


def load_preset(name: str) -> dict[str, Any]:
    """Return a deep copy of preset ``name``; raise :class:`PresetError` naming the allowed presets."""
    allowed = available_presets()
    if not isinstance(name, str) or name not in allowed:
        raise PresetError(f"unknown preset {name!r}; allowed: {', '.join(allowed)}")
    return copy.deepcopy(_load(name))


def validate_preset_name(name: str) -> str:
    """Check a preset name (cheap; used by notebooks' parameter validation)."""
    load_preset(name)
    return name
