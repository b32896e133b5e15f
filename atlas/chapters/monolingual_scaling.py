"""Chapter 03 (monolingual scaling): CSL/DCSL/ATLAS fits per language and vocabulary, compute-optimal
frontiers, the vocabulary tax, repetition, and the chapter's verdicts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import fit as F
from atlas import languages as L
from atlas import noise, rules
from atlas.chapters.verdicts import Verdict, flags_of, judged, mean_ci, untestable
from atlas.planning import optimal
from atlas.scaling_table import fit_rows

def one_language_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The chapter's points: the ``monolingual`` experiment's runs (one recipe), or, in a preset without that
    experiment, every from-scratch K = 1 run."""
    own = rows[rows["experiment"] == "monolingual"]
    return own if len(own) else rows[(rows["K"] == 1) & (rows["base_tokens"].fillna(0) == 0)]


def monolingual_fits(rows: pd.DataFrame, laws: Sequence[str] = ("csl", "dcsl", "atlas-dt"), **fit_kw: Any) -> pd.DataFrame:
    """One fit per (law, vocabulary, language) on :func:`one_language_rows`; failed fits kept."""
    mono = one_language_rows(rows)
    parts = []
    for law in laws:
        t = F.fit_groups(law, mono, by=["vocab", "eval_lang"], **fit_kw)
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def fitted_frontiers(fits: pd.DataFrame, C: np.ndarray) -> pd.DataFrame:
    """Compute-optimal (N, D, loss) along budgets ``C`` from every successful CSL fit (Chinchilla frontier)."""
    out = []
    for r in fits[(fits["law"] == "csl") & (fits["status"] == "ok")].to_dict("records"):
        try:
            f = optimal.frontier(C, r)
        except ValueError:
            continue
        out.append(f.assign(vocab=r["vocab"], eval_lang=r["eval_lang"]))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["C", "N", "D", "loss", "vocab", "eval_lang"])


def _frontier_points(table: pd.DataFrame) -> pd.DataFrame:
    """The points a measured frontier is drawn through: decayed models of primary runs (no seed replicates)."""
    t = noise.primary_only(table)
    return t[t["decayed"].to_numpy(bool)] if "decayed" in t else t


def vocabulary_tax(table: pd.DataFrame, eval_set: str, loss: str = "loss_u") -> pd.DataFrame:
    """Compute a multilingual vocabulary costs over a monolingual one to reach the same loss, per language.

    Uses the vocabulary-insensitive ``loss_u`` (comparable across tokenizers; no law is fitted, so its sign
    does not matter) on the measured frontiers of from-scratch K = 1 runs (decayed points of primary runs). When
    the ``monolingual`` experiment trains some language under both vocabularies, only those languages and
    those runs are compared, so that one training recipe is on both sides. One row per language: the median
    ratio ``C_multi / C_mono`` over the loss levels both frontiers reach (NaN + reason otherwise).
    """
    t = _frontier_points(table)
    t = t[(t["eval_set"] == eval_set) & (t["D"] > 0) & (t["K"] == 1) & (t["base_tokens"].fillna(0) == 0)
          & np.isfinite(t[loss])]
    own = t[t["experiment"] == "monolingual"]
    paired = own.groupby("eval_lang")["vocab"].nunique()
    designed = set(paired[paired == 2].index)  # the study trained these languages under both vocabularies
    out = []
    for lang, g in t.groupby("eval_lang"):
        if designed and lang not in designed:  # never compare frontiers of two different training recipes
            out.append({"eval_lang": lang, "median_ratio": np.nan, "n_levels": 0,
                        "reason": "the monolingual experiment trains it under one vocabulary only"})
            continue
        if designed:
            g = own[own["eval_lang"] == lang]
        fr = {v: optimal.empirical_frontier(gg, loss=loss) for v, gg in g.groupby("vocab")}
        if "mono" not in fr or "multi" not in fr:
            out.append({"eval_lang": lang, "median_ratio": np.nan, "n_levels": 0,
                        "reason": f"needs runs with both vocabularies; has {sorted(fr)}"})
            continue
        tax = optimal.compute_tax(fr["mono"], fr["multi"], loss=loss).dropna()
        out.append({"eval_lang": lang, "median_ratio": float(tax["ratio"].median()) if len(tax) else np.nan,
                    "n_levels": len(tax), "reason": "" if len(tax) else "the two frontiers share no loss range"})
    return pd.DataFrame(out)


