"""Chapter 08 (pretrain from scratch vs finetune a multilingual base): curves, crossovers, the law in N, verdicts.

Reads the ``finetune`` experiment's records (continued pretraining of a Unimax base on one target, LR schedule
reset) and each finetune's from-scratch counterpart (named in its spec's ``scratch_run``) through
:func:`atlas.scaling_table.build_table`, then calls :mod:`atlas.planning.crossover`. Tokens are the tokens
trained *in that run* (for a finetune: after the base checkpoint); compute is ``6 N D`` in FLOPs, with and
without the base model's own ``6 N D_base``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from atlas.paper_tables import crossover_points, model_grid_table_b3
from atlas.planning.crossover import PlanningError, crossover_table, fit_crossover_law
from atlas.presets import Preset
from atlas.scaling_table import build_table
from atlas import rules
from atlas.chapters.verdicts import Verdict, judged, mean_ci, untestable


#: the paper's Sec. 6 model size (Table B.3 scale 34, the "2B" models its crossovers are read on)
PAPER_FINETUNE_SCALE = 34


def load(preset: str) -> pd.DataFrame:
    """The scaling table, without the finetunes that have no from-scratch counterpart (the FAS block of
    App. B.5.2 finetunes every language alone; chapter 04 reads those)."""
    table = build_table(preset)
    ft = table[table["experiment"] == "finetune"]
    if ft.empty:
        raise PlanningError(
            f"runs/{preset} has no finetune runs; create them with "
            f"`python -m atlas grid run --preset {preset} --experiment finetune`"
        )
    based = (table["experiment"] == "finetune") & table["base_tokens"].fillna(0).gt(0)
    return table[~(based & table["scratch_run"].isna())].reset_index(drop=True)


def paper_crossover_tokens_per_param(language: str | None = None) -> tuple[float, float]:
    """The paper's crossovers (Sec. 6) in finetuning tokens per parameter of its 2B models (parameters with
    embeddings): (lowest, highest) over its 8 languages, or that ``language``'s own twice when the paper has it."""
    n = float(model_grid_table_b3().set_index("scale").loc[PAPER_FINETUNE_SCALE, "params"])
    points = crossover_points()
    own = points[points["language"] == language]["crossover_tokens"].to_numpy(float) if language else []
    t = own if len(own) else points["crossover_tokens"].to_numpy(float)
    return float(t.min() / n), float(t.max() / n)


def curves(table: pd.DataFrame, eval_set: str, loss: str = "loss") -> pd.DataFrame:
    """Tidy loss curves (target language only) of every finetune and its scratch run, for plotting.

    Columns: ``run_id`` (the finetune's; its scratch twin's rows carry it too), ``target, shape, N, base_tokens,
    kind`` (``finetune``/``scratch``), ``tokens``, ``loss``.
    """
    t = table[table["eval_set"] == eval_set]
    # the finetune experiment also holds its scratch runs (no base model): keep runs that have a base
    ft = t[(t["experiment"] == "finetune") & t["base_tokens"].fillna(0).gt(0)]
    rows = []
    for rid, f in ft.groupby("run_id"):
        target = f["eval_lang"][f["D"] > 0].iloc[0] if (f["D"] > 0).any() else None
        if target is None:
            continue
        exp, _, sid = str(f["scratch_run"].iloc[0]).partition("/")
        s = t[(t["run_id"] == sid) & (t["experiment"] == exp) & (t["eval_lang"] == target)]
        for kind, frame in (("finetune", f[f["eval_lang"] == target]), ("scratch", s)):
            for _, r in frame.iterrows():
                if r["tokens"] > 0:
                    rows.append({"run_id": rid, "target": target, "shape": r["shape"], "N": float(f["N"].iloc[0]),
                                 "base_tokens": float(f["base_tokens"].iloc[0]), "kind": kind,
                                 "tokens": float(r["tokens"]), "loss": float(r[loss])})
    return pd.DataFrame(rows).drop_duplicates()


