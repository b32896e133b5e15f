"""What a run is trained with, without torch: the ``train:`` settings, the WSD schedule, evaluation points.

:mod:`atlas.train` runs the loop; the grid planner and the book need only these rules, so they live here
and importing them does not load torch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from atlas.presets import Preset

TRAIN_DEFAULTS: dict[str, Any] = {
    "lr": 3.0e-3,
    "warmup_steps": 50,
    "decay_fraction": 0.1,
    "weight_decay": 0.1,
    "betas": [0.9, 0.95],
    "grad_clip": 1.0,
    "dropout": 0.0,
    "n_evals": 8,
    "first_eval_fraction": 0.02,
    "eval_batch_size": 64,
    "mixed_precision": "no",
    "compile": False,
}


class TrainError(ValueError):
    """A run spec or checkpoint that cannot be trained."""


# ----------------------------------------------------------------------------------------------------------
# Schedule and evaluation points
# ----------------------------------------------------------------------------------------------------------


def wsd_lr(step: int, total_steps: int, peak_lr: float, warmup_steps: int, decay_fraction: float) -> float:
    """Learning rate of optimiser step ``step`` (0-based) under warmup-stable-decay.

    Warm-up: ``peak * (step + 1) / warmup`` for the first ``warmup`` steps; stable: ``peak``; decay: linear
    from ``peak`` towards 0 over the last ``ceil(decay_fraction * total)`` steps (the last step gets
    ``peak / decay_steps``). Warm-up is shortened if it would overlap the decay.
    """
    if total_steps < 1 or not 0 <= step < total_steps:
        raise TrainError(f"step {step} outside [0, {total_steps})")
    if not 0 <= decay_fraction <= 1:
        raise TrainError(f"decay_fraction must be in [0, 1], got {decay_fraction}")
    decay_steps = math.ceil(decay_fraction * total_steps)
    decay_start = total_steps - decay_steps
    warmup = min(int(warmup_steps), decay_start)
    if step < warmup:
        return peak_lr * (step + 1) / warmup
    if step >= decay_start:
        return peak_lr * (total_steps - step) / decay_steps
    return peak_lr


def eval_steps(total_steps: int, n_evals: int, first_fraction: float = 0.02) -> list[int]:
    """Optimiser-step counts after which to evaluate: ``n_evals`` log-spaced values ending at ``total_steps``.

    The first is ``max(1, first_fraction * total)``; duplicates (short runs) are dropped, so a run may get
    fewer evaluations than asked, never more.
    """
    if total_steps < 1 or n_evals < 1:
        raise TrainError(f"total_steps and n_evals must be >= 1, got {total_steps}, {n_evals}")
    first = max(1.0, first_fraction * total_steps)
    if n_evals == 1 or first >= total_steps:
        return [total_steps]
    points = np.unique(np.round(np.geomspace(first, total_steps, n_evals)).astype(int))
    return [int(p) for p in points]


def cooldown_branches(
    total_steps: int, points: int, decades: float, fraction: float, warmup_steps: int = 0
) -> list[tuple[int, int]]:
    """WSD cooldown branches (Hagele et al. 2024): ``(start, end)`` optimiser steps of each decayed model.

    ``points`` budgets log-spaced over at least ``decades`` decades (rounded down) end at ``total_steps`` (the main run's own decay,
    not a branch, so it is not returned). A branch for budget ``end`` forks the main run's stable-phase state
    after ``start = end - ceil(fraction * end)`` steps and decays the learning rate linearly to the floor over
    the remaining ``ceil(fraction * end)`` steps, exactly as :func:`wsd_lr` would for a run of ``end`` steps
    with ``decay_fraction = fraction``: each branch is a model trained on ``end`` steps (cooldown counted).
    Every branch must start after the warm-up, or the point would not be a decayed stable-phase model.
    """
    if total_steps < 1 or points < 1 or decades <= 0 or not 0 < fraction < 1:
        raise TrainError(f"cooldown needs total_steps >= 1, points >= 1, decades > 0 and fraction in (0, 1); got "
                         f"{total_steps}, {points}, {decades}, {fraction}")
    ends = np.unique(np.floor(np.geomspace(total_steps / 10 ** decades, total_steps, points) + 1e-9).astype(int))
    if len(ends) != points or ends[0] < 1:
        raise TrainError(f"{points} cooldown budgets over {decades} decades of a {total_steps}-step run collide; "
                         f"train longer or ask for fewer points")
    out = []
    for end in ends[:-1]:
        start = int(end) - math.ceil(fraction * int(end))
        if start < warmup_steps:
            raise TrainError(f"the cooldown branch ending at step {int(end)} would start at step {start}, inside "
                             f"the {warmup_steps}-step warm-up; train longer, span fewer decades or warm up faster")
        out.append((start, int(end)))
    if len({b for b, _ in out}) != len(out):
        raise TrainError(f"two of {points} cooldown branches of a {total_steps}-step run would start at the same "
                         f"step; train longer or ask for fewer points")
    return out


def spec_hash(spec: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """The one hash of a run spec (16 hex digits of a SHA-256 of its sorted JSON), ``plan_hash`` and ``exclude``
    left out. With no ``exclude`` it is the ``plan_hash`` stored in spec.json to detect stale records; the grid
    leaves out what does not change training for its checkpoint key (:func:`atlas.grid.content_key`)."""
    skip = {"plan_hash", *exclude}
    core = {k: v for k, v in spec.items() if k not in skip}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_settings(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """A ``train:`` section (a preset's, or one with an experiment's overrides) over :data:`TRAIN_DEFAULTS`,
    type-checked."""
    raw = dict(section or {})
    unknown = sorted(set(raw) - set(TRAIN_DEFAULTS) - {"batch_size", "seed"})
    if unknown:
        raise TrainError(f"unknown train setting(s) {unknown}; allowed: {sorted(TRAIN_DEFAULTS) + ['batch_size', 'seed']}")
    out = {**copy.deepcopy(TRAIN_DEFAULTS), **{k: v for k, v in raw.items() if k not in ("batch_size", "seed")}}
    for key in ("lr", "decay_fraction", "weight_decay", "grad_clip", "dropout", "first_eval_fraction"):
        out[key] = float(out[key])
    for key in ("warmup_steps", "n_evals", "eval_batch_size"):
        out[key] = int(out[key])
    if out["lr"] <= 0 or out["n_evals"] < 1 or out["warmup_steps"] < 0 or not 0 <= out["dropout"] < 1:
        raise TrainError(f"bad train settings: lr={out['lr']}, n_evals={out['n_evals']}, "
                         f"warmup_steps={out['warmup_steps']}, dropout={out['dropout']}")
    if out["mixed_precision"] not in ("no", "bf16", "fp16"):
        raise TrainError(f"train.mixed_precision must be no, bf16 or fp16, got {out['mixed_precision']!r}")
    return out


#: Table B.2 of the paper (App. B), as quoted in atlas/paper/PAPER_NOTES.md.
PAPER_TABLE_B2: dict[str, str] = {
    "optimiser": "AdamW",
    "lr schedule": "WSD (warmup-stable-decay)",
    "peak lr": "2e-4",
    "warm-up": "1000 steps",
    "decay period": "last 10% of steps",
    "sequence length": "2048 tokens",
    "batch size": "256 (<150M), 512 (<1B), 1024 (<2B), 2048 (2B+) sequences",
    "steps": "30k+ ('well above' Chinchilla-optimal)",
    "dropout": "0.1",
    "weight decay": "not reported",
    "gradient clipping": "not reported",
    "precision": "not reported",
}


def hyperparameter_table(preset: Preset) -> pd.DataFrame:
    """The paper's Table B.2 beside the preset's settings (one row per setting)."""
    t = train_settings(preset.train)
    seq, batch = preset.seq_len, preset.batch_size
    ours = {
        "optimiser": f"AdamW (betas {tuple(t['betas'])}, decoupled weight decay on matrices only)",
        "lr schedule": "WSD (linear warm-up, constant, linear decay to 0)",
        "peak lr": f"{t['lr']:g}",
        "warm-up": f"{t['warmup_steps']} steps",
        "decay period": f"last {t['decay_fraction']:.0%} of steps",
        "sequence length": f"{seq} tokens",
        "batch size": f"{batch} sequences ({batch * seq:,} tokens), all sizes",
        "steps": "budget / batch tokens (see the run table)",
        "dropout": f"{t['dropout']:g}",
        "weight decay": f"{t['weight_decay']:g}",
        "gradient clipping": f"global norm {t['grad_clip']:g}" if t["grad_clip"] > 0 else "none",
        "precision": "float32" if t["mixed_precision"] == "no" else f"{t['mixed_precision']} autocast",
    }
    return pd.DataFrame({"setting": list(PAPER_TABLE_B2), "paper (Table B.2)": list(PAPER_TABLE_B2.values()),
                         f"ours ({preset.name})": [ours[k] for k in PAPER_TABLE_B2]})