def eval_bytes_per_token(preset: str, languages: Sequence[str], eval_set: str) -> pd.DataFrame:
    """UTF-8 bytes per evaluated token, per vocabulary (``mono``/``multi``) and language: the text a run's
    ``eval_set`` evaluation covers (its targets as :func:`atlas.sampling.eval_windows` cuts them) decoded back
    to text; each end-of-verse token counts as one byte (a line break). Loss (nats/token) / bytes_per_token = nats per byte, a loss no tokenizer can move."""
    from atlas import sampling
    from atlas.presets import Preset
    from atlas.tokenizer import get_tokenizer

    p = Preset.load(preset)
    eval_tokens, seq_len = int(p.data.get("eval_tokens", 8192)), int(p.model["seq_len"])
    out = []
    for kind in ("mono", "multi"):
        for lang in languages:
            tok = get_tokenizer(p, kind, lang)
            stream = sampling.language_data(p, lang, tok).test.get(eval_set, [])
            if len(stream) < 2:
                continue
            targets = sampling.eval_windows(stream, seq_len, eval_tokens)[1].ravel()
            n_bytes = len(tok.decode(targets).encode("utf-8")) + int((targets == tok.eos_id).sum())
            out.append({"vocab": kind, "eval_lang": lang, "tokens": len(targets), "bytes": n_bytes,
                        "bytes_per_token": n_bytes / len(targets)})
    return pd.DataFrame(out, columns=["vocab", "eval_lang", "tokens", "bytes", "bytes_per_token"])


def with_nats_per_byte(table: pd.DataFrame, bpt: pd.DataFrame, eval_set: str) -> pd.DataFrame:
    """``table`` with ``loss_b`` = loss / bytes per token (nats per UTF-8 byte) on ``eval_set`` rows whose
    (vocabulary, language) ``bpt`` covers (:func:`eval_bytes_per_token`); NaN elsewhere."""
    key = bpt.set_index(["vocab", "eval_lang"])["bytes_per_token"]
    idx = pd.MultiIndex.from_arrays([table["vocab"].astype(str), table["eval_lang"].astype(str)])
    per = key.reindex(idx).to_numpy(float)
    out = table.copy()
    out["loss_b"] = np.where(table["eval_set"].to_numpy() == eval_set, table["loss"].to_numpy(float) / per, np.nan)
    return out


def repetition_r2(rows: pd.DataFrame, laws: Sequence[str] = ("csl", "dcsl", "atlas-dt"), **fit_kw: Any) -> pd.DataFrame:
    """Held-out R^2(D) (top-20 % data held out) per law for each language whose runs repeat data (D > U).

    This is where a saturation term should matter: the held-out points are the most repeated ones.
    """
    mono = one_language_rows(rows)
    out = []
    for (vocab, lang), g in mono.groupby(["vocab", "eval_lang"]):
        if not np.any(g["D"].to_numpy(float) > g["U"].to_numpy(float)):
            continue
        for law in laws:
            h = F.heldout_r2(law, g.reset_index(drop=True), splits=["D"], **fit_kw).iloc[0]
            out.append({"vocab": vocab, "eval_lang": lang, "law": law, "r2_D": h["r2"], "status": h["status"],
                        "reason": h["reason"], "max_epochs": float(np.nanmax(g["D"] / g["U"])),
                        "flags": h["flags"] if isinstance(h.get("flags"), str) else ""})
    return pd.DataFrame(out, columns=["vocab", "eval_lang", "law", "r2_D", "status", "reason", "max_epochs", "flags"])


