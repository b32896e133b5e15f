"""Scaling laws as pure numpy functions of a tidy table, each declared once in a small registry.

Every law predicts the loss (nats/token) of a run from columns of a tidy table (a pandas DataFrame or a
dict of arrays). Column names (units):

* ``N``        -- parameters (embeddings included, counted once)
* ``D``        -- target-language training tokens seen (``D_t`` in the paper)
* ``U``        -- unique target-language tokens available (``U_t``); ``inf`` = never repeated
* ``D_tot``    -- total training tokens seen, every language (MSL's data axis)
* ``D_other``, ``U_other`` -- tokens seen / unique tokens of the "other languages" source of ATLAS Eq. 2
* ``D_k1..3``, ``U_k1..3`` -- tokens seen / unique tokens of the |K_t| = 3 transfer languages of ATLAS Eq. 2
* ``K``        -- number of training languages (K-law)
* ``p_family`` -- sampling ratio of the target's language family in the mixture (MSL), in (0, 1]

Laws (``LAWS[name]``):

=================  ==================================================================================
``csl``            Chinchilla: ``E + A/N^alpha + B/D^beta``
``dcsl``           Muennighoff et al. data-constrained law with R_D*, R_N*, ``U_N = min(N, N_opt(U_D))``
``msl``            He et al.: ``(E + A/N^alpha + B/D_tot^beta) * p_family^-gamma``
``atlas-dt``       ATLAS Eqs. 1-3, monolingual term only: ``D_eff = S_lam(D; U)``
``atlas-other``    ... plus ``tau_other * S_lam(D_other; U_other)``
``atlas``          full Eq. 2 (alias ``atlas-full``): ... plus ``sum_i tau_i S_lam(D_ki; U_ki)``, one lambda
``atlas-perlam``   full Eq. 2 with one lambda per term (monolingual, transfer, other)
``klaw``           curse of multilinguality (Eq. 7): ``E + A K^phi/N^alpha + B K^psi/D^beta`` (E = L_inf)
=================  ==================================================================================

Parameterisation (what the fitting engine sees). Amplitudes are fitted in log space as in Chinchilla's
approach 3 (``e = ln E``, ``a = ln A``, ``b = ln B``) and the law is evaluated as
``log L = logsumexp(e, a - alpha ln N, b - beta ln D)``; positive scale parameters (lambda, R_D*, R_N*)
are fitted as natural logs. :meth:`Law.public` converts to the paper's names (E, A, B, lam, ...).
Every law returns ``log L`` and, on request, its exact gradient with respect to the internal parameters,
so one generic optimiser (:mod:`atlas.fit`) serves them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

Array = np.ndarray
Data = Mapping[str, Any]


class LawError(ValueError):
    """Unknown law, missing column or bad parameter values."""


# --------------------------------------------------------------------------------------------------------
# registry types


@dataclass(frozen=True)
class Param:
    """One internal parameter of a law: its bounds and the values tried in the start grid."""

    name: str
    lower: float
    upper: float
    grid: tuple[float, ...]
    public: str  # name in reports (E, A, alpha, lam, ...)
    log: bool = False  # True: public value = exp(internal)
    doc: str = ""

    def to_public(self, value: float) -> float:
        return float(np.exp(value)) if self.log else float(value)

    def from_public(self, value: float) -> float:
        if self.log:
            if value <= 0:
                raise LawError(f"parameter {self.public} must be > 0 (it is fitted in log space), got {value}")
            return float(np.log(value))
        return float(value)


@dataclass(frozen=True)
class Law:
    """A scaling law: parameters (bounds, start grid), required columns and the model function.

    ``fn(p, X, grad)`` receives ``p`` (internal parameter name -> array broadcastable against the data) and
    ``X`` (prepared data: logs and ratios computed once by ``prepare``); it returns ``log L`` and, when
    ``grad`` is true, a dict of d log L / d p for every internal parameter.
    """

    name: str
    title: str
    formula: str
    params: tuple[Param, ...]
    columns: tuple[str, ...]
    prepare: Callable[[dict[str, Array]], dict[str, Array]]
    fn: Callable[[Mapping[str, Any], Mapping[str, Array], bool], tuple[Array, dict[str, Array] | None]]
    positive: tuple[str, ...] = ("N",)  # columns that must be > 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # groups of parameters that move together in the start grid (one grid axis per group), e.g. the three
    # transfer weights tau_k1..3: keeps the grid small without changing what is fitted
    grid_groups: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    # (simpler law, internal values of this law's extra parameters that reduce it to the simpler one): the
    # simpler law's optimum is then one more start, so the fit is never worse than the law it nests
    nests: tuple[str, Mapping[str, float]] | None = None

    # -- parameters -------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name or p.public == name:
                return p
        raise LawError(f"law {self.name!r} has no parameter {name!r}; it has {', '.join(self.names)}")

    def public(self, theta: Mapping[str, float] | Array) -> dict[str, float]:
        """Internal values (dict or vector in ``names`` order) -> public names and values (E, A, ...)."""
        values = theta if isinstance(theta, Mapping) else dict(zip(self.names, np.asarray(theta, float)))
        return {p.public: p.to_public(float(values[p.name])) for p in self.params}

    def internal(self, public: Mapping[str, float]) -> dict[str, float]:
        """Public names/values -> internal (accepts internal names too)."""
        out: dict[str, float] = {}
        for p in self.params:
            if p.public in public:
                out[p.name] = p.from_public(float(public[p.public]))
            elif p.name in public:
                out[p.name] = float(public[p.name])
            else:
                raise LawError(f"law {self.name!r}: missing parameter {p.public!r}")
        return out

    @property
    def lower(self) -> Array:
        return np.array([p.lower for p in self.params])

    @property
    def upper(self) -> Array:
        return np.array([p.upper for p in self.params])

    # -- data ------------------------------------------------------------------------------------------
    def arrays(self, data: Data, columns: Mapping[str, str] | None = None) -> dict[str, Array]:
        """Pull this law's columns out of ``data`` as float64 arrays (``columns`` renames: law -> data)."""
        columns = dict(columns or {})
        out: dict[str, Array] = {}
        for col in self.columns:
            src = columns.get(col, col)
            if src not in data:
                raise LawError(
                    f"law {self.name!r} needs column {src!r}"
                    + (f" (for {col!r})" if src != col else "")
                    + f"; required columns: {', '.join(columns.get(c, c) for c in self.columns)}"
                )
            out[col] = np.asarray(data[src], dtype=np.float64)
        return out

    def prepared(self, data: Data, columns: Mapping[str, str] | None = None) -> dict[str, Array]:
        return self.prepare(self.arrays(data, columns))

    # -- evaluation ------------------------------------------------------------------------------------
    def log_loss(self, theta: Mapping[str, float] | Array, X: Mapping[str, Array], grad: bool = False):
        """``log L`` at internal parameters ``theta`` on prepared data ``X`` (and gradient dict)."""
        values = theta if isinstance(theta, Mapping) else dict(zip(self.names, np.asarray(theta, float)))
        return self.fn(values, X, grad)

    def predict(self, data: Data, params: Mapping[str, float], columns: Mapping[str, str] | None = None) -> Array:
        """Predicted loss (nats/token) for every row of ``data``; ``params`` in public or internal names."""
        theta = self.internal(params)
        logl, _ = self.log_loss(theta, self.prepared(data, columns))
        return np.exp(logl)


