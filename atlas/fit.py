"""One fitting engine for every law in :mod:`atlas.laws`: Huber on log loss, a grid of starts, L-BFGS-B.

Protocol (book appendix "Fitting protocol" gives the reasons):

1. **Objective**: ``sum_i Huber_delta(log Lhat_i - log L_i)`` with ``delta = 1e-3`` (Chinchilla approach 3),
   float64, analytic gradient (exact; checked against finite differences in the tests).
2. **Starts**: the Cartesian product of every free parameter's grid (:class:`atlas.laws.Param.grid`,
   overridable) is evaluated in one vectorised pass; the ``n_starts`` best grid points (and any explicit
   ``starts``) are optimised. ``n_starts=None`` optimises every grid point (Chinchilla's protocol; slow).
3. **Optimiser**: lmfit ``minimize(method="lbfgsb")`` (L-BFGS-B on lmfit's bounded-parameter transform),
   by default replayed without lmfit's per-call overhead (``engine="direct"``, bit-identical fits).
   The best final objective wins; the result records its grid start, how many starts reported
   convergence and how many reached the best objective (within ``1e-6`` relative).
4. **Goodness of fit**: R^2 is computed on the **loss** (nats/token), not on log loss:
   ``1 - sum (L - Lhat)^2 / sum (L - mean L)^2``. Held-out R^2 uses the paper's splits (App. B.3):
   random 20 %, largest N, top-20 % D, top-20 % C = 6 N D_tot, unseen mixtures (K >= 3).
5. **Uncertainty**: seeded bootstrap that resamples *runs* (``run_id``) with replacement when that column
   exists, else points; percentile CIs; failed replicates are counted and listed, never dropped silently.

6. **Diagnostics**: a free parameter within ``BOUND_RTOL`` of its bound span is flagged ``at_bound:P``; the
   distinct optima whose objective is within ``max(IDENT_RTOL, 1/n)`` of the best are listed
   (``FitResult.optima``) and a parameter that differs materially between them (> 10 %) is flagged
   ``not_identified:P`` with the range it spans; ``no_information:P`` marks a saturation rate no point can
   move. Every parameter fixed (``fixed`` on all): the given law is scored (objective, R^2), nothing fitted.

A fit that cannot be made (too few points, no finite start, optimiser error) returns ``status="failed"``
with a message; bad *input* (missing column, non-positive N, NaN loss) raises :class:`FitDataError` naming
the column and the row before any work starts.
"""

from __future__ import annotations

import time
import warnings as _warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize as scipy_minimize

try:  # tiny matrices: multithreaded BLAS only adds contention (10x slower L-BFGS-B on a busy machine)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional dependency
    threadpool_limits = None

from atlas.laws import Data, Law, LawError, get_law

HUBER_DELTA = 1e-3
#: L-BFGS-B stopping rules: relative objective change and projected-gradient size (see :func:`fit`).
LBFGS_FTOL = 1e-11
LBFGS_GTOL = 1e-8
SPLITS = ("random", "N", "D", "C", "M")
SPLIT_TITLES = {"random": "R2", "N": "R2(N)", "D": "R2(D)", "C": "R2(C)", "M": "R2(M)"}
ENGINES = ("direct", "lmfit")  # how each start is optimised (same algorithm, same result; see fit())
_LMFIT_TINY = 1e-15  # lmfit.lineshapes.tiny: a start's internal value below this is set to 0 (as lmfit does)
#: identifiability: optima whose objective is within this relative distance of the best (or 1/n, if larger)
#: are "near-best"; see :func:`distinct_optima` for why 1/n.
IDENT_RTOL = 1e-3
#: two optima differ materially when a parameter moves by more than 10 % (log-fitted parameters: |d ln| >
#: ln 1.1) -- and, for parameters fitted on a linear scale, by more than ``MATERIAL_ABS`` as well
MATERIAL_REL = 0.10
IDENT_ATOL_RMS = 1e-5  # log-loss residual per point below which two optima fit equally well (noise-free data)
MATERIAL_ABS = 0.01  # exponents and transfer weights: a 0.01 change is below any claim we test
#: R2(N): a model is "of the largest size" when its N is within 1 % of the largest N -- the same shape whose
#: count differs in the last digits (vocabulary padding, rounding in a table); grid steps are >= 5 % apart
N_RTOL = 0.01
#: a parameter is "at its bound" when within this fraction of its (internal) bound span of a bound
BOUND_RTOL = 1e-4
_SCREEN_CELLS = 131_072  # grid points x data points per vectorised chunk: 1 MB arrays stay in cache (2.5x faster than 16 MB)


class FitDataError(ValueError):
    """Input data a law cannot be fitted to (names the column and the row)."""


# --------------------------------------------------------------------------------------------------------
# input validation