def unimax_tax(table: pd.DataFrame, eval_set: str, loss: str = "loss") -> pd.DataFrame:
    """The Unimax frontier against the one-language frontier (same multilingual vocabulary, so cross-entropy is
    comparable): per language, the median ratio ``C_unimax / C_mono`` to reach the same loss (NaN + reason)."""
    t = _frontier_points(table)
    t = t[(t["eval_set"] == eval_set) & (t["vocab"] == "multi") & (t["D"] > 0)
          & (t["base_tokens"].fillna(0) == 0) & np.isfinite(t[loss])]
    uni = t[t["experiment"] == "unimax"]
    mono = t[(t["K"] == 1) & (t["experiment"] != "unimax")]
    if (mono["experiment"] == "monolingual").any():  # the study's own one-language runs: one recipe
        mono = mono[mono["experiment"] == "monolingual"]
    out = []
    for lang in sorted(set(uni["eval_lang"])):
        a, b = mono[mono["eval_lang"] == lang], uni[uni["eval_lang"] == lang]
        if len(a) < 2 or len(b) < 2:
            out.append({"eval_lang": lang, "median_ratio": np.nan, "n_levels": 0,
                        "reason": f"{len(a)} one-language and {len(b)} Unimax points (2 of each needed)"})
            continue
        tax = optimal.compute_tax(optimal.empirical_frontier(a, loss=loss), optimal.empirical_frontier(b, loss=loss),
                                  loss=loss).dropna()
        out.append({"eval_lang": lang, "median_ratio": float(tax["ratio"].median()) if len(tax) else np.nan,
                    "n_levels": len(tax), "reason": "" if len(tax) else "the two frontiers share no loss range"})
    return pd.DataFrame(out, columns=["eval_lang", "median_ratio", "n_levels", "reason"])


def decay_gain(table: pd.DataFrame, eval_set: str, loss: str = "loss") -> pd.DataFrame:
    """What the cooldown buys: per budget (optimiser steps), the decayed model's loss minus the stable-phase
    checkpoint's at the same step, over the primary runs of :func:`one_language_rows` (nats/token; negative =
    the decay helps)."""
    t = one_language_rows(noise.primary_only(table))
    t = t[(t["eval_set"] == eval_set) & (t["D"] > 0)]
    key = ["run_id", "eval_lang", "step"]
    both = (t[t["decayed"]].groupby(key)[loss].first().rename("decayed").to_frame()
            .join(t[~t["decayed"]].groupby(key)[loss].first().rename("stable"), how="inner").reset_index())
    both["gain"] = both["decayed"] - both["stable"]
    return (both.groupby("step")["gain"].agg(runs="count", mean="mean", sd="std", min="min", max="max")
            .reset_index().rename(columns={"step": "steps"}))


def seed_floor(table: pd.DataFrame, eval_set: str, loss: str = "loss") -> pd.DataFrame:
    """The noise floor of the decayed points: per replicated run and D, the mean and s.d. over seeds of
    ``loss`` (nats/token) on ``eval_set``."""
    rows, _ = fit_rows(table, eval_set=eval_set, loss=loss, seed_replicates=True)
    return noise.final_loss_spread(one_language_rows(rows), loss)


def _tax_seed_noise(table: pd.DataFrame, tax) -> dict[str, noise.SeedSpread]:
    """Per language, ``tax(variant)``'s median ratio on every seed variant of the ``monolingual`` runs."""
    return noise.seed_spreads(table, lambda v: tax(v).set_index("eval_lang")["median_ratio"].dropna().to_dict(),
                              experiments=["monolingual"])


def tax_seed_noise(table: pd.DataFrame, eval_set: str, loss: str = "loss_u") -> dict[str, noise.SeedSpread]:
    """Per language, the vocabulary tax (on ``loss``) on every seed variant of the runs (languages without
    replicates have s.d. 0: only the replicated run changes between variants)."""
    return _tax_seed_noise(table, lambda v: vocabulary_tax(v, eval_set, loss=loss))


def unimax_tax_seed_noise(table: pd.DataFrame, eval_set: str) -> dict[str, noise.SeedSpread]:
    """Per language, the Unimax tax on every seed variant of the one-language runs it is measured against
    (the ``monolingual`` experiment's replicates under the multilingual vocabulary)."""
    return _tax_seed_noise(table, lambda v: unimax_tax(v, eval_set))