# --------------------------------------------------------------------------------------------------------
# building blocks


def lse3(x: Array, y: Array, z: Array, weights: bool = True) -> tuple[Array, tuple[Array, Array, Array] | None]:
    """``log(e^x + e^y + e^z)`` (broadcast) and the softmax weights (its partial derivatives).

    ``weights=False`` skips the weights (``None``): grid screening needs only the value.
    """
    m = np.maximum(np.maximum(x, y), z)  # broadcast shape: every output below has it
    ex, ey, ez = np.exp(x - m), np.exp(y - m), np.exp(z - m)
    s = ex + ey + ez
    if not weights:
        return m + np.log(s), None
    return m + np.log(s), (ex / s, ey / s, ez / s)


def saturation(D: Array, U: Array, lam: Array | float, grad: bool = False):
    """ATLAS Eq. 3, ``S_lam(D; U)`` in tokens: ``D`` up to one epoch, then saturating towards ``U(1+1/lam)``.

    ``S = D`` if ``D <= U``; ``S = U [1 + (1 - exp(-lam (D/U - 1))) / lam]`` if ``D > U``. ``U = inf`` means
    the source is never repeated. Returns ``S`` and (``grad``) ``dS/dlam``. Continuous at D = U with slope 1.
    """
    return _saturate(_sat_prepare(D, U), lam, grad)


