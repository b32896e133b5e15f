"""Chapter 07 (curse of multilinguality): the K-law per language and jointly, iso-loss multipliers, verdicts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from scipy import interpolate
from scipy import stats as sps

from atlas import fit as F, languages as L, noise, rules
from atlas.chapters.verdicts import Verdict, flags_of, judged, mean_ci, spearman_ci, untestable
from atlas.paper_tables import curse_of_multilinguality
from atlas.planning import isoloss
from atlas.scaling_table import fit_rows, parse_mixture_id, setting_rows

def klaw_fits(rows: pd.DataFrame, **fit_kw: Any) -> pd.DataFrame:
    """The K-law per language and jointly (all languages pooled), on the capacity runs; failures kept."""
    cap = setting_rows(rows, "capacity")
    if cap.empty:
        return pd.DataFrame()
    per = F.fit_groups("klaw", cap, by="eval_lang", **fit_kw)
    joint = F.fit_groups("klaw", cap.assign(pooled="joint"), by="pooled", **fit_kw).rename(columns={"pooled": "eval_lang"})
    return pd.concat([per, joint], ignore_index=True)


def design_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The capacity design as trained: one row per mixture (its K, co-language set, languages and shapes)."""
    cap = setting_rows(rows, "capacity")
    if cap.empty:
        return pd.DataFrame(columns=["K", "set", "mixture", "targets", "shapes", "runs"])
    g = cap.groupby("mixture_id")
    out = pd.DataFrame({
        "K": g["K"].first().astype(int),
        "set": g["replicate"].first().astype("Int64"),  # nullable: no set outside the balanced design
        "mixture": [", ".join(sorted(L.get(c).code for c in parse_mixture_id(m))) for m in g.groups],
        "targets": g["eval_lang"].apply(lambda x: ", ".join(sorted(L.get(c).code for c in set(x)))),
        "shapes": g["shape"].apply(lambda x: ", ".join(sorted(set(x)))),
        "runs": g["run_id"].nunique(),
    }).reset_index(drop=True)
    return out.sort_values(["K", "set", "mixture"]).reset_index(drop=True)


def e_profile(rows: pd.DataFrame, values: Sequence[float] | None = None, **fit_kw: Any) -> pd.DataFrame:
    """The K-law with the loss floor E (L_inf, nats/token) held at each of ``values`` (default: 8 points from
    0.01 to 90 % of the lowest measured loss), jointly and per language: per E the joint fit's objective, R^2,
    exponents and flags, and the per-language fits' phi and psi (``phi_langs``, ``psi_langs``: lists), from
    which a verdict bootstraps its noise at that E.

    Where E sits on its bound, this shows what the data do say: if the objective is flat over E, E is not
    identified, and the exponents' range over the profile is how far a reading of phi or psi depends on it."""
    cols = ["E", "objective", "r2", "alpha", "beta", "phi", "psi", "status", "flags", "phi_langs", "psi_langs"]
    cap = setting_rows(rows, "capacity")
    if cap.empty:
        return pd.DataFrame(columns=cols)
    if values is None:
        values = np.linspace(0.01, 0.9 * float(cap["loss"].min()), 8)
    out = []
    for e in values:
        r = F.fit("klaw", cap, fixed={"E": float(e)}, **fit_kw)
        p = r.params if r.ok else {}
        per = [F.fit("klaw", g, fixed={"E": float(e)}, **fit_kw) for _, g in cap.groupby("eval_lang")]
        out.append({"E": float(e), "objective": r.objective if r.ok else np.nan, "r2": r.r2 if r.ok else np.nan,
                    **{k: p.get(k, np.nan) for k in ("alpha", "beta", "phi", "psi")},
                    "status": "ok" if r.ok else "failed", "flags": ", ".join(r.flags) if r.ok else r.message,
                    "phi_langs": [f.params["phi"] for f in per if f.ok],
                    "psi_langs": [f.params["psi"] for f in per if f.ok]})
    out = pd.DataFrame(out, columns=cols)
    out.attrs["n_points"] = len(cap)
    return out


def near_best(profile: pd.DataFrame) -> pd.DataFrame:
    """The profile fits as good as the best: objective within the engine's identification tolerance of the
    best (:data:`atlas.fit.IDENT_RTOL`, or 1/n for n points, as :func:`atlas.fit.fit` defines "near-best")."""
    ok = profile[profile["status"] == "ok"] if len(profile) else profile
    if not len(ok):
        return ok
    n = int(profile.attrs.get("n_points", 0) or 0)
    rtol = max(F.IDENT_RTOL, 1.0 / n) if n else F.IDENT_RTOL
    best = float(ok["objective"].min())
    return ok[ok["objective"] <= best * (1 + rtol)]


