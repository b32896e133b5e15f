"""Compute-optimal model size and data for a FLOP budget, from a fitted CSL or K-law.

With ``L = E + A/N^alpha + B/D^beta`` and ``C = 6 N D`` (Chinchilla approach 3, Hoffmann et al. 2022):
``N_opt = G (C/6)^(beta/(alpha+beta))``, ``D_opt = G^-1 (C/6)^(alpha/(alpha+beta))``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``.

For the K-law at K evenly sampled languages, ``C = 6 N D_tot`` and ``D_t = D_tot/K``, so the law in
``(N, D_tot)`` is Chinchilla's with ``A' = A K^phi`` and ``B' = B K^(psi+beta)``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from atlas.planning.isoloss import PlanningError


def _params(params: Any, names: tuple[str, ...]) -> dict[str, float]:
    p = getattr(params, "params", params)  # a FitResult or a mapping of public names
    if not isinstance(p, Mapping):
        raise PlanningError(f"expected fitted parameters (a mapping or FitResult), got {type(params).__name__}")
    missing = [k for k in names if k not in p]
    if missing:
        raise PlanningError(f"fitted parameters lack {missing}; need {', '.join(names)}")
    out = {k: float(p[k]) for k in names}
    for k in ("A", "B", "alpha", "beta"):
        if not out[k] > 0:
            raise PlanningError(f"parameter {k} must be > 0 for a compute-optimal frontier, got {out[k]!r}")
    return out


def compute_optimal(C: float | np.ndarray, params: Any) -> dict[str, Any]:
    """Compute-optimal ``N`` (parameters), ``D`` (tokens) and the predicted loss for budget(s) ``C`` (FLOPs).

    ``params``: E, A, B, alpha, beta (public names, e.g. ``fit("csl", ...).params``).
    """
    p = _params(params, ("E", "A", "B", "alpha", "beta"))
    C = np.asarray(C, dtype=float)
    if np.any(~(C > 0)):
        bad = np.atleast_1d(C)[~(np.atleast_1d(C) > 0)].tolist()
        shown = f"{bad[0]:g}" if C.ndim == 0 else f"{bad[:5]}"
        raise PlanningError(f"compute budget must be > 0 FLOPs, got {shown}")
    a, b = p["alpha"], p["beta"]
    G = (a * p["A"] / (b * p["B"])) ** (1 / (a + b))
    N = G * (C / 6) ** (b / (a + b))
    D = (C / 6) / N
    loss = p["E"] + p["A"] / N**a + p["B"] / D**b
    return {"C": C, "N": N, "D": D, "loss": loss, "tokens_per_parameter": D / N}


def compute_optimal_klaw(C: float | np.ndarray, K: float, params: Any) -> dict[str, Any]:
    """Compute-optimal ``N``, ``D_tot`` and ``D_per_language`` at ``K`` evenly sampled languages (K-law)."""
    p = _params(params, ("E", "A", "B", "alpha", "beta", "phi", "psi"))
    if not K >= 1:
        raise PlanningError(f"K (languages) must be >= 1, got {K!r}")
    eq = {"E": p["E"], "A": p["A"] * K ** p["phi"], "B": p["B"] * K ** (p["psi"] + p["beta"]),
          "alpha": p["alpha"], "beta": p["beta"]}
    out = compute_optimal(C, eq)
    out["D_tot"] = out.pop("D")
    out["D_per_language"] = out["D_tot"] / K
    out["K"] = K
    return out


def frontier(C_values: np.ndarray, params: Any, *, K: float | None = None) -> pd.DataFrame:
    """The compute-optimal frontier as a table (one row per budget); K-law when ``K`` is given."""
    out = compute_optimal(C_values, params) if K is None else compute_optimal_klaw(C_values, K, params)
    return pd.DataFrame({k: np.broadcast_to(v, np.shape(out["C"])) for k, v in out.items()})


def empirical_frontier(rows: pd.DataFrame, *, loss: str = "loss", compute: str = "C") -> pd.DataFrame:
    """The measured compute frontier: for every point, the lowest loss reached with at most its compute.

    ``rows``: one row per evaluated point (e.g. one language and vocabulary), with ``compute`` in FLOPs and
    ``loss`` in nats/token. Returns the points on the lower envelope, sorted by compute (loss strictly
    decreasing).
    """
    if rows.empty:
        return pd.DataFrame(columns=[compute, loss])
    r = rows[[compute, loss]].astype(float).sort_values([compute, loss])
    best = np.minimum.accumulate(r[loss].to_numpy())
    keep = np.r_[True, best[1:] < best[:-1]]
    return pd.DataFrame({compute: r[compute].to_numpy()[keep], loss: best[keep]}).reset_index(drop=True)


def compute_to_reach(frontier: pd.DataFrame, levels: np.ndarray, *, loss: str = "loss", compute: str = "C") -> np.ndarray:
    """FLOPs the frontier needs to reach each loss level (log-log interpolation; NaN outside its range)."""
    levels = np.asarray(levels, float)
    if len(frontier) < 2:
        return np.full(levels.shape, np.nan)
    lc = np.log(frontier[compute].to_numpy(float))
    ll = frontier[loss].to_numpy(float)  # decreasing in compute
    out = np.interp(-levels, -ll, lc, left=np.nan, right=np.nan)
    return np.exp(out)


def compute_tax(reference: pd.DataFrame, other: pd.DataFrame, *, n_levels: int = 20, loss: str = "loss",
                compute: str = "C") -> pd.DataFrame:
    """How much more compute ``other`` needs than ``reference`` to reach the same loss (ratio, per level).

    Levels span the loss range both frontiers reach; the ratio is NaN where either would extrapolate.
    """
    if len(reference) < 2 or len(other) < 2:
        return pd.DataFrame(columns=[loss, "C_reference", "C_other", "ratio"])
    lo = max(reference[loss].min(), other[loss].min())
    hi = min(reference[loss].max(), other[loss].max())
    if not lo < hi:
        return pd.DataFrame(columns=[loss, "C_reference", "C_other", "ratio"])
    levels = np.linspace(hi, lo, n_levels)
    a = compute_to_reach(reference, levels, loss=loss, compute=compute)
    b = compute_to_reach(other, levels, loss=loss, compute=compute)
    return pd.DataFrame({loss: levels, "C_reference": a, "C_other": b, "ratio": b / a})