def _sat_prepare(D: Array, U: Array) -> dict[str, Array]:
    """The lambda-independent part of S: which rows repeat data, their epochs beyond one, their U."""
    D = np.asarray(D, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        over = np.isfinite(U) & (U > 0) & (D > U)
        idx = np.flatnonzero(over)
        return {"D": D, "idx": idx, "x": D[idx] / U[idx] - 1.0, "U": U[idx]}


def _saturate(pre: Mapping[str, Array], lam: Array | float, grad: bool):
    D, idx, x, Uo = pre["D"], pre["idx"], pre["x"], pre["U"]
    lam = np.asarray(lam, dtype=np.float64)
    if lam.ndim == 2 and lam.shape[1] == 1 and lam.shape[0] > 1:
        # a column of start values (grid screening): compute once per distinct lambda, then gather
        uniq, inverse = np.unique(lam[:, 0], return_inverse=True)
        if len(uniq) < lam.shape[0]:
            S, dS = _saturate(pre, uniq[:, None], grad)
            return S[inverse], (None if dS is None else dS[inverse])
    if lam.ndim == 0 and len(idx):  # the optimiser's case (one scalar lambda): lean path, same formulas
        lam_f = float(lam)
        y = lam_f * x
        S = D.copy()
        dS = None
        if y.min() > 1e-4:
            e = np.exp(-y)
            S[idx] = Uo * (1.0 + (1.0 - e) / lam_f)
            if grad:
                dS = np.zeros_like(D)
                dS[idx] = Uo * (x * e / lam_f - (1.0 - e) / (lam_f * lam_f))
            return S, dS
    shape = np.broadcast_shapes(lam.shape, D.shape)
    S = np.array(np.broadcast_to(D, shape))
    dS = np.zeros(shape) if grad else None
    if len(idx) == 0:
        return S, dS
    y = lam * x  # (..., n_over)
    # (1 - e^{-y}) / lam  = x g(y),  g(y) = -expm1(-y)/y (g(0) = 1): stable for small y
    small = y < 1e-8
    ys = np.where(small, 1.0, y)
    em = np.expm1(-ys)
    g = np.where(small, 1.0 - 0.5 * y, -em / ys)
    S[..., idx] = Uo * (1.0 + x * g)
    if grad:
        # dS/dlam = U x^2 h(y),  h(y) = (y e^{-y} - (1 - e^{-y})) / y^2 ;  h(0) = -1/2
        tiny = y < 1e-4
        yt = np.where(tiny, 1.0, y)
        h = np.where(tiny, -0.5 + y / 3.0 - y * y / 8.0, (yt * np.exp(-yt) + np.expm1(-yt)) / yt**2)
        dS[..., idx] = Uo * x * x * h
    return S, dS


# --------------------------------------------------------------------------------------------------------
# the laws

# Start grids follow Chinchilla approach 3 (Hoffmann et al. 2022, App. D.2): e in {-1,..,1}, a, b in {0,..,25},
# alpha, beta in {0,..,2}; 0 is replaced by 0.05 because lmfit's bound transform freezes a parameter that
# starts on its bound (and DCSL divides by alpha).
E_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)
AB_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
EXP_GRID = (0.05, 0.5, 1.0, 1.5, 2.0)


