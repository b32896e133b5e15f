"""Planning with fitted laws: iso-loss rules when adding languages, compute-optimal sizes, and the
pretrain-from-scratch vs finetune crossover.

* :mod:`atlas.planning.isoloss`   -- K -> rK multipliers from the K-law (ATLAS Sec. 5, Eq. 8) and the
  general iso-loss solution from any starting point.
* :mod:`atlas.planning.optimal`   -- compute-optimal N and D for a FLOP budget (CSL or K-law).
* :mod:`atlas.planning.crossover` -- where training from scratch overtakes finetuning (ATLAS Sec. 6).
* :mod:`atlas.planning.sources`   -- the k best co-training source languages of a transfer matrix (beyond the
  paper; imported on use, not here, so that ``atlas.planning`` stays light).
"""

from atlas.planning.crossover import PAPER_CROSSOVER_LAW, CrossoverLaw, decide, find_crossover, fit_crossover_law
from atlas.planning.isoloss import PAPER_EXPONENTS, iso_loss_data_multiplier, language_multipliers
from atlas.planning.optimal import compute_optimal, compute_optimal_klaw

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
