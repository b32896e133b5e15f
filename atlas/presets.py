"""Presets: named YAML configurations shipped as package data (``atlas/presets/<name>.yaml``).

* ``smoke`` -- tests and CI; the whole pipeline in minutes on 2 CPU cores.
* ``cpu``   -- the committed miniature study (``runs/cpu``).
* ``gpu``   -- a larger miniature for one GPU.
* ``paper`` -- the paper's own grid (Table B.3 shapes); only ever dry-run here.

Every notebook and command takes ``preset``, a name. Where a name enters (a command, a notebook's
:func:`atlas.params.validate_notebook_params`, the book build) it becomes one :class:`Preset` --
:meth:`Preset.load` validates the name before any work starts and is the only place a preset file is read --
and that object is passed down: the grid, the trainer, sampling and the tokenizers take a ``Preset``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

import yaml

from atlas.paths import package_data

SECTIONS = ("name", "languages", "data", "tokenizer", "model", "train")  # what every preset must have
DEFAULT_VOCAB_SIZE = 64000  # the paper's vocabulary (App. B.1), when a preset states none


class PresetError(ValueError):
    """A bad preset name or a malformed preset file."""


def available_presets() -> list[str]:
    """Names of the presets shipped with the package, sorted."""
    folder = package_data("presets")
    return sorted(p.stem for p in folder.glob("*.yaml"))


@dataclass(frozen=True)
class Preset:
    """One validated preset: its ``name`` and its sections, read-only.

    Build one with :meth:`load` (a shipped preset) or :meth:`from_dict` (an edited copy, as tests do). Section
    accessors return copies, so no caller can change a preset another holds (:meth:`load` shares one
    instance per name); :meth:`replace` derives a changed preset.
    """

    name: str
    _config: dict[str, Any] = field(repr=False, hash=False)

    @classmethod
    def load(cls, name: str) -> Preset:
        """The shipped preset ``name``; raise :class:`PresetError` naming the allowed presets."""
        allowed = available_presets()
        if not isinstance(name, str) or name not in allowed:
            raise PresetError(f"unknown preset {name!r}; allowed: {', '.join(allowed)}")
        return _load(name)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> Preset:
        """A preset from a mapping shaped like a preset file (deep-copied); checks that its sections are there."""
        if not isinstance(config, Mapping):
            raise PresetError(f"a preset is a mapping of sections, got {type(config).__name__}")
        missing = [k for k in SECTIONS if k not in config]
        if missing:
            raise PresetError(f"preset {config.get('name', '?')!r} lacks the section(s) {missing}")
        if not isinstance(config["name"], str) or not config["name"]:
            raise PresetError(f"a preset's name must be a non-empty string, got {config['name']!r}")
        return cls(config["name"], copy.deepcopy(dict(config)))

    def to_dict(self) -> dict[str, Any]:
        """The whole preset as a new dict (edit it and pass it to :meth:`from_dict`)."""
        return copy.deepcopy(self._config)

    def replace(self, **sections: Any) -> Preset:
        """This preset with the given top-level sections replaced, e.g. ``replace(experiments={...})``."""
        return Preset.from_dict({**self._config, **sections})

    def _section(self, key: str) -> dict[str, Any]:
        return copy.deepcopy(self._config.get(key) or {})

    @property
    def languages(self) -> list[str]:
        """The preset's languages, as written in the file (codes in any accepted form)."""
        return list(self._config["languages"])

    @property
    def corpus(self) -> str:
        """Where the text comes from: ``bundled`` (the offline corpus) unless the preset names another."""
        return str(self._config.get("corpus", "bundled"))

    @property
    def data(self) -> dict[str, Any]:
        """The ``data:`` section: held-out books, test split rule, evaluation sets, unique-token caps."""
        return self._section("data")

    @property
    def tokenizer(self) -> dict[str, Any]:
        """The ``tokenizer:`` section (vocabulary sizes and SentencePiece settings)."""
        return self._section("tokenizer")

    @property
    def model(self) -> dict[str, Any]:
        """The ``model:`` section: ``seq_len`` and the ``shapes``."""
        return self._section("model")

    @property
    def train(self) -> dict[str, Any]:
        """The ``train:`` section as written (:func:`atlas.train_config.train_settings` adds the defaults)."""
        return self._section("train")

    @property
    def experiments(self) -> dict[str, Any]:
        """The ``experiments:`` section (empty when the preset has none)."""
        return self._section("experiments")

    @property
    def compute(self) -> dict[str, Any]:
        """The ``compute:`` section: the device the planner's time estimate assumes."""
        return self._section("compute")

    @property
    def studies(self) -> list[dict[str, Any]]:
        """The ``studies:`` section: named groups of runs (``runs``: ``experiment/run_id`` glob patterns) with the
        wall-clock budget (``budget_h``, hours on the ``compute`` device) the design was planned against."""
        return copy.deepcopy(self._config.get("studies") or [])

    @property
    def shapes(self) -> list[dict[str, Any]]:
        """The model shapes (Table B.3 columns), in the preset's order."""
        return copy.deepcopy(self._config["model"]["shapes"])

    @property
    def seq_len(self) -> int:
        """Tokens per training sequence."""
        return int(self._config["model"]["seq_len"])

    @property
    def batch_size(self) -> int:
        """Sequences per optimiser step (global over processes)."""
        return int(self._config["train"]["batch_size"])

    def vocab_size(self, kind: str = "multi") -> int:
        """Pieces in the multilingual (``multi``) or a monolingual (``mono``) vocabulary."""
        key = "mono_vocab_size" if kind == "mono" else "vocab_size"
        return int((self._config.get("tokenizer") or {}).get(key, DEFAULT_VOCAB_SIZE))

    @property
    def runnable(self) -> bool:
        """False for a planning-only preset (``runnable: false``, the paper's grid)."""
        return self._config.get("runnable", True) is not False

    @property
    def not_runnable_reason(self) -> str | None:
        """Why a planning-only preset cannot be trained here, if the preset says."""
        return self._config.get("not_runnable_reason")

    @property
    def reported_runs(self) -> int | None:
        """How many runs the paper reports for this grid (the ``paper`` preset only)."""
        return self._config.get("reported_runs")


@lru_cache(maxsize=None)
def _load(name: str) -> Preset:
    path = package_data(f"presets/{name}.yaml")
    with path.open(encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict) or cfg.get("name") != name:
        raise PresetError(f"preset file {path} is malformed (its 'name' must be {name!r})")
    return Preset.from_dict(cfg)


def resolve(preset: str | Preset) -> Preset:
    """``preset`` itself, or the shipped preset of that name: a name becomes a :class:`Preset` once, at the edge."""
    return preset if isinstance(preset, Preset) else Preset.load(preset)