def exponent_seed_noise(table: pd.DataFrame, eval_set: str, **fit_kw: Any) -> dict[tuple[str, str], noise.SeedSpread]:
    """Per replicated (vocabulary, language), the CSL frontier exponent beta / (alpha + beta) on every seed
    variant (only the groups with a replicated run are refitted)."""
    rep = table[noise.is_replicate(table["run_id"]) & (table["D"] > 0) & (table["experiment"] == "monolingual")]
    groups = set(zip(rep["vocab"], rep["eval_lang"]))

    def derive(variant: pd.DataFrame) -> dict[tuple[str, str], float]:
        rows, _ = fit_rows(variant, eval_set=eval_set)
        rows = rows[[(v, l) in groups for v, l in zip(rows["vocab"], rows["eval_lang"])]]
        ex = frontier_exponents(monolingual_fits(rows, laws=("csl",), **fit_kw))
        return {(r.vocab, r.eval_lang): float(r.a) for r in ex.itertuples()}

    return noise.seed_spreads(table, derive, experiments=["monolingual"])


def seed_noise_table(tax_noise: dict[str, noise.SeedSpread],
                     exponent_noise: dict[tuple[str, str], noise.SeedSpread],
                     tax_bytes_noise: dict[str, noise.SeedSpread] | None = None) -> pd.DataFrame:
    """The derived numbers the chapter compares with the paper, with their s.d. over seeds."""
    out = [{"quantity": f"vocabulary tax C_multi / C_mono ({L.get(k).code}, {unit})", "mean": s.mean,
            "seed s.d.": s.sd, "seeds": s.n}
           for unit, spreads in (("loss_u", tax_noise), ("nats/byte", tax_bytes_noise or {}))
           for k, s in spreads.items() if s.sd > 0]
    out += [{"quantity": f"frontier exponent of N_opt in C ({L.get(l).code}, {v} vocabulary)", "mean": s.mean,
             "seed s.d.": s.sd, "seeds": s.n} for (v, l), s in exponent_noise.items() if s.sd > 0]
    return pd.DataFrame(out, columns=["quantity", "mean", "seed s.d.", "seeds"])


def _largest_sd(spreads) -> tuple[float, str]:
    """The largest finite seed s.d. among ``spreads`` and where it comes from (NaN, "" when none)."""
    best = max(((s.sd, k) for k, s in (spreads or {}).items() if np.isfinite(s.sd) and s.sd > 0),
               default=(float("nan"), ""), key=lambda x: x[0])
    return best


def frontier_exponents(fits: pd.DataFrame) -> pd.DataFrame:
    """The compute-optimal frontier's exponent N_opt ~ C^(beta / (alpha + beta)) of every successful CSL fit."""
    ok = fits[(fits["law"] == "csl") & (fits["status"] == "ok")] if len(fits) else pd.DataFrame()
    if not len(ok):
        return pd.DataFrame(columns=["vocab", "eval_lang", "a", "flags"])
    return pd.DataFrame({"vocab": ok["vocab"], "eval_lang": ok["eval_lang"],
                         "a": ok["beta"] / (ok["alpha"] + ok["beta"]), "flags": ok["flags"]}).reset_index(drop=True)


#: "nearly parallel": the spread (max - min) of the frontier exponents within this
PARALLEL_TOL = 0.1


def _seed_noise(spreads, what: str, two_sided: bool) -> tuple[rules.Noise | None, float]:
    """Seed noise of one tax (or exponent) per language, from the replicated language's spread, taken for every
    language. A tax compares two frontiers and only one side is replicated, so its s.d. is widened by sqrt 2
    (``two_sided``; conservative where both sides have replicates); an exponent is one fit. None when no
    replicate exists."""
    sd, where = _largest_sd(spreads)
    if not np.isfinite(sd):
        return None, float("nan")
    lang = where[-1] if isinstance(where, tuple) else where
    n, factor = spreads[where].n, float(np.sqrt(2)) if two_sided else 1.0
    widened = " x sqrt 2 for the unreplicated frontier," if two_sided else ""
    return rules.Noise.seed_sd(sd * factor, f"{what}: s.d. over {n} seeds of {L.get(lang).code}'s,{widened} "
                               "taken for every language"), sd * factor


