"""Parameter validation for notebooks and commands: one clear error before any work starts.

Every chapter's second cell is ``cfg, languages = validate_notebook_params(preset, languages)`` (through
:func:`atlas.chapters.page.setup`): the preset name becomes the :class:`atlas.presets.Preset` the chapter
passes on. A bad preset name raises :class:`atlas.presets.PresetError` naming it and listing the allowed
presets; a bad language code raises :class:`atlas.languages.UnknownLanguageError` naming it and listing the
allowed codes. Both are :class:`ValueError` subclasses (the CLI prints them as ``error: ...`` and exits 2).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from atlas import languages as L
from atlas.corpus import EVAL_SETS
from atlas.presets import Preset, resolve

VOCAB_KINDS = ("mono", "multi")


class ParameterError(ValueError):
    """A notebook/command parameter other than the preset or the languages has a bad value."""


def _parse_languages(languages: str | Iterable[str]) -> list[str]:
    """Papermill's ``-p languages '["xx"]'`` passes a string: accept JSON/YAML lists and comma lists."""
    if isinstance(languages, str):
        text = languages.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = [t.strip().strip("'\"") for t in text.strip("[]").split(",") if t.strip()]
            return [str(x) for x in parsed]
        return [t.strip() for t in text.split(",") if t.strip()]
    return list(languages)


def _check_extra(preset: Preset, name: str, value: Any) -> Any:
    """Validate well-known extra parameters; unknown names pass through unchanged."""
    if name == "experiment" and value is not None:
        allowed = sorted(preset.experiments)
        if value not in allowed:
            raise ParameterError(f"unknown experiment {value!r} for preset {preset.name!r}; allowed: {', '.join(allowed)}")
    elif name == "eval_set" and value is not None:
        evaluated = [s for s in EVAL_SETS if s in preset.data.get("eval_sets", EVAL_SETS)]
        if value not in EVAL_SETS:
            raise ParameterError(f"unknown eval_set {value!r}; allowed: {', '.join(evaluated)}")
        if value not in evaluated:
            raise ParameterError(f"eval_set {value!r}: the runs of preset {preset.name!r} are not evaluated on it; "
                                 f"allowed: {', '.join(evaluated)}")
    elif name in ("vocab", "kind") and value is not None:
        if value not in VOCAB_KINDS:
            raise ParameterError(f"unknown {name} {value!r}; allowed: {', '.join(VOCAB_KINDS)}")
    elif name == "seed" and value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParameterError(f"seed must be a non-negative integer, got {value!r}")
    elif name.startswith("retrain_") and not isinstance(value, bool):
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    return value


def validate_notebook_params(
    preset: str | Preset, languages: str | Iterable[str] | None = None, **extra: Any
) -> tuple[Preset, list[str]]:
    """Validate a notebook's parameters and return ``(preset, languages)``.

    * ``preset``: a preset name (``smoke``, ``cpu`` ...) or a :class:`Preset`.
    * ``languages``: ``None`` (the preset's languages) or codes in any accepted form (``en``, ``eng``,
      ``eng_Latn``); returned as ISO 639-3 codes. They must have text in the bundled corpus.
    * ``extra``: other parameters; ``experiment``, ``eval_set``, ``vocab``/``kind``, ``seed`` and switches
      named ``retrain_*`` (booleans) are checked, any others accepted as they are.

    The returned preset's ``languages`` are the validated list (a chapter's ``languages`` narrow its preset).
    """
    preset = resolve(preset)
    if languages is None:
        langs = L.validate_languages(preset.languages, require_corpus=True)
    else:
        langs = L.validate_languages(_parse_languages(languages), require_corpus=True)
    for name, value in extra.items():
        _check_extra(preset, name, value)
    return preset.replace(languages=langs), langs