def e_profile_sentence(profile: pd.DataFrame) -> str:
    """A computed reading of :func:`e_profile` over its near-best fits (:func:`near_best`)."""
    near = near_best(profile)
    if len(near) < 2:
        return ("The E profile has fewer than two fits as good as the best: the data do constrain E here, and the "
                "joint fit's reading stands on its own." if len(near) else "The E profile could not be fitted.")
    def rng(c: str) -> str:
        return f"{near[c].min():.3f} to {near[c].max():.3f}"
    signs = []
    for c, word in (("phi", "positive"), ("psi", "negative")):
        held = (near[c] > 0).all() if word == "positive" else (near[c] < 0).all()
        name = {"phi": "φ", "psi": "ψ"}[c]
        signs.append(f"{name} stays {word}" if held else f"{name} changes sign")
    edge = " The best fits reach the top of the profile, so larger E cannot be ruled out." \
        if near["E"].max() >= profile["E"].max() else ""
    return (f"{len(near)} of {len(profile)} values of E, from {near['E'].min():.2f} to {near['E'].max():.2f} nats, fit "
            f"as well as the best (R² {rng('r2')}): the data do not pin E down. Over them φ runs from {rng('phi')} "
            f"and ψ from {rng('psi')} ({' and '.join(signs)}), and α from {rng('alpha')}.{edge}")


#: a joint fit flagged on these only is judged on the E profile (:func:`profile_sign`)
E_ONLY_FLAGS = {"at_bound:E", "not_identified:E", "no_information:E"}


def profile_sign(claim: str, paper: str, name: str, expected: str, pv: float, profile: pd.DataFrame) -> rules.Verdict:
    """The sign of ``name`` (phi or psi) judged on the E profile instead of a joint fit whose only flaw is E:
    over the near-best profile fits (:func:`near_best`), the value least favourable to the paper, with the
    bootstrap over the per-language fits at that same E; the flags of every near-best fit still bar
    "reproduced", and so does a near-best set that reaches the profile's largest E (``profile_edge:E``)."""
    near = near_best(profile)
    if not len(near):
        return rules.sign(claim, paper, float("nan"), rules.Noise.unknown("no E profile"), expected=expected,
                          name=f"{name} over the E profile", paper_value=pv)
    worst_i = near[name].idxmin() if expected == "positive" else near[name].idxmax()
    worst = near.loc[worst_i]
    flags = flags_of(near["flags"])
    if near["E"].max() >= profile["E"].max():
        flags.append("profile_edge:E")
    band = _centred(mean_ci(worst[f"{name}_langs"], unit=f"per-language fits at E = {worst['E']:.2f}"),
                    float(worst[name]))
    return rules.sign(claim, paper, float(worst[name]), band, expected=expected, paper_value=pv, flags=flags,
                      name=(f"{name}, least favourable of {len(near)} equally good fits over E = "
                            f"{near['E'].min():.2f}-{near['E'].max():.2f} (at E = {worst['E']:.2f}; {name} "
                            f"{near[name].min():.3f} to {near[name].max():.3f})"))


def klaw_seed_noise(table: pd.DataFrame, eval_set: str, **fit_kw: Any) -> dict[str, noise.SeedSpread]:
    """phi, psi and R2 of the joint K-law on every seed variant of the runs (:func:`atlas.noise.seed_variants`)."""
    def derive(variant: pd.DataFrame) -> dict[str, float]:
        rows, _ = fit_rows(variant, eval_set=eval_set)
        fits = klaw_fits(rows, **fit_kw)
        j = fits[(fits["eval_lang"] == "joint") & (fits["status"] == "ok")] if len(fits) else fits
        return {k: float(j[k].iloc[0]) for k in ("phi", "psi", "r2")} if len(j) else {}

    return noise.seed_spreads(table, derive, experiments=["capacity"])