def _base_params() -> tuple[Param, ...]:
    return (
        Param("e", -10.0, 5.0, E_GRID, "E", log=True, doc="irreducible loss E (nats), fitted as e = ln E"),
        Param("a", -10.0, 60.0, AB_GRID, "A", log=True, doc="parameter-term amplitude A, fitted as a = ln A"),
        Param("alpha", 1e-3, 3.0, EXP_GRID, "alpha", doc="parameter exponent"),
        Param("b", -10.0, 60.0, AB_GRID, "B", log=True, doc="data-term amplitude B, fitted as b = ln B"),
        Param("beta", 1e-3, 3.0, EXP_GRID, "beta", doc="data exponent"),
    )


def _chinchilla(p: Mapping[str, Any], lnN: Array, lnD: Array, grad: bool, extra_u=None, extra_v=None):
    """Shared core: ``log L = LSE(e, a - alpha lnN + extra_u, b - beta lnD + extra_v)`` (extras optional)."""
    u = p["a"] - p["alpha"] * lnN
    v = p["b"] - p["beta"] * lnD
    if extra_u is not None:
        u = u + extra_u
    if extra_v is not None:
        v = v + extra_v
    logl, w = lse3(p["e"], u, v, weights=grad)
    if not grad:
        return logl, None, None
    wE, wN, wD = w
    g = {"e": wE, "a": wN, "alpha": -wN * lnN, "b": wD, "beta": -wD * lnD}
    return logl, g, (wE, wN, wD)


# CSL ---------------------------------------------------------------------------------------------------
def _csl_prepare(c: dict[str, Array]) -> dict[str, Array]:
    return {"lnN": np.log(c["N"]), "lnD": np.log(c["D"])}


def _csl(p, X, grad):
    logl, g, _ = _chinchilla(p, X["lnN"], X["lnD"], grad)
    return logl, g


# DCSL --------------------------------------------------------------------------------------------------
def _dcsl_prepare(c: dict[str, Array]) -> dict[str, Array]:
    # U_D = unique tokens actually seen = min(D, U); R_D = D/U_D - 1 >= 0 (repetitions beyond one epoch)
    ud = np.minimum(c["D"], c["U"])
    return {"lnN": np.log(c["N"]), "lnU": np.log(ud), "RD": c["D"] / ud - 1.0}


def _decay(R: Array, lnRstar: Array, grad: bool):
    """``h = 1 + R*(1 - exp(-R/R*))`` with ``R* = exp(lnRstar)``; returns ln h, d ln h/dR, d ln h/d lnR*."""
    Rs = np.exp(lnRstar)
    q = np.exp(-R / Rs)
    h = 1.0 + Rs * (1.0 - q)
    if not grad:
        return np.log(h), None, None
    dh_dR = q
    with np.errstate(invalid="ignore", over="ignore"):  # R = inf (N far above N_opt): R q -> 0, not inf * 0
        Rq = np.where(q > 0, R * q, 0.0)
    dh_dRs = (1.0 - q) - Rq / Rs
    return np.log(h), dh_dR / h, dh_dRs * Rs / h


