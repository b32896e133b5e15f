"""Chapter 04 (transfer matrix): the design of the bilingual runs, our BTS matrix against the paper's measured
9x9 block with the seed noise of a score, FAS, the random-forest extrapolation, the source planner, and the
verdicts (the scores themselves come from :mod:`atlas.bts`, :mod:`atlas.fas`, :mod:`atlas.extrapolate` and
:mod:`atlas.planning.sources`).

Every function degrades to a sentence: a preset without bilingual or finetune runs gives ``None`` or a reason
string, never an exception or an empty table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle
from scipy import stats as sps

from atlas import bts, fas, languages, noise, paper_tables, records, rules, stats
from atlas import extrapolate as ex
from atlas.chapters.page import num, words
from atlas.chapters.verdicts import Verdict, judged, mean_ci, untestable
from atlas.grid import build_plan
from atlas.planning import sources
from atlas.presets import Preset

CH = "04_transfer_matrix"
NO_RUNS = "this preset has no finished bilingual runs"
#: The two cells App. C.2 contrasts: es->pt (synergy) and en->zh (interference), as (source, target).
CONTRAST = (("spa", "por"), ("eng", "cmn"))


def code(iso3: str) -> str:
    """The paper's code of a language (ISO 639-1 where one exists: ``por`` -> ``pt``)."""
    return languages.get(iso3).code


def direction(source: str, target: str) -> str:
    """``es->pt`` for (``spa``, ``por``)."""
    return f"{code(source)}->{code(target)}"


# ---------------------------------------------------------------------------------------------- the design


@dataclass(frozen=True)
class Design:
    """The BTS design of a preset's ``bilingual`` block, read from its plan (:func:`atlas.grid.build_plan`).

    Token counts are totals per run; ``params`` is N with embeddings; ``tokens_per_param`` = d_mono / N.
    ``lowest_bts`` is the most negative score measurable inside a bilingual run's stable phase
    (2 - stable tokens / d_mono). ``scale`` and ``seeded`` list the (a, b) pairs trained again at a larger
    shape and with other seeds.
    """

    preset: str
    languages: list[str]
    shape: str
    params: int
    d_mono: int
    tokens_per_param: float
    baseline_tokens: int
    bilingual_tokens: int
    reach: float
    decay_fraction: float
    lowest_bts: float
    steps_mono: float
    warmup_steps: int
    n_evals: int
    n_pairs: int
    n_runs: int
    scale_shapes: dict[str, int]  # shape -> N
    scale: list[tuple[str, str]]
    seeded: list[tuple[str, str]]
    seeds: list[int]
    halves: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)


def design(preset: str) -> Design | None:
    """The preset's BTS design (``tokens_per_param`` in its ``bilingual`` block), or ``None`` for a preset with
    the older fixed-budget design or no bilingual experiment."""
    p = Preset.load(preset)
    block = p.experiments.get("bilingual")
    if not isinstance(block, dict) or "tokens_per_param" not in block:
        return None
    runs = build_plan(p, "bilingual").runs
    pairs = [s for s in runs if len(s["languages"]) == 2]
    primary = [s for s in pairs
               if s["shape"]["name"] == block["shape"] and noise.replicate_key(s["run_id"]) == s["run_id"]]
    first = primary[0]
    tps = first["batch_size"] * first["seq_len"]
    decay = float(first["train"]["decay_fraction"])
    seeded = sorted({tuple(s["languages"]) for s in pairs if noise.replicate_key(s["run_id"]) != s["run_id"]})
    seeds = sorted({int(s["seed"]) for s in pairs})
    scale_shapes = {s["shape"]["name"]: int(s["params"]) for s in pairs if s["shape"]["name"] != block["shape"]}
    return Design(
        preset=preset, languages=list(block["languages"]), shape=block["shape"], params=int(first["params"]),
        d_mono=int(first["bts"]["d_mono"]), tokens_per_param=first["bts"]["d_mono"] / first["params"],
        baseline_tokens=int(next(s["tokens"] for s in runs if s["run_id"] == first["bts"]["baselines"][
            first["languages"][0]].split("/", 1)[1])),
        bilingual_tokens=int(first["tokens"]), reach=float(block.get("reach", 3.0)), decay_fraction=decay,
        lowest_bts=2 - first["tokens"] * (1 - decay) / first["bts"]["d_mono"],
        steps_mono=first["bts"]["d_mono"] / tps, warmup_steps=int(first["train"]["warmup_steps"]),
        n_evals=int(first["train"]["n_evals"]), n_pairs=len(primary), n_runs=len(runs),
        scale_shapes=scale_shapes,
        scale=sorted({tuple(s["languages"]) for s in pairs if s["shape"]["name"] != block["shape"]}),
        seeded=seeded, seeds=seeds,
        halves={tuple(s["languages"]): {k: int(v) for k, v in s["sampling"]["slots"].items()} for s in primary},
        sampling={k: first["sampling"][k] for k in ("pool", "n_slots", "slot_seed")},
    )


def _unique_from_runs(preset: str) -> dict[tuple[str, int], int]:
    """(language, half) -> unique training tokens, from the baseline runs' recorded specs."""
    from atlas import records

    out = {}
    for path in records.iter_runs(preset, "bilingual"):
        spec = records.read_json(path / records.SPEC)
        slots = (spec.get("sampling") or {}).get("slots") or {}
        if spec.get("bts") and len(slots) == 1 and spec.get("unique_tokens"):
            (lang, h), = slots.items()
            out[(lang, int(h))] = int(spec["unique_tokens"][lang])
    return out


