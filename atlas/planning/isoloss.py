"""Iso-loss planning with the curse-of-multilinguality law (ATLAS Sec. 5, App. B.7).

The K-law ``L(K, N, D_t) = L_inf + A K^phi/N^alpha + B K^psi/D_t^beta`` (D_t = tokens per language, even
sampling, ``D_tot = K D_t``). Going from K to ``rK`` languages with ``N' = s N`` and ``D_t' = t D_t`` keeps
the loss iff (Eq. 8)

    r^phi w_N s^-alpha + r^psi w_D t^-beta = 1,

where ``w_N = (A K^phi/N^alpha) / (A K^phi/N^alpha + B K^psi/D_t^beta)`` is the parameter term's share of the
reducible loss at the starting point and ``w_D = 1 - w_N``.

* From a compute-optimal start (``w_N = beta/(alpha+beta)``) the cheapest iso-loss point is
  ``s = r^(phi/alpha)``, ``t = r^(psi/beta)``, ``D_tot'/D_tot = r^(1+psi/beta)``, ``C'/C = r^(1+phi/alpha+psi/beta)``
  (:func:`language_multipliers`).
* From any start: :func:`iso_loss_data_multiplier` gives ``t`` for a chosen ``s`` (NaN when infeasible), and
  :func:`iso_loss_optimal` the cheapest ``(s, t)`` (minimum ``C' = 6 N' D_tot'``).

The paper reports only phi = 0.11 and psi = -0.04 and the multipliers ``N' = N r^0.243``,
``D_tot' = D_tot r^0.728`` (Fig. 5); :data:`PAPER_EXPONENTS` infers alpha = phi/0.243 and beta = -psi/0.272
from them [I]. These reproduce the printed 1.18x/1.66x (2K), 1.4x/2.74x (4K), 1.66x/4.54x (8K) and
1.96x/7.52x (16K) to rounding.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

#: phi, psi quoted (Sec. 5 joint fit); alpha, beta inferred from Fig. 5's exponents 0.243 = phi/alpha and
#: 0.728 = 1 + psi/beta (PAPER_NOTES 1.4, tag [I]).
PAPER_EXPONENTS: dict[str, float] = {"phi": 0.11, "psi": -0.04, "alpha": 0.11 / 0.243, "beta": 0.04 / (1 - 0.728)}
PAPER_SOURCE = (
    "ATLAS Sec. 5: phi = 0.11, psi = -0.04 (joint fit); alpha = phi/0.243 and beta = -psi/0.272 inferred from "
    "Fig. 5's N' = N r^0.243, D_tot' = D_tot r^0.728"
)


class PlanningError(ValueError):
    """A planning input outside its domain (non-positive K, N, D; beta <= 0 ...)."""


def _positive(**values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, numbers.Real) and math.isfinite(v) and v > 0):
            raise PlanningError(f"{name} must be a positive finite number, got {v!r}")


def _finite(**values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, numbers.Real) and math.isfinite(v)):
            raise PlanningError(f"{name} must be a finite number, got {v!r}")


def language_multipliers(
    from_k: float, to_k: float, *, phi: float, psi: float, alpha: float, beta: float
) -> dict[str, float]:
    """Compute-optimal iso-loss multipliers for going from ``from_k`` to ``to_k`` languages (r = to_k/from_k).

    Returns ``r``, ``N_multiplier = r^(phi/alpha)``, ``D_per_language_multiplier = r^(psi/beta)``,
    ``D_total_multiplier = r^(1+psi/beta)``, ``C_multiplier = r^(1+phi/alpha+psi/beta)`` and the exponents.
    """
    _positive(from_k=from_k, to_k=to_k, alpha=alpha, beta=beta)
    _finite(phi=phi, psi=psi)
    r = to_k / from_k
    eN, eD = phi / alpha, psi / beta
    return {
        "r": r,
        "N_multiplier": r**eN,
        "D_per_language_multiplier": r**eD,
        "D_total_multiplier": r ** (1 + eD),
        "C_multiplier": r ** (1 + eN + eD),
        "N_exponent": eN,
        "D_total_exponent": 1 + eD,
        "C_exponent": 1 + eN + eD,
    }


def loss_share(K: float, N: float, D: float, *, A: float, B: float, alpha: float, beta: float, phi: float, psi: float) -> float:
    """``w_N``: the parameter term's share of the reducible loss of the K-law at (K, N, D_t)."""
    _positive(K=K, N=N, D=D, A=A, B=B)
    tn = A * K**phi / N**alpha
    td = B * K**psi / D**beta
    return tn / (tn + td)