def crossovers(table: pd.DataFrame, eval_set: str, loss: str = "loss") -> pd.DataFrame:
    """One row per finetune run: crossover tokens / compute (NaN + reason when there is none)."""
    out = crossover_table(table, eval_set=eval_set, loss=loss)
    return out.sort_values(["base_tokens", "eval_lang", "N"]).reset_index(drop=True)


def advantage(curves_frame: pd.DataFrame) -> pd.DataFrame:
    """Finetuning's lead over scratch, ``loss_scratch - loss_finetune`` (nats/token), at the first and the last
    token count both curves share, per finetune run (and its scratch twin). A lead that shrinks towards 0 is a
    crossover approaching; it is reported, not extrapolated.
    """
    rows = []
    for (rid, target, shape, base), g in curves_frame.groupby(["run_id", "target", "shape", "base_tokens"]):
        s = g[g["kind"] == "scratch"].sort_values("tokens")
        f = g[g["kind"] == "finetune"].sort_values("tokens")
        if s.empty or f.empty:
            continue
        lo, hi = max(s["tokens"].min(), f["tokens"].min()), min(s["tokens"].max(), f["tokens"].max())
        if not lo < hi:
            continue
        def at(x: float) -> float:
            ls = np.interp(np.log(x), np.log(s["tokens"]), s["loss"])
            lf = np.interp(np.log(x), np.log(f["tokens"]), f["loss"])
            return float(ls - lf)
        rows.append({"run_id": rid, "target": target, "shape": shape, "N": float(g["N"].iloc[0]), "base_tokens": base,
                     "tokens_first": lo, "lead_first": at(lo), "tokens_last": hi, "lead_last": at(hi)})
    out = pd.DataFrame(rows)
    if len(out):
        out["lead_kept"] = out["lead_last"] / out["lead_first"]
    return out


def law_by_base(cross: pd.DataFrame) -> pd.DataFrame:
    """Fit ``C = a N^b`` per base budget (and with the base compute counted); a row per fit, failures kept."""
    rows = []
    for base, sub in cross.groupby("base_tokens"):
        for col, label in (("compute", "6ND (base free)"), ("compute_with_base", "6N(D + D_base)")):
            head = {"base_tokens": base, "compute": label, "n_crossovers": int(sub[col].notna().sum())}
            try:
                law, info = fit_crossover_law(sub["N"], sub[col], source=f"fitted, base {base:.3g} tokens")
                rows.append({**head, "a": law.a, "b": law.b, "r2_log": info["r2_log"], "reason": ""})
            except PlanningError as exc:
                rows.append({**head, "a": np.nan, "b": np.nan, "r2_log": np.nan, "reason": str(exc)})
    return pd.DataFrame(rows)


def paper_side_by_side(cross: pd.DataFrame) -> pd.DataFrame:
    """Our crossovers (tokens, largest model, every base budget) beside the paper's 2B-model crossovers."""
    paper = crossover_points().set_index("language")["crossover_tokens"]
    largest = cross[cross["N"] == cross["N"].max()]
    ours = largest.pivot_table(index="eval_lang", columns="base_tokens", values="tokens", aggfunc="first",
                               dropna=False)
    ours = ours.reindex(sorted(largest["eval_lang"].unique()))
    ours.columns = [f"ours: base {c:.3g} tokens (N = {largest['N'].iloc[0]:,.0f})" for c in ours.columns]
    ours.insert(0, "paper (2B models, tokens)", [paper.get(lang, np.nan) for lang in ours.index])
    ours.index.name = "target"
    return ours


def warmup_tokens(preset: Preset) -> float:
    """Tokens a run has seen when its learning-rate warmup ends (``warmup_steps x batch_size x seq_len``)."""
    train, model = preset.train, preset.model
    steps = float(train.get("warmup_steps", 0) or 0)
    return steps * float(train.get("batch_size", 0) or 0) * float(model.get("seq_len", 0) or 0)