def _tax_verdicts(ch: str, preset: str, tax: pd.DataFrame, claim: str, source: str, paper: str, what: str,
                  missing: str, seed_noise: dict | None = None, largest_for: str | None = None,
                  unit: str = "") -> list[Verdict]:
    """A compute tax > 1 in every language: the sign rule on the smallest tax - 1 under seed noise (or on the
    mean tax - 1 bootstrapped over languages when no replicate exists); with ``largest_for``, the ordering
    rule on that language's tax against the largest other one."""
    finite = tax.dropna(subset=["median_ratio"]) if len(tax) else tax
    finite = finite[finite["median_ratio"] > 0] if len(finite) else finite
    if len(finite) == 0:
        return [untestable(ch, claim, source, paper, missing, preset, ours=f"no language with {what}")]
    r = finite["median_ratio"].to_numpy(float)
    per_lang = ", ".join(f"{L.get(k).code} x{x:.2f}" for k, x in zip(finite["eval_lang"], finite["median_ratio"]))
    noise_one, sd_one = _seed_noise(seed_noise, "tax", two_sided=True)
    if noise_one is not None:
        v = rules.sign(claim, paper, float(r.min() - 1), noise_one, expected="positive", name="smallest tax - 1")
    else:
        v = rules.sign(claim, paper, float(r.mean() - 1), mean_ci(r - 1, unit="languages"), expected="positive",
                       name="mean tax - 1")
    out = [judged(ch, source, preset, rules.Verdict(v.claim, v.paper, v.ours + "; median C ratio: " + per_lang,
                                                     v.status, v.rule, v.reason, v.noise))]
    by_lang = dict(zip(finite["eval_lang"], r))
    others = {k: x for k, x in by_lang.items() if k != largest_for}
    if largest_for is not None:
        claim2, paper2 = f"The tax is largest for {L.get(largest_for).code}{unit}", "largest for EN (Fig. 1)"
        if largest_for not in by_lang or not others:
            out.append(untestable(ch, claim2, source, paper2, f"needs the {L.get(largest_for).code} tax and "
                                  "another language's", preset, ours=per_lang or "not measured"))
        else:
            top = max(others, key=others.get)
            diff_noise = (rules.Noise.seed_sd(rules.diff_sd(sd_one, sd_one), noise_one.source + "; two taxes")
                          if noise_one is not None else rules.Noise.unknown("no noise estimate: no seed replicate"))
            out.append(judged(ch, source, preset, rules.ordering(
                claim2, paper2, by_lang[largest_for], others[top], diff_noise,
                names=(f"{L.get(largest_for).code} tax", f"{L.get(top).code} tax (largest other)"))))
    return out


