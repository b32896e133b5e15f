"""The laws: formulas against independent plain-numpy versions, S_lambda's properties, exact gradients."""

from __future__ import annotations

import numpy as np
import pytest

from atlas.laws import LAWS, LawError, chinchilla_loss, get_law, klaw_loss, law_table, saturation

BASE = dict(E=1.7, A=406.4, alpha=0.34, B=410.7, beta=0.28)


def _data(n: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    D = 10 ** rng.uniform(7, 11, n)
    d = dict(N=10 ** rng.uniform(6, 9.5, n), D=D, U=D * rng.uniform(0.05, 3, n), D_tot=D * rng.uniform(1, 5, n),
             p_family=rng.uniform(0.1, 1, n), K=rng.integers(1, 17, n).astype(float),
             D_other=D * rng.uniform(0, 3, n), U_other=D * rng.uniform(0.1, 3, n))
    for s in ("k1", "k2", "k3"):
        d[f"D_{s}"] = D * rng.uniform(0, 1, n)
        d[f"U_{s}"] = D * rng.uniform(0.05, 2, n)
    return d


def _params(law_name: str) -> dict[str, float]:
    extra = dict(lam=0.3, lam_t=0.3, lam_k=0.8, lam_other=0.1, tau_k1=0.6, tau_k2=0.4, tau_k3=0.2, tau_other=0.1,
                 phi=0.11, psi=-0.04, gamma=0.2, R_D_star=15.4, R_N_star=5.3)
    law = get_law(law_name)
    return {p.public: {**BASE, **extra}[p.public] for p in law.params}


# ---- S_lambda (Eq. 3) -----------------------------------------------------------------------------------

def test_saturation_is_identity_up_to_one_epoch_and_for_unlimited_data():
    D = np.array([0.0, 1.0, 5.0, 10.0])
    S, _ = saturation(D, np.full(4, 10.0), 0.5)
    np.testing.assert_allclose(S, D)
    S, _ = saturation(np.array([1e12]), np.array([np.inf]), 0.5)
    assert S[0] == 1e12
    S, _ = saturation(np.array([0.0]), np.array([0.0]), 0.5)  # an absent source contributes nothing
    assert S[0] == 0.0


def test_saturation_continuous_with_unit_slope_at_one_epoch_and_saturates():
    U, lam = 1e9, 0.4
    eps = 1e-6 * U
    s_lo, _ = saturation(np.array([U - eps]), np.array([U]), lam)
    s_hi, _ = saturation(np.array([U + eps]), np.array([U]), lam)
    assert abs(s_hi[0] - s_lo[0] - 2 * eps) < 1e-6 * eps * 1e3  # slope 1 across D = U
    s_inf, _ = saturation(np.array([1e6 * U]), np.array([U]), lam)
    assert s_inf[0] == pytest.approx(U * (1 + 1 / lam), rel=1e-9)


def test_saturation_equals_muennighoff_data_term_with_rd_star_one_over_lambda():
    U, lam = 2e8, 1 / 15.387756
    D = np.array([3e8, 1e9, 5e9, 2e10])
    S, _ = saturation(D, np.full(4, U), lam)
    RD = D / U - 1
    muennighoff = U + U * (1 / lam) * (1 - np.exp(-RD * lam))
    np.testing.assert_allclose(S, muennighoff, rtol=1e-12)


def test_saturation_gradient_matches_finite_difference_including_tiny_lambda():
    D, U = np.array([2e9, 1e10, 1e11]), np.full(3, 1e9)
    for lam in (1e-7, 1e-3, 0.3, 5.0):
        _, dS = saturation(D, U, lam, grad=True)
        h = lam * 1e-5
        fd = (saturation(D, U, lam + h)[0] - saturation(D, U, lam - h)[0]) / (2 * h)
        np.testing.assert_allclose(dS, fd, rtol=1e-4, atol=1e-6 * U[0])


# ---- formulas ----------------------------------------------------------------------------------------------

def test_csl_and_klaw_match_plain_formulas_and_klaw_reduces_to_csl_at_k1():
    d = _data()
    np.testing.assert_allclose(get_law("csl").predict(d, BASE), chinchilla_loss(d["N"], d["D"], **BASE), rtol=1e-12)
    kp = _params("klaw")
    np.testing.assert_allclose(get_law("klaw").predict(d, kp), klaw_loss(d["K"], d["N"], d["D"], **kp), rtol=1e-12)
    d1 = {**d, "K": np.ones_like(d["K"])}
    np.testing.assert_allclose(get_law("klaw").predict(d1, kp), chinchilla_loss(d["N"], d["D"], **BASE), rtol=1e-12)


def test_msl_scales_the_whole_chinchilla_loss_by_family_ratio():
    d = _data()
    p = _params("msl")
    want = chinchilla_loss(d["N"], d["D_tot"], **BASE) * d["p_family"] ** -0.2
    np.testing.assert_allclose(get_law("msl").predict(d, p), want, rtol=1e-12)


def _dcsl_reference(N, D, U, E, A, B, alpha, beta, R_D_star, R_N_star):
    """Muennighoff et al.'s law written out directly (datablations README)."""
    UD = np.minimum(D, U)
    RD = np.maximum(D / UD - 1, 0)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    nopt = G * (UD * G) ** (beta / alpha)
    UN = np.minimum(N, nopt)
    RN = np.maximum(N / UN - 1, 0)
    Dp = UD + UD * R_D_star * (1 - np.exp(-RD / R_D_star))
    Np = UN + UN * R_N_star * (1 - np.exp(-RN / R_N_star))
    return E + A / Np**alpha + B / Dp**beta


def test_dcsl_matches_reference_and_published_fit_reduces_to_csl_without_repetition():
    d = _data()
    p = dict(E=np.exp(0.6254804), A=np.exp(6.255414), B=np.exp(7.3049974), alpha=0.3526596, beta=0.3526596,
             R_D_star=15.387756, R_N_star=5.309743)
    got = get_law("dcsl").predict(d, p)
    np.testing.assert_allclose(got, _dcsl_reference(d["N"], d["D"], d["U"], **p), rtol=1e-12)
    # excess parameters are penalised: some rows must have N > N_opt(U_D) for this test to mean anything
    csl = chinchilla_loss(d["N"], d["D"], **{k: p[k] for k in BASE})
    assert np.any(got > csl + 1e-9)
    # one epoch or less and small N: DCSL == CSL
    small = {"N": np.array([1e6, 2e6]), "D": np.array([1e11, 1e12]), "U": np.array([np.inf, 1e12])}
    np.testing.assert_allclose(get_law("dcsl").predict(small, p),
                               chinchilla_loss(small["N"], small["D"], **{k: p[k] for k in BASE}), rtol=1e-12)


def test_atlas_variants_build_d_eff_as_eq2():
    d = _data()
    p = _params("atlas")
    S = lambda D, U, lam: saturation(D, U, lam)[0]  # noqa: E731
    deff = S(d["D"], d["U"], 0.3)
    np.testing.assert_allclose(get_law("atlas-dt").predict(d, _params("atlas-dt")),
                               chinchilla_loss(d["N"], deff, **BASE), rtol=1e-12)
    deff_o = deff + 0.1 * S(d["D_other"], d["U_other"], 0.3)
    np.testing.assert_allclose(get_law("atlas-other").predict(d, _params("atlas-other")),
                               chinchilla_loss(d["N"], deff_o, **BASE), rtol=1e-12)
    deff_full = deff_o + sum(t * S(d[f"D_{s}"], d[f"U_{s}"], 0.3) for s, t in (("k1", .6), ("k2", .4), ("k3", .2)))
    np.testing.assert_allclose(get_law("atlas").predict(d, p), chinchilla_loss(d["N"], deff_full, **BASE), rtol=1e-12)
    pl = _params("atlas-perlam")
    deff_pl = (S(d["D"], d["U"], 0.3) + 0.1 * S(d["D_other"], d["U_other"], 0.1)
               + sum(t * S(d[f"D_{s}"], d[f"U_{s}"], 0.8) for s, t in (("k1", .6), ("k2", .4), ("k3", .2))))
    np.testing.assert_allclose(get_law("atlas-perlam").predict(d, pl), chinchilla_loss(d["N"], deff_pl, **BASE), rtol=1e-12)


def test_atlas_without_repetition_is_csl():
    d = _data()
    d = {**d, "U": np.full_like(d["U"], np.inf)}
    np.testing.assert_allclose(get_law("atlas-dt").predict(d, _params("atlas-dt")),
                               chinchilla_loss(d["N"], d["D"], **BASE), rtol=1e-12)


# ---- exact gradients (the engine relies on them) ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAWS))
def test_analytic_gradient_matches_finite_differences(name):
    law = get_law(name)
    d = _data(80, seed=3)
    X = law.prepared(d)
    theta = np.array(list(law.internal(_params(name)).values()))
    _, g = law.log_loss(theta, X, grad=True)
    assert set(g) == set(law.names)
    for i, nm in enumerate(law.names):
        h = 1e-6
        up, dn = theta.copy(), theta.copy()
        up[i] += h
        dn[i] -= h
        fd = (law.log_loss(up, X)[0] - law.log_loss(dn, X)[0]) / (2 * h)
        an = np.broadcast_to(g[nm], fd.shape)
        np.testing.assert_allclose(an, fd, atol=1e-7, rtol=1e-5, err_msg=f"{name}: d logL / d {nm}")


# ---- registry ------------------------------------------------------------------------------------------------

def test_registry_is_consistent():
    for name, law in LAWS.items():
        assert law.name == name
        assert len(set(law.names)) == len(law.names)
        assert len({p.public for p in law.params}) == len(law.params)
        for p in law.params:
            assert p.lower < p.upper and p.grid, (name, p.name)
            assert all(p.lower <= v <= p.upper for v in p.grid), (name, p.name)
        for group in law.grid_groups:
            assert set(group) <= set(law.names)
        assert set(law.positive) <= set(law.columns)
    table = law_table()
    assert set(table["law"]) == set(LAWS)
    assert get_law("ATLAS-full") is LAWS["atlas"] and get_law("atlas_dt") is LAWS["atlas-dt"]


def test_unknown_law_and_missing_column_errors_name_the_value():
    with pytest.raises(LawError, match="unknown law 'chinchila'.*csl"):
        get_law("chinchila")
    with pytest.raises(LawError, match="needs column 'U'"):
        get_law("dcsl").predict({"N": [1e6], "D": [1e9]}, _params("dcsl"))
    with pytest.raises(LawError, match="no parameter 'gamma'"):
        get_law("csl").param("gamma")


def test_public_internal_round_trip():
    for name, law in LAWS.items():
        p = _params(name)
        assert law.public(law.internal(p)) == pytest.approx(p)
