"""Chapter 07 (curse of multilinguality): the K-law per language and jointly, iso-loss multipliers, verdicts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import fit as F
from atlas.chapters.verdicts import Verdict
from atlas.paper_tables import curse_of_multilinguality
from atlas.planning import isoloss
from atlas.scaling_table import setting_rows

def klaw_fits(rows: pd.DataFrame, **fit_kw: Any) -> pd.DataFrame:
    """The K-law per language and jointly (all languages pooled), on the capacity runs; failures kept."""
    cap = setting_rows(rows, "capacity")
    if cap.empty:
        return pd.DataFrame()
    per = F.fit_groups("klaw", cap, by="eval_lang", **fit_kw)
    joint = F.fit_groups("klaw", cap.assign(pooled="joint"), by="pooled", **fit_kw).rename(columns={"pooled": "eval_lang"})
    return pd.concat([per, joint], ignore_index=True)


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


def chapter07_verdicts(preset: str, fits: pd.DataFrame, penalty: pd.DataFrame) -> list[Verdict]:
    ch = "07_curse_of_multilinguality"
    out = []
    joint = fits[(fits["eval_lang"] == "joint") & (fits["status"] == "ok")] if len(fits) else fits
    if len(joint) == 0:
        reason = fits[fits["eval_lang"] == "joint"]["message"].iloc[0] if len(fits) and (fits["eval_lang"] == "joint").any() else "no capacity runs"
        for claim, paper in (("phi > 0: more languages cost model capacity", "phi = 0.11"),
                             ("psi slightly negative: a little positive transfer in the data term", "psi = -0.04")):
            out.append(Verdict(ch, claim, "Sec. 5, Eq. 7", paper, "no joint fit", "not testable", str(reason), preset))
    else:
        j = joint.iloc[0]
        out.append(Verdict(ch, "phi > 0: more languages cost model capacity", "Sec. 5, Eq. 7", "phi = 0.11",
                           f"phi = {j['phi']:.3f} (joint fit, R2 {j['r2']:.2f})",
                           "reproduced" if j["phi"] > 0 else "not reproduced", "joint K-law fit on the capacity runs", preset))
        psi = j["psi"]
        status = "reproduced" if -0.15 < psi < 0 else ("partially" if abs(psi) < 0.15 else "not reproduced")
        out.append(Verdict(ch, "psi slightly negative: a little positive transfer in the data term", "Sec. 5, Eq. 7",
                           "psi = -0.04", f"psi = {psi:.3f}", status, "joint K-law fit on the capacity runs", preset))
    ok = penalty.dropna(subset=["relative_increase"]) if len(penalty) else penalty
    if len(ok) and ok["K"].nunique() >= 2:
        med = ok.groupby("K")["relative_increase"].median()
        mono = bool(np.all(np.diff(med.to_numpy()) > 0))
        ours = ", ".join(f"K={int(k)}: {v:+.1%}" for k, v in med.items())
        out.append(Verdict(ch, "The loss penalty grows monotonically with K", "Fig. 4", "monotone in K",
                           f"median relative loss increase {ours}", "reproduced" if mono and med.iloc[-1] > 0 else "not reproduced",
                           "against K = 1 runs of the same shape at equal target tokens", preset))
    else:
        out.append(Verdict(ch, "The loss penalty grows monotonically with K", "Fig. 4", "monotone in K",
                           "fewer than two K > 1 values with a K = 1 baseline", "not testable",
                           "needs capacity runs at several K and matching K = 1 curves", preset))
    return out
