"""Planning: the paper's iso-loss multipliers, the general iso-loss solution, compute-optimal sizes, crossover."""

from __future__ import annotations

import json

import numpy as np
import pytest

from atlas.cli import main
from atlas.laws import chinchilla_loss, klaw_loss
from atlas.paper_tables import curse_of_multilinguality
from atlas.planning import crossover, isoloss, optimal
from atlas.planning.isoloss import PAPER_EXPONENTS, PlanningError

P = PAPER_EXPONENTS


def test_paper_exponents_reproduce_fig5_multipliers():
    # Fig. 5: N' = N r^0.243 and D_tot' = D_tot r^0.728 -> phi/alpha = 0.243, psi/beta = -0.272
    assert P["phi"] / P["alpha"] == pytest.approx(0.243)
    assert 1 + P["psi"] / P["beta"] == pytest.approx(0.728)
    table = curse_of_multilinguality()["value"]
    for r in (2, 4, 8, 16):
        m = isoloss.language_multipliers(1, r, **P)
        assert m["N_multiplier"] == pytest.approx(table[f"mult_N_{r}x"], abs=0.006)
        assert m["D_total_multiplier"] == pytest.approx(table[f"mult_D_{r}x"], rel=0.005)
    m4 = isoloss.language_multipliers(4, 16, **P)  # the paper's "4K" row is r = 4 from any K
    assert m4["r"] == 4
    assert 1 - m4["D_total_multiplier"] / 4 == pytest.approx(1 - 2.74 / 4, abs=0.003)  # "32% fewer tokens per language"
    assert m4["C_exponent"] == pytest.approx(0.970, abs=0.002)