def chapter03_verdicts(preset: str, tax: pd.DataFrame, rep: pd.DataFrame, fits: pd.DataFrame | None = None,
                       uni: pd.DataFrame | None = None, tax_noise: dict | None = None,
                       exponent_noise: dict | None = None, tax_bytes: pd.DataFrame | None = None,
                       tax_bytes_noise: dict | None = None, uni_noise: dict | None = None) -> list[Verdict]:
    """Vocabulary tax (on ``loss_u`` per token, the paper's loss, and with ``tax_bytes`` on nats per byte) and
    Unimax tax (sign; EN largest: ordering), saturating laws on repeated data (ordering), parallel frontiers
    (value of the exponents' spread), each by a rule of :mod:`atlas.rules`; seed noise from
    :func:`tax_seed_noise` / :func:`exponent_seed_noise` where replicates exist."""
    ch = "03_monolingual_scaling"
    out = _tax_verdicts(ch, preset, tax, "A multilingual vocabulary adds a compute tax (C_multi / C_mono > 1), "
                        "loss_u per token", "Fig. 1, Sec. 3", "tax > 1 for every language, largest for EN",
                        "both vocabularies on a shared loss range",
                        "needs monolingual runs with both a monolingual and a multilingual vocabulary",
                        seed_noise=tax_noise, largest_for="eng", unit=", loss_u per token")
    if tax_bytes is not None:
        out += _tax_verdicts(ch, preset, tax_bytes, "A multilingual vocabulary adds a compute tax (C_multi / C_mono "
                             "> 1), nats per byte", "Fig. 1, Sec. 3", "tax > 1 for every language, largest for EN",
                             "both vocabularies on a shared loss range",
                             "needs monolingual runs with both vocabularies and the bytes of the evaluated text",
                             seed_noise=tax_bytes_noise, largest_for="eng", unit=", nats per byte")
    out += _tax_verdicts(ch, preset, uni if uni is not None else pd.DataFrame(),
                         "Unimax training adds a compute tax over one-language training (C_unimax / C_mono > 1)",
                         "Fig. 1 (Unimax frontier)", "the Unimax frontier lies above the monolingual one",
                         "Unimax and one-language runs on a shared loss range",
                         "needs Unimax runs and one-language runs of the same vocabulary reaching common losses",
                         seed_noise=uni_noise)
    claim = "Saturating laws (DCSL, ATLAS) extrapolate repeated data better than CSL"
    paper = "HI, SW bend upward; ATLAS/DCSL beat CSL out of sample (R2(N) 0.78/0.88 vs 0.68)"
    ok = rep[rep["status"] == "ok"] if len(rep) else rep
    piv = ok.pivot_table(index=["vocab", "eval_lang"], columns="law", values="r2_D") if len(ok) else pd.DataFrame()
    sat_cols = [c for c in ("dcsl", "atlas-dt") if c in piv]
    if len(piv) == 0 or "csl" not in piv or not sat_cols:
        out.append(untestable(ch, claim, "Fig. 1, Table 1", paper, "needs capped languages trained beyond one epoch "
                              "with enough points for CSL and a saturating law", preset,
                              ours="no scorable language with repeated data"))
    else:
        sat = piv[sat_cols].max(axis=1)
        both = piv["csl"].notna() & sat.notna()
        d = (sat - piv["csl"])[both]
        v = rules.ordering(claim, paper, float(sat[both].mean()), float(piv["csl"][both].mean()),
                           mean_ci(d, unit="languages (paired difference)"),
                           names=("best saturating law R2(D)", "CSL R2(D)"), paper_gap=0.1,
                           flags=flags_of(ok["flags"]) if "flags" in ok else None)
        out.append(judged(ch, "Fig. 1, Table 1", preset, v))
    claim, paper = "The monolingual compute-optimal frontiers run nearly parallel", "nearly parallel (Fig. 1)"
    ex = frontier_exponents(fits if fits is not None else pd.DataFrame())
    groups = [(voc, g) for voc, g in ex.groupby("vocab") if len(g) >= 2] if len(ex) else []
    if not groups:
        out.append(untestable(ch, claim, "Fig. 1", paper, "needs CSL fits of 2+ languages with one vocabulary", preset))
    else:
        voc, g = max(groups, key=lambda x: len(x[1]))
        spread = float(g["a"].max() - g["a"].min())
        noise_a, sd_a = _seed_noise({k: v for k, v in (exponent_noise or {}).items() if k[0] == voc}, "exponent",
                                    two_sided=False)
        v = rules.value(claim, paper, spread, 0.0, PARALLEL_TOL,
                        rules.Noise.seed_sd(rules.diff_sd(sd_a, sd_a), noise_a.source + "; spread of two exponents")
                        if noise_a is not None else
                        rules.Noise.unknown("no noise estimate: no seed replicate of this vocabulary's runs"),
                        name=f"spread of the exponent of N_opt in C over {len(g)} languages ({voc} vocabulary)",
                        flags=flags_of(g["flags"]))
        out.append(judged(ch, "Fig. 1", preset, v))
    return out
