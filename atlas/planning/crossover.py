"""Pretrain from scratch or finetune (continue pretraining) a multilingual base? (ATLAS Sec. 6)

* :func:`find_crossover` -- from two loss curves ``(tokens, loss)`` of the same model size, the token count
  at which training from scratch overtakes finetuning, by log-log interpolation over the curves' common
  range; an explicit NaN with a reason when they do not cross inside it (never an extrapolation).
  Compute is reported two ways: ``6 N D`` (the paper's accounting: the base model's compute is free) and
  ``6 N (D + base_tokens)`` (the base model's training counted).
* :func:`fit_crossover_law` -- crossover compute vs model size as a power law ``C = a N^b`` (log-log OLS).
* :func:`decide` -- finetune or pretrain for a planned (N, D), from a crossover law (default: the paper's
  Fig. 7 legend, ``C = 10283128 N^1.54``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from atlas import languages
from atlas.paper_tables import crossover_points
from atlas.planning.isoloss import PlanningError
from atlas.records import read_user_json


@dataclass(frozen=True)
class CrossoverLaw:
    """Crossover compute ``C = a N^b`` (FLOPs, N in parameters)."""

    a: float
    b: float
    source: str = "user"

    def compute(self, N: float | np.ndarray) -> float | np.ndarray:
        return self.a * np.asarray(N, float) ** self.b

    def tokens(self, N: float | np.ndarray) -> float | np.ndarray:
        """Crossover tokens ``D = C / (6 N)``."""
        return self.compute(N) / (6.0 * np.asarray(N, float))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The paper's law as printed in the Fig. 7 legend. The caption prints ``10283128 N^1.65`` and the Sec. 6
#: text ``1113708 N^1.65``; only the legend is consistent with the measured 144-283B-token crossovers of 2B
#: models (PAPER_NOTES 1.5): at N = 2e9 it gives C ~ 2.2e21 FLOPs, i.e. ~180B tokens.
PAPER_CROSSOVER_LAW = CrossoverLaw(
    a=10283128.0,
    b=1.54,
    source="ATLAS (Longpre et al.) Fig. 7 legend: C = 10283128 N^1.54 (caption and Sec. 6 print other constants)",
)


def _curve(tokens: Sequence[float], loss: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(tokens, dtype=float)
    y = np.asarray(loss, dtype=float)
    if t.ndim != 1 or t.shape != y.shape:
        raise PlanningError(f"{name}: tokens and loss must be 1-D arrays of equal length, got {t.shape} and {y.shape}")
    if len(t) < 2:
        raise PlanningError(f"{name}: need at least 2 points, got {len(t)}")
    for label, v in (("tokens", t), ("loss", y)):
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise PlanningError(f"{name}: {label} must be finite and > 0; point {i} has {v[i]!r}")
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    if np.any(np.diff(t) == 0):
        raise PlanningError(f"{name}: duplicate token counts (average repeated evaluations first)")
    return t, y


def find_crossover(
    scratch_tokens: Sequence[float],
    scratch_loss: Sequence[float],
    finetune_tokens: Sequence[float],
    finetune_loss: Sequence[float],
    *,
    N: float | None = None,
    base_tokens: float | None = None,
) -> dict[str, Any]:
    """Token count (and compute) at which the from-scratch curve drops below the finetuning curve.

    Both curves give loss (nats/token) against the tokens trained *in that run* (for the finetune: tokens
    after the base checkpoint). Interpolation is linear in (log tokens, log loss), on the union of both
    curves' token counts inside their common range. The crossover is the last point where
    ``log L_scratch - log L_finetune`` changes sign from positive (finetuning better) to non-positive, so
    that scratch stays at least as good from there to the end of the range; ``n_crossings`` counts every
    sign change (noise shows up there). No crossing inside the common range -> ``tokens = NaN`` and a
    ``reason`` (scratch already better at the start, or finetuning still better at the end).

    Returns ``tokens``, ``compute = 6 N tokens`` and ``compute_with_base = 6 N (tokens + base_tokens)``
    (FLOPs; NaN without ``N``/``base_tokens``), ``reason``, ``n_crossings``, ``range`` (tokens).
    """
    ts, ys = _curve(scratch_tokens, scratch_loss, "scratch curve")
    tf, yf = _curve(finetune_tokens, finetune_loss, "finetune curve")
    if N is not None and not (math.isfinite(N) and N > 0):
        raise PlanningError(f"N (parameters) must be > 0, got {N!r}")
    if base_tokens is not None and not (math.isfinite(base_tokens) and base_tokens >= 0):
        raise PlanningError(f"base_tokens must be >= 0, got {base_tokens!r}")
    lo, hi = max(ts[0], tf[0]), min(ts[-1], tf[-1])
    out: dict[str, Any] = {"tokens": float("nan"), "compute": float("nan"), "compute_with_base": float("nan"),
                           "reason": "", "n_crossings": 0, "range": (float(lo), float(hi))}
    if not lo < hi:
        out["reason"] = f"the curves share no token range (scratch {ts[0]:.3g}-{ts[-1]:.3g}, finetune {tf[0]:.3g}-{tf[-1]:.3g})"
        return out
    grid = np.unique(np.concatenate([ts, tf, [lo, hi]]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    x = np.log(grid)
    diff = np.interp(x, np.log(ts), np.log(ys)) - np.interp(x, np.log(tf), np.log(yf))
    sign = np.sign(diff)
    out["n_crossings"] = int(np.sum(sign[1:] != sign[:-1]))
    if diff[-1] > 0:
        out["reason"] = f"no crossing: finetuning is still better at the end of the common range ({hi:.4g} tokens)"
        return out
    down = np.flatnonzero((diff[:-1] > 0) & (diff[1:] <= 0))
    if len(down) == 0:
        out["reason"] = (
            f"no crossing inside the range: scratch is already as good as finetuning at its start ({lo:.4g} tokens)"
        )
        return out
    j = int(down[-1])
    frac = diff[j] / (diff[j] - diff[j + 1])
    tokens = float(np.exp(x[j] + frac * (x[j + 1] - x[j])))
    out["tokens"] = tokens
    if N is not None:
        out["compute"] = 6.0 * N * tokens
        if base_tokens is not None:
            out["compute_with_base"] = 6.0 * N * (tokens + base_tokens)
    return out


def fit_crossover_law(N: Sequence[float], C: Sequence[float], *, source: str = "fitted") -> tuple[CrossoverLaw, dict[str, Any]]:
    """Fit ``C = a N^b`` by least squares on ``log C = log a + b log N``.

    NaN crossovers (no crossing within range) are excluded and counted in the returned info
    (``n_used``, ``n_excluded``, ``r2_log``), never silently. Needs two distinct N with a crossover.
    """
    N = np.asarray(N, float)
    C = np.asarray(C, float)
    if N.shape != C.shape:
        raise PlanningError(f"N and C must have the same length, got {N.shape} and {C.shape}")
    ok = np.isfinite(N) & np.isfinite(C) & (N > 0) & (C > 0)
    if len(np.unique(N[ok])) < 2:
        raise PlanningError(f"need crossovers at >= 2 distinct model sizes to fit C = a N^b; usable points: {int(ok.sum())}")
    x, y = np.log(N[ok]), np.log(C[ok])
    b, loga = np.polyfit(x, y, 1)
    yhat = loga + b * x
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum((y - yhat) ** 2)) / ss if ss > 0 else float("nan")
    law = CrossoverLaw(float(np.exp(loga)), float(b), source)
    return law, {"n_used": int(ok.sum()), "n_excluded": int((~ok).sum()), "r2_log": r2}


def load_crossover_law(spec: Any) -> CrossoverLaw:
    """A :class:`CrossoverLaw` from a law, a mapping ``{"a":..,"b":..}`` (optionally under ``"crossover_law"``),
    or a JSON file holding one."""
    if isinstance(spec, CrossoverLaw):
        return spec
    source = "user"
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        spec = read_user_json(path, "crossover fit file", PlanningError)
        source = f"user fit ({path.name})"
    if isinstance(spec, Mapping) and "crossover_law" in spec:
        spec = spec["crossover_law"]
    if not isinstance(spec, Mapping) or not {"a", "b"} <= set(spec):
        raise PlanningError('a crossover law needs keys "a" and "b" (C = a N^b), e.g. {"a": 10283128, "b": 1.54}')
    a, b = float(spec["a"]), float(spec["b"])
    if not (math.isfinite(a) and a > 0 and math.isfinite(b)):
        raise PlanningError(f"crossover law needs a > 0 and a finite b, got a={a!r}, b={b!r}")
    return CrossoverLaw(a, b, str(spec.get("source", source)))


def decide(target: str, N: float, D: float, fitted: Any = None, *, base_tokens: float | None = None) -> dict[str, Any]:
    """Finetune the multilingual base or pretrain ``target`` from scratch for a run of ``N`` parameters and
    ``D`` target-language tokens?

    The crossover law (default :data:`PAPER_CROSSOVER_LAW`) gives the compute ``C* = a N^b`` and tokens
    ``D* = C*/(6N)`` beyond which scratch wins: ``D < D*`` -> ``"finetune"``, else ``"pretrain"``.
    ``fitted``: a :class:`CrossoverLaw`, a mapping with ``a``/``b`` or a JSON file path.
    """
    iso3 = languages.resolve(target)
    for name, v in (("N (parameters)", N), ("D (tokens)", D)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise PlanningError(f"{name} must be a positive number, got {v!r}")
    law = PAPER_CROSSOVER_LAW if fitted is None else load_crossover_law(fitted)
    c_star = float(law.compute(N))
    d_star = float(law.tokens(N))
    choice = "finetune" if D < d_star else "pretrain"
    out: dict[str, Any] = {
        "target": iso3,
        "choice": choice,
        "N": float(N),
        "tokens": float(D),
        "compute": 6.0 * N * D,
        "crossover_tokens": d_star,
        "crossover_compute": c_star,
        "law": law.to_dict(),
        "rule": "finetune if tokens < crossover_tokens (scratch overtakes finetuning beyond it), else pretrain",
        "caveats": (
            "The paper's law is fitted on 2B-scale crossovers from one Unimax base; it ignores the base model's "
            "own compute and its mixture (Sec. 6 limitation) and does not model data repetition."
        ),
    }
    if base_tokens is not None:
        out["compute_with_base"] = 6.0 * N * (D + base_tokens)
    paper = _paper_crossover(iso3)
    if paper is not None:
        out["paper_crossover_tokens_2B"] = paper
    return out


def _paper_crossover(iso3: str) -> float | None:
    try:
        frame = crossover_points()
        row = frame[frame["language"] == iso3]
        return float(row["crossover_tokens"].iloc[0]) if len(row) else None
    except Exception:  # the transcribed table is informational only
        return None


def crossover_table(
    table: pd.DataFrame,
    *,
    eval_set: str | None = None,
    loss: str = "loss",
    match: Sequence[str] = ("shape",),
) -> pd.DataFrame:
    """Crossovers for every finetune run and its from-scratch counterpart, on the finetune's target.

    ``table``: :func:`atlas.scaling_table.build_table` output. The scratch curve is the run named by the
    finetune's ``scratch_run`` (``<experiment>/<run_id>``) when the table has it; otherwise a
    ``monolingual``-experiment (or any K = 1, non-finetune) run of the same target matched on ``match``
    columns (default the model shape: vocabularies -- hence N -- may differ). Repeated evaluations at one
    token count are averaged. One row per finetune run and evaluation set; NaN + reason when no crossing.
    Compute uses the scratch run's N.
    """
    import pandas as pd  # lazy: `plan finetune --help` must start without pandas (issue 17)

    from atlas.scaling_table import parse_mixture_id

    t = table if eval_set is None else table[table["eval_set"] == eval_set]
    ft_all = t[(t["experiment"] == "finetune") & t["base_tokens"].fillna(0).gt(0)] if "base_tokens" in t else t.iloc[:0]
    rows = []
    for (rid, es), f in ft_all.groupby(["run_id", "eval_set"]) if len(ft_all) else []:
        mix = parse_mixture_id(f["mixture_id"].iloc[0])
        target = next(iter(mix)) if len(mix) == 1 else None
        head = {"run_id": rid, "eval_set": es, "eval_lang": target, "base_tokens": float(f["base_tokens"].iloc[0])}
        for k in match:
            head[k] = f[k].iloc[0] if k in f else None
        if target is None:
            rows.append({**head, **_nan_row(f"finetune run {rid} does not train on exactly one language")})
            continue
        f = f[(f["eval_lang"] == target) & (f["tokens"] > 0)]
        # candidates: runs of this target trained from scratch (no base model)
        pool = t[(t["eval_set"] == es) & (t["eval_lang"] == target) & (t["D"] > 0) & (t["base_tokens"].fillna(0) == 0)]
        scratch_ref = f["scratch_run"].iloc[0] if "scratch_run" in f else None
        scratch_ref = scratch_ref if isinstance(scratch_ref, str) and scratch_ref else None
        if scratch_ref:
            exp, _, sid = str(scratch_ref).partition("/")
            s = pool[(pool["run_id"] == sid) & (pool["experiment"] == exp)]
        else:
            s = pool[pool["K"] == 1]
            for k in match:
                s = s[s[k] == head[k]]
            if s["run_id"].nunique() > 1:
                s = s[s["run_id"] == sorted(s["run_id"].unique())[0]]
        if s.empty:
            rows.append({**head, **_nan_row(f"no from-scratch run of {target} found for {rid}"
                                                + (f" (scratch_run {scratch_ref!r})" if scratch_ref else ""))})
            continue
        sc = s.groupby("tokens")[loss].mean()
        fc = f.groupby("tokens")[loss].mean()
        N = float(s["N"].iloc[0])
        head["scratch_run"] = str(s["run_id"].iloc[0])
        head["N"] = N
        try:
            res = find_crossover(sc.index, sc.values, fc.index, fc.values, N=N, base_tokens=head["base_tokens"])
        except PlanningError as exc:
            res = _nan_row(str(exc))
        rows.append({**head, **{k: res[k] for k in ("tokens", "compute", "compute_with_base", "reason", "n_crossings")}})
    return pd.DataFrame(rows)


def _nan_row(reason: str) -> dict[str, Any]:
    nan = float("nan")
    return {"tokens": nan, "compute": nan, "compute_with_base": nan, "reason": reason, "n_crossings": 0}