def test_plan_languages_cli_json(capsys):
    code = main(["plan", "languages", "--from-k", "4", "--to-k", "16", "--phi", str(P["phi"]), "--psi", str(P["psi"]),
                 "--alpha", str(P["alpha"]), "--beta", str(P["beta"]), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["N_multiplier"] == pytest.approx(1.4, rel=0.01)
    assert out["D_total_multiplier"] == pytest.approx(2.74, rel=0.01)
    assert out["D_per_language_multiplier"] == pytest.approx(2.74 / 4, rel=0.01)
    assert out["C_multiplier"] == pytest.approx(1.4 * 2.74, rel=0.01)
    assert main(["plan", "languages", "--from-k", "0", "--to-k", "2"]) == 2
    assert "from_k must be a positive" in capsys.readouterr().err


KP = dict(E=1.5, A=300.0, B=900.0, alpha=0.35, beta=0.3, phi=0.11, psi=-0.04)


def _optimal_point(K: float, C: float) -> tuple[float, float]:
    o = optimal.compute_optimal_klaw(C, K, KP)
    return float(o["N"]), float(o["D_per_language"])


def test_iso_loss_solutions_keep_the_loss_of_the_law():
    K, r = 2.0, 4.0
    N, D = 3e8, 2e9  # a deliberately non-optimal start
    w = isoloss.loss_share(K, N, D, **{k: KP[k] for k in ("A", "B", "alpha", "beta", "phi", "psi")})
    L0 = klaw_loss(K, N, D, **KP)
    kw = {k: KP[k] for k in ("alpha", "beta", "phi", "psi")}
    for s in (1.3, 2.0, 5.0):
        sol = isoloss.iso_loss_data_multiplier(r, s, w_N=w, **kw)
        assert sol["feasible"]
        assert klaw_loss(r * K, s * N, sol["t"] * D, **KP) == pytest.approx(L0, rel=1e-12)
    bad = isoloss.iso_loss_data_multiplier(r, 0.01, w_N=w, **kw)  # N cut 100x: the N term alone exceeds L0
    assert not bad["feasible"] and np.isnan(bad["t"]) and "infeasible" in bad["reason"]
    # the cheapest iso-loss point: on the constraint, and no other s on it is cheaper
    best = isoloss.iso_loss_optimal(r, w_N=w, **kw)
    assert klaw_loss(r * K, best["N_multiplier"] * N, best["D_per_language_multiplier"] * D, **KP) == pytest.approx(L0, rel=1e-10)
    for s in best["N_multiplier"] * np.array([0.8, 0.95, 1.05, 1.3]):
        other = isoloss.iso_loss_data_multiplier(r, s, w_N=w, **kw)
        assert other["C_multiplier"] > best["C_multiplier"]
    # an absolute-units version agrees
    pt = isoloss.iso_loss_point(KP, K, N, D, r * K, 2.0 * N)
    assert pt["D_new"] == pytest.approx(isoloss.iso_loss_data_multiplier(r, 2.0, w_N=w, **kw)["t"] * D, rel=1e-10)


def test_compute_optimal_start_gives_closed_form_multipliers():
    K, r = 2.0, 4.0
    N, D = _optimal_point(K, 1e21)
    w = isoloss.loss_share(K, N, D, **{k: KP[k] for k in ("A", "B", "alpha", "beta", "phi", "psi")})
    assert w == pytest.approx(isoloss.optimal_share(KP["alpha"], KP["beta"]), rel=1e-9)
    closed = isoloss.language_multipliers(K, r * K, **{k: KP[k] for k in ("phi", "psi", "alpha", "beta")})
    general = isoloss.iso_loss_optimal(r, w_N=w, **{k: KP[k] for k in ("alpha", "beta", "phi", "psi")})
    for k in ("N_multiplier", "D_per_language_multiplier", "D_total_multiplier", "C_multiplier"):
        assert general[k] == pytest.approx(closed[k], rel=1e-9)


def test_compute_optimal_matches_brute_force():
    p = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    C = 1e22
    o = optimal.compute_optimal(C, p)
    Ns = np.logspace(8, 12, 20001)
    L = chinchilla_loss(Ns, C / (6 * Ns), **p)
    assert o["N"] == pytest.approx(Ns[np.argmin(L)], rel=2e-3)
    assert 6 * o["N"] * o["D"] == pytest.approx(C)
    ok = optimal.compute_optimal_klaw(C, 4, KP)
    Ls = klaw_loss(4, Ns, C / (6 * Ns) / 4, **KP)
    assert ok["N"] == pytest.approx(Ns[np.argmin(Ls)], rel=2e-3)
    assert ok["D_tot"] == pytest.approx(4 * ok["D_per_language"])
    assert len(optimal.frontier(np.array([1e20, 1e21]), p)) == 2
    with pytest.raises(PlanningError, match="need E, A, B, alpha, beta"):
        optimal.compute_optimal(1e20, {"E": 1})


# ---- crossover ---------------------------------------------------------------------------------------------

def _curves(cross: float):
    """Scratch: steep power law; finetune: better early, flatter; they cross at exactly ``cross`` tokens."""
    t = np.logspace(9, 12, 13)
    scratch = 2.0 * (t / cross) ** -0.10
    finetune = 2.0 * (t / cross) ** -0.03
    return t, scratch, finetune


def test_crossover_is_found_by_log_log_interpolation():
    t, s, _ = _curves(1.7e11)
    tf = t[::2] * 1.01  # the finetune curve is evaluated at other token counts
    f = 2.0 * (tf / 1.7e11) ** -0.03
    res = crossover.find_crossover(t, s, tf, f, N=2e9, base_tokens=1e12)
    assert res["tokens"] == pytest.approx(1.7e11, rel=1e-9)  # exact: both curves are straight in log-log
    assert res["compute"] == pytest.approx(6 * 2e9 * 1.7e11)
    assert res["compute_with_base"] == pytest.approx(6 * 2e9 * (1.7e11 + 1e12))
    assert res["n_crossings"] == 1 and res["reason"] == ""


def test_no_crossing_is_nan_with_reason():
    t, s, f = _curves(1e13)  # crossing beyond the curves' range
    res = crossover.find_crossover(t, s, t, f, N=1e9)
    assert np.isnan(res["tokens"]) and np.isnan(res["compute"]) and "still better at the end" in res["reason"]
    t, s, f = _curves(1e8)  # scratch already better everywhere
    res = crossover.find_crossover(t, s, t, f)
    assert np.isnan(res["tokens"]) and "already as good" in res["reason"]
    res = crossover.find_crossover([1, 2], [3, 2], [5, 6], [3, 2])
    assert np.isnan(res["tokens"]) and "share no token range" in res["reason"]
    with pytest.raises(PlanningError, match="loss must be finite and > 0; point 1"):
        crossover.find_crossover([1, 2], [3, np.nan], [1, 2], [3, 2])


def test_crossover_law_fit_and_decision():
    N = np.array([1e8, 3e8, 1e9, 2e9, 8e9])
    C = 10283128 * N**1.54
    law, info = crossover.fit_crossover_law(np.append(N, 5e9), np.append(C, np.nan))
    assert law.a == pytest.approx(10283128, rel=1e-6) and law.b == pytest.approx(1.54, abs=1e-9)
    assert info["n_excluded"] == 1 and info["n_used"] == 5
    d = crossover.decide("en", 2e9, 1e11)
    assert d["choice"] == "finetune" and d["target"] == "eng"
    assert d["crossover_tokens"] == pytest.approx(1.8e11, rel=0.01)  # inside the paper's 144-283B band
    assert "Fig. 7 legend" in d["law"]["source"] and d["paper_crossover_tokens_2B"] == 144e9
    assert crossover.decide("zh", 2e9, 3e11)["choice"] == "pretrain"
    mine = crossover.decide("fr", 2e9, 1e11, {"a": 1e6, "b": 1.5})
    assert mine["law"]["a"] == 1e6 and mine["crossover_tokens"] == pytest.approx(1e6 * 2e9**1.5 / (6 * 2e9))
    with pytest.raises(PlanningError, match="need crossovers at >= 2 distinct model sizes"):
        crossover.fit_crossover_law([1e9, 1e9], [1e20, 2e20])


def test_plan_finetune_cli(tmp_path, capsys):
    assert main(["plan", "finetune", "--target", "de", "--params", "2e9", "--tokens", "3e11", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["choice"] == "pretrain" and out["law"]["b"] == 1.54 and "legend" in out["law"]["source"]
    f = tmp_path / "law.json"
    f.write_text(json.dumps({"a": 1e9, "b": 1.54}))
    assert main(["plan", "finetune", "--target", "de", "--params", "2e9", "--tokens", "3e11", "--fit", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["choice"] == "finetune" and out["law"]["a"] == 1e9
    assert main(["plan", "finetune", "--target", "xx", "--params", "2e9", "--tokens", "1e9"]) == 2
    assert "unknown language code 'xx'" in capsys.readouterr().err
    assert main(["plan", "finetune", "--target", "de", "--params", "2e9", "--tokens", "1e9", "--a", "3"]) == 2


def test_crossover_table_pairs_scratch_and_finetune_runs():
    import pandas as pd

    t = np.logspace(9, 12, 13)
    rows = []
    for lang, cross, ref in (("eng", 1.5e11, "finetune/multi-eng"), ("fra", 1e13, None)):  # fra: no crossing
        for tok, ls, lf in zip(t, 2.0 * (t / cross) ** -0.10, 2.0 * (t / cross) ** -0.03):
            common = dict(eval_lang=lang, eval_set="flores", shape="xs", tokens=tok, K=1, D=tok, mixture_id=f"{lang}:1")
            rows.append({**common, "run_id": f"multi-{lang}", "experiment": "finetune", "N": 2e9, "base_tokens": np.nan,
                         "scratch_run": None, "loss": ls})
            rows.append({**common, "run_id": f"ft-{lang}", "experiment": "finetune", "N": 2.1e9, "base_tokens": 1e12,
                         "scratch_run": ref, "loss": lf})
            rows.append({**common, "run_id": f"ft-{lang}", "experiment": "finetune", "N": 2.1e9, "base_tokens": 1e12,
                         "scratch_run": ref, "loss": 9.0, "eval_lang": "deu"})  # other eval languages are ignored
    table = crossover.crossover_table(pd.DataFrame(rows), eval_set="flores")
    assert list(table["run_id"]) == ["ft-eng", "ft-fra"] and list(table["scratch_run"]) == ["multi-eng", "multi-fra"]
    eng, fra = table.iloc[0], table.iloc[1]
    assert eng["tokens"] == pytest.approx(1.5e11, rel=1e-9) and eng["compute"] == pytest.approx(6 * 2e9 * 1.5e11)
    assert eng["compute_with_base"] == pytest.approx(6 * 2e9 * (1.5e11 + 1e12))
    assert np.isnan(fra["tokens"]) and "still better" in fra["reason"]


def test_empirical_frontier_and_compute_tax():
    import pandas as pd

    C = np.logspace(15, 18, 30)
    ref = pd.DataFrame({"C": C, "loss": 2 + 50 * C**-0.1})
    other = pd.DataFrame({"C": C, "loss": 2 + 50 * (C / 3) ** -0.1})  # needs exactly 3x the compute
    noisy = pd.concat([ref, pd.DataFrame({"C": [1e16, 1e17], "loss": [9.0, 9.5]})])  # dominated points drop out
    front = optimal.empirical_frontier(noisy)
    assert len(front) == 30 and np.all(np.diff(front["loss"]) < 0)
    tax = optimal.compute_tax(optimal.empirical_frontier(ref), optimal.empirical_frontier(other))
    finite = tax.dropna()
    assert len(finite) >= 15 and np.allclose(finite["ratio"], 3.0, rtol=0.01)
    assert np.isnan(optimal.compute_to_reach(front, np.array([1.0]))).all()  # never extrapolated