def _dcsl(p, X, grad):
    """Muennighoff et al. (2023), as in the datablations code.

    ``D' = U_D + U_D R_D* (1 - e^{-R_D/R_D*})``, ``R_D = max(D/U_D - 1, 0)``;
    ``N' = U_N + U_N R_N* (1 - e^{-R_N/R_N*})``, ``U_N = min(N, N_opt(U_D))``, ``R_N = max(N/U_N - 1, 0)``,
    ``N_opt(D) = G (D G)^{beta/alpha}``, ``G = (alpha A / (beta B))^{1/(alpha+beta)}``.
    """
    a, b, al, be = p["a"], p["b"], p["alpha"], p["beta"]
    lnN, lnU, RD = X["lnN"], X["lnU"], X["RD"]
    s = al + be
    lnG = (np.log(al) + a - np.log(be) - b) / s
    c = be / al
    ln_nopt = (1.0 + c) * lnG + c * lnU
    capped = lnN > ln_nopt  # N exceeds the compute-optimal size for U_D: excess parameters decay
    lnUN = np.where(capped, ln_nopt, lnN)
    RN = np.where(capped, np.exp(lnN - lnUN) - 1.0, 0.0)
    lhN, dN_dR, dN_dRs = _decay(RN, p["log_rn"], grad)
    lhD, dD_dR, dD_dRs = _decay(RD, p["log_rd"], grad)
    lnNp = lnUN + lhN
    lnDp = lnU + lhD
    logl, g, w = _chinchilla(p, lnNp, lnDp, grad)
    if not grad:
        return logl, None
    wE, wN, wD = w
    # d lnN'/d ln_nopt where capped:  1 + dlnh/dR * dR/dln_nopt,  dR/dln_nopt = -(R+1)
    with np.errstate(invalid="ignore"):  # dN_dR = 0 where R_N overflowed: the product's limit is 0, not NaN
        decay = dN_dR * (RN + 1.0)
    dlnNp_dnopt = np.where(capped, 1.0 - np.where(np.isfinite(decay), decay, 0.0), 0.0)
    dnopt = {
        "a": (1.0 + c) / s,
        "b": -(1.0 + c) / s,
        "alpha": (1.0 + c) * (1.0 / al - lnG) / s - (lnG + lnU) * be / al**2,
        "beta": (1.0 + c) * (-1.0 / be - lnG) / s + (lnG + lnU) / al,
    }
    k = -al * wN * dlnNp_dnopt  # d logL / d ln_nopt
    for name, d in dnopt.items():
        g[name] = g[name] + k * d
    g["log_rn"] = -al * wN * np.where(capped, dN_dRs, 0.0)
    g["log_rd"] = -be * wD * dD_dRs
    return logl, g


# MSL ---------------------------------------------------------------------------------------------------
def _msl_prepare(c: dict[str, Array]) -> dict[str, Array]:
    return {"lnN": np.log(c["N"]), "lnD": np.log(c["D_tot"]), "lnp": np.log(c["p_family"])}


def _msl(p, X, grad):
    logl, g, _ = _chinchilla(p, X["lnN"], X["lnD"], grad)
    logl = logl - p["gamma"] * X["lnp"]
    if grad:
        g["gamma"] = -X["lnp"] * np.ones_like(logl)
    return logl, g


# ATLAS -------------------------------------------------------------------------------------------------
TRANSFER_SLOTS = ("k1", "k2", "k3")


def _atlas_prepare(c: dict[str, Array]) -> dict[str, Any]:
    X: dict[str, Any] = {"lnN": np.log(c["N"])}
    X.update({k: v for k, v in c.items() if k.startswith(("D", "U"))})
    for d in [k for k in c if k.startswith("D")]:
        u = "U" + d[1:]
        if u in c:
            X["sat:" + d] = _sat_prepare(c[d], c[u])
    return X


def _distinct_rows(p: Mapping[str, Any], keys: Sequence[str]) -> tuple[dict[str, Array], Array] | None:
    """For a column of start values (grid screening): the distinct rows of ``p[keys]`` and the inverse map.

    ``None`` when ``p`` holds one parameter vector or every row is distinct (nothing to share).
    """
    cols = [np.asarray(p[k], dtype=np.float64) for k in keys]
    rows = max((c.shape[0] for c in cols if c.ndim == 2), default=1)
    if rows <= 1:
        return None
    stacked = np.column_stack([np.broadcast_to(c, (rows, 1))[:, 0] if c.ndim == 2 else np.full(rows, float(c)) for c in cols])
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    if len(uniq) == rows:
        return None
    return {k: uniq[:, j : j + 1] for j, k in enumerate(keys)}, inverse.reshape(-1)