def lead_noise(table: pd.DataFrame, eval_set: str) -> rules.Noise:
    """The noise of finetuning's lead (a difference of two runs' losses, nats/token): the largest seed s.d. of
    a final decayed loss among the preset's replicated runs, x sqrt 2 (no finetune is replicated; this is the
    closest noise floor the study measures). ``table``: the preset's scaling table (:func:`load`). Unknown
    without replicates."""
    from atlas import noise
    from atlas.scaling_table import fit_rows

    rows, _ = fit_rows(table, eval_set=eval_set, seed_replicates=True)
    spread = noise.final_loss_spread(rows)
    if not len(spread) or not np.isfinite(spread["sd"]).any():
        return rules.Noise.unknown("no noise estimate: no seed replicate")
    last = spread.loc[spread.groupby("run_id")["D"].idxmax()]  # each replicated run's final decayed model
    worst = last.loc[last["sd"].idxmax()]
    return rules.Noise.seed_sd(float(worst["sd"]) * float(np.sqrt(2)),
                               f"s.d. over {int(worst['n_seeds'])} seeds of {worst['run_id']}'s final loss, x sqrt 2 "
                               "for a difference of two runs")


def crossover_verdicts(preset: str, cross: pd.DataFrame, lead: pd.DataFrame | None, warmup: float = 0.0,
                       gap_noise: rules.Noise | None = None) -> list[Verdict]:
    """One existence verdict per finetune: its crossover must lie inside the valid measured range, from the end
    of the scratch run's warmup (``warmup`` tokens; the first lead measured inside it says nothing) or the first
    token count both curves share, whichever is later, to the last shared token count."""
    ch, src = "08_pretrain_vs_finetune", "§6, Fig. 6"
    claim0 = "finetuning a multilingual base wins early; scratch overtakes later"
    paper = "crossover at 144B-283B tokens for all 8 languages (2B models)"
    if not len(cross):
        return [untestable(ch, claim0, src, paper, "this preset has no finetune runs", preset)]
    out = []
    tpp_lo, tpp_hi = paper_crossover_tokens_per_param()
    paper_langs = set(crossover_points()["language"])
    for r in cross.to_dict("records"):
        cand = lead[lead["run_id"] == r["run_id"]] if lead is not None and len(lead) else pd.DataFrame()
        budget = f", finetuned {float(cand['tokens_last'].max()):.3g} tokens" if len(cand) else ""
        claim = f"{claim0} ({r['eval_lang']}, N = {r['N']:,.0f}, base {r['base_tokens']:.3g} tokens{budget})"
        if len(cand):
            row = cand.iloc[0]  # one lead per finetune run
            lo, hi = max(float(warmup), float(row["tokens_first"])), float(row["tokens_last"])
        else:
            t = r.get("tokens")
            lo, hi = float(warmup), float("nan")
            if t is not None and np.isfinite(t):
                hi = float(t)
        if not (np.isfinite(hi) and lo < hi):
            out.append(untestable(ch, claim, src, paper, f"the curves share no token range after the warmup "
                                  f"({warmup:,.0f} tokens)", preset, ours=str(r.get("reason") or "no crossover")))
            continue
        found = r.get("tokens")
        reach = hi / float(r["N"]) if np.isfinite(r["N"]) and r["N"] > 0 else np.nan
        own_lo, _ = paper_crossover_tokens_per_param(r["eval_lang"])
        if not (found is not None and np.isfinite(found)) and np.isfinite(reach) and reach < own_lo:
            # a range that stops short of the paper's regime cannot show the crossover's absence
            where = (f"the paper's {r['eval_lang']} crossover lies at {own_lo:.0f}" if r["eval_lang"] in paper_langs else
                     f"the paper's crossovers lie at {tpp_lo:.0f}-{tpp_hi:.0f}")
            out.append(untestable(ch, claim, src, paper, f"our finetune ends at {reach:.1f} tokens per parameter; "
                                  f"{where} tokens per parameter of its 2B models (embeddings counted, as ours), "
                                  "beyond our measured range", preset,
                                  ours=f"no crossover up to {hi:.3g} tokens ({reach:.1f} tokens per parameter)"))
            continue
        gap = float(row["lead_last"]) if len(cand) else None
        v = rules.existence(claim, paper, found if found is not None and np.isfinite(found) else None, (lo, hi),
                            name="crossover", unit="tokens", gap=gap, gap_noise=gap_noise)
        note = "; the token counts are not comparable with the paper's (models ~4 orders of magnitude smaller)"
        out.append(judged(ch, src, preset, rules.Verdict(v.claim, v.paper, v.ours, v.status, v.rule, v.reason + note,
                                                          v.noise)))
    return out


