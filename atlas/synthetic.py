"""Synthetic data from planted scaling-law parameters (for recovery tests and the fitting benchmark).

:data:`TRUTH` holds one planted parameter set per law; :func:`synthetic` draws points on a design wide enough
to identify every parameter (repetition included) and adds multiplicative log-normal noise to the loss.
Units: N in parameters, D / U / D_tot / D_other in tokens, loss in nats/token.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from atlas.laws import get_law

NOISE = 0.003  # multiplicative log-normal noise on the loss (0.3 %)
CHINCHILLA = dict(E=1.7, A=406.4, alpha=0.34, B=410.7, beta=0.28)
TRUTH = {
    "csl": CHINCHILLA,
    "dcsl": dict(E=float(np.exp(0.6254804)), A=float(np.exp(6.255414)), alpha=0.3526596, B=float(np.exp(7.3049974)),
                 beta=0.3526596, R_D_star=15.387756, R_N_star=5.309743),  # Muennighoff et al.'s published fit
    "msl": {**CHINCHILLA, "gamma": 0.2},
    "atlas-dt": {**CHINCHILLA, "lam": 0.2},
    "atlas-other": {**CHINCHILLA, "lam": 0.2, "tau_other": 0.3},
    "atlas": {**CHINCHILLA, "lam": 0.2, "tau_k1": 0.8, "tau_k2": 0.5, "tau_k3": 0.3, "tau_other": 0.1},
    "atlas-perlam": {**CHINCHILLA, "lam_t": 0.2, "lam_k": 1.0, "lam_other": 0.05, "tau_k1": 0.8, "tau_k2": 0.5,
                     "tau_k3": 0.3, "tau_other": 0.1},
    "atlas-other-perlam": {**CHINCHILLA, "lam_t": 0.2, "lam_other": 0.05, "tau_other": 0.3},
    "klaw": {**CHINCHILLA, "phi": 0.11, "psi": -0.04},
}


def synthetic(law_name: str, n: int = 200, seed: int = 1, noise: float = NOISE, runs: int | None = None) -> pd.DataFrame:
    """Points of a planted law on a design wide enough to identify every parameter (repetition included)."""
    rng = np.random.default_rng(seed)
    N = 10 ** rng.choice(np.linspace(7, 10, 7), n)
    D = 10 ** rng.uniform(8, 11.5, n)
    d = dict(N=N, D=D, U=10 ** rng.uniform(8, 11, n), D_tot=D / rng.uniform(0.2, 1, n),
             p_family=rng.uniform(0.1, 1, n), K=rng.choice([1, 2, 4, 8, 16], n).astype(float),
             D_other=D * rng.uniform(0, 4, n), U_other=10 ** rng.uniform(8.5, 11.5, n))
    for s in ("k1", "k2", "k3"):
        d[f"D_{s}"] = D * rng.uniform(0, 2, n)
        d[f"U_{s}"] = 10 ** rng.uniform(8, 11, n)
    frame = pd.DataFrame(d)
    frame["loss"] = get_law(law_name).predict(frame, TRUTH[law_name]) * np.exp(rng.normal(0, noise, n))
    if runs:
        frame["run_id"] = [f"r{i % runs}" for i in range(n)]
    return frame