def optimal_share(alpha: float, beta: float) -> float:
    """``w_N`` at a compute-optimal point: ``beta/(alpha+beta)``."""
    _positive(alpha=alpha, beta=beta)
    return beta / (alpha + beta)


def iso_loss_data_multiplier(
    r: float, s: float, *, w_N: float, alpha: float, beta: float, phi: float, psi: float
) -> dict[str, Any]:
    """Eq. 8 solved for ``t = D_t'/D_t`` given ``s = N'/N`` (any starting share ``w_N``).

    ``t = [r^psi w_D / (1 - r^phi w_N s^-alpha)]^(1/beta)``; infeasible (NaN, with a reason) when
    ``s^alpha <= r^phi w_N`` -- the parameter term alone already exceeds the starting reducible loss.
    Returns ``t``, ``D_total_multiplier = r t``, ``C_multiplier = s r t``, ``feasible`` and ``reason``.
    """
    _positive(r=r, s=s, alpha=alpha, beta=beta)
    _finite(phi=phi, psi=psi)
    if not 0 <= w_N <= 1:
        raise PlanningError(f"w_N must be in [0, 1], got {w_N!r}")
    rest = 1.0 - r**phi * w_N * s ** (-alpha)
    if rest <= 0 or w_N == 1.0:
        need = (r**phi * w_N) ** (1 / alpha)
        return {
            "t": float("nan"),
            "D_total_multiplier": float("nan"),
            "C_multiplier": float("nan"),
            "feasible": False,
            "reason": f"infeasible: N multiplier s={s:g} must exceed (r^phi w_N)^(1/alpha) = {need:.4g}",
        }
    t = (r**psi * (1.0 - w_N) / rest) ** (1.0 / beta)
    return {"t": t, "D_total_multiplier": r * t, "C_multiplier": s * r * t, "feasible": True, "reason": ""}


def iso_loss_optimal(r: float, *, w_N: float, alpha: float, beta: float, phi: float, psi: float) -> dict[str, float]:
    """The cheapest iso-loss point (minimum ``C' = 6 N' K' D_t'``) when going to ``rK`` from any start.

    Lagrange stationarity gives ``alpha r^phi w_N s^-alpha = beta r^psi w_D t^-beta``, so each term takes its
    compute-optimal share: ``s = [(alpha+beta) r^phi w_N / beta]^(1/alpha)``,
    ``t = [(alpha+beta) r^psi w_D / alpha]^(1/beta)``. At ``w_N = beta/(alpha+beta)`` this is
    :func:`language_multipliers`.
    """
    _positive(r=r, alpha=alpha, beta=beta)
    if not 0 < w_N < 1:
        raise PlanningError(f"w_N must be in (0, 1), got {w_N!r}")
    s = ((alpha + beta) * r**phi * w_N / beta) ** (1 / alpha)
    t = ((alpha + beta) * r**psi * (1 - w_N) / alpha) ** (1 / beta)
    return {"N_multiplier": s, "D_per_language_multiplier": t, "D_total_multiplier": r * t, "C_multiplier": s * r * t}


def iso_loss_point(
    params: Mapping[str, float], K: float, N: float, D: float, K_new: float, N_new: float
) -> dict[str, float]:
    """With fitted K-law ``params`` (E, A, B, alpha, beta, phi, psi): the tokens per language ``D_new`` that
    give ``K_new`` languages at ``N_new`` parameters the loss of (K, N, D); NaN when unreachable."""
    from atlas.laws import klaw_loss

    p = {k: float(params[k]) for k in ("E", "A", "B", "alpha", "beta", "phi", "psi")}
    _positive(K=K, N=N, D=D, K_new=K_new, N_new=N_new)
    target = float(klaw_loss(K, N, D, **p))
    room = target - p["E"] - p["A"] * K_new ** p["phi"] / N_new ** p["alpha"]
    if room <= 0:
        return {"loss": target, "D_new": float("nan"), "D_total_new": float("nan"), "feasible": False,
                "reason": "the parameter term at (K_new, N_new) already exceeds the target's reducible loss"}
    d_new = (p["B"] * K_new ** p["psi"] / room) ** (1 / p["beta"])
    return {"loss": target, "D_new": d_new, "D_total_new": K_new * d_new, "feasible": True, "reason": ""}