def verdicts(preset: str, cross: pd.DataFrame, laws: pd.DataFrame, lead: pd.DataFrame | None = None,
             warmup: float = 0.0, gap_noise: rules.Noise | None = None) -> list[Verdict]:
    """The chapter's claims, paper vs ours: a crossover per finetune (existence, valid range after the warmup),
    the power law in N (sign of b - 1), and the base budget's effect (not testable: the paper has one)."""
    ch = "08_pretrain_vs_finetune"
    out = crossover_verdicts(preset, cross, lead, warmup, gap_noise)
    claim, src = "crossover compute grows as a power of N, superlinearly (b > 1)", "§6, Fig. 7"
    paper = "C = 10283128 N^1.54 (legend; caption/text print 1.65)"
    fitted = laws[(laws["compute"] == "6ND (base free)") & laws["b"].notna()] if len(laws) else laws
    if len(fitted):
        b = fitted["b"].to_numpy(float)
        v = rules.sign(claim, paper, float(b.mean() - 1), mean_ci(b - 1, unit="base budgets"), expected="positive",
                       name=f"mean b - 1 (b = {', '.join(f'{x:.2f}' for x in b)}, one fit per base budget)",
                       paper_value=0.54)
        out.append(judged(ch, src, preset, v))
    else:
        why = "no fit: " + "; ".join(sorted(set(laws["reason"]))) if len(laws) else "no crossover law fitted"
        out.append(untestable(ch, claim, src, paper, why, preset, ours="no fit"))
    if len(laws) and laws["base_tokens"].nunique() >= 2 and len(cross):
        med = cross.groupby("base_tokens")["tokens"].median()
        if med.notna().all():
            trend = "later" if med.iloc[-1] > med.iloc[0] else "earlier"
            ours = (f"median crossover {med.iloc[0]:.3g} -> {med.iloc[-1]:.3g} tokens as the base budget grows "
                    f"{med.index[0]:.3g} -> {med.index[-1]:.3g} (crossover comes {trend})")
        elif lead is not None and len(lead):
            # one finetuning budget on both sides: the one most finetunes share (a longer block is extra)
            main = lead["tokens_last"].round(-3).mode().iloc[0]
            end = lead[lead["tokens_last"].round(-3) == main].groupby("base_tokens")["lead_last"].median()
            ours = (f"no crossover in budget; finetuning's final lead (median) is {end.iloc[0]:.3f} nats/token from "
                    f"the {end.index[0]:.3g}-token base and {end.iloc[-1]:.3f} from the {end.index[-1]:.3g}-token "
                    f"base ({'larger' if end.iloc[-1] > end.iloc[0] else 'smaller'} lead from the longer-trained base)")
        else:
            ours = "no crossover within budget at either base budget"
        out.append(untestable(ch, "the crossover depends on the base model's budget (reviewer R1)",
                              "§6 limitation; OpenReview R1", "not measured (one base budget)",
                              "the paper has no second base budget to compare with; ours is new evidence, not a "
                              "reproduction", preset, ours=ours))
    return out


def summary_numbers(cross: pd.DataFrame) -> dict[str, Any]:
    return {"pairs": len(cross), "found": int(cross["tokens"].notna().sum()),
            "reasons": cross.loc[cross["tokens"].isna(), "reason"].value_counts().to_dict()}
