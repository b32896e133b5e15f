"""Planning with fitted laws: iso-loss rules when adding languages, compute-optimal sizes, and the
pretrain-from-scratch vs finetune crossover.

* :mod:`atlas.planning.isoloss`   -- K -> rK multipliers from the K-law (ATLAS Sec. 5, Eq. 8) and the
  general iso-loss solution from any starting point.
* :mod:`atlas.planning.optimal`   -- compute-optimal N and D for a FLOP budget (CSL or K-law).
* :mod:`atlas.planning.crossover` -- where training from scratch overtakes finetuning (ATLAS Sec. 6).
* :mod:`atlas.planning.sources`   -- the k best co-training source languages of a transfer matrix (beyond the
  paper; imported on use, not here, so that ``atlas.planning`` stays light).
"""

import importlib
from typing import Any

#: Public name -> submodule; imported on first use (crossover and optimal import pandas, the CLI needs neither
#: to parse its arguments).
_EXPORTS = {
    "PAPER_CROSSOVER_LAW": "crossover", "CrossoverLaw": "crossover", "decide": "crossover",
    "find_crossover": "crossover", "fit_crossover_law": "crossover",
    "PAPER_EXPONENTS": "isoloss", "iso_loss_data_multiplier": "isoloss", "language_multipliers": "isoloss",
    "compute_optimal": "optimal", "compute_optimal_klaw": "optimal",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"atlas.planning.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'atlas.planning' has no attribute {name!r}")


__all__ = [
    "PAPER_CROSSOVER_LAW",
    "PAPER_EXPONENTS",
    "CrossoverLaw",
    "compute_optimal",
    "compute_optimal_klaw",
    "decide",
    "find_crossover",
    "fit_crossover_law",
    "iso_loss_data_multiplier",
    "language_multipliers",
]