def _make_atlas(other: bool, transfer: bool, per_term_lambda: bool):
    """ATLAS Eqs. 1-3 with the chosen terms of Eq. 2 (and shared or per-term lambda)."""

    def lam_of(p, term):
        if not per_term_lambda:
            return "loglam"
        return {"t": "loglam_t", "k": "loglam_k", "o": "loglam_o"}[term]

    terms = [("t", "D", "U", None)]
    if transfer:
        terms += [("k", f"D_{s}", f"U_{s}", f"tau_{s}") for s in TRANSFER_SLOTS]
    if other:
        terms += [("o", "D_other", "U_other", "tau_other")]
    deff_keys = tuple(dict.fromkeys([lam_of(None, t[0]) for t in terms] + [t[3] for t in terms if t[3]]))

    def effective(p, X, grad):
        """``ln D_eff`` (Eq. 2, floored at one token) and what the gradient needs."""
        deff = 0.0
        parts = []
        lams: dict[str, Any] = {}  # exp(log lambda) once per distinct lambda parameter
        for term, dcol, ucol, tau in terms:
            lname = lam_of(p, term)
            lam = lams.get(lname)
            if lam is None:
                lam = lams[lname] = np.exp(p[lname])
            S, dS = _saturate(X["sat:" + dcol], lam, grad)
            w = 1.0 if tau is None else p[tau]
            deff = deff + w * S
            parts.append((lname, tau, S, dS, lam, w))
        # D_eff < 1 token is meaningless (negative tau can push it there): floor at one token
        floor = deff < 1.0
        deff_c = np.where(floor, 1.0, deff)
        return np.log(deff_c), floor, deff_c, parts

    def fn(p, X, grad):
        if not grad:  # grid screening: D_eff depends on lambda and tau only, a few distinct rows of the grid
            shared = _distinct_rows(p, deff_keys)
            if shared is not None:
                q, inverse = shared
                lnD = effective(q, X, False)[0][inverse]  # same per-element arithmetic, once per distinct row
                logl, _, _ = _chinchilla(p, X["lnN"], lnD, False)
                return logl, None
        lnD, floor, deff_c, parts = effective(p, X, grad)
        logl, g, w3 = _chinchilla(p, X["lnN"], lnD, grad)
        if not grad:
            return logl, None
        wD = w3[2]
        k = np.where(floor, 0.0, -p["beta"] * wD / deff_c)  # d logL / d D_eff
        for lname, tau, S, dS, lam, w in parts:
            g[lname] = g.get(lname, 0.0) + k * w * dS * lam  # d/d loglam = lam d/dlam
            if tau is not None:
                g[tau] = k * S
        return logl, g

    return fn


def _atlas_columns(other: bool, transfer: bool) -> tuple[str, ...]:
    cols = ["N", "D", "U"]
    if transfer:
        for s in TRANSFER_SLOTS:
            cols += [f"D_{s}", f"U_{s}"]
    if other:
        cols += ["D_other", "U_other"]
    return tuple(cols)


LAM_GRID = tuple(float(np.log(v)) for v in (0.05, 0.5, 5.0))
TAU_GRID = (0.0, 0.5)


def _lam_param(name: str, public: str, doc: str) -> Param:
    return Param(name, float(np.log(1e-4)), float(np.log(1e3)), LAM_GRID, public, log=True, doc=doc)


def _tau_param(name: str, doc: str) -> Param:
    return Param(name, -1.0, 2.0, TAU_GRID, name, doc=doc)


