"""Seed noise: how much a loss, or any number derived from runs, moves when only the training seed changes.

A grid replicates a few runs with other seeds (run id ``<id>-seed<n>``, :class:`atlas.grid.RunOverrides`).
The replicates are not extra data points: a fit uses the *primary* run of each replicated group (the one
without a suffix, trained with the preset's seed). The replicates give the noise floor in two ways:

* :func:`final_loss_spread` -- the s.d. over seeds of each decayed point's loss (nats/token);
* :func:`seed_spread` -- the s.d. over seeds of a *derived* number (an R², a tax, an exponent): the number is
  recomputed on :func:`seed_variants` of the table, where every replicated group's primary run is replaced by
  its seed-``n`` replicate (renamed to the primary's run id, so downstream code sees the same runs).

With one replicated shape per experiment, the s.d. measures the seed noise of that one run's contribution: a
lower bound on the seed noise of a number built from many runs, which is why the verdicts read it together
with a second estimate (:func:`atlas.rules.wider`). A caller comparing two quantities that both carry seed
noise combines them (:func:`atlas.rules.diff_sd`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Mapping

import numpy as np
import pandas as pd

_SEED_SUFFIX = re.compile(r"-seed(\d+)$")
_IS_REPLICATE = re.compile(r"-seed\d+$")


def replicate_key(run_id: str) -> str:
    """The primary run id of a replicate (``mono-eng-s2-seed1`` -> ``mono-eng-s2``); others unchanged."""
    return _SEED_SUFFIX.sub("", str(run_id))


def is_replicate(run_ids: pd.Series) -> np.ndarray:
    """True for the rows of seed replicates (run ids ending in ``-seed<n>``)."""
    return run_ids.astype(str).str.contains(_IS_REPLICATE).to_numpy(bool)


def replicate_seeds(table: pd.DataFrame) -> list[int]:
    """The replicate seeds present in ``table`` (from the run ids' suffixes), sorted."""
    found = table["run_id"].astype(str).str.extract(_SEED_SUFFIX, expand=False).dropna()
    return sorted({int(s) for s in found})


def primary_only(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the seed replicates' rows (what a fit uses)."""
    return table[~is_replicate(table["run_id"])].reset_index(drop=True)


def primary_seed(table: pd.DataFrame) -> int | None:
    """The training seed of the primary runs that have replicates (None without replicates)."""
    rep = is_replicate(table["run_id"])
    groups = set(table.loc[rep, "run_id"].map(replicate_key))
    seeds = table.loc[~rep & table["run_id"].isin(groups), "seed"]
    return int(seeds.iloc[0]) if len(seeds) else None


def seed_variants(table: pd.DataFrame, experiments: Iterable[str] | None = None) -> dict[int, pd.DataFrame]:
    """One table per seed: the primary runs as they are (key: the primary seed, first) and, for every replicate
    seed ``n``, the table whose replicated primaries are replaced by their seed-``n`` runs.

    ``experiments``: only replicates of these experiments are swapped (the ones the derived number reads);
    a seed none of whose replicates is among them gives no variant. A group lacking seed ``n`` (an unfinished
    replicate) keeps its primary in that variant. Keys are the training seeds (the ``seed`` column). Empty when
    ``table`` has no (selected) replicates.
    """
    if experiments is not None:
        chosen = table["experiment"].astype(str).isin(list(experiments)).to_numpy(bool)
        table = table[~is_replicate(table["run_id"]) | chosen]
    seeds = replicate_seeds(table)
    if not seeds:
        return {}
    rep = is_replicate(table["run_id"])
    base = table[~rep]
    keys = (table["experiment"].astype(str) + "/" + table["run_id"].map(replicate_key)).to_numpy()
    first = primary_seed(table)
    out = {0 if first is None else first: base.reset_index(drop=True)}
    for s in seeds:
        mine = rep & table["run_id"].astype(str).str.endswith(f"-seed{s}").to_numpy(bool)
        swap = set(keys[mine])
        keep = ~rep & ~np.isin(keys, list(swap))
        sub = table[mine].assign(run_id=table.loc[mine, "run_id"].map(replicate_key))
        out[s] = _in_primary_order(table[keep], sub, table[~rep & np.isin(keys, list(swap))])
    return out


def _in_primary_order(kept: pd.DataFrame, swapped_in: pd.DataFrame, replaced: pd.DataFrame) -> pd.DataFrame:
    """``kept`` plus ``swapped_in`` with every swapped-in row at the position of the primary row it replaces
    (same experiment, run, language, set and step), so that positional splits (the random 20 % of Table 1)
    hold out the same points in every variant; unmatched rows go last."""
    key = [c for c in ("experiment", "run_id", "eval_lang", "eval_set", "step") if c in replaced and c in swapped_in]
    slots = replaced.reset_index()[["index", *key]].drop_duplicates(subset=key)
    placed = swapped_in.merge(slots, on=key, how="left")
    last = float(max(len(kept) + len(replaced), 1))
    placed["index"] = placed["index"].fillna(last).to_numpy(float) + np.arange(len(placed)) * 1e-9
    placed = placed.set_index("index")
    placed.index.name = None
    kept = kept.set_axis(kept.index.astype(float))
    return pd.concat([kept, placed]).sort_index(kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class SeedSpread:
    """A derived number on every seed variant: ``values[seed]``, their mean and s.d. (ddof 1)."""

    values: dict[int, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(np.isfinite(list(self.values.values())).sum()) if self.values else 0

    @property
    def mean(self) -> float:
        v = [x for x in self.values.values() if np.isfinite(x)]
        return float(np.mean(v)) if v else float("nan")

    @property
    def sd(self) -> float:
        """The s.d. over seeds (NaN with fewer than 2 finite values)."""
        v = [x for x in self.values.values() if np.isfinite(x)]
        return float(np.std(v, ddof=1)) if len(v) >= 2 else float("nan")

    def describe(self, unit: str = "") -> str:
        vals = ", ".join(f"{x:.3g}" for x in self.values.values())
        return f"s.d. {self.sd:.3g}{unit} over {self.n} seeds ({vals})"


_FAILED = (ValueError, ArithmeticError, KeyError, IndexError)


def seed_spread(table: pd.DataFrame, derive: Callable[[pd.DataFrame], float],
                experiments: Iterable[str] | None = None) -> SeedSpread:
    """``derive`` (table -> one number) on every :func:`seed_variants` table (replicates of ``experiments``);
    an exception counts as NaN for that seed (a fit that fails on one seed is part of the noise, not a crash)."""
    values: dict[int, float] = {}
    for seed, variant in seed_variants(table, experiments).items():
        try:
            values[seed] = float(derive(variant))
        except _FAILED:
            values[seed] = float("nan")
    return SeedSpread(values)


def seed_spreads(table: pd.DataFrame, derive: Callable[[pd.DataFrame], Mapping[Hashable, float]],
                 experiments: Iterable[str] | None = None) -> dict[Hashable, SeedSpread]:
    """Like :func:`seed_spread` for a ``derive`` that returns several numbers (key -> value, e.g. one tax per
    language) from one pass over the variants; a key missing on some seed counts as NaN there."""
    per_seed: dict[int, Mapping[Hashable, float]] = {}
    for seed, variant in seed_variants(table, experiments).items():
        try:
            per_seed[seed] = derive(variant)
        except _FAILED:
            per_seed[seed] = {}
    keys = list(dict.fromkeys(k for m in per_seed.values() for k in m))
    return {k: SeedSpread({s: float(m.get(k, np.nan)) for s, m in per_seed.items()}) for k in keys}


def final_loss_spread(rows: pd.DataFrame, loss: str = "loss") -> pd.DataFrame:
    """Per replicated group and decayed point (rows as :func:`atlas.scaling_table.fit_rows` returns them,
    seed replicates included): the number of seeds, the mean and s.d. of ``loss`` (nats/token) at each ``D``.

    Columns: ``experiment, run_id`` (the primary), ``eval_lang, shape, D, n_seeds, mean, sd``.
    """
    cols = ["experiment", "run_id", "eval_lang", "shape", "D", "n_seeds", "mean", "sd"]
    if not len(rows) or not is_replicate(rows["run_id"]).any():
        return pd.DataFrame(columns=cols)
    t = rows.assign(group=rows["run_id"].map(replicate_key))
    replicated = set(t.loc[is_replicate(t["run_id"]), "group"])
    t = t[t["group"].isin(replicated)]
    out = (t.groupby(["experiment", "group", "eval_lang", "shape", "D"])[loss]
           .agg(n_seeds="count", mean="mean", sd=lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else np.nan)
           .reset_index().rename(columns={"group": "run_id"}))
    return out[cols]