def _as_frame(data: Data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame({k: np.asarray(v) for k, v in data.items()})


def validate_data(
    law: str | Law,
    data: Data,
    *,
    columns: Mapping[str, str] | None = None,
    loss: str = "loss",
    source: str = "data",
    line_offset: int | None = None,
) -> None:
    """Raise :class:`FitDataError` for the first bad column/row; ``line_offset`` adds file line numbers.

    Rules: ``loss`` finite and > 0; the law's ``positive`` columns finite (``U*`` may be ``inf``) and > 0;
    other token columns (``D_*``, ``U_*``) >= 0 and not NaN; ``K`` >= 1; ``p_family`` in (0, 1];
    a source with tokens seen (``D_x > 0``) needs unique tokens (``U_x > 0``).
    """
    law = get_law(law)
    columns = dict(columns or {})
    frame = _as_frame(data)
    if len(frame) == 0:
        raise FitDataError(f"{source}: no rows to fit")

    def where(i: int) -> str:
        s = f"row {i + 1}"
        if line_offset is not None:
            s += f" (line {i + 1 + line_offset})"
        return s

    needed = [("loss", loss)] + [(c, columns.get(c, c)) for c in law.columns]
    missing = [src for _, src in needed if src not in frame.columns]
    if missing:
        raise FitDataError(
            f"{source}: missing column {missing[0]!r} needed by law {law.name!r}"
            f" (required: {', '.join(src for _, src in needed)}; found: {', '.join(map(str, frame.columns))})"
        )
    values: dict[str, np.ndarray] = {}
    for col, src in needed:
        try:
            v = pd.to_numeric(frame[src], errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError):
            bad = next(i for i, x in enumerate(frame[src]) if not _is_number(x))
            raise FitDataError(
                f"{source}: column {src!r} must be numeric; {where(bad)} has {frame[src].iloc[bad]!r}"
            ) from None
        values[col] = v
        is_u = col == "U" or col.startswith("U_")
        nan = np.isnan(v) | (np.isinf(v) & (not is_u))
        if col == "loss":
            nan = ~np.isfinite(v)
        if nan.any():
            i = int(np.argmax(nan))
            raise FitDataError(f"{source}: column {src!r} is missing/NaN/inf at {where(i)} (value {float(v[i])!r})")
        if col == "loss" or col in law.positive:
            bad = ~(v > 0)
            rule = "> 0"
        elif col == "K":
            bad, rule = ~(v >= 1), ">= 1"
        else:
            bad, rule = ~(v >= 0), ">= 0"
        if col == "p_family":
            bad, rule = ~((v > 0) & (v <= 1)), "in (0, 1]"
        if bad.any():
            i = int(np.argmax(bad))
            raise FitDataError(f"{source}: column {src!r} must be {rule}; {where(i)} has {float(v[i])!r}")
    for col in law.columns:
        if col.startswith("D") and col != "D_tot":
            ucol = "U" + col[1:]
            if ucol in values:
                bad = (values[col] > 0) & ~(values[ucol] > 0)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise FitDataError(
                        f"{source}: {where(i)} has {columns.get(col, col)}={float(values[col][i])!r} tokens seen but "
                        f"{columns.get(ucol, ucol)}={float(values[ucol][i])!r} unique tokens (must be > 0)"
                    )


def _is_number(x: Any) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------------------
# objective


def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    """Huber loss: ``r^2/2`` for ``|r| <= delta``, ``delta (|r| - delta/2)`` beyond."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def r2_score(y: np.ndarray, yhat: np.ndarray) -> float:
    """Coefficient of determination on the values given (here: loss in nats/token)."""
    y = np.asarray(y, float)
    yhat = np.asarray(yhat, float)
    if len(y) < 2:
        return float("nan")
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0:
        return float("nan")
    return 1.0 - float(np.sum((y - yhat) ** 2)) / ss_tot


class _Problem:
    """A law, prepared data and the free/fixed/tied parameter layout; evaluates objective and gradient."""

    def __init__(
        self,
        law: Law,
        X: Mapping[str, np.ndarray],
        logy: np.ndarray,
        delta: float,
        fixed: Mapping[str, float],
        tie: Mapping[str, str],
    ):
        self.law, self.X, self.logy, self.delta = law, X, logy, delta
        self.fixed = dict(fixed)
        self.tie = dict(tie)
        self.free = [n for n in law.names if n not in self.fixed and n not in self.tie]
        self.lower = np.array([law.param(n).lower for n in self.free])
        self.upper = np.array([law.param(n).upper for n in self.free])
        self._index = {n: j for j, n in enumerate(self.free)}

    def full(self, theta_free: np.ndarray) -> dict[str, Any]:
        """Free vector (or matrix: starts x free) -> every internal parameter (columns broadcast)."""
        theta_free = np.asarray(theta_free, float)
        out: dict[str, Any] = {}
        for j, n in enumerate(self.free):
            out[n] = theta_free[..., j : j + 1] if theta_free.ndim == 2 else theta_free[j]
        for n, v in self.fixed.items():
            out[n] = v
        for n, src in self.tie.items():
            out[n] = out[src]
        return out

    def value_grad(self, theta_free: np.ndarray) -> tuple[float, np.ndarray]:
        # the optimiser's inner loop (a few hundred points): method calls instead of numpy's Python
        # wrappers (np.sum, np.clip), same arithmetic
        p = self.full(theta_free)
        logl, g = self.law.fn(p, self.X, True)
        r = logl - self.logy
        delta = self.delta
        f = float(huber(r, delta).sum()) / delta
        psi = np.minimum(np.maximum(r, -delta), delta) / delta
        grad = np.zeros(len(self.free))
        index = self._index
        for name, d in g.items():
            j = index.get(self.tie.get(name, name))
            if j is not None:
                grad[j] += float((psi * d).sum())
        return f, grad

    def values(self, thetas: np.ndarray) -> np.ndarray:
        """Objective at many free vectors at once (vectorised over chunks of starts)."""
        n = len(self.logy)
        chunk = max(1, _SCREEN_CELLS // max(n, 1))
        out = np.empty(len(thetas))
        with np.errstate(all="ignore"):
            for s in range(0, len(thetas), chunk):
                p = self.full(thetas[s : s + chunk])
                logl, _ = self.law.fn(p, self.X, False)
                r = np.broadcast_to(logl - self.logy, (min(chunk, len(thetas) - s), n))
                v = np.sum(huber(r, self.delta), axis=1) / self.delta
                out[s : s + chunk] = np.where(np.isfinite(v), v, np.inf)
        return out


# --------------------------------------------------------------------------------------------------------
# results


@dataclass
class FitResult:
    """Outcome of one fit. ``params`` use the paper's names (E, A, B, alpha, beta, lam, tau_*, phi, psi ...)."""

    law: str
    status: str  # "ok" | "failed"
    message: str
    params: dict[str, float]
    internal: dict[str, float]
    objective: float  # sum of Huber(delta) on log-loss residuals at the best fit
    r2: float  # in-sample R^2 on loss (nats/token)
    n_points: int
    n_grid: int
    n_starts: int
    n_converged: int  # starts whose L-BFGS-B run reported success
    n_at_best: int  # starts that ended within 1e-6 (relative) of the best objective
    best_start: dict[str, float]  # public values of the start that led to the best fit
    seconds: float
    huber_delta: float = HUBER_DELTA
    fixed: dict[str, float] = field(default_factory=dict)
    tie: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    loss: str = "loss"
    warnings: list[str] = field(default_factory=list)  # human-readable, one sentence each
    starts: list[list[float]] = field(default_factory=list, repr=False)  # internal free vectors tried
    #: machine-readable diagnoses, ``"kind:param"``: ``at_bound:lam``, ``not_identified:R_D_star`` (near-best
    #: optima disagree), ``no_information:lam`` (no data can move it, e.g. lambda with no repeated data)
    flags: list[str] = field(default_factory=list)
    #: False when near-best optima from different starts differ materially, or a parameter has no information
    identified: bool = True
    at_bound: list[str] = field(default_factory=list)  # public names of free parameters on a bound
    #: public name -> [min, max] over the near-best optima, for each parameter that differs materially
    not_identified: dict[str, list[float]] = field(default_factory=dict)
    #: distinct near-best optima, best first: {"objective", "rel_gap", "n_starts", "params"} (public names)
    optima: list[dict[str, Any]] = field(default_factory=list)
    ident_rtol: float = IDENT_RTOL  # the relative objective tolerance that defined "near-best" for this fit

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def trusted(self) -> bool:
        """A fit whose numbers may back a "reproduced" verdict: ok, identified, nothing on a bound."""
        return self.ok and self.identified and not self.at_bound

    def predict(self, data: Data) -> np.ndarray:
        """Predicted loss (nats/token) for ``data`` (same column mapping as the fit)."""
        if not self.ok:
            raise LawError(f"cannot predict with a failed fit ({self.message})")
        return get_law(self.law).predict(data, self.internal, self.columns)

    def to_dict(self, *, starts: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not starts:
            d.pop("starts")
        d["r2_on"] = "loss (nats/token), in-sample"
        return d


def _failed(law: Law, message: str, n: int, t0: float, **kw: Any) -> FitResult:
    nan = {p.public: float("nan") for p in law.params}
    return FitResult(
        law=law.name,
        status="failed",
        message=message,
        params=nan,
        internal={p.name: float("nan") for p in law.params},
        objective=float("nan"),
        r2=float("nan"),
        n_points=n,
        n_grid=kw.pop("n_grid", 0),
        n_starts=kw.pop("n_starts", 0),
        n_converged=0,
        n_at_best=0,
        best_start={},
        seconds=time.perf_counter() - t0,
        identified=False,  # nothing was fitted, so nothing is identified
        **kw,
    )


# --------------------------------------------------------------------------------------------------------
# the engine


def start_grid(law: str | Law, free: Sequence[str] | None = None, grid: Mapping[str, Iterable[float]] | None = None) -> np.ndarray:
    """Cartesian product of the free parameters' start values (internal units), one row per start.

    Parameters in one of the law's ``grid_groups`` share a single axis (they start equal).

    ``grid`` overrides a parameter's values; keys may be internal (``loglam``) or public (``lam``) names;
    public values of log-fitted parameters are converted.
    """
    law = get_law(law)
    free = list(law.names if free is None else free)  # an empty list means "every parameter is held"
    override: dict[str, tuple[float, ...]] = {}
    for key, vals in (grid or {}).items():
        p = law.param(key)
        vals = tuple(float(v) for v in np.atleast_1d(vals))
        override[p.name] = tuple(p.from_public(v) for v in vals) if key == p.public and p.public != p.name else vals
    groups = [tuple(n for n in g if n in free) for g in law.grid_groups]
    groups = [g for g in groups if len(g) > 1]
    grouped = {n for g in groups for n in g}
    axes: list[list[tuple[tuple[str, ...], float]]] = []
    for key in [(n,) for n in free if n not in grouped] + groups:
        p = law.param(key[0])
        vals = override.get(key[0], p.grid)
        span = p.upper - p.lower
        axes.append([(key, min(max(v, p.lower + 1e-6 * span), p.upper - 1e-6 * span)) for v in vals])
    # Cartesian product in itertools.product order (last axis fastest), one column per axis
    mesh = np.meshgrid(*[np.array([v for _, v in axis], dtype=np.float64) for axis in axes], indexing="ij")
    combos = np.stack([m.ravel() for m in mesh], axis=1) if axes else np.empty((1, 0))
    out = np.empty((len(combos), len(free)), dtype=np.float64)
    index = {n: j for j, n in enumerate(free)}
    for col, axis in enumerate(axes):
        for n in axis[0][0]:
            out[:, index[n]] = combos[:, col]
    return out


def fit(
    law: str | Law,
    data: Data,
    *,
    loss: str = "loss",
    columns: Mapping[str, str] | None = None,
    n_starts: int | None = 8,
    grid: Mapping[str, Iterable[float]] | None = None,
    starts: Sequence[Mapping[str, float]] | None = None,
    screen: bool = True,
    screen_points: int | None = 128,
    fixed: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    huber_delta: float = HUBER_DELTA,
    max_nfev: int = 3000,
    n_jobs: int = 1,
    validate: bool = True,
    source: str = "data",
    engine: str = "direct",
) -> FitResult:
    """Fit ``law`` to the rows of ``data`` (columns per :mod:`atlas.laws`; ``columns`` renames law->data).

    * ``n_starts``: how many of the best grid points to optimise (``None``: all of them).
    * ``starts``: extra start points (public or internal names; missing ones take the grid's middle value),
      always optimised; with ``screen=False`` only these are used.
    * ``screen_points``: the grid is ranked on at most this many rows (a fixed, seeded subset; ``None``:
      all rows) -- ranking starts needs the shape of the data, not every point.
    * ``n_jobs``: optimise starts in this many forked worker processes (Linux/macOS; default 1).
    * ``fixed``: parameters held at a value (public or internal names); ``tie``: ``{"beta": "alpha"}``
      makes beta equal alpha (as in Muennighoff et al.'s published fit).
    * ``engine``: ``"direct"`` (default) runs SciPy's L-BFGS-B on lmfit's bounded-parameter transform
      without lmfit's per-call bookkeeping; ``"lmfit"`` goes through ``lmfit.Minimizer``. Both take the
      same steps and return bit-identical fits (a test checks it); ``direct`` is ~1.5x faster.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    t0 = time.perf_counter()
    law = get_law(law)
    columns = dict(columns or {})
    if validate:
        validate_data(law, data, columns=columns, loss=loss, source=source)
    fixed_int: dict[str, float] = {}
    for k, v in (fixed or {}).items():
        p = law.param(k)
        fixed_int[p.name] = p.from_public(v) if k == p.public else float(v)
    tie_int = {law.param(k).name: law.param(v).name for k, v in (tie or {}).items()}
    raw = law.arrays(data, columns)
    X = law.prepare(raw)
    y = np.asarray(data[loss], dtype=np.float64)
    prob = _Problem(law, X, np.log(y), huber_delta, fixed_int, tie_int)
    n = len(y)
    common = dict(fixed=dict(fixed or {}), tie=dict(tie or {}), columns=columns, loss=loss, huber_delta=huber_delta)
    if n <= len(prob.free):
        return _failed(law, f"underdetermined: {n} points for {len(prob.free)} free parameters", n, t0, **common)

    # --- starts: screened grid + explicit ------------------------------------------------------------
    cand: list[np.ndarray] = []
    n_grid = 0
    if not prob.free:  # every parameter held: score the given law (the way to check a published fit)
        screen, starts = False, None
        cand.append(np.empty(0))
    if screen:
        G = start_grid(law, prob.free, grid)
        n_grid = len(G)
        sprob = prob
        if screen_points is not None and n > screen_points:
            sub = np.sort(np.random.default_rng(0).choice(n, int(screen_points), replace=False))
            sX = law.prepare({k: v[sub] for k, v in raw.items()})
            sprob = _Problem(law, sX, prob.logy[sub], huber_delta, fixed_int, tie_int)
        vals = sprob.values(G)
        order = np.argsort(vals, kind="stable")
        order = order[np.isfinite(vals[order])]
        take = order if n_starts is None else order[: max(int(n_starts), 0)]
        cand.extend(G[take])
    starts = list(starts or []) + _nested_start(law, data, loss, columns, fixed_int, tie_int, screen, n_starts,
                                                 huber_delta, max_nfev, engine)
    for s in starts:
        full = {}
        for p in law.params:
            if p.public in s:
                full[p.name] = p.from_public(float(s[p.public]))
            elif p.name in s:
                full[p.name] = float(s[p.name])
            else:
                full[p.name] = float(np.median(p.grid))
        v = np.array([full[nm] for nm in prob.free])
        cand.append(np.clip(v, prob.lower + 1e-9, prob.upper - 1e-9))
    if not cand:
        return _failed(law, "no start point has a finite objective", n, t0, n_grid=n_grid, **common)

    # --- optimise every start with lmfit L-BFGS-B -------------------------------------------------------
    finals: list[tuple[float, np.ndarray, bool, int]] = []
    errors: list[str] = []
    outs = [_score_only(prob)] if not prob.free else _optimise_all(prob, cand, max_nfev, n_jobs, engine)
    for i, out in enumerate(outs):
        if isinstance(out, str):
            errors.append(f"start {i}: {out}")
        elif np.isfinite(out[0]):
            finals.append((out[0], out[1], out[2], i))
    if not finals:
        msg = "every start failed" + (f" ({errors[0]})" if errors else " (non-finite objective)")
        return _failed(law, msg, n, t0, n_grid=n_grid, n_starts=len(cand), **common)
    best_f, best_x, _, best_i = min(finals, key=lambda t: t[0])
    n_conv = sum(1 for t in finals if t[2])
    n_best = sum(1 for t in finals if t[0] <= best_f + 1e-6 * max(abs(best_f), 1e-12))

    full = prob.full(best_x)
    internal = {nm: float(np.asarray(full[nm]).ravel()[0]) for nm in law.names}
    logl, _ = law.fn(internal, X, False)
    yhat = np.exp(logl)
    start_full = prob.full(cand[best_i])
    warn, flags, at_bound = _diagnose(law, prob, best_x, X)
    rtol = max(IDENT_RTOL, 1.0 / n)
    optima = distinct_optima(law, prob, finals, rtol, huber_delta)
    spans = _unidentified_spans(law, prob, optima)
    if spans:
        flags += [f"not_identified:{k}" for k in spans]
        warn.append(_unidentified_sentence(spans, optima, rtol))
    if errors:
        warn.append(f"{len(errors)} of {len(cand)} starts raised errors (first: {errors[0]})")
    message = "converged" if n_conv else "no start reported convergence; best objective kept"
    if not prob.free:
        message = "every parameter held fixed: the given law scored, nothing fitted"
    return FitResult(
        law=law.name,
        status="ok",
        message=message,
        params=law.public(internal),
        internal=internal,
        objective=best_f * huber_delta,
        r2=r2_score(y, yhat),
        n_points=n,
        n_grid=n_grid,
        n_starts=len(cand),
        n_converged=n_conv,
        n_at_best=n_best,
        best_start=law.public({nm: float(np.asarray(start_full[nm]).ravel()[0]) for nm in law.names}),
        seconds=time.perf_counter() - t0,
        warnings=warn,
        starts=[list(map(float, c)) for c in cand],
        flags=flags,
        identified=not spans and not any(f.startswith("no_information:") for f in flags),
        at_bound=at_bound,
        not_identified=spans,
        optima=optima,
        ident_rtol=rtol,
        **common,
    )


def _nested_start(law: Law, data: Data, loss: str, columns: Mapping[str, str], fixed: Mapping[str, float],
                  tie: Mapping[str, str], screen: bool, n_starts: int | None, huber_delta: float, max_nfev: int,
                  engine: str) -> list[dict[str, float]]:
    """The optimum of the law ``law`` nests (:attr:`atlas.laws.Law.nests`) with the extra parameters at the
    values that reduce ``law`` to it: a start from which ``law`` fits at least as well as the simpler law.
    Empty when the law nests none, when parameters are fixed or tied, or when the simpler fit fails."""
    if law.nests is None or fixed or tie or not screen:
        return []
    simpler = get_law(law.nests[0])
    res = fit(simpler, data, loss=loss, columns={k: v for k, v in columns.items() if k in simpler.columns},
              n_starts=n_starts, huber_delta=huber_delta, max_nfev=max_nfev, validate=False, engine=engine)
    if not res.ok:
        return []
    return [{**{p.name: p.from_public(res.params[p.public]) for p in simpler.params}, **law.nests[1]}]


def _score_only(prob: _Problem) -> tuple[float, np.ndarray, bool]:
    """No free parameter: the objective of the given law (reported as converged: nothing to optimise)."""
    f, _ = prob.value_grad(np.empty(0))
    return float(f), np.empty(0), True


# --------------------------------------------------------------------------------------------------------
# identifiability


def _differs(param: Any, a: float, b: float) -> bool:
    """Whether two internal values of one parameter differ materially (see ``MATERIAL_REL``)."""
    if param.log:  # internal value is a natural log: a relative change of the public value
        return abs(a - b) > np.log1p(MATERIAL_REL)
    d = abs(a - b)
    return d > MATERIAL_ABS and d > MATERIAL_REL * max(abs(a), abs(b))


def distinct_optima(
    law: Law, prob: _Problem, finals: Sequence[tuple[float, np.ndarray, bool, int]], rtol: float, scale: float = 1.0
) -> list[dict[str, Any]]:
    """The distinct optima whose objective is within ``rtol`` (relative) of the best, best first.

    ``finals`` are ``(objective / scale, free vector, converged, start index)`` per start. Each near-best
    final joins the first listed optimum it does not differ from materially (every free parameter within
    ``MATERIAL_REL``), else it is listed as a new one. Why ``rtol = max(1e-3, 1/n)`` in :func:`fit`: with
    Gaussian log-residuals, two optima whose sums of squares differ by a factor below ``1 + 1/n`` differ by
    less than one unit of chi^2 -- the data cannot tell them apart at one standard error. On noise-free
    data (best objective ~ 0) an absolute floor applies: a difference worth ``IDENT_ATOL_RMS`` of log-loss
    residual per point.
    """
    best = min(f for f, *_ in finals)
    # floor for noise-free data (best ~ 0): a residual of IDENT_ATOL_RMS per point is no evidence either way
    floor = len(prob.logy) * float(huber(np.array(IDENT_ATOL_RMS), prob.delta)) / prob.delta
    near = sorted((t for t in finals if t[0] <= best + max(rtol * abs(best), floor)), key=lambda t: t[0])
    params = [law.param(nm) for nm in prob.free]
    reps: list[dict[str, Any]] = []
    for f, x, _, i in near:
        for rep in reps:
            if not any(_differs(p, a, b) for p, a, b in zip(params, x, rep["_x"])):
                rep["n_starts"] += 1
                break
        else:
            full = prob.full(x)
            public = law.public({nm: float(np.asarray(full[nm]).ravel()[0]) for nm in law.names})
            reps.append({"objective": f * scale, "rel_gap": (f - best) / max(abs(best), 1e-300),
                         "n_starts": 1, "start": int(i), "params": public, "_x": np.asarray(x, float)})
    for rep in reps:
        rep.pop("_x")
    return reps


def _unidentified_spans(law: Law, prob: _Problem, optima: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Public name -> [min, max] over the near-best optima, for free parameters that differ materially."""
    out: dict[str, list[float]] = {}
    if len(optima) < 2:
        return out
    for nm in prob.free:
        p = law.param(nm)
        vals = [o["params"][p.public] for o in optima]
        inner = [p.from_public(v) if p.log else v for v in vals]
        if _differs(p, min(inner), max(inner)):
            out[p.public] = [float(min(vals)), float(max(vals))]
    return out


def _unidentified_sentence(spans: Mapping[str, Sequence[float]], optima: Sequence[dict[str, Any]], rtol: float) -> str:
    """One readable warning naming the non-identified parameters and the ranges they span."""
    ranges = ", ".join(f"{k} in [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in spans.items())
    objs = [o["objective"] for o in optima]
    return (f"not identified: {len(optima)} distinct optima from different starts fit equally well (objective "
            f"{min(objs):.5g} to {max(objs):.5g}; near-best = within {rtol:.2%} of the best) with {ranges}")


_WORKER_PROBLEM: tuple[_Problem, list[np.ndarray], int, str] | None = None


def _one_start(prob: _Problem, x0: np.ndarray, max_nfev: int, engine: str = "direct") -> tuple[float, np.ndarray, bool] | str:
    try:
        return (_run_lmfit if engine == "lmfit" else _run_direct)(prob, x0, max_nfev)
    except Exception as exc:  # numerical failure of one start: recorded, the others go on
        return f"{type(exc).__name__}: {exc}"


def _worker(i: int) -> tuple[float, np.ndarray, bool] | str:
    prob, cand, max_nfev, engine = _WORKER_PROBLEM  # type: ignore[misc]
    with threadpool_limits(1) if threadpool_limits is not None else _nullcontext():
        return _one_start(prob, cand[i], max_nfev, engine)


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


def _optimise_all(prob: _Problem, cand: list[np.ndarray], max_nfev: int, n_jobs: int, engine: str = "direct") -> list:
    """Run L-BFGS-B from every start; in ``n_jobs`` forked processes when asked (results in start order)."""
    global _WORKER_PROBLEM
    if n_jobs > 1 and len(cand) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        _WORKER_PROBLEM = (prob, cand, max_nfev, engine)  # inherited by the forked workers (closures do not pickle)
        try:
            with ProcessPoolExecutor(min(n_jobs, len(cand)), mp_context=mp.get_context("fork")) as pool:
                return list(pool.map(_worker, range(len(cand))))
        finally:
            _WORKER_PROBLEM = None
    with threadpool_limits(1) if threadpool_limits is not None else _nullcontext():
        return [_one_start(prob, x0, max_nfev, engine) for x0 in cand]


def _run_lmfit(prob: _Problem, x0: np.ndarray, max_nfev: int) -> tuple[float, np.ndarray, bool]:
    """One L-BFGS-B run from ``x0`` through lmfit; returns (objective, free vector, success)."""
    import lmfit  # only this reference engine needs it (importing lmfit costs ~1 s per process)

    params = lmfit.Parameters()
    for name, v, lo, hi in zip(prob.free, x0, prob.lower, prob.upper):
        params.add(name, value=float(v), min=float(lo), max=float(hi))
    names = prob.free
    cache: dict[str, Any] = {}

    def evaluate(pars: "lmfit.Parameters") -> tuple[float, np.ndarray]:
        x = np.array([pars[nm].value for nm in names])
        key = x.tobytes()
        if cache.get("key") != key:
            with np.errstate(all="ignore"):
                f, g = prob.value_grad(x)
            if not np.isfinite(f) or not np.all(np.isfinite(g)):
                f, g = 1e30, np.zeros_like(x)
            cache.update(key=key, f=f, g=g)
        return cache["f"], cache["g"]

    mini = lmfit.Minimizer(lambda pars: evaluate(pars)[0], params, calc_covar=False, max_nfev=max_nfev)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        res = mini.minimize(
            method="lbfgsb",
            jac=lambda pars: evaluate(pars)[1],
            options={"maxiter": max_nfev, "ftol": LBFGS_FTOL, "gtol": LBFGS_GTOL, "maxcor": 10},
        )
    x = np.array([res.params[nm].value for nm in names])
    f, _ = prob.value_grad(x)
    ok = bool(getattr(res, "success", False)) and not getattr(res, "aborted", False)
    return float(f), x, ok


class _AbortFit(Exception):
    """More objective evaluations than ``max_nfev`` (lmfit's AbortFitException, same bookkeeping)."""


def _run_direct(prob: _Problem, x0: np.ndarray, max_nfev: int) -> tuple[float, np.ndarray, bool]:
    """One L-BFGS-B run from ``x0``: exactly what :func:`_run_lmfit` does, minus lmfit's per-call overhead.

    lmfit maps each bounded parameter to an unbounded internal value (Minuit's transform,
    ``x = lo + (sin(t) + 1) (hi - lo) / 2``), runs SciPy's L-BFGS-B on ``t`` with the gradient scaled by
    ``dx/dt = cos(t) (hi - lo) / 2``, counts objective evaluations and aborts past ``max_nfev`` keeping the
    last point. The same arithmetic in the same order is done here on arrays, so the optimiser sees
    bit-identical values and takes the same steps (``tests/test_fit.py`` compares the two engines).
    """
    lo, hi = prob.lower, prob.upper
    width = hi - lo
    t0 = np.arcsin(2 * (np.clip(np.asarray(x0, float), lo, hi) - lo) / width - 1)
    t0 = np.where(np.abs(t0) < _LMFIT_TINY, 0.0, t0)
    state = {"nfev": 0, "t": t0}
    cache: dict[str, Any] = {}

    def external(t: np.ndarray) -> np.ndarray:  # lmfit's from_internal, then its clip to [lo, hi]
        return np.minimum(np.maximum(lo + (np.sin(t) + 1) * width / 2.0, lo), hi)

    def evaluate(t: np.ndarray) -> tuple[float, np.ndarray]:
        x = external(t)
        key = x.tobytes()
        if cache.get("key") != key:
            with np.errstate(all="ignore"):
                f, g = prob.value_grad(x)
            if not np.isfinite(f) or not np.all(np.isfinite(g)):
                f, g = 1e30, np.zeros_like(x)
            cache.update(key=key, f=f, g=g)
        return cache["f"], cache["g"]

    def fun(t: np.ndarray) -> float:
        state["nfev"] += 1
        state["t"] = t
        if state["nfev"] > max_nfev:
            raise _AbortFit
        return evaluate(t)[0]

    def jac(t: np.ndarray) -> np.ndarray:
        return evaluate(t)[1] * (np.cos(t) * width / 2.0)

    options = {"maxiter": max_nfev, "ftol": LBFGS_FTOL, "gtol": LBFGS_GTOL, "maxcor": 10}
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            res = scipy_minimize(fun, t0, method="L-BFGS-B", jac=jac, options=options)
        t_end, ok = np.atleast_1d(res.x), bool(res.success)
    except _AbortFit:
        t_end, ok = state["t"], False
    x = external(np.asarray(t_end, float))
    f, _ = prob.value_grad(x)
    return float(f), x, ok


def _diagnose(law: Law, prob: _Problem, x: np.ndarray, X: Mapping[str, np.ndarray]) -> tuple[list[str], list[str], list[str]]:
    """Warnings a reader should see, their flags, and the public names of free parameters on a bound.

    A parameter is on its bound when within ``BOUND_RTOL`` of the bound span (internal units); a
    saturation rate (lambda, R_D*) is flagged ``no_information`` when no point repeats data.
    """
    out: list[str] = []
    flags: list[str] = []
    at_bound: list[str] = []
    span = prob.upper - prob.lower
    for nm, v, lo, hi, sp in zip(prob.free, x, prob.lower, prob.upper, span):
        if v - lo < BOUND_RTOL * sp or hi - v < BOUND_RTOL * sp:
            p = law.param(nm)
            out.append(f"{p.public} ended on its bound [{p.to_public(lo):.4g}, {p.to_public(hi):.4g}]")
            flags.append(f"at_bound:{p.public}")
            at_bound.append(p.public)
    for nm in prob.free:
        if nm.startswith("loglam"):
            pairs = {"loglam": [("D", "U"), ("D_k1", "U_k1"), ("D_k2", "U_k2"), ("D_k3", "U_k3"), ("D_other", "U_other")],
                     "loglam_t": [("D", "U")], "loglam_k": [("D_k1", "U_k1"), ("D_k2", "U_k2"), ("D_k3", "U_k3")],
                     "loglam_o": [("D_other", "U_other")]}[nm]
            repeated = any(np.any(X[d] > X[u]) for d, u in pairs if d in X and u in X)
            if not repeated:
                out.append(f"{law.param(nm).public} is not identified: no point repeats data (D <= U everywhere)")
                flags.append(f"no_information:{law.param(nm).public}")
        if nm == "log_rd" and not np.any(X["RD"] > 0):
            out.append("R_D_star is not identified: no point repeats data (D <= U everywhere)")
            flags.append("no_information:R_D_star")
    return out, flags, at_bound


# --------------------------------------------------------------------------------------------------------
# held-out splits


def compute_column(data: Data) -> np.ndarray:
    """C = 6 N D_tot (FLOPs) from ``C``, else ``6 N D_tot``, else ``6 N D``."""
    if "C" in data:
        return np.asarray(data["C"], float)
    d = data["D_tot"] if "D_tot" in data else data["D"]
    return 6.0 * np.asarray(data["N"], float) * np.asarray(d, float)


def same_size(N: np.ndarray, sizes: Sequence[float] | np.ndarray, rtol: float = N_RTOL) -> np.ndarray:
    """Rows whose parameter count ``N`` is within ``rtol`` (relative) of any of ``sizes`` (parameters)."""
    N = np.asarray(N, float)[:, None]
    sizes = np.asarray(sizes, float)[None, :]
    return np.any(np.abs(N - sizes) <= rtol * np.abs(sizes), axis=1)


def heldout_mask(
    data: Data,
    split: str,
    *,
    seed: int = 0,
    frac: float = 0.2,
    n_values: Sequence[float] | None = None,
    columns: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Boolean mask of held-out rows for one of the paper's splits (App. B.3).

    * ``random``: a seeded random ``frac`` of the points;
    * ``N``: every point of the largest model size, i.e. with N within ``N_RTOL`` (1 %) of the largest N
      (``n_values``: hold out these sizes instead -- the paper held out 660M and 8B);
    * ``D``: the top ``frac`` of points by data (``D``; ties at the threshold held out too);
    * ``C``: the top ``frac`` by compute ``C = 6 N D_tot`` (see :func:`compute_column`);
    * ``M``: unseen mixtures -- with a balanced K design (a ``replicate`` column, :func:`atlas.grid.balanced_k_design`)
      every mixture of replicate >= 1 (one per target and K >= 2); otherwise every point whose run mixes
      K >= 3 languages (not monolingual, bilingual or Unimax; rows with ``experiment == "unimax"`` stay in
      training).
    """
    columns = dict(columns or {})
    frame = _as_frame(data)
    n = len(frame)
    if split not in SPLITS:
        raise ValueError(f"unknown held-out split {split!r}; allowed: {', '.join(SPLITS)}")
    if not 0 < frac < 1:
        raise ValueError(f"frac must be in (0, 1), got {frac!r}")
    k = max(1, int(round(frac * n)))
    if split == "random":
        mask = np.zeros(n, bool)
        mask[np.random.default_rng(seed).permutation(n)[:k]] = True
        return mask
    if split == "N":
        N = frame[columns.get("N", "N")].to_numpy(float)
        targets = np.asarray(n_values if n_values is not None else [N.max()], float)
        return same_size(N, targets)
    if split in ("D", "C"):
        v = frame[columns.get("D", "D")].to_numpy(float) if split == "D" else compute_column(
            {c: frame[columns.get(c, c)] for c in ("C", "D_tot", "D", "N") if columns.get(c, c) in frame}
        )
        threshold = np.sort(v)[n - k]
        return v >= threshold
    if "replicate" in frame and frame["replicate"].notna().any():
        return frame["replicate"].fillna(0).to_numpy(float) >= 1
    kcol = columns.get("K", "K")
    if kcol not in frame:
        raise FitDataError(f"split 'M' needs column {kcol!r} (languages in the run's mixture)")
    mask = frame[kcol].to_numpy(float) >= 3
    if "experiment" in frame:
        mask &= frame["experiment"].astype(str).to_numpy() != "unimax"
    return mask


def _fit_and_score(law: Law, train: pd.DataFrame, test: pd.DataFrame, loss: str, fit_kw: Mapping[str, Any]) -> dict[str, Any]:
    """Fit ``law`` on ``train`` and score R^2 (on loss) on ``test``: the row fields of a held-out evaluation."""
    res = fit(law, train, validate=False, **fit_kw)
    if not res.ok:
        return {"r2": np.nan, "status": "failed", "reason": res.message}
    y, yhat = test[loss].to_numpy(float), res.predict(test)
    r2 = r2_score(y, yhat)
    # R^2 = 1 - MSE / var: what the held-out points' own spread is tells how much a given error costs
    spread = {"test_sd": float(np.std(y)), "bias": float(np.mean(yhat - y)), "rmse": float(np.sqrt(np.mean((yhat - y) ** 2)))}
    return {"r2": r2, "status": "ok", "reason": "", "r2_train": res.r2, **spread, **diagnosis_columns(res), **res.params}


def heldout_r2(
    law: str | Law,
    data: Data,
    *,
    splits: Sequence[str] = SPLITS,
    seed: int = 0,
    frac: float = 0.2,
    n_values: Sequence[float] | None = None,
    **fit_kw: Any,
) -> pd.DataFrame:
    """Fit on the training part of each split and score R^2 (on loss) on its held-out part.

    One row per split: ``split, metric, n_train, n_test, r2, status, reason``, the training fit's diagnosis
    (``identified, flags, warnings, n_optima``: :func:`diagnosis_columns`) and its fitted parameters.
    A split that cannot be scored (no held-out point, too few training points, failed fit) gets
    ``r2 = NaN`` and a ``reason``; it is never dropped.
    """
    law = get_law(law)
    frame = _as_frame(data).reset_index(drop=True)
    loss = fit_kw.get("loss", "loss")
    validate_data(law, frame, columns=fit_kw.get("columns"), loss=loss)
    rows = []
    for split in splits:
        row: dict[str, Any] = {"split": split, "metric": SPLIT_TITLES.get(split, split)}
        try:
            mask = heldout_mask(frame, split, seed=seed, frac=frac, n_values=n_values, columns=fit_kw.get("columns"))
        except FitDataError as exc:
            rows.append({**row, "n_train": len(frame), "n_test": 0, "r2": np.nan, "status": "skipped", "reason": str(exc)})
            continue
        train, test = frame[~mask], frame[mask]
        row.update(n_train=len(train), n_test=len(test))
        if len(test) < 2:
            rows.append({**row, "r2": np.nan, "status": "skipped", "reason": f"only {len(test)} held-out point(s)"})
            continue
        rows.append({**row, **_fit_and_score(law, train, test, loss, fit_kw)})
    return pd.DataFrame(rows)


def leave_group_out_r2(
    law: str | Law,
    data: Data,
    by: str,
    *,
    groups: Sequence[Any] | None = None,
    **fit_kw: Any,
) -> pd.DataFrame:
    """Held-out R^2 of a law on whole groups it never saw: for each value g of column ``by`` (or each of
    ``groups``), fit on the rows with ``by != g`` and score R^2 (on loss) on the rows with ``by == g``.

    The K-law's validation on held-out languages (``by="eval_lang"``) and held-out K (``by="K"``). One row per
    group: ``group, n_train, n_test, r2, status, reason``, the training fit's diagnosis and parameters; a group
    that cannot be scored keeps its row with ``r2 = NaN`` and a reason.
    """
    law = get_law(law)
    frame = _as_frame(data).reset_index(drop=True)
    loss = fit_kw.get("loss", "loss")
    if by not in frame:
        raise FitDataError(f"no column {by!r} to hold out by; columns: {', '.join(map(str, frame.columns))}")
    validate_data(law, frame, columns=fit_kw.get("columns"), loss=loss)
    rows = []
    for g in (sorted(frame[by].dropna().unique()) if groups is None else list(groups)):
        test_mask = (frame[by] == g).to_numpy()
        train, test = frame[~test_mask], frame[test_mask]
        row: dict[str, Any] = {"group": g, "n_train": len(train), "n_test": len(test)}
        if len(test) < 2 or len(train) < len(law.params):
            rows.append({**row, "r2": np.nan, "status": "skipped",
                         "reason": f"{len(test)} held-out and {len(train)} training point(s)"})
            continue
        rows.append({**row, **_fit_and_score(law, train, test, loss, fit_kw)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# bootstrap


@dataclass
class BootstrapResult:
    """Bootstrap of one fit: parameter draws, percentile CIs and the failed replicates."""

    law: str
    unit: str  # "run_id" (runs resampled) or "point"
    n_boot: int
    seed: int
    draws: pd.DataFrame  # one row per replicate: replicate, status, message, <public params>, r2
    summary: pd.DataFrame  # param, estimate, lo, hi, n_ok
    n_failed: int
    failures: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "unit": self.unit,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "n_failed": self.n_failed,
            "failures": self.failures,
            "ci": {r["param"]: [r["lo"], r["hi"]] for r in self.summary.to_dict("records")},
        }


def bootstrap(
    law: str | Law,
    data: Data,
    *,
    n_boot: int = 100,
    seed: int = 0,
    group: str | None = "auto",
    base: FitResult | None = None,
    n_starts: int = 4,
    ci: float = 0.95,
    progress: bool = False,
    **fit_kw: Any,
) -> BootstrapResult:
    """Seeded bootstrap CIs. Resamples runs (``group`` column; ``"auto"``: ``run_id`` if present) with
    replacement, else points. Each replicate is fitted from the full-data optimum plus the full fit's
    ``n_starts - 1`` best grid starts (no re-screening), so replicates are cheap and deterministic.
    """
    from tqdm import tqdm

    law = get_law(law)
    frame = _as_frame(data).reset_index(drop=True)
    if group == "auto":
        group = "run_id" if "run_id" in frame else None
    if base is None:
        base = fit(law, frame, **fit_kw)
    if not base.ok:
        raise FitDataError(f"cannot bootstrap: the fit on all data failed ({base.message})")
    rng = np.random.default_rng(seed)
    if group is not None:
        keys = frame[group].to_numpy()
        uniq = pd.unique(keys)
        idx_of = {u: np.flatnonzero(keys == u) for u in uniq}
    starts = [dict(base.internal)]
    held = {law.param(k).name for k in list(base.fixed) + list(base.tie)}
    free = [n for n in law.names if n not in held]
    for vec in base.starts[: max(n_starts - 1, 0)]:
        starts.append({**base.internal, **dict(zip(free, vec))})
    kw = {k: v for k, v in fit_kw.items() if k not in ("n_starts", "starts", "screen", "grid")}
    rows, failures = [], []
    for b in tqdm(range(n_boot), desc=f"bootstrap {law.name}", disable=not progress):
        if group is None:
            idx = rng.integers(0, len(frame), len(frame))
        else:
            pick = rng.integers(0, len(uniq), len(uniq))
            idx = np.concatenate([idx_of[uniq[j]] for j in pick])
        sample = frame.iloc[idx].reset_index(drop=True)
        res = fit(law, sample, starts=starts, screen=False, validate=False, **kw)
        rows.append({"replicate": b, "status": res.status, "message": res.message, "r2": res.r2, **res.params})
        if not res.ok:
            failures.append(f"replicate {b}: {res.message}")
    draws = pd.DataFrame(rows)
    ok = draws[draws.status == "ok"]
    q = (1 - ci) / 2
    summary = pd.DataFrame(
        [
            {
                "param": p.public,
                "estimate": base.params[p.public],
                "lo": float(ok[p.public].quantile(q)) if len(ok) else np.nan,
                "hi": float(ok[p.public].quantile(1 - q)) if len(ok) else np.nan,
                "n_ok": len(ok),
            }
            for p in law.params
        ]
    )
    return BootstrapResult(law.name, group or "point", n_boot, seed, draws, summary, len(failures), failures)


# --------------------------------------------------------------------------------------------------------
# many fits


def diagnosis_columns(res: FitResult) -> dict[str, Any]:
    """A fit's diagnosis as flat table cells: ``identified`` (bool), ``flags`` (comma-separated
    ``kind:param``; ``failed`` for a failed fit), ``warnings`` (sentences joined by `` | ``), ``n_optima``
    (distinct near-best optima)."""
    flags = list(res.flags) if res.ok else ["failed"]
    return {"identified": bool(res.ok and res.identified), "flags": ",".join(flags),
            "warnings": " | ".join(res.warnings), "n_optima": len(res.optima)}


def fit_groups(law: str | Law, data: Data, by: str | Sequence[str], **fit_kw: Any) -> pd.DataFrame:
    """Fit ``law`` separately to each group of rows (e.g. per ``eval_lang``); one row per group.

    Failed fits (and groups whose data fail validation) appear with ``status`` and ``message``; none is
    dropped. Every row carries the fit's diagnosis (:func:`diagnosis_columns`): ``identified``, ``flags``,
    ``warnings``, ``n_optima``.
    """
    law = get_law(law)
    frame = _as_frame(data)
    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, part in frame.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        head = dict(zip(keys, key))
        try:
            res = fit(law, part.reset_index(drop=True), **fit_kw)
            rows.append({**head, "law": law.name, "status": res.status, "message": res.message, "r2": res.r2,
                         "n_points": res.n_points, "n_converged": res.n_converged, "n_starts": res.n_starts,
                         **diagnosis_columns(res), **res.params})
        except FitDataError as exc:
            rows.append({**head, "law": law.name, "status": "failed", "message": str(exc), "r2": np.nan,
                         "n_points": len(part), "identified": False, "flags": "failed", "warnings": str(exc),
                         "n_optima": 0})
    return pd.DataFrame(rows)