def _atlas_params(other: bool, transfer: bool, per_term_lambda: bool) -> tuple[Param, ...]:
    ps = list(_base_params())
    if per_term_lambda:
        ps.append(_lam_param("loglam_t", "lam_t", "saturation rate of the target source (ln)"))
        if transfer:
            ps.append(_lam_param("loglam_k", "lam_k", "saturation rate shared by the transfer languages"))
        if other:
            ps.append(_lam_param("loglam_o", "lam_other", "saturation rate of the other-languages source"))
    else:
        ps.append(_lam_param("loglam", "lam", "repetition saturation rate lambda, shared by every source"))
    if transfer:
        for i, s in enumerate(TRANSFER_SLOTS, 1):
            ps.append(_tau_param(f"tau_{s}", f"transfer weight of the {i}th most co-sampled language"))
    if other:
        ps.append(_tau_param("tau_other", "transfer weight of all other languages (pooled)"))
    return tuple(ps)


def _atlas_law(name: str, title: str, other: bool, transfer: bool, per_term_lambda: bool) -> Law:
    deff = "S(D;U)"
    if transfer:
        deff += " + sum_i tau_i S(D_ki;U_ki)"
    if other:
        deff += " + tau_other S(D_other;U_other)"
    return Law(
        name=name,
        title=title,
        formula=f"L = E + A/N^alpha + B/D_eff^beta,  D_eff = {deff}",
        params=_atlas_params(other, transfer, per_term_lambda),
        columns=_atlas_columns(other, transfer),
        prepare=_atlas_prepare,
        fn=_make_atlas(other, transfer, per_term_lambda),
        positive=("N", "D"),
        grid_groups=tuple(
            g
            for g in (
                tuple(f"tau_{s}" for s in TRANSFER_SLOTS) if transfer else (),
                tuple(p.name for p in _atlas_params(other, transfer, per_term_lambda) if p.name.startswith("loglam_")),
            )
            if len(g) > 1
        ),
        notes=(
            "S_lam(D;U) = D for D <= U, U[1 + (1 - exp(-lam(D/U - 1)))/lam] beyond one epoch (Eq. 3)",
            "D_eff is floored at 1 token (negative tau can otherwise make it non-positive)",
        ),
    )


# K-law -------------------------------------------------------------------------------------------------
def _klaw_prepare(c: dict[str, Array]) -> dict[str, Array]:
    return {"lnN": np.log(c["N"]), "lnD": np.log(c["D"]), "lnK": np.log(c["K"])}


def _klaw(p, X, grad):
    lnK = X["lnK"]
    logl, g, w = _chinchilla(p, X["lnN"], X["lnD"], grad, p["phi"] * lnK, p["psi"] * lnK)
    if grad:
        g["phi"] = w[1] * lnK
        g["psi"] = w[2] * lnK
    return logl, g


# --------------------------------------------------------------------------------------------------------
# registry