def _unique_from_corpus(preset: str, d: Design, needed: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """(language, half) -> unique training tokens from the corpus and the committed tokenizer, plus
    (language, -1) for all of a language's training verses (seconds once the tokenizer is cached)."""
    from atlas import records, sampling
    from atlas.tokenizer import get_tokenizer

    p = Preset.load(preset)
    records.install_committed_tokenizers(preset)  # the runs' own vocabulary, never a retrained one
    tok = get_tokenizer(p, "multi")
    plan = sampling.split_plan(p)
    slots = sampling.slot_refs(plan.train_refs(d.sampling["pool"]), int(d.sampling["n_slots"]),
                               int(d.sampling["slot_seed"]))
    out = {}
    for lang, h in sorted(needed):
        out[(lang, h)] = int(sampling.language_data(p, lang, tok, refs=None if h < 0 else slots[h]).unique_tokens)
    return out


def epochs_table(d: Design) -> tuple[pd.DataFrame, str]:
    """What unique-token parity does to repetition: one row per (language, half) of the design.

    Columns: ``language, half, unique_tokens`` (of that half), ``unique_all`` (all the language's training
    verses), ``epochs_at_d_mono`` (d_mono / U_half: the baseline at the reading point, and the bilingual run's
    target at BTS = 0), ``epochs_if_all_verses`` (d_mono / U_all), ``epochs_bilingual_end`` (the target's epochs
    at the end of the bilingual run's stable phase). Returns ``(table, source)``: where U came from.
    """
    needed = {(lang, h) for halves in d.halves.values() for lang, h in halves.items()}
    have = _unique_from_runs(d.preset)
    source = "the baseline runs' records"
    try:
        corpus = _unique_from_corpus(d.preset, d, {(lang, -1) for lang, _ in needed} | (needed - set(have)))
    except (OSError, ValueError, RuntimeError, ImportError) as exc:  # no corpus or tokenizer here: say so
        return pd.DataFrame(), f"not computed ({type(exc).__name__}: {exc})"
    if needed - set(have):
        source = "the corpus and the runs' tokenizer" if not have else "the runs' records and the corpus"
    target_tokens = d.bilingual_tokens * (1 - d.decay_fraction) / 2
    rows = []
    for lang, h in sorted(needed):
        u = have.get((lang, h), corpus.get((lang, h)))
        u_all = corpus[(lang, -1)]
        rows.append({"language": code(lang), "half": h, "unique_tokens": u, "unique_all": u_all,
                     "epochs_at_d_mono": d.d_mono / u, "epochs_if_all_verses": d.d_mono / u_all,
                     "epochs_bilingual_end": target_tokens / u})
    return pd.DataFrame(rows), source


def design_markdown(preset: str) -> str:
    """The design of this build's bilingual runs in prose, every number computed from the preset's plan."""
    d = design(preset)
    if d is None:
        return _older_design_markdown(preset)
    langs = words([code(x) for x in d.languages])
    scale_pairs = words([f"{code(a)}-{code(b)}" for a, b in d.scale])
    seeded = words([f"{code(a)}-{code(b)}" for a, b in d.seeded])
    shapes = words([f"shape {s} (N = {num(n)})" for s, n in d.scale_shapes.items()]) or "no other shape"
    text = (
        f"**This build (`{preset}`).** {len(d.languages)} languages ({langs}), all {d.n_pairs} pairs at shape "
        f"{d.shape} (N = {num(d.params)} parameters with embeddings). d_mono = {num(d.d_mono)} tokens = "
        f"{d.tokens_per_param:.2f} tokens per parameter, {num(round(d.steps_mono))} optimiser steps after a "
        f"{d.warmup_steps}-step warmup. Baselines train {num(d.baseline_tokens)} tokens, so d_mono is the last "
        f"step before their learning-rate decay (the last {d.decay_fraction:.0%} of steps); bilingual runs train "
        f"{num(d.bilingual_tokens)} tokens, which puts {d.reach:g} d_mono before their decay, so any score down to "
        f"{d.lowest_bts:.2f} is measured inside the run. Each run is evaluated {d.n_evals} times on log-spaced "
        f"token counts, and once exactly at d_mono. {len(d.scale)} pairs ({scale_pairs}) are trained again at "
        f"{shapes}, at the same tokens per parameter, and {len(d.seeded)} ({seeded}) with seed "
        f"{words([s for s in d.seeds if s])}, which gives {2 * len(d.seeded)} directions with a second seed. "
        f"{d.n_runs} runs in all, bilingual runs and their baselines."
    )
    return text


def _older_design_markdown(preset: str) -> str:
    """The older fixed-budget design (the smoke preset): pairs, budget, shapes, from the preset's block."""
    p = Preset.load(preset)
    blocks = p.experiments.get("bilingual")
    if not blocks:
        return f"**This build (`{preset}`)** has no bilingual experiment."
    b = blocks if isinstance(blocks, dict) else blocks[0]
    langs = list(b.get("languages", []))
    n = len(langs) * (len(langs) - 1) // 2
    return (f"**This build (`{preset}`)** uses the older, quick design that predates the nine-language design "
            f"above: {n} pairs of {words([code(x) for x in langs])} at shape {b.get('shape')} with "
            f"{num(int(b.get('tokens', 0)))} tokens per language, baselines on all verses, d_mono = half the "
            "baseline's budget. Its scores test the pipeline, not the paper: no tokens-per-parameter horizon, no "
            "unique-token parity, no seed replicates.")


def epochs_markdown(d: Design, table: pd.DataFrame, source: str) -> str:
    """What the halves do to epochs, in one paragraph (numbers from :func:`epochs_table`)."""
    if table.empty:
        return f"The unique tokens per half could not be counted in this build: {source}."
    lo, hi = table["epochs_at_d_mono"].min(), table["epochs_at_d_mono"].max()
    alo, ahi = table["epochs_if_all_verses"].min(), table["epochs_if_all_verses"].max()
    ratio = float((table["epochs_at_d_mono"] / table["epochs_if_all_verses"]).median())
    return (f"**What parity does to epochs.** A half of the verses holds {num(int(table['unique_tokens'].min()))} "
            f"to {num(int(table['unique_tokens'].max()))} unique tokens per language (counted from {source}). "
            f"At d_mono a baseline has therefore seen its text {lo:.1f} to {hi:.1f} times; with all verses it would "
            f"have been {alo:.1f} to {ahi:.1f} times (x{ratio:.2f}). A bilingual run that needs exactly d_mono "
            "target tokens (BTS = 0) has seen the same verses the same number of times, so any extra repetition "
            "falls on both sides of the comparison and cannot pass for interference. By the end of its stable "
            f"phase a bilingual run's target has seen its half {table['epochs_bilingual_end'].min():.1f} to "
            f"{table['epochs_bilingual_end'].max():.1f} times: the lowest scores are read at high repetition, which "
            "is why they are read on held-out Bible books, the loss that keeps tracking training once text repeats.")


# ------------------------------------------------------------------------------------- our scores and noise


@dataclass
class Scores:
    """Our scores of the preset's matrix group: every direction (``table``, :func:`atlas.bts.bts_table` rows with
    seed replicates), the matrix of primary runs and the pooled seed noise of one score."""

    table: pd.DataFrame
    matrix: pd.DataFrame
    noise: bts.ScoreNoise
    seeds: pd.DataFrame


def scores(preset: str, eval_set: str = "bible", loss: str = "loss") -> Scores | None:
    """:class:`Scores` of the preset's bilingual runs, or ``None`` without runs."""
    if not bts.bilingual_available(preset):
        return None
    table = bts.bts_table(preset, eval_set=eval_set, loss=loss)
    main = bts.main_cells(table, preset)
    matrix = bts.matrix_from_runs(preset, eval_set=eval_set, loss=loss)
    return Scores(main, matrix, bts.score_noise(table), bts.seed_table(table))


def bounded(table: pd.DataFrame) -> pd.DataFrame:
    """Primary cells of :func:`atlas.bts.bts_table` rows with a value for ranks and signs: the score, or the
    bound of a censored score (``censored = "below"``: the bilingual run never reached the target loss, so the
    score is below the bound; ranks and signs are then still right). A score censored above (reached before
    the first evaluation) has no such bound and stays out. Columns ``source, target, ours, censored, finite``."""
    t = table[~noise.is_replicate(table["run_id"])]
    ours = np.where(np.isfinite(t["bts"].astype(float)), t["bts"].astype(float),
                    np.where(t["censored"].eq("below"), t["bound"].astype(float), np.nan))
    out = pd.DataFrame({"source": t["source"].to_numpy(), "target": t["target"].to_numpy(), "ours": ours,
                        "censored": t["censored"].to_numpy(), "finite": np.isfinite(t["bts"].astype(float)).to_numpy()})
    return out[np.isfinite(out["ours"])].reset_index(drop=True)


def with_paper(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` (source, target, ours ...) with the paper's Fig. C.2 value and whether it lies in the paper's
    measured 9x9 block; cells whose languages the paper lacks are dropped."""
    paper = paper_tables.transfer_matrix("38x38")
    block = set(paper_tables.measured_block())
    keep = [s in paper.columns and t in paper.index for s, t in zip(cells["source"], cells["target"])]
    out = cells[np.asarray(keep, bool)].copy()  # an empty list would select columns, not rows
    out["paper"] = [float(paper.loc[t, s]) + 0.0 for s, t in zip(out["source"], out["target"])]
    out["measured"] = [s in block and t in block for s, t in zip(out["source"], out["target"])]
    return out.reset_index(drop=True)


def _agreement(ours: np.ndarray, paper: np.ndarray) -> tuple[float, float]:
    """(share of cells with the paper's sign, the share expected by chance from the two sign marginals)."""
    o, p = ours < 0, paper < 0
    return float(np.mean(o == p)), float(o.mean() * p.mean() + (1 - o.mean()) * (1 - p.mean()))


def _boot_noise(frame: pd.DataFrame, stat: Callable[[pd.DataFrame], float]) -> rules.Noise:
    """:func:`atlas.stats.language_bootstrap` as rule noise: cells that share a language move together, so the
    interval is not narrowed by counting them as independent (unknown with < 4 languages or a degenerate stat)."""
    ci = stats.language_bootstrap(frame, stat)
    n = len(set(frame["source"]) | set(frame["target"])) if len(frame) else 0
    return (rules.Noise.bootstrap_ci(*ci, source=f"bootstrap over {n} languages") if ci else
            rules.Noise.unknown(f"no noise estimate: {n} languages (a language bootstrap needs 4 or more)"))


def _mean_of(col: str) -> Callable[[pd.DataFrame], float]:
    return lambda r: float(r[col].mean())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties, as scipy's), NaN without spread; fast enough for bootstraps."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(sps.rankdata(x), sps.rankdata(y))[0, 1])


def _spearman_of(a: str, b: str) -> Callable[[pd.DataFrame], float]:
    return lambda r: _spearman(r[a].to_numpy(float), r[b].to_numpy(float))


def _one_sided(r: pd.DataFrame) -> bool:
    """True when all of ``r``'s cells share one sign in ours or in the paper's: agreement then equals chance
    whatever the other side does, so the cells say nothing about agreement beyond chance."""
    return r["ours"].lt(0).nunique() < 2 or r["paper"].lt(0).nunique() < 2


def _agreement_excess(r: pd.DataFrame) -> float:
    """Sign agreement minus chance on ``r``'s (ours, paper) cells (exact ties stay 0); NaN for a resample whose
    cells are one-sided (:func:`_one_sided`), which carries no information about it."""
    if _one_sided(r):
        return float("nan")
    return round(float(np.subtract(*_agreement(r["ours"].to_numpy(float), r["paper"].to_numpy(float)))), 12)


@dataclass
class Comparison:
    """Our cells against the paper's measured block, with the noise of each statistic.

    ``cells``: source, target, ours (score or censored bound), censored, finite, paper, measured, seed_sd
    (of that direction, NaN when not replicated). ``all_cells``: every cell of ours (also outside the paper).
    ``score_sd``: pooled seed s.d. of one score (NaN when unknown) over ``noise_dirs`` directions.
    ``spreads``: statistic name -> :class:`atlas.noise.SeedSpread` over the seed variants of the runs.
    ``tokens_per_param``: d_mono / N of the matrix's runs (median).
    """

    cells: pd.DataFrame
    all_cells: pd.DataFrame
    score_sd: float = float("nan")
    noise_dirs: int = 0
    spreads: dict[str, noise.SeedSpread] = field(default_factory=dict)
    tokens_per_param: float = float("nan")

    @property
    def block(self) -> pd.DataFrame:
        """The cells inside the paper's measured 9x9 block."""
        return self.cells[self.cells["measured"]].reset_index(drop=True)


def _statistics(cells: pd.DataFrame) -> dict[str, float]:
    """The statistics compared with the paper, on one set of cells (a seed variant or the primaries)."""
    b = with_paper(cells)
    b = b[b["measured"]]
    signed = b[b["paper"] != 0]
    out = {"mean": float(cells["ours"].mean()) if len(cells) else float("nan"),
           "block_mean": float(b["ours"].mean()) if len(b) else float("nan"),
           "share_negative": float(np.mean(b["ours"] < 0)) if len(b) else float("nan"),
           "spearman": (float(sps.spearmanr(b["ours"], b["paper"]).statistic)
                        if len(b) >= 3 and np.ptp(b["ours"]) > 0 else float("nan")),
           "agreement": (_agreement(signed["ours"].to_numpy(), signed["paper"].to_numpy())[0]
                         if len(signed) else float("nan"))}
    got = {(s, t): v for s, t, v in zip(cells["source"], cells["target"], cells["ours"])}
    a, z = got.get(CONTRAST[0], np.nan), got.get(CONTRAST[1], np.nan)
    out["contrast"] = float(a - z)
    return out


def compare(s: Scores) -> Comparison:
    """:class:`Comparison` of our scores with the paper's, with seed spreads from the replicated directions."""
    cells = bounded(s.table)
    sd = s.seeds.set_index(["source", "target"])["sd"] if len(s.seeds) else pd.Series(dtype=float)
    cells["seed_sd"] = [float(sd.get((a, b), np.nan)) for a, b in zip(cells["source"], cells["target"])]
    variants = noise.seed_variants(s.table)
    per_seed = {seed: _statistics(bounded(v)) for seed, v in variants.items()}
    spreads = {k: noise.SeedSpread({seed: st[k] for seed, st in per_seed.items()}) for k in
               ("mean", "block_mean", "share_negative", "spearman", "agreement", "contrast")} if per_seed else {}
    tpp = float((s.table["d_mono"] / s.table["params"]).median())
    return Comparison(with_paper(cells), cells, s.noise.sd, s.noise.n_directions, spreads, tpp)


def _spread(c: Comparison, key: str) -> str:
    sp = c.spreads.get(key)
    return sp.describe() if sp is not None and sp.n >= 2 else "no replicate seeds"


def comparison_table(c: Comparison) -> pd.DataFrame:
    """One row per comparison with the paper's measured block: the paper's value, ours, a 95 % bootstrap
    interval over languages (:func:`atlas.stats.language_bootstrap`), and the seed spread (the statistic
    recomputed with every replicate seed)."""
    b, boot = c.block, stats.language_bootstrap
    rows = []
    if len(b):
        x, y = b["ours"].to_numpy(float), b["paper"].to_numpy(float)
        rows.append({"comparison": "mean score over the same cells", "paper": y.mean(), "ours": x.mean(),
                     "ours 95% CI": boot(b, _mean_of("ours")), "paper 95% CI": boot(b, _mean_of("paper")),
                     "seed spread": _spread(c, "block_mean")})
        rows.append({"comparison": "share of cells < 0", "paper": float(np.mean(y < 0)), "ours": float(np.mean(x < 0)),
                     "ours 95% CI": boot(b, lambda r: float(np.mean(r["ours"] < 0))), "paper 95% CI": None,
                     "seed spread": _spread(c, "share_negative")})
        signed = b[b["paper"] != 0]
        if len(signed):
            agree, chance = _agreement(signed["ours"].to_numpy(float), signed["paper"].to_numpy(float))
            rows.append({"comparison": f"sign agreement ({len(signed)} cells the paper prints as non-zero; "
                                       f"chance {chance:.2f})", "paper": 1.0, "ours": agree,
                         "ours 95% CI": boot(signed, lambda r: _agreement(r["ours"].to_numpy(float),
                                                                           r["paper"].to_numpy(float))[0]),
                         "paper 95% CI": None, "seed spread": _spread(c, "agreement")})
        if len(b) >= 3 and np.ptp(x) > 0:
            rows.append({"comparison": "Spearman rho, ours vs the paper's", "paper": 1.0,
                         "ours": _spearman(x, y), "ours 95% CI": boot(b, _spearman_of("ours", "paper")),
                         "paper 95% CI": None, "seed spread": _spread(c, "spearman")})
    got = {(s, t): v for s, t, v in zip(c.all_cells["source"], c.all_cells["target"], c.all_cells["ours"])}
    pm = paper_tables.transfer_matrix("38x38")
    (s1, t1), (s2, t2) = CONTRAST
    if CONTRAST[0] in got and CONTRAST[1] in got:
        rows.append({"comparison": f"{direction(s1, t1)} minus {direction(s2, t2)}",
                     "paper": float(pm.loc[t1, s1] - pm.loc[t2, s2]), "ours": got[CONTRAST[0]] - got[CONTRAST[1]],
                     "ours 95% CI": None, "paper 95% CI": None, "seed spread": _spread(c, "contrast")})
    out = pd.DataFrame(rows, columns=["comparison", "paper", "ours", "ours 95% CI", "paper 95% CI", "seed spread"])
    for col in ("ours 95% CI", "paper 95% CI"):
        out[col] = [f"[{v[0]:.2f}, {v[1]:.2f}]" if v else "-" for v in out[col]]
    return out


def cells_table(c: Comparison) -> pd.DataFrame:
    """The measured-block cells side by side, sorted by the paper's score: direction, paper, ours, the seed
    s.d. of that direction where it was replicated, and whether the signs agree."""
    b = c.block.sort_values(["paper", "ours"], ascending=False)
    return pd.DataFrame({"direction": [direction(s, t) for s, t in zip(b["source"], b["target"])],
                         "paper": b["paper"].to_numpy(), "ours": b["ours"].to_numpy(),
                         "censored": [("< bound" if x == "below" else "> bound") if isinstance(x, str) else ""
                                      for x in b["censored"]],
                         "seed s.d.": b["seed_sd"].to_numpy(),
                         "same sign": [(o < 0) == (p < 0) if p != 0 else None for o, p in zip(b["ours"], b["paper"])]})


# -------------------------------------------------------------------------------------------- interference


def interference(c: Comparison, k: float = rules.K_NOISE) -> dict[str, Any]:
    """Counts behind "does interference appear?": over every cell of ours, how many scores are below 0, below
    ``-k`` seed s.d. (beyond the seed noise), censored below the run's reach, and above ``+k`` s.d.; the mean
    with a bootstrap CI over cells. NaN thresholds when the seed noise is unknown."""
    x = c.all_cells["ours"].to_numpy(float)
    band = k * c.score_sd if np.isfinite(c.score_sd) else float("nan")
    cens = c.all_cells["censored"].eq("below").to_numpy(bool)
    ci = _boot_noise(c.all_cells, _mean_of("ours"))
    return {"n": int(x.size), "below_zero": int(np.sum(x < 0)), "band": band,
            "below_band": int(np.sum(x < -band)) if np.isfinite(band) else None,
            "above_band": int(np.sum(x > band)) if np.isfinite(band) else None,
            "censored_below": int(cens.sum()),
            "bound": float(np.nanmax(c.all_cells.loc[cens, "ours"])) if cens.any() else float("nan"),
            "mean": float(x.mean()) if x.size else float("nan"), "mean_ci": ci,
            "min": float(x.min()) if x.size else float("nan"), "tokens_per_param": c.tokens_per_param,
            "noise_dirs": c.noise_dirs, "score_sd": c.score_sd}


def interference_markdown(c: Comparison | None, preset: str) -> str:
    """Whether interference (BTS < 0 beyond the seed noise) appears, as a computed statement."""
    if c is None or c.all_cells.empty:
        return (f"**Not answerable in this build:** `runs/{preset}/bilingual` holds no scored bilingual runs, so "
                "nothing can be said yet about interference at the paper's tokens per parameter.")
    f = interference(c)
    head = (f"**At {f['tokens_per_param']:.1f} tokens per parameter**, {f['below_zero']} of {f['n']} directed "
            f"scores are below zero (mean {f['mean']:.2f}, {f['mean_ci'].describe()}; lowest {f['min']:.2f}).")
    if f["censored_below"]:
        head += (f" {f['censored_below']} of them never reached the target loss inside the bilingual run "
                 f"(BTS < {f['bound']:.2f}: counted at that bound).")
    if f["below_band"] is None:
        return head + (" No direction was trained with a second seed, so the seed noise of a score is unknown and "
                       "a negative score cannot be told from noise.")
    verdict = ("**Interference appears**" if f["below_band"] else "**No interference beyond the seed noise**")
    return head + (f" The seed s.d. of one score is {f['score_sd']:.3f} (pooled over {f['noise_dirs']} replicated "
                   f"directions), so {rules.K_NOISE:g} s.d. = {f['band']:.3f}: {f['below_band']} scores lie below "
                   f"-{f['band']:.3f} and {f['above_band']} above +{f['band']:.3f}. {verdict} at the paper's "
                   "tokens per parameter in our miniature" + (
                       "." if f["below_band"] else
                       f": the scores {'sit within the noise of zero' if f['above_band'] == 0 else 'are positive'}, "
                       "unlike the paper's measured block (mean -0.25, two thirds of its cells below zero)."))


# ------------------------------------------------------------------------------------------ token overlap


@dataclass
class OverlapResult:
    """Scores against the token overlap of each pair (:mod:`atlas.overlap`): ``ours`` (every cell of ours:
    source, target, ours, censored, token_overlap), ``paper`` (the paper's measured 9x9 block with the same
    overlaps; None when the preset's vocabulary does not cover its languages, ``paper_note`` says why), the
    Spearman rho of each with a bootstrap CI over languages, ``embedding_share`` (embedding parameters / N of
    the matrix's models) and ``vocab_size`` (pieces of the vocabulary the overlap is measured in)."""

    ours: pd.DataFrame
    rho_ours: float
    ci_ours: rules.Noise
    paper: pd.DataFrame | None
    rho_paper: float
    ci_paper: rules.Noise
    paper_note: str
    embedding_share: float
    vocab_size: int


def _rho(t: pd.DataFrame, col: str) -> float:
    return _spearman(t["token_overlap"].to_numpy(float), t[col].to_numpy(float))


def _rho_ci(t: pd.DataFrame, col: str) -> rules.Noise:
    """Bootstrap CI of Spearman rho over languages (cells sharing a language are not independent)."""
    return _boot_noise(t, lambda rows: _rho(rows, col))


def token_overlap(c: Comparison | None, preset: str) -> OverlapResult | str:
    """Our scores and the paper's measured block against how much each pair shares its tokens under our
    multilingual vocabulary; a sentence saying why not when there is nothing to set against it."""
    from atlas import overlap

    if c is None or len(c.all_cells) < 3:
        return ("No comparison with the token overlap in this build: it needs at least 3 scored cells "
                f"({0 if c is None else len(c.all_cells)} here).")
    p = Preset.load(preset)
    vocab = set(languages.validate_languages(p.languages, require_corpus=True))
    ours = c.all_cells[["source", "target", "ours", "censored"]].copy()
    block = paper_tables.measured_block()
    comparable = set(block) <= vocab
    wanted = set(ours["source"]) | set(ours["target"]) | (set(block) if comparable else set())
    m = overlap.overlap_matrix(overlap.token_distributions(p, sorted(wanted)))  # one pass for both studies
    ours["token_overlap"] = overlap.lookup(m, ours)
    paper, rho_p, ci_p, note = None, float("nan"), rules.Noise.unknown(), ""
    if comparable:
        pm = paper_tables.transfer_matrix("38x38").loc[block, block]
        paper = pm.stack().rename("paper").reset_index()
        paper.columns = ["target", "source", "paper"]
        paper = paper[paper["source"] != paper["target"]].reset_index(drop=True)
        paper["token_overlap"] = overlap.lookup(m, paper)
        rho_p, ci_p = _rho(paper, "paper"), _rho_ci(paper, "paper")
    else:
        note = (f"the `{preset}` vocabulary was not trained on {', '.join(sorted(set(block) - vocab))}, so their "
                "overlaps would measure byte fallback, not shared pieces: the paper's block is left out")
    d = design(preset)
    specs = records.load_specs(preset, "bilingual")
    share = float("nan")
    if len(specs) and {"params_non_embedding", "shape.name"} <= set(specs.columns):
        shape = d.shape if d is not None else specs["shape.name"].mode().iloc[0]
        specs = specs[specs["shape.name"].eq(shape)]
        share = float(1 - (specs["params_non_embedding"] / specs["params"]).median()) if len(specs) else share
    return OverlapResult(ours, _rho(ours, "ours"), _rho_ci(ours, "ours"), paper, rho_p, ci_p, note, share,
                         p.vocab_size("multi"))


def _paper_embedding_share() -> float:
    """Embedding parameters / N of the paper's BTS model (Table B.3 scale 34, 2.03B; tied embeddings of its
    64,512-entry vocabulary: the row's parameter count is matched only with them counted once)."""
    row = paper_tables.model_grid_b3().set_index("scale").loc[34]
    return float(Preset.load("paper").vocab_size() * row["d_model"] / row["params"])


def _extremes(t: pd.DataFrame, n: int = 3) -> tuple[str, str]:
    """Our ``n`` highest and lowest cells as 'a->b +0.44 (overlap 0.08)' lists; a censored cell is printed
    as below its bound."""
    def fmt(rows: pd.DataFrame) -> str:
        return ", ".join(f"{direction(r.source, r.target)} {'< ' if r.censored == 'below' else ''}{r.ours:+.2f} "
                         f"(overlap {r.token_overlap:.2f})" for r in rows.itertuples())
    srt = t.sort_values("ours")
    return fmt(srt.tail(n).iloc[::-1]), fmt(srt.head(n))


def _trend(ci: rules.Noise) -> str:
    if ci.kind != "ci":
        return "show no trend that can be told from noise (no interval)"
    return "fall" if ci.hi < 0 else "rise" if ci.lo > 0 else "show no trend beyond the noise"


def overlap_markdown(r: OverlapResult | str) -> str:
    """What the token overlap says about the two studies' rankings, computed."""
    if isinstance(r, str):
        return r
    n_lang = len(set(r.ours["source"]) | set(r.ours["target"]))
    top, bottom = _extremes(r.ours)
    text = (f"As the pair's token overlap grows, **our scores {_trend(r.ci_ours)}** (Spearman rho = "
            f"{r.rho_ours:.2f}, {r.ci_ours.describe()}; {len(r.ours)} cells)")
    if r.paper is not None:
        text += (f" and **the paper's measured scores {_trend(r.ci_paper)}** (rho = {r.rho_paper:.2f}, "
                 f"{r.ci_paper.describe()}; its 9x9 block with our overlaps).")
    else:
        text += f"; {r.paper_note}."
    text += f" Our highest scores: {top}; our lowest: {bottom}."
    if np.isfinite(r.embedding_share):
        text += (f" In our matrix models the embeddings are {100 * r.embedding_share:.0f}% of the parameters; "
                 f"in the paper's 2B model {100 * _paper_embedding_share():.0f}%.")
    ours_falls_paper_rises = (r.paper is not None and r.ci_ours.kind == r.ci_paper.kind == "ci"
                              and r.ci_ours.hi < 0 < r.ci_paper.lo)
    if ours_falls_paper_rises and r.embedding_share > 0.5:
        text += (" The two intervals lie on opposite sides of zero. A reading consistent with this: a tiny model "
                 "spends most of its parameters on token embeddings, so two languages that draw on the same "
                 "pieces compete for the same rows, while a language in another script brings its own rows and "
                 "adds mostly data for the shared layers; a large model has room for both and gains from the "
                 f"shared subwords. It is a correlation over {n_lang} languages in which overlap, script and "
                 "family go together: this design cannot separate them.")
    return text


def plot_overlap(r: OverlapResult, preset: str) -> plt.Figure:
    """Our scores (and the paper's measured block, when comparable) against the pair's token overlap."""
    panels = [(r.ours, "ours", f"ours ({preset})", r.rho_ours)]
    if r.paper is not None:
        panels.append((r.paper, "paper", "paper, measured 9x9 (Fig. C.2)", r.rho_paper))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), sharex=True, squeeze=False)
    for ax, (t, col, title, rho) in zip(axes[0], panels):
        sns.regplot(data=t, x="token_overlap", y=col, ax=ax, lowess=True, scatter_kws={"s": 22, "alpha": 0.7},
                    line_kws={"color": "C3", "lw": 1.2})
        ax.axhline(0, c="grey", lw=0.6)
        ax.set(xlabel=f"token overlap of the pair (our {r.vocab_size:,}-piece vocabulary)",
               ylabel="transfer score", title=f"{title}: Spearman {rho:.2f}")
    plt.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------- FAS


@dataclass
class FASResult:
    """FAS of one group of finetunes: the per-run ``table`` (:func:`atlas.fas.fas_table`), the seed-averaged
    ``mean`` (source, target, fas, delta; nats/token), the adaptation ``gains`` g_l (nats/token), the
    ``features`` of every pair, and ``note`` (which group, and how it relates to the preset's plan)."""

    table: pd.DataFrame
    mean: pd.DataFrame
    gains: pd.Series
    features: pd.DataFrame
    note: str


def fas_result(preset: str, shape: str | None = None, eval_set: str = "bible", loss: str = "loss"
               ) -> FASResult | str:
    """:class:`FASResult` of the preset's finetunes (at ``shape`` when it has finetunes there, else the group
    with the most sources), or a sentence saying why there is none."""
    groups = fas.finetune_groups(preset)
    if groups.empty:
        return (f"`runs/{preset}/finetune` holds no finished single-language finetunes of a Unimax base, so there "
                f"is no FAS in this build (`python -m atlas grid run --preset {preset} --experiment finetune`).")
    use = shape if shape is not None and shape in set(groups["shape"]) else None
    table = fas.fas_table(preset, shape=use, eval_set=eval_set, loss=loss)
    ok = table[np.isfinite(table["fas"])]
    mean = ok.groupby(["source", "target"], as_index=False)[["fas", "delta"]].mean()
    gains = fas.adaptation_gains(mean)
    feats = fas.transfer_features(table)
    planned = _planned_fas_sources(preset)
    srcs = sorted(set(table["source"]))
    no_base = sorted(set(table.loc[~np.isfinite(table["fas"]), "target"]))
    note = (f"Finetunes of shape {table.attrs['shape']} from the {num(table.attrs['base_tokens'])}-token Unimax base: "
            f"{len(srcs)} source language(s) ({words([code(x) for x in srcs])}); {len(gains)} with an adaptation "
            f"gain, features for {len(feats)} ordered pairs.")
    if planned is not None:
        (p_shape, p_base), n = planned
        done = len(set(fas.finetune_specs(preset).query("shape == @p_shape and base_tokens == @p_base")["source"]))
        if done < n or (p_shape, p_base) != (table.attrs["shape"], float(table.attrs["base_tokens"])):
            note += (f" The preset's largest finetune group is shape {p_shape} from the {num(p_base)}-token base, "
                     f"{n} source languages, {done} of them finished.")
    if no_base:
        note += f" No score where the base run did not evaluate the target ({words([code(x) for x in no_base])})."
    if shape is not None and use is None:
        note += f" (No finetunes at the BTS matrix's shape {shape}: this is another shape's group.)"
    return FASResult(table, mean, gains, feats, note)


def _planned_fas_sources(preset: str) -> tuple[tuple[str, float], int] | None:
    """The preset's planned finetune group with the most source languages: ((shape, base tokens), count)."""
    try:
        runs = build_plan(Preset.load(preset), "finetune").runs
    except ValueError:  # no finetune experiment in this preset
        return None
    groups: dict[tuple[str, float], set[str]] = {}
    for s in runs:
        if s.get("base_run"):
            groups.setdefault((s["shape"]["name"], float(s["base_tokens"])), set()).add(s["languages"][0])
    if not groups:
        return None
    key = max(groups, key=lambda k: (len(groups[k]), k[1]))
    return key, len(groups[key])


def fas_matrix(r: FASResult, value: str = "fas") -> pd.DataFrame:
    """Rows = target, columns = source (paper codes), cell = seed-averaged ``value`` (``fas`` or ``delta``)."""
    m = r.mean.pivot(index="target", columns="source", values=value)
    m = m.rename(index=code, columns=code)
    m.index.name, m.columns.name = "target", "source (finetuned on)"
    return m


def gains_table(r: FASResult) -> pd.DataFrame:
    """Per language: adaptation gain g (nats/token), its z-score, and the mean FAS it gives other targets and
    receives from other sources (nats/token)."""
    off = r.mean[r.mean["source"] != r.mean["target"]]
    g = r.gains
    z = (g - g.mean()) / g.std(ddof=0) if len(g) >= 2 and g.std(ddof=0) > 0 else g * np.nan
    return pd.DataFrame({"language": [code(x) for x in g.index], "g (nats/token)": g.to_numpy(),
                         "g z-score": z.to_numpy(),
                         "mean FAS as source": [off.loc[off["source"] == x, "fas"].mean() for x in g.index],
                         "mean FAS as target": [off.loc[off["target"] == x, "fas"].mean() for x in g.index]})


# ------------------------------------------------------------------------------------ forest extrapolation


def extrapolation(preset: str, eval_set: str = "bible", loss: str = "loss") -> ex.Extrapolation | str:
    """The random forest of App. B.6 on the preset's runs (:func:`atlas.extrapolate.extrapolate_runs`: 5-fold CV
    over 5 seeds), or the one-line reason it cannot run."""
    if not bts.bilingual_available(preset):
        return f"{NO_RUNS}, so there are no measured scores to train the forest on."
    try:
        return ex.extrapolate_runs(preset, eval_set=eval_set, loss=loss)
    except (ex.ExtrapolationError, fas.FASInputError, bts.BTSInputError) as exc:
        return str(exc)


def cv_table(r: ex.Extrapolation) -> pd.DataFrame:
    """5-fold CV of the forest beside the paper's (App. B.6): mean over folds and seeds, the s.d. over folds and
    over seeds, and the pooled out-of-fold value."""
    cv = r.cv
    return pd.DataFrame([
        {"statistic": "R2", "paper": ex.PAPER_CV["r2"], "ours (mean of folds)": cv.r2, "s.d. over folds": cv.r2_fold_sd,
         "s.d. over seeds": cv.r2_seed_sd, "pooled out-of-fold": cv.r2_pooled},
        {"statistic": "Spearman rho", "paper": ex.PAPER_CV["spearman"], "ours (mean of folds)": cv.spearman,
         "s.d. over folds": cv.spearman_fold_sd, "s.d. over seeds": cv.spearman_seed_sd,
         "pooled out-of-fold": cv.spearman_pooled}])


def cv_noise(r: ex.Extrapolation, key: str = "r2") -> rules.Noise:
    """Noise of the mean CV statistic: the s.d. over folds / sqrt(folds) and the s.d. over seeds, in quadrature."""
    fold, seed = getattr(r.cv, f"{key}_fold_sd"), getattr(r.cv, f"{key}_seed_sd")
    sd = math.hypot(fold / math.sqrt(r.cv.n_splits) if np.isfinite(fold) else 0.0, seed if np.isfinite(seed) else 0.0)
    return rules.Noise.seed_sd(sd, f"{r.cv.n_splits} folds x {len(r.cv.seeds)} seeds")


def _paper_order(codes: Sequence[str]) -> list[str]:
    """ISO 639-3 codes in the order of the paper's Fig. C.2 axes (languages it lacks last, alphabetically)."""
    pos = {c: i for i, c in enumerate(paper_tables.transfer_matrix("38x38").index)}
    return sorted(codes, key=lambda c: (pos.get(c, len(pos)), c))


def plot_extrapolated(r: ex.Extrapolation, title: str) -> plt.Figure:
    """The completed matrix drawn like Fig. C.2: measured languages first, both groups in the paper's order,
    the measured block outlined."""
    measured_langs = _paper_order([x for x in r.matrix.index if r.measured.loc[x].any() or r.measured[x].any()])
    order = measured_langs + _paper_order([x for x in r.matrix.index if x not in measured_langs])
    m = r.matrix.loc[order, order].rename(index=code, columns=code)
    size = max(5.0, 0.42 * len(order) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    lim = max(1.0, float(np.nanmax(np.abs(m.to_numpy()))))
    sns.heatmap(m, cmap="RdBu", center=0, vmin=-lim, vmax=lim, square=True, ax=ax, annot=len(order) <= 20,
                xticklabels=True, yticklabels=True,
                fmt=".1f", annot_kws={"fontsize": 6}, cbar_kws={"label": "BTS (source -> target)", "shrink": 0.6})
    ax.grid(False)  # the style's grid would show through the empty diagonal
    k = len(measured_langs)
    ax.add_patch(Rectangle((0, 0), k, k, fill=False, edgecolor="k", lw=2.5))
    ax.set(xlabel="source language", ylabel="target language", title=title)
    return fig


# ----------------------------------------------------------------------------------------- source planner


def planner_table(targets: Sequence[str], preset: str | None = None, k: int = 3) -> tuple[pd.DataFrame, list[str]]:
    """The ``k`` best co-training sources of each target (:func:`atlas.planning.sources.best_sources`) on the
    paper's Fig. C.2 and, when ``preset`` has bilingual runs, on ours (measured, plus forest estimates where the
    runs support them). Returns ``(table, notes)``: one row per (target, rank), one column per matrix with
    ``source score (measured|estimated)``; the notes say what each matrix is and which targets it lacks."""
    mats: list[tuple[str, pd.DataFrame, pd.DataFrame | None, str]] = []
    m, mask, note = sources.load_matrix(sources.PAPER_MATRIX)
    mats.append(("paper (Fig. C.2)", m, mask, note))
    notes = []
    if preset is not None and bts.bilingual_available(preset):
        m, mask, note = sources.preset_matrix(preset)
        mats.append((f"ours ({preset})", m, mask, note))
    rows: dict[tuple[str, int], dict[str, str]] = {}
    for name, m, mask, note in mats:
        missing = []
        for t in targets:
            try:
                best = sources.best_sources(m, t, k, measured=mask)
            except sources.UnknownTargetError:
                missing.append(t)
                continue
            for i, b in enumerate(best):
                rows.setdefault((t, i + 1), {})[name] = (f"{b['code']} {b['score']:+.2f} "
                                                         f"({'measured' if b['measured'] else 'estimated'})")
        notes.append(f"{name}: {note}" + (f"; no row for {words(missing)}" if missing else ""))
    if preset is not None and len(mats) == 1:
        notes.append(f"ours ({preset}): {NO_RUNS}, so only the paper's matrix is planned on")
    table = pd.DataFrame([{"target": t, "rank": r, **cols} for (t, r), cols in rows.items()],
                         columns=["target", "rank"] + [name for name, *_ in mats])
    return table.fillna("-"), notes


# ------------------------------------------------------------------------------------------------ verdicts


def _with(v: rules.Verdict, ours: str | None = None, reason: str = "") -> rules.Verdict:
    return rules.Verdict(v.claim, v.paper, ours if ours is not None else v.ours, v.status, v.rule,
                         v.reason + (f"; {reason}" if reason else ""), v.noise)


def _seed_noise(c: Comparison | None, key: str, fallback: float | None = None) -> rules.Noise | None:
    """The seed s.d. of a statistic over the seed variants (or ``fallback``), as rule noise; None if unknown."""
    if c is not None:
        sp = c.spreads.get(key)
        if sp is not None and sp.n >= 2 and np.isfinite(sp.sd):
            return rules.Noise.seed_sd(sp.sd, f"{sp.n} seed variants of the replicated directions")
    if fallback is not None and np.isfinite(fallback):
        return rules.Noise.seed_sd(fallback, "pooled seed s.d. of one score")
    return None


def _noise(*candidates: rules.Noise | None) -> rules.Noise:
    """The wider of the known noises (:func:`atlas.rules.wider`); unknown when none is known."""
    known = [n for n in candidates if n is not None]
    return rules.wider(*known) if known else rules.Noise.unknown()


def chapter_verdicts(preset: str, matrix: pd.DataFrame | None, size_table: pd.DataFrame | None,
                     sweep: pd.DataFrame | None = None, comparison: Comparison | None = None,
                     extrap: ex.Extrapolation | str | None = None) -> list[Verdict]:
    """Verdicts of the transfer-matrix chapter, each by a rule of :mod:`atlas.rules` with its noise stated.

    ``matrix``: our BTS matrix (``None``: no runs); ``size_table``: :func:`atlas.bts.bts_vs_size`; ``sweep``:
    :func:`atlas.bts.bts_sweep`; ``comparison``: :func:`compare` (built from ``matrix`` without seed noise when
    omitted); ``extrap``: :func:`extrapolation` (an extrapolation, or the reason there is none).
    """
    c = comparison
    if c is None and matrix is not None:
        cells = matrix.stack().rename("ours").reset_index().rename(columns={"level_0": "target", "level_1": "source"})
        cells = cells[np.isfinite(cells["ours"])].assign(censored=None, finite=True, seed_sd=np.nan)
        c = Comparison(with_paper(cells), cells.reset_index(drop=True))
    out = [_interference_verdict(preset, c), _sign_verdict(preset, c), _spearman_verdict(preset, c),
           _contrast_verdict(preset, c), _size_verdict(preset, size_table, c)]
    out += _training_verdicts(preset, sweep)
    out.append(_forest_verdict(preset, extrap))
    return out


def _interference_verdict(preset: str, c: Comparison | None) -> Verdict:
    """'Most pairs interfere': the sign rule on our mean score (censored cells at their bound), noise the wider
    of a bootstrap over languages and the seed spread of the mean."""
    pm = paper_tables.transfer_matrix("38x38")
    block = paper_tables.measured_block()
    d = stats.describe_matrices({"all": pm, "measured": pm.loc[block, block]})
    claim, src = "Most language pairs interfere (BTS < 0)", "Fig. 2 / Fig. C.2"
    paper = (f"measured 9x9 mean {d.loc['measured', 'mean']:.2f}, {100 * d.loc['measured', 'share_negative']:.0f}% "
             f"< 0; 38x38 mean {d.loc['all', 'mean']:.2f}, {100 * d.loc['all', 'share_negative']:.0f}% < 0")
    if c is None or c.all_cells.empty:
        return untestable(CH, claim, src, paper, NO_RUNS if c is None else "no finite score in our matrix", preset)
    vals = c.all_cells["ours"].to_numpy(float)
    n = _noise(_boot_noise(c.all_cells, _mean_of("ours")), _seed_noise(c, "mean"))
    v = rules.sign(claim, paper, float(vals.mean()), n, expected="negative", name="mean BTS",
                   paper_value=float(d.loc["measured", "mean"]))
    cens = int(c.all_cells["censored"].eq("below").sum())
    tpp = f" at {c.tokens_per_param:.1f} tokens per parameter" if np.isfinite(c.tokens_per_param) else ""
    return judged(CH, src, preset, _with(v, f"{v.ours}; {100 * np.mean(vals < 0):.0f}% of {vals.size} cells < 0{tpp}",
                                         f"{cens} censored cells counted at their bound" if cens else ""))


def _sign_verdict(preset: str, c: Comparison | None) -> Verdict:
    """Sign agreement with the paper's measured cells beyond chance: the sign rule on (agreement - chance),
    noise the wider of a bootstrap over languages and the seed spread; a tie fails when the paper's own margin
    over chance (2 p (1 - p)) exceeds our noise."""
    claim, src = "Our scores have the paper's signs, cell by cell", "Fig. C.2, top-left 9x9 (App. B.5.1)"
    b = c.block if c is not None else pd.DataFrame(columns=["ours", "paper"])
    b = b[b["paper"] != 0] if len(b) else b
    if len(b) < 5:
        return untestable(CH, claim, src, "measured 9x9 block", NO_RUNS if c is None else
                          "fewer than 5 of our cells lie in the paper's measured block", preset,
                          ours=f"{len(b)} overlapping measured cells")
    o, p = b["ours"].to_numpy(float), b["paper"].to_numpy(float)
    agree, chance = _agreement(o, p)
    boot = (rules.Noise.bootstrap_ci(0.0, 0.0, source="one sign on one side: agreement equals chance in every "
                                     "resample") if _one_sided(b) else _boot_noise(b, _agreement_excess))
    seed = _seed_noise(c, "agreement")
    pn = float(np.mean(p < 0))
    v = rules.sign(claim, f"the paper's own signs (its {100 * pn:.0f}% negative cells)", round(agree - chance, 12),
                   _noise(boot, seed), expected="positive", name="agreement - chance",
                   paper_value=2 * pn * (1 - pn))
    return judged(CH, src, preset, _with(v, f"{v.ours}; {int(round(agree * len(b)))} of {len(b)} cells agree "
                                            f"({agree:.2f}; chance {chance:.2f})"))


def _spearman_verdict(preset: str, c: Comparison | None) -> Verdict:
    claim, src = "Our scores rank pairs like the paper's measured BTS", "Fig. C.2, top-left 9x9 (App. B.5.1)"
    b = c.block if c is not None else pd.DataFrame()
    if len(b) < 5:
        return untestable(CH, claim, src, "measured 9x9 block", NO_RUNS if c is None else
                          "fewer than 5 cells overlap the paper's measured block", preset,
                          ours=f"{len(b)} overlapping measured cells")
    x, y = b["ours"].to_numpy(float), b["paper"].to_numpy(float)
    if np.ptp(x) == 0:
        return untestable(CH, claim, src, "measured 9x9 block", "our scores are all equal: they rank nothing",
                          preset, ours=f"every score {x[0]:.3g}")
    rho = float(sps.spearmanr(x, y).statistic)
    v = rules.rank_trend(claim, "measured 9x9 block: ours increase with the paper's", rho,
                         _noise(_boot_noise(b, _spearman_of("ours", "paper")), _seed_noise(c, "spearman")))
    return judged(CH, src, preset, _with(v, f"{v.ours} (n = {len(b)})"))


def _contrast_verdict(preset: str, c: Comparison | None) -> Verdict:
    """es->pt above en->zh (App. C.2): the ordering rule on two cells, noise the seed s.d. of their difference
    (the pooled s.d. of one score, twice in quadrature)."""
    claim, src = "es->pt is synergistic, en->zh interferes", "App. C.2, Fig. C.1"
    pm = paper_tables.transfer_matrix("38x38")
    (s1, t1), (s2, t2) = CONTRAST
    paper = f"es->pt {pm.loc[t1, s1]:.1f}, en->zh {pm.loc[t2, s2]:.1f}"
    got = {} if c is None else {(s, t): v for s, t, v in zip(c.all_cells["source"], c.all_cells["target"],
                                                              c.all_cells["ours"])}
    if CONTRAST[0] not in got or CONTRAST[1] not in got:
        return untestable(CH, claim, src, paper, NO_RUNS if c is None else "our matrix lacks es->pt or en->zh",
                          preset, ours="n/a")
    n = (rules.Noise.seed_sd(rules.diff_sd(c.score_sd, c.score_sd), f"pooled seed s.d. of one score over "
                             f"{c.noise_dirs} directions") if np.isfinite(c.score_sd) else
         rules.Noise.unknown("no noise estimate: no seed replicates"))
    v = rules.ordering(claim, paper, got[CONTRAST[0]], got[CONTRAST[1]], n, names=("es->pt", "en->zh"),
                       paper_gap=float(pm.loc[t1, s1] - pm.loc[t2, s2]))
    return judged(CH, src, preset, v)


def _size_verdict(preset: str, size_table: pd.DataFrame | None, c: Comparison | None) -> Verdict:
    """BTS vs model size: the mean slope per decade of N over directions (sign rule), noise the wider of a
    bootstrap over directions and the seed noise of a slope."""
    claim, src = "Transfer scores improve with model size", "App. C.2, Fig. C.1"
    paper = "Score ~ -0.11 + 0.08 N (N in 1e9)"
    trend = bts.size_trend(size_table) if size_table is not None and len(size_table) else pd.DataFrame()
    trend = trend[np.isfinite(trend["slope_per_decade"])] if len(trend) else trend
    if len(trend) == 0:
        return untestable(CH, claim, src, paper, NO_RUNS if size_table is None else
                          "no scale pair has finite scores at 2+ sizes", preset, ours="n/a")
    up = int((trend["slope_per_decade"] > 0).sum())
    decades = float(np.log10(trend["params_max"] / trend["params_min"]).median())
    seed = None
    if c is not None and np.isfinite(c.score_sd) and decades > 0:  # slope of 2 noisy scores, averaged over directions
        seed = rules.Noise.seed_sd(math.sqrt(2) * c.score_sd / decades / math.sqrt(len(trend)),
                                   "pooled seed s.d. of a score, propagated to the mean slope")
    v = rules.sign(claim, paper, float(trend["slope_per_decade"].mean()),
                   _noise(mean_ci(trend["slope_per_decade"], unit="directions"), seed), expected="positive",
                   name="mean slope per decade of N")
    return judged(CH, src, preset, _with(
        v, f"{v.ours}; BTS rises with N for {up} of {len(trend)} directions",
        f"{int(trend['n_shapes'].max())} model sizes spanning {trend['params_min'].min():,.0f}-"
        f"{trend['params_max'].max():,.0f} parameters"))


#: The forest "extrapolates as well as the paper's": our CV R2 within this of the paper's 0.85 (absolute).
CV_TOL = 0.15


def _forest_verdict(preset: str, extrap: ex.Extrapolation | str | None) -> Verdict:
    """The random forest's 5-fold CV R2 against the paper's 0.85 (value rule, tolerance :data:`CV_TOL`), noise
    the fold and seed spread of the mean (:func:`cv_noise`)."""
    claim, src = "Finetuning features predict measured BTS (random forest, 5-fold CV)", "App. B.6"
    paper = f"R2 = {ex.PAPER_CV['r2']}, Spearman = {ex.PAPER_CV['spearman']} ({ex.PAPER_CV['n_measured']} cells)"
    if not isinstance(extrap, ex.Extrapolation):
        return untestable(CH, claim, src, paper, extrap or NO_RUNS, preset, ours="n/a")
    cv = extrap.cv
    v = rules.value(claim, paper, cv.r2, ex.PAPER_CV["r2"], CV_TOL, cv_noise(extrap), name="CV R2")
    return judged(CH, src, preset, _with(v, f"{v.ours}, Spearman {cv.spearman:.2f} ({extrap.n_measured} cells, "
                                            f"{extrap.n_predicted} predicted)"))


def _longest(sweep: pd.DataFrame, preset: str) -> tuple[pd.DataFrame, str]:
    """The sweep rows to judge training length on: the longer-trained pairs at their longest budget, or (when
    no pair was trained at two budgets) every direction of the matrix."""
    long = bts.training_length_pairs(sweep)
    if len(long):
        top = long.groupby(["source", "target", "shape"])["budget"].transform("max")
        return long[long["budget"] == top], "the pairs trained at 2 budgets, at the longer one"
    shape, budget = bts._main_group(sweep, preset)
    return sweep[(sweep["shape"] == shape) & (sweep["budget"] == budget)], "every direction of the matrix"


#: "the gap stays constant": its least-squares slope per doubling of d_mono within this (BTS units)
GAP_TOL = 0.05


def _training_verdicts(preset: str, sweep: pd.DataFrame | None) -> list[Verdict]:
    ch, src = CH, "App. C.2, Fig. C.1"
    out = []
    claim, paper = "Transfer scores fall as training tokens grow", "Score ~ 0.39 - 1.31 D (D in 1e11 tokens)"
    rows, which = _longest(sweep, preset) if sweep is not None and len(sweep) else (pd.DataFrame(), "")
    trend = bts.training_trend(rows) if len(rows) else pd.DataFrame()
    trend = trend[np.isfinite(trend["slope_per_doubling"])] if len(trend) else trend
    if len(trend) == 0:
        out.append(untestable(ch, claim, src, paper, NO_RUNS if sweep is None else
                              "no direction has 2+ finite scores after the warmup", preset, ours="n/a"))
    else:
        down = int((trend["slope_per_doubling"] < 0).sum())
        # directions share languages: over a whole matrix also resample languages (a few pairs cannot be)
        boot = _boot_noise(trend, _mean_of("slope_per_doubling")) if len(trend) >= 10 else None
        v = rules.sign(claim, paper, float(trend["slope_per_doubling"].mean()),
                       _noise(mean_ci(trend["slope_per_doubling"], unit="directions"), boot), expected="negative",
                       name="mean slope per doubling of d_mono")
        out.append(judged(ch, src, preset, _with(
            v, f"{v.ours}; BTS falls with d_mono for {down} of {len(trend)} directions (d_mono "
               f"{trend['d_mono_first'].min():,.0f}-{trend['d_mono_last'].max():,.0f} tokens)",
            f"{which}, after the warmup")))
    claim, paper = "The es->pt vs en->zh gap is set early and stays constant", "constant gap over training"
    gap = pd.DataFrame()
    if len(rows):
        ok = rows[np.isfinite(rows["bts"]) & (rows["steps_mono"] >= rows["warmup_steps"])]
        sp = ok[(ok.source == "spa") & (ok.target == "por")].set_index("d_mono")["bts"]
        ez = ok[(ok.source == "eng") & (ok.target == "cmn")].set_index("d_mono")["bts"]
        gap = (sp - ez).dropna().sort_index()
    if len(gap) < 2:
        out.append(untestable(ch, claim, src, paper, NO_RUNS if sweep is None else
                              "es->pt and en->zh lack scores at 2+ common values of d_mono after the warmup", preset,
                              ours="n/a"))
    else:
        x = np.log2(gap.index.to_numpy(float))
        slope, icpt = np.polyfit(x, gap.to_numpy(float), 1)
        if len(gap) >= 3:
            resid = gap.to_numpy(float) - (slope * x + icpt)
            se = float(np.sqrt(resid @ resid / (len(x) - 2) / np.sum((x - x.mean()) ** 2)))
            n = rules.Noise.seed_sd(se, f"least-squares s.e. over {len(gap)} values of d_mono")
        else:
            n = rules.Noise.unknown("no noise estimate: 2 values of d_mono")
        v = rules.value(claim, paper, float(slope), 0.0, GAP_TOL, n, name="slope of the gap per doubling of d_mono")
        flips = not bool((np.sign(gap) == np.sign(gap.iloc[0])).all())
        if flips and v.status == rules.REPRODUCED:  # a gap that changes sign was not set early
            v = rules.Verdict(v.claim, v.paper, v.ours, rules.NOT_REPRODUCED, v.rule, v.reason, v.noise)
        out.append(judged(ch, src, preset, _with(
            v, f"{v.ours}; gap {gap.iloc[0]:+.2f} at d_mono {gap.index[0]:,.0f} -> {gap.iloc[-1]:+.2f} at "
               f"{gap.index[-1]:,.0f} tokens", which + ("; the gap changes sign" if flips else ""))))
    return out


# -------------------------------------------------------------------------------------------------- figures


def plot_matrices(ours: pd.DataFrame, title: str) -> plt.Figure:
    """Our matrix (paper codes, family order) beside the paper's Fig. C.2 cells for the same languages."""
    order = stats.order_languages(list(ours.index), by="group")
    mine = ours.loc[order, order].rename(index=code, columns=code)
    paper = paper_tables.transfer_matrix("38x38", codes="paper").reindex(index=mine.index, columns=mine.columns)
    size = max(4.0, 0.55 * len(order) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    lim = max(1.0, float(np.nanmax(np.abs(mine.to_numpy()))) if np.isfinite(mine.to_numpy()).any() else 1.0)
    for ax, frame, t, fmt in ((axes[0], mine, title, ".2f"),
                              (axes[1], paper.round(1) + 0.0, "paper, Fig. C.2, same cells (printed to 0.1)", ".1f")):
        sns.heatmap(frame, cmap="RdBu", center=0, vmin=-lim, vmax=lim, annot=len(order) <= 14, fmt=fmt,
                    annot_kws={"fontsize": 7}, ax=ax, square=True, cbar_kws={"shrink": 0.7})
        ax.grid(False)
        ax.set(xlabel="source language", ylabel="target language", title=t)
    fig.tight_layout()
    return fig


def plot_comparison(c: Comparison, preset: str) -> plt.Figure:
    """Ours against the paper's for every shared cell, measured and estimated; seed s.d. as error bars."""
    cells = c.cells.assign(kind=np.where(c.cells["measured"], "paper measured", "paper estimated"),
                           pair=[direction(s, t) for s, t in zip(c.cells["source"], c.cells["target"])])
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    cells["score"] = np.where(cells["censored"].eq("below"), "never reached (at its bound)", "scored")
    sns.scatterplot(data=cells, x="paper", y="ours", hue="kind", style="score", ax=ax, s=45, alpha=0.8)
    if np.isfinite(c.score_sd):
        ax.errorbar(cells["paper"], cells["ours"], yerr=rules.K_NOISE * c.score_sd, fmt="none", ecolor="grey",
                    alpha=0.3, lw=0.8)
    spread = ((cells["paper"] - cells["paper"].median()) / (cells["paper"].std() or 1)) ** 2 \
        + ((cells["ours"] - cells["ours"].median()) / (cells["ours"].std() or 1)) ** 2
    for r in cells.loc[spread.nlargest(min(8, len(cells))).index].itertuples():  # name only the outliers
        ax.annotate(r.pair, (r.paper, r.ours), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, c="grey", lw=0.6)
    ax.axvline(0, c="grey", lw=0.6)
    ax.set(xlabel="paper (Fig. C.2)", ylabel=f"ours ({preset})", title="Same cells, two studies")
    ax.legend(fontsize=7)
    return fig


def plot_fas(r: FASResult) -> plt.Figure:
    """FAS of every (source, target) beside the adaptation gains g_l = FAS_{l->l} (nats/token)."""
    m = fas_matrix(r)
    size = max(4.0, 0.45 * len(m.columns) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size), gridspec_kw={"width_ratios": [1.4, 1]})
    lim = float(np.nanmax(np.abs(m.to_numpy()))) if np.isfinite(m.to_numpy()).any() else 1.0
    sns.heatmap(m, cmap="RdBu", center=0, vmin=-lim, vmax=lim, annot=len(m.columns) <= 14, fmt=".2f",
                annot_kws={"fontsize": 7}, ax=axes[0], square=True,
                cbar_kws={"shrink": 0.7, "label": "FAS, nats/token"})
    axes[0].grid(False)
    axes[0].set(title="FAS: loss gained on the target while finetuning on the source")
    g = gains_table(r).sort_values("g (nats/token)", ascending=False)
    sns.barplot(data=g, x="g (nats/token)", y="language", ax=axes[1], color="C0")
    axes[1].set(title="adaptation gain g = FAS on itself", xlabel="g, nats/token", ylabel="")
    fig.tight_layout()
    return fig


def fas_markdown(r: FASResult) -> str:
    """The FAS group in words and what the off-diagonal scores say (forgetting or transfer), computed."""
    off = r.mean[r.mean["source"] != r.mean["target"]]
    if off.empty:
        return r.note + " No cross-language FAS (each finetune evaluated only its own language)."
    neg = int((off["fas"] < 0).sum())
    what = ("finetuning on one language mostly raised the loss on the others: at this scale cross-language FAS "
            "measures forgetting more than transfer" if neg > len(off) / 2 else
            "finetuning on one language mostly lowered the loss on the others too")
    return (f"{r.note} {neg} of {len(off)} cross-language scores are negative (median "
            f"{off['fas'].median():+.3f} nats/token, against a median own-language gain of "
            f"{r.gains.median():+.3f}): {what}.")


def planner_targets_param(value: str | Sequence[str]) -> list[str]:
    """The ``planner_targets`` notebook parameter as a list of codes (papermill passes lists as strings);
    an unknown code is one clear error naming it."""
    import json

    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else [x.strip() for x in text.split(",") if x.strip()]
    else:
        items = list(value)
    if not items:
        raise ValueError("planner_targets must name at least one target language")
    for x in items:
        languages.resolve(str(x))  # raises UnknownLanguageError naming the code and the allowed ones
    return [str(x) for x in items]