def isoloss_table(params: dict[str, float] | None, ratios: Sequence[float] = (2, 4, 8, 16)) -> pd.DataFrame:
    """Iso-loss multipliers (N and D_tot) for r x languages: the paper's (Fig. 5) beside ours (from ``params``)."""
    paper = curse_of_multilinguality()["value"]
    rows = []
    for r in ratios:
        p = isoloss.language_multipliers(1, r, **isoloss.PAPER_EXPONENTS)
        row = {"r": r, "paper N x": float(paper.get(f"mult_N_{int(r)}x", np.nan)),
               "paper D_tot x": float(paper.get(f"mult_D_{int(r)}x", np.nan)),
               "paper exponents N x": p["N_multiplier"], "paper exponents D_tot x": p["D_total_multiplier"]}
        if params and all(np.isfinite(params.get(k, np.nan)) for k in ("phi", "psi", "alpha", "beta")) \
                and params["alpha"] > 0 and params["beta"] > 0:
            m = isoloss.language_multipliers(1, r, **{k: params[k] for k in ("phi", "psi", "alpha", "beta")})
            row.update({"ours N x": m["N_multiplier"], "ours D_tot x": m["D_total_multiplier"]})
        else:
            row.update({"ours N x": np.nan, "ours D_tot x": np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def klaw_heldout(rows: pd.DataFrame, **fit_kw: Any) -> pd.DataFrame:
    """The joint K-law scored on whole groups it never saw: held-out languages (``by = "eval_lang"``) and
    held-out K (``by = "K"``), via :func:`atlas.fit.leave_group_out_r2`. One row per group, with ``by``."""
    cap = setting_rows(rows, "capacity")
    if cap.empty:
        return pd.DataFrame(columns=["by", "group", "n_train", "n_test", "r2", "status", "reason", "flags"])
    parts = []
    for by in ("eval_lang", "K"):
        try:
            t = F.leave_group_out_r2("klaw", cap, by=by, **fit_kw)
        except F.FitDataError as exc:
            t = pd.DataFrame([{"group": "all", "n_train": 0, "n_test": 0, "r2": np.nan, "status": "failed",
                               "reason": str(exc)}])
        parts.append(t.assign(by=by))
    out = pd.concat(parts, ignore_index=True)
    if "flags" not in out:
        out["flags"] = ""
    return out


def _slice(frame: pd.DataFrame, fixed: str) -> pd.DataFrame:
    """The points at one value of ``fixed`` (the value shared by the most distinct values of the other axis,
    ties to the largest): Fig. 4's panels hold D (left) or N (right) fixed while the other varies."""
    other = "D" if fixed == "N" else "N"
    key = frame[fixed].round(-int(np.floor(np.log10(frame[fixed].abs().max()))) + 6)  # equal up to 6 digits
    spread = frame.groupby(key)[other].nunique()
    best = max(spread.index, key=lambda v: (spread[v], v))
    return frame[key == best]


def _mean_abs_slope(frame: pd.DataFrame, col: str) -> float:
    """Mean |dS/dlog col| at the measured points of a smoothing spline S(log col, K) (cubic where the data
    have 4+ distinct values on an axis, else of degree distinct - 1)."""
    x, k = np.log(frame[col].to_numpy(float)), frame["K"].to_numpy(float)
    kx, ky = min(3, frame[col].nunique() - 1), min(3, frame["K"].nunique() - 1)
    if kx < 1 or ky < 1 or len(frame) < (kx + 1) * (ky + 1):
        raise ValueError(f"{len(frame)} points with {frame[col].nunique()} values of {col} and "
                         f"{frame['K'].nunique()} of K cannot carry a spline")
    sp = interpolate.SmoothBivariateSpline(x, k, frame["relative_increase"].to_numpy(float), kx=kx, ky=ky)
    return float(np.mean(np.abs(sp.ev(x, k, dx=1))))


def penalty_slopes(penalty: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> dict[str, Any]:
    """Fig. 4: the penalty S (relative loss increase) as smoothing splines over (log N, K) at a fixed D and over
    (log D, K) at a fixed N (:class:`scipy.interpolate.SmoothBivariateSpline`), as the paper's two panels; the
    mean |dS/dlog N| and |dS/dlog D| at the measured points, their difference, and a bootstrap over points
    (resampled within each panel, splines refitted) of the difference. Holding the other axis fixed keeps one
    spline from absorbing the other's effect when N and D vary together.

    Returns ``{"ok": False, "reason": ...}`` when a panel has too few points or distinct values.
    """
    ok = penalty.dropna(subset=["relative_increase"]) if len(penalty) else penalty
    if len(ok) == 0:
        return {"ok": False, "reason": "no penalty points"}
    by_n, by_d = _slice(ok, "D"), _slice(ok, "N")
    try:
        sn, sd = _mean_abs_slope(by_n, "N"), _mean_abs_slope(by_d, "D")
    except Exception as exc:  # too few points or values, or scipy could not fit the surface
        return {"ok": False, "reason": f"the splines could not be fitted: {exc}"}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        try:
            bn = _mean_abs_slope(by_n.iloc[rng.integers(0, len(by_n), len(by_n))], "N")
            bd = _mean_abs_slope(by_d.iloc[rng.integers(0, len(by_d), len(by_d))], "D")
        except Exception:
            continue
        boots.append(bn - bd)
    band = (rules.Noise.bootstrap_ci(*np.percentile(boots, [2.5, 97.5]), source=f"bootstrap over {len(ok)} points")
            if len(boots) >= n_boot / 2 else rules.Noise.unknown("no noise estimate: too few bootstrap splines fitted"))
    return {"ok": True, "dS_dlogN": sn, "dS_dlogD": sd, "noise": band, "n_points": len(by_n) + len(by_d)}


def _centred(band: rules.Noise, value: float) -> rules.Noise:
    """A bootstrap CI of the per-language fits' mean, moved to centre on ``value`` (the joint fit's number the
    verdict judges): its half-width is the spread among languages; other noises are returned as they are."""
    if band.kind != "ci" or not np.isfinite(value):
        return band
    half = (band.hi - band.lo) / 2
    note = ", half-width centred on the judged value"
    return rules.Noise.bootstrap_ci(value - half, value + half, band.level,
                                    band.source if band.source.endswith(note) else band.source + note)


#: iso-loss multipliers: ours within this relative tolerance of the paper's x1.18 (N) and x1.66 (D_tot)
ISO_TOL = 0.25
#: the paper's per-language K-law fits reach R2 > 0.8: held-out groups must beat this
HELDOUT_R2 = 0.8


def chapter07_verdicts(preset: str, fits: pd.DataFrame, penalty: pd.DataFrame,
                       heldout: pd.DataFrame | None = None, slopes: dict[str, Any] | None = None,
                       seed_noise: dict[str, noise.SeedSpread] | None = None,
                       profile: pd.DataFrame | None = None) -> list[Verdict]:
    """The chapter's verdicts: phi and psi (sign rule; noise: the wider of a bootstrap over the per-language fits
    and the s.d. over seeds of the joint fit, :func:`klaw_seed_noise`), the penalty's
    trend in K (rank trend), the iso-loss multipliers (value rule), Fig. 4's slopes (ordering), held-out
    languages and K (ordering against R2 0.8). Flags of the fits involved bar "reproduced". With ``profile``
    (:func:`e_profile`), phi and psi of a joint fit flagged on E alone are judged on the profile instead
    (:func:`profile_sign`): same claim, one verdict each."""
    ch, src = "07_curse_of_multilinguality", "Sec. 5, Eq. 7"
    out = []
    joint = fits[(fits["eval_lang"] == "joint") & (fits["status"] == "ok")] if len(fits) else fits
    per = fits[(fits["eval_lang"] != "joint") & (fits["status"] == "ok")] if len(fits) else fits
    if len(joint) == 0:
        reason = (str(fits[fits["eval_lang"] == "joint"]["message"].iloc[0])
                  if len(fits) and (fits["eval_lang"] == "joint").any() else "no capacity runs")
        for claim, paper in (("phi > 0: more languages cost model capacity", "phi = 0.11"),
                             ("psi slightly negative: a little positive transfer in the data term", "psi = -0.04"),
                             ("Doubling the languages at equal loss needs x1.18 N", "x1.18 N per doubling (Fig. 5)"),
                             ("Doubling the languages at equal loss needs x1.66 D_tot", "x1.66 D_tot per doubling (Fig. 5)")):
            out.append(untestable(ch, claim, src if "phi" in claim or "psi" in claim else "Sec. 5, Fig. 5", paper,
                                  f"no joint K-law fit: {reason}", preset, ours="no joint fit"))
    else:
        j = joint.iloc[0]
        flags = flags_of([j.get("flags", "")])
        for name, claim, paper, expected, pv in (
                ("phi", "phi > 0: more languages cost model capacity", "phi = 0.11", "positive", 0.11),
                ("psi", "psi slightly negative: a little positive transfer in the data term", "psi = -0.04", "negative", -0.04)):
            spread = (seed_noise or {}).get(name)
            noise_ = _centred(mean_ci(per[name] if len(per) else [], unit="per-language fits"), float(j[name]))
            if spread is not None and np.isfinite(spread.sd):
                noise_ = rules.wider(noise_, rules.Noise.seed_sd(spread.sd, f"{spread.n} seeds of the joint fit"))
            if profile is not None and len(profile) and flags and set(flags) <= E_ONLY_FLAGS:
                v = profile_sign(claim, paper, name, expected, pv, profile)
            else:
                v = rules.sign(claim, paper, float(j[name]), noise_, expected=expected,
                               name=f"{name} (joint fit, R2 {j['r2']:.2f})", paper_value=pv, flags=flags)
            out.append(judged(ch, src, preset, v))
        mults = []
        for r in per.to_dict("records") if len(per) else []:
            if all(np.isfinite(r.get(k, np.nan)) for k in ("phi", "psi", "alpha", "beta")) and r["alpha"] > 0 and r["beta"] > 0:
                mults.append(isoloss.language_multipliers(1, 2, **{k: r[k] for k in ("phi", "psi", "alpha", "beta")}))
        ours = (isoloss.language_multipliers(1, 2, **{k: j[k] for k in ("phi", "psi", "alpha", "beta")})
                if j["alpha"] > 0 and j["beta"] > 0 else {"N_multiplier": np.nan, "D_total_multiplier": np.nan})
        for key, label, pv in (("N_multiplier", "N", 1.18), ("D_total_multiplier", "D_tot", 1.66)):
            v = rules.value(f"Doubling the languages at equal loss needs x{pv:.2f} {label}",
                            f"x{pv:.2f} {label} per doubling (Fig. 5)", float(ours[key]), pv, ISO_TOL,
                            _centred(mean_ci([m[key] for m in mults], unit="per-language fits"), float(ours[key])),
                            relative=True,
                            name=f"our {label} multiplier (joint fit)", flags=flags)
            out.append(judged(ch, "Sec. 5, Fig. 5", preset, v))
    # the penalty grows with K: Spearman rho of (K, relative increase) over the measured points
    ok = penalty.dropna(subset=["relative_increase"]) if len(penalty) else penalty
    claim, paper = "The loss penalty grows monotonically with K", "monotone in K (Fig. 4)"
    if len(ok) and ok["K"].nunique() >= 2:
        k, y = ok["K"].to_numpy(float), ok["relative_increase"].to_numpy(float)
        rho = float(sps.spearmanr(k, y).statistic) if np.ptp(y) > 0 else 0.0
        med = ok.groupby("K")["relative_increase"].median()
        v = rules.rank_trend(claim, paper, rho, spearman_ci(k, y, unit="points", min_points=4), direction="increasing")
        v = rules.Verdict(v.claim, v.paper, v.ours + "; median " + ", ".join(f"K={int(a)}: {b:+.1%}" for a, b in med.items()),
                          v.status, v.rule, v.reason + "; against K = 1 runs of the same shape at equal target tokens", v.noise)
        out.append(judged(ch, "Fig. 4", preset, v))
    else:
        out.append(untestable(ch, claim, "Fig. 4", paper, "needs capacity runs at several K and matching K = 1 curves",
                              preset, ours="fewer than two K > 1 values with a K = 1 baseline"))
    # Fig. 4: the penalty moves more along N than along D
    claim, paper = "The penalty surface is steeper in N than in D: |dS/dlog N| > |dS/dlog D|", "Fig. 4 surfaces"
    slopes = slopes if slopes is not None else penalty_slopes(penalty)
    if not slopes.get("ok"):
        out.append(untestable(ch, claim, "Fig. 4", paper, f"splines over (N, K) at fixed D and (D, K) at fixed N: {slopes.get('reason')}",
                              preset))
    else:
        v = rules.ordering(claim, paper, slopes["dS_dlogN"], slopes["dS_dlogD"], slopes["noise"],
                           names=("mean |dS/dlog N|", "mean |dS/dlog D|"))
        out.append(judged(ch, "Fig. 4", preset, v))
    # the K-law on held-out languages and held-out K
    for by, what in (("eval_lang", "languages"), ("K", "values of K")):
        claim = f"The K-law predicts held-out {what}"
        paper = f"per-language fits R2 > {HELDOUT_R2} (joint R2 >= 0.87)"
        h = heldout[heldout["by"] == by] if heldout is not None and len(heldout) else pd.DataFrame()
        sc = h[np.isfinite(h["r2"].astype(float))] if len(h) else h
        if not len(sc):
            why = "; ".join(sorted(set(h["reason"].fillna("").astype(str)) - {""})[:2]) if len(h) else "no capacity runs"
            out.append(untestable(ch, claim, "Sec. 5 (our test)", paper,
                                  f"no held-out group could be scored: {why}", preset))
            continue
        r2_noise = mean_ci(sc["r2"].astype(float) - HELDOUT_R2, unit=f"held-out {what}")  # CI of mean R2 - 0.8
        v = rules.ordering(claim, paper, float(sc["r2"].mean()), HELDOUT_R2, r2_noise,
                           names=(f"mean held-out R2 over {len(sc)} {what}", "R2"), flags=flags_of(sc["flags"]))
        out.append(judged(ch, "Sec. 5 (our test)", preset, v))
    return out