_CSL = Law(
    "csl",
    "Chinchilla scaling law (CSL)",
    "L = E + A/N^alpha + B/D^beta",
    _base_params(),
    ("N", "D"),
    _csl_prepare,
    _csl,
    positive=("N", "D"),
)
_DCSL = Law(
    "dcsl",
    "Data-constrained scaling law (DCSL, Muennighoff et al. 2023)",
    "L = E + A/N'^alpha + B/D'^beta,  D' = U_D + U_D R_D*(1-exp(-R_D/R_D*)),  N' = U_N + U_N R_N*(1-exp(-R_N/R_N*))",
    _base_params()
    + (
        Param("log_rd", float(np.log(0.01)), float(np.log(1e4)), (float(np.log(1.0)), float(np.log(15.0))), "R_D_star", log=True, doc="R_D*: half-life of repeated data (epochs), ln"),
        Param("log_rn", float(np.log(0.01)), float(np.log(1e4)), (float(np.log(1.0)), float(np.log(5.0))), "R_N_star", log=True, doc="R_N*: half-life of excess parameters, ln"),
    ),
    ("N", "D", "U"),
    _dcsl_prepare,
    _dcsl,
    positive=("N", "D", "U"),
    notes=("U_N = min(N, N_opt(U_D)), N_opt(D) = G (D G)^(beta/alpha), G = (alpha A/(beta B))^(1/(alpha+beta))",),
    # R* of 1,000 epochs: repetition costs nothing within the data (N' = N, D' = D), i.e. CSL
    nests=("csl", {"log_rd": float(np.log(1e3)), "log_rn": float(np.log(1e3))}),
)
_MSL = Law(
    "msl",
    "Multilingual scaling law (MSL, He et al. 2024)",
    "L = (E + A/N^alpha + B/D_tot^beta) * p_family^(-gamma)",
    _base_params() + (Param("gamma", -2.0, 2.0, (0.0, 0.3), "gamma", doc="family sampling-ratio exponent"),),
    ("N", "D_tot", "p_family"),
    _msl_prepare,
    _msl,
    positive=("N", "D_tot", "p_family"),
)
_KLAW = Law(
    "klaw",
    "Curse-of-multilinguality law (ATLAS Eq. 7)",
    "L = E + A K^phi/N^alpha + B K^psi/D^beta   (E = L_inf, D = target tokens)",
    _base_params()
    + (
        Param("phi", -2.0, 2.0, (-0.1, 0.1), "phi", doc="capacity exponent of K"),
        Param("psi", -2.0, 2.0, (-0.1, 0.1), "psi", doc="data (transfer/interference) exponent of K"),
    ),
    ("N", "D", "K"),
    _klaw_prepare,
    _klaw,
    positive=("N", "D", "K"),
)

LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        _CSL,
        _DCSL,
        _MSL,
        _atlas_law("atlas-dt", "ATLAS (D_t only)", other=False, transfer=False, per_term_lambda=False),
        _atlas_law("atlas-other", "ATLAS (+D_other)", other=True, transfer=False, per_term_lambda=False),
        _atlas_law("atlas", "ATLAS (full: +D_other + sum K_t D_i)", other=True, transfer=True, per_term_lambda=False),
        _atlas_law("atlas-perlam", "ATLAS (full, one lambda per term)", other=True, transfer=True, per_term_lambda=True),
        _atlas_law("atlas-other-perlam", "ATLAS (+D_other, one lambda per term)", other=True, transfer=False, per_term_lambda=True),
        _KLAW,
    )
}
ALIASES = {"atlas-full": "atlas", "chinchilla": "csl", "k-law": "klaw", "kl": "klaw", "atlas-dt-only": "atlas-dt"}


def get_law(name: str | Law) -> Law:
    """Look a law up by name (case-insensitive; aliases such as ``atlas-full`` accepted)."""
    if isinstance(name, Law):
        return name
    key = str(name).strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in LAWS:
        raise LawError(f"unknown law {name!r}; allowed: {', '.join(list(LAWS) + list(ALIASES))}")
    return LAWS[key]


def law_table():
    """A pandas table of every law: name, title, formula, required columns, parameters."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "law": law.name,
                "title": law.title,
                "formula": law.formula,
                "columns": ", ".join(law.columns),
                "parameters": ", ".join(p.public for p in law.params),
                "n_params": len(law.params),
            }
            for law in LAWS.values()
        ]
    )


# --------------------------------------------------------------------------------------------------------
# plain formulas (public parameters), for planning code and readers


def chinchilla_loss(N, D, E, A, B, alpha, beta):
    """``E + A/N^alpha + B/D^beta`` (nats/token)."""
    return E + A / np.asarray(N, float) ** alpha + B / np.asarray(D, float) ** beta


def klaw_loss(K, N, D, E, A, B, alpha, beta, phi, psi):
    """ATLAS Eq. 7: ``E + A K^phi/N^alpha + B K^psi/D^beta`` (D = target-language tokens)."""
    K = np.asarray(K, float)
    return E + A * K**phi / np.asarray(N, float) ** alpha + B * K**psi / np.asarray(D, float) ** beta
