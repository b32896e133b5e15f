"""Experiments -> run specs, and their resumable, shardable execution.

A preset's ``experiments:`` section names experiments; each is one block (a mapping) or a list of blocks:

* ``monolingual`` -- {languages, shapes, tokens, vocab: mono|multi}: every shape x language. This is the
  paper's N x D grid: the **D axis comes from the log-spaced evaluations along each run** (``train.n_evals``
  points per run, the last at ``tokens``), not from separate runs per budget. Capped languages
  (``data.unique_token_caps``) repeat their data for several epochs.
* ``bilingual`` -- {languages, shape, tokens, pairs?, baseline_languages?, scale_pairs?, scale_shapes?,
  partition?}: 50/50 mixtures of every pair (or the listed ``pairs``) at ``shape``, trained on
  ``2 * tokens`` with the multilingual vocabulary and disjoint verse sets, plus the monolingual baselines
  (same vocabulary and shape, ``tokens``) of every language (or of ``baseline_languages``);
  ``scale_pairs`` are repeated at each of ``scale_shapes`` (with their baselines unless
  ``scale_baselines: false``) for the Bilingual Transfer Score versus model size. A second block with a
  larger ``tokens`` and ``budget_in_id: true`` (pair ids then carry the budget, ``bi-eng-fra-s1-2M``) gives
  the same pairs trained longer: BTS versus training length.
* ``capacity`` -- {shapes, tokens, pool + K | mixtures}: uniform mixtures of K languages (the first K of
  ``pool``, nested like the paper's 4v0 -> 6v0 -> 8v0, or the named ``mixtures``) at every shape; K = 1 is a
  monolingual run with the multilingual vocabulary.
* ``unimax`` -- {shapes, base_tokens, languages?, max_epochs?, eval_languages?}: a Unimax-sampled
  multilingual base (Chung et al. 2023) per shape and budget; its weights follow from the unique tokens of
  each language's (disjoint) share of the verses. Bases save a checkpoint under ``cache_dir()/checkpoints``.
* ``finetune`` -- {targets, shapes, base_tokens, tokens, eval_languages?}: continued pretraining of each
  Unimax base on each target (fresh optimiser, LR schedule reset) plus the matching from-scratch
  monolingual multilingual-vocabulary run; when an identical run already exists in another experiment it is
  reused (``scratch_run`` in the finetune's spec names it as ``<experiment>/<run_id>``). ``budget_in_id:
  true`` puts the finetuning budget in the ids (``ft-eng-s0-from-4M-24M``), for a second block that trains
  the same targets longer.

Run ids are deterministic and readable (``mono-eng-s2``, ``multi-eng-s1-1M``, ``bi-eng-fra-s1``,
``cap-k4-s2``, ``unimax-s1-2M``, ``ft-eng-s1-from-2M``); one id always means one training configuration.

Execution (:func:`run_grid`) is resumable: finished runs (``summary.json`` present) are skipped; a run
directory without a summary (a killed run) is wiped and retrained from scratch, and so is a finished run
whose recorded spec no longer matches the preset (``stale``: the preset was edited); bases run before their
finetunes and a base whose checkpoint went missing is retrained when a finetune still needs it. A lock per
run keeps two processes from training the same run. ``shard=(i, n)`` splits the runs into ``n`` parts
balanced by estimated time, keeping each base with its finetunes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import fnmatch
import hashlib
import itertools
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from atlas import languages as L
from atlas import records
from atlas.paths import cache_dir, runs_dir
from atlas.presets import Preset
from atlas.shapes import Shape, flops_per_token, param_count
from atlas.train_config import cooldown_branches, eval_steps, spec_hash, train_settings

EXPERIMENTS = ("monolingual", "bilingual", "capacity", "unimax", "finetune")
_RUN_KEYS = {"cooldown", "batch_size", "train", "seeds"}  # per-block training overrides (see _overrides)
_KEYS = {
    "monolingual": {"languages", "shapes", "tokens", "vocab", *_RUN_KEYS},
    "bilingual": {"languages", "shape", "tokens", "pairs", "baseline_languages", "scale_pairs", "scale_shapes",
                  "scale_baselines", "partition", "budget_in_id", "tokens_per_param", "reach", "design_seed",
                  *_RUN_KEYS},
    "capacity": {"shapes", "tokens", "pool", "K", "mixtures", "partition", "targets", "fillers", "sets", "design_seed",
                 "tokens_per_language", *_RUN_KEYS},
    "unimax": {"shapes", "base_tokens", "languages", "max_epochs", "eval_languages", "partition"},
    "finetune": {"targets", "shapes", "base_tokens", "tokens", "eval_languages", "scratch", "budget_in_id"},
}
_NOT_CONTENT = ("run_id", "experiment", "eval_langs", "scratch_run", "save_checkpoint", "group")


class GridError(ValueError):
    """A bad experiment name, shard, or experiments section."""


# ----------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------


def fmt_tokens(n: float) -> str:
    """Short token counts for run ids: 40000 -> 40k, 4000000 -> 4M, 1.5e6 -> 1.5M, 1e12 -> 1T."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n))


def content_key(spec: Mapping[str, Any]) -> str:
    """Hash of everything that determines training (not the id, folder or evaluation languages)."""
    return spec_hash(spec, exclude=_NOT_CONTENT)


def parse_shard(text: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"i/n"`` (1-based, 1 <= i <= n) -> (i, n); ``None`` -> (1, 1)."""
    if text is None:
        return 1, 1
    if isinstance(text, tuple):
        i, n = text
    else:
        try:
            a, b = str(text).split("/")
            i, n = int(a), int(b)
        except ValueError:
            raise GridError(f"bad shard {text!r}; use i/n with 1 <= i <= n, e.g. 2/4") from None
    if not (n >= 1 and 1 <= i <= n):
        raise GridError(f"bad shard {i}/{n}; use i/n with 1 <= i <= n, e.g. 2/4")
    return int(i), int(n)


def _flag(block: Mapping[str, Any], key: str, where: str) -> bool:
    """An optional true/false key of an experiment block (default false); anything else is refused."""
    value = block.get(key, False)
    if not isinstance(value, bool):
        raise GridError(f"experiments.{where}.{key} must be true or false, got {value!r}")
    return value


def _need(block: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in block:
        raise GridError(f"experiments.{where} lacks {key!r}")
    return block[key]


def _tokens(value: Any, where: str) -> int:
    try:
        n = int(float(value))
    except (TypeError, ValueError):
        raise GridError(f"experiments.{where}: token budget {value!r} is not a number") from None
    if n <= 0:
        raise GridError(f"experiments.{where}: token budget must be positive, got {value!r}")
    return n


# ----------------------------------------------------------------------------------------------------------
# Building specs
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOverrides:
    """What one experiment block changes about how its runs are trained (everything else is the preset's).

    ``cooldown``: ``{"points", "decades", "fraction"}`` -- decayed models at log-spaced budgets from one run
    (WSD cooldown branches, :func:`atlas.train_config.cooldown_branches`); the main run then decays over the
    same fraction. ``batch_size``: sequences per step. ``train``: settings over the preset's ``train:``.
    ``seed``: a replicate's seed (its run id gets ``-seed<n>``).
    """

    cooldown: Mapping[str, float] | None = None
    batch_size: int | None = None
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    seed: int | None = None

    @property
    def seed_suffix(self) -> str:
        return "" if self.seed is None else f"-seed{self.seed}"

    def with_seed(self, seed: int) -> "RunOverrides":
        return dataclasses.replace(self, seed=int(seed))


def _overrides(ctx: "_Ctx", b: Mapping[str, Any], where: str) -> RunOverrides:
    """The block's ``cooldown``, ``batch_size`` and ``train`` overrides, validated before any work."""
    train = dict(b.get("train") or {})
    bad = sorted(set(train) - set(ctx.train))
    if bad:
        raise GridError(f"experiments.{where}.train: unknown setting(s) {bad}; allowed: {sorted(ctx.train)}")
    cool = b.get("cooldown")
    if cool is not None:
        if not isinstance(cool, Mapping) or set(cool) != {"points", "decades", "fraction"}:
            raise GridError(f"experiments.{where}.cooldown must be {{points, decades, fraction}}, got {cool!r}")
        try:
            cool = {"points": int(cool["points"]), "decades": float(cool["decades"]), "fraction": float(cool["fraction"])}
        except (TypeError, ValueError):
            raise GridError(f"experiments.{where}.cooldown: points, decades and fraction must be numbers") from None
        if cool["points"] < 2 or cool["decades"] <= 0 or not 0 < cool["fraction"] < 1:
            raise GridError(f"experiments.{where}.cooldown needs points >= 2, decades > 0 and fraction in (0, 1), "
                            f"got {cool}")
        if "decay_fraction" in train and float(train["decay_fraction"]) != cool["fraction"]:
            raise GridError(f"experiments.{where}: train.decay_fraction {train['decay_fraction']} differs from the "
                            f"cooldown fraction {cool['fraction']}; the main run decays like its branches")
        train["decay_fraction"] = cool["fraction"]  # the main run's own decay is the last decayed point
    try:
        train_settings({**ctx.train, **train})
    except ValueError as exc:
        raise GridError(f"experiments.{where}.train: {exc}") from None
    batch = b.get("batch_size")
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise GridError(f"experiments.{where}.batch_size must be a positive integer, got {batch!r}")
    return RunOverrides(cooldown=cool, batch_size=batch, train=train)


def _seed_replicates(b: Mapping[str, Any], where: str, base_seed: int) -> tuple[set[str], set[str], list[int]]:
    """``seeds: {shapes, select, values}``: the shapes and mixtures/languages to replicate, and the extra seeds."""
    seeds = b.get("seeds")
    if seeds is None:
        return set(), set(), []
    if not isinstance(seeds, Mapping) or set(seeds) != {"shapes", "select", "values"}:
        raise GridError(f"experiments.{where}.seeds must be {{shapes, select, values}}, got {seeds!r}")
    values = seeds["values"]
    if not isinstance(values, list) or not values or not all(isinstance(v, int) and v >= 0 for v in values):
        raise GridError(f"experiments.{where}.seeds.values must be a list of non-negative integers, got {values!r}")
    if base_seed in values or len(set(values)) != len(values):  # a replicate must differ from its primary
        raise GridError(f"experiments.{where}.seeds.values must be distinct seeds other than the training seed "
                        f"{base_seed}, got {values!r}")
    return set(seeds["shapes"]), set(seeds["select"]), [int(v) for v in values]


@dataclass
class _Ctx:
    preset: Preset
    languages: list[str]  # the preset's languages, validated
    shapes: dict[str, dict[str, Any]]
    train: dict[str, Any]

    def shape(self, name: str, where: str) -> dict[str, Any]:
        if name not in self.shapes:
            raise GridError(f"experiments.{where}: unknown shape {name!r}; allowed: {', '.join(self.shapes)}")
        return self.shapes[name]

    def langs(self, codes: Any, where: str, min_count: int = 1) -> list[str]:
        try:
            out = _validate_langs(self.preset, codes, min_count)
        except (TypeError, ValueError) as exc:
            raise GridError(f"experiments.{where}: {exc}") from None
        missing = [c for c in out if c not in self.languages]
        if missing:
            raise GridError(f"experiments.{where}: {missing} not among the preset's languages {self.languages}")
        return out

    def spec(self, *, run_id: str, experiment: str, shape: dict[str, Any], kind: str, mixture: dict[str, float] | None,
             languages: list[str], tokens: int, eval_langs: list[str], sampling: dict[str, Any] | None = None,
             base_run: str | None = None, base_tokens: int | None = None, save_checkpoint: bool = False,
             run: "RunOverrides | None" = None) -> dict[str, Any]:
        v = self.preset.vocab_size(kind)
        langs = sorted(languages)
        run = run or RunOverrides()
        spec = {
            "run_id": run_id,
            "experiment": experiment,
            "preset": self.preset.name,
            "shape": dict(shape),
            "params": param_count(shape, v),
            "params_non_embedding": param_count(shape, v, embeddings=False),
            "vocab": {"kind": kind, "size": v, "name": None},
            "languages": langs,
            "mixture": None if mixture is None else {k: float(mixture[k]) for k in sorted(mixture)},
            "sampling": {"kind": "fixed", "partition": "disjoint", **(sampling or {})},
            "eval_langs": list(dict.fromkeys(eval_langs)),
            "tokens": int(tokens),
            "seq_len": self.preset.seq_len,
            "batch_size": int(run.batch_size or self.preset.batch_size),
            "seed": int(self.preset.train.get("seed", 0)) if run.seed is None else int(run.seed),
            "train": {**copy.deepcopy(self.train), **copy.deepcopy(run.train)},
            "base_run": base_run,
            "base_tokens": base_tokens,
            "save_checkpoint": bool(save_checkpoint),
            "scratch_run": None,
            "group": base_run or run_id,
        }
        if run.cooldown is not None:  # only then: older specs (and their hashes) stay exactly as they were
            spec["cooldown"] = dict(run.cooldown)
        return spec

    def mono(self, lang: str, shape: dict[str, Any], tokens: int, kind: str, experiment: str,
             eval_langs: list[str] | None = None, run: "RunOverrides | None" = None) -> dict[str, Any]:
        run_id = f"mono-{lang}-{shape['name']}" if kind == "mono" else f"multi-{lang}-{shape['name']}-{fmt_tokens(tokens)}"
        run = run or RunOverrides()
        return self.spec(run_id=run_id + run.seed_suffix, experiment=experiment, shape=shape, kind=kind,
                         mixture={lang: 1.0}, languages=[lang], tokens=tokens, eval_langs=eval_langs or [lang], run=run)


def _validate_langs(preset: Preset, codes: Any, min_count: int = 1) -> list[str]:
    """ISO 639-3 codes for the bundled corpus; for other corpora (the paper's MADLAD-400) the codes as given."""
    if isinstance(codes, str) or not isinstance(codes, (list, tuple)):
        raise GridError(f"languages must be a list of codes, got {codes!r}")
    if preset.corpus == "bundled":
        return L.validate_languages(list(codes), require_corpus=True, min_count=min_count)
    out = [str(c) for c in codes]
    if len(out) < min_count or len(set(out)) != len(out):
        raise GridError(f"need at least {min_count} distinct language(s), got {codes!r}")
    return out


def _blocks(section: Any, name: str) -> list[dict[str, Any]]:
    blocks = section if isinstance(section, list) else [section]
    for b in blocks:
        if not isinstance(b, dict):
            raise GridError(f"experiments.{name} must be a mapping or a list of mappings, got {b!r}")
        unknown = sorted(set(b) - _KEYS[name])
        if unknown:
            raise GridError(f"experiments.{name}: unknown key(s) {unknown}; allowed: {sorted(_KEYS[name])}")
    return blocks


def _partition(block: Mapping[str, Any], where: str) -> dict[str, str]:
    p = block.get("partition", "disjoint")
    if p not in ("disjoint", "parallel"):
        raise GridError(f"experiments.{where}: partition must be disjoint or parallel, got {p!r}")
    return {"partition": p}


def _monolingual(ctx: _Ctx, b: dict[str, Any]) -> list[dict[str, Any]]:
    where = "monolingual"
    kind = b.get("vocab", "mono")
    if kind not in ("mono", "multi"):
        raise GridError(f"experiments.{where}: vocab must be mono or multi, got {kind!r}")
    tokens = _tokens(_need(b, "tokens", where), where)
    shapes = [ctx.shape(s, where) for s in _need(b, "shapes", where)]
    run = _overrides(ctx, b, where)
    seed_shapes, seed_langs, seeds = _seed_replicates(b, where, int(ctx.train.get("seed", 0)))
    out = []
    for lang in ctx.langs(_need(b, "languages", where), where):
        for s in shapes:
            out.append(ctx.mono(lang, s, tokens, kind, "monolingual", run=run))
            if s["name"] in seed_shapes and lang in seed_langs:
                out += [ctx.mono(lang, s, tokens, kind, "monolingual", run=run.with_seed(v)) for v in seeds]
    return out


def _pair_spec(ctx: _Ctx, a: str, b: str, shape: dict[str, Any], tokens: int, sampling: dict[str, str],
               budget_in_id: bool = False) -> dict[str, Any]:
    a, b = sorted((a, b))
    run_id = f"bi-{a}-{b}-{shape['name']}" + (f"-{fmt_tokens(tokens)}" if budget_in_id else "")
    return ctx.spec(run_id=run_id, experiment="bilingual", shape=shape, kind="multi",
                    mixture={a: 0.5, b: 0.5}, languages=[a, b], tokens=2 * tokens, eval_langs=[a, b], sampling=sampling)


def half_assignment(pairs: list[tuple[str, str]], seed: int = 0) -> dict[tuple[str, str], dict[str, int]]:
    """Which half of the verses each language of a pair trains on: ``{(a, b): {a: h, b: 1 - h}}``.

    The rule (quoted in the book): the verses are split once into two halves (``slot_refs(..., 2, seed)``);
    for the i-th pair (a, b) in the given order, a fair coin from a generator seeded with ``(seed, i)`` gives
    a's half, b takes the other. A language's baseline on half h trains on exactly the verses it has in every
    pair where it got h, so a bilingual run's target and its baseline hold the same unique tokens.
    """
    out = {}
    for i, (a, b) in enumerate(pairs):
        h = int(np.random.default_rng([seed, i]).integers(2))
        out[(a, b)] = {a: h, b: 1 - h}
    return out


def _transfer_bilingual(ctx: _Ctx, b: dict[str, Any]) -> list[dict[str, Any]]:
    """``bilingual`` with ``tokens_per_param``: the BTS design at the paper's horizon with unique-token parity.

    d_mono = ``tokens_per_param`` x N (N with embeddings, as the paper's 2B model at 42B tokens); every
    language trains on one half of the verses (:func:`half_assignment`) and its baseline on the same half.
    Baselines run ``d_mono / (1 - decay_fraction)`` tokens and bilingual runs ``reach x d_mono / (1 -
    decay_fraction)``, so both curves are read in the stable phase at the same learning rate, and d_bi is
    inside the bilingual run for any BTS >= 2 - reach. ``scale_pairs`` repeat at ``scale_shapes``; ``seeds``
    replicate the selected pairs (``"spa-por"``) with their baselines.
    """
    where = "bilingual"
    langs = ctx.langs(_need(b, "languages", where), where, min_count=2)
    shape = ctx.shape(_need(b, "shape", where), where)
    per_param = float(_need(b, "tokens_per_param", where))
    reach = float(b.get("reach", 3.0))
    if per_param <= 0 or reach <= 2:
        raise GridError(f"experiments.{where}: tokens_per_param must be > 0 and reach > 2, got {per_param}, {reach}")
    design_seed = int(b.get("design_seed", 0))
    run = _overrides(ctx, b, where)
    seed_shapes, seed_pairs, seeds = _seed_replicates(b, where, int(ctx.train.get("seed", 0)))
    pairs = [tuple(sorted(p)) for p in itertools.combinations(langs, 2)]
    halves = half_assignment(pairs, design_seed)
    scale_pairs = [tuple(sorted(ctx.langs(p, f"{where}.scale_pairs", 2))) for p in b.get("scale_pairs", [])]
    unknown = sorted(set(scale_pairs) - set(pairs))
    if unknown:
        raise GridError(f"experiments.{where}.scale_pairs: {unknown} are not pairs of {langs}")
    decay = float({**ctx.train, **run.train}["decay_fraction"])
    sampling = {"partition": "slots", "pool": sorted(langs), "n_slots": 2, "slot_seed": design_seed}
    out: list[dict[str, Any]] = []
    baselines: dict[str, dict[str, Any]] = {}
    jobs = [(shape, p) for p in pairs] + [(ctx.shape(n, f"{where}.scale_shapes"), p)
                                          for n in b.get("scale_shapes", []) for p in scale_pairs]
    for s, (x, y) in jobs:
        tps = int(run.batch_size or ctx.preset.batch_size) * ctx.preset.seq_len
        d_mono = math.ceil(per_param * param_count(s, ctx.preset.vocab_size("multi")) / tps) * tps
        picks = [run] + ([run.with_seed(v) for v in seeds] if s["name"] in seed_shapes and f"{x}-{y}" in seed_pairs else [])
        for r in picks:
            names = {}
            for lang in (x, y):
                h = halves[(x, y)][lang]
                bid = f"base-{lang}-h{h}-{s['name']}{r.seed_suffix}"
                names[lang] = f"bilingual/{bid}"
                if bid not in baselines:
                    baselines[bid] = ctx.spec(
                        run_id=bid, experiment="bilingual", shape=s, kind="multi", mixture={lang: 1.0},
                        languages=[lang], tokens=math.ceil(d_mono / (1 - decay) / tps) * tps, eval_langs=[lang],
                        sampling={**sampling, "slots": {lang: h}}, run=r)
                    baselines[bid]["bts"] = {"d_mono": d_mono}
                    out.append(baselines[bid])  # before its first pair: a partial grid still yields scores
            spec = ctx.spec(run_id=f"bi-{x}-{y}-{s['name']}{r.seed_suffix}", experiment="bilingual", shape=s,
                            kind="multi", mixture={x: 0.5, y: 0.5}, languages=[x, y],
                            tokens=math.ceil(reach * d_mono / (1 - decay) / tps) * tps, eval_langs=[x, y],
                            sampling={**sampling, "slots": dict(halves[(x, y)])}, run=r)
            spec["bts"] = {"d_mono": d_mono, "baselines": names}
            out.append(spec)
    return out


def _bilingual(ctx: _Ctx, b: dict[str, Any]) -> list[dict[str, Any]]:
    where = "bilingual"
    if "tokens_per_param" in b:
        return _transfer_bilingual(ctx, b)
    langs = ctx.langs(_need(b, "languages", where), where, min_count=2)
    shape = ctx.shape(_need(b, "shape", where), where)
    tokens = _tokens(_need(b, "tokens", where), where)
    sampling = _partition(b, where)
    tagged = _flag(b, "budget_in_id", where)
    pairs = b.get("pairs")
    pairs = [ctx.langs(p, f"{where}.pairs", 2) for p in pairs] if pairs is not None else list(itertools.combinations(langs, 2))
    if any(len(p) != 2 for p in pairs):
        raise GridError(f"experiments.{where}.pairs: every pair needs exactly 2 languages")
    out = [_pair_spec(ctx, x, y, shape, tokens, sampling, tagged) for x, y in pairs]
    base_langs = ctx.langs(b.get("baseline_languages", langs), f"{where}.baseline_languages")
    out += [ctx.mono(x, shape, tokens, "multi", "bilingual") for x in base_langs]
    scale_pairs = [ctx.langs(p, f"{where}.scale_pairs", 2) for p in b.get("scale_pairs", [])]
    for sname in b.get("scale_shapes", []):
        s = ctx.shape(sname, f"{where}.scale_shapes")
        for x, y in scale_pairs:
            out.append(_pair_spec(ctx, x, y, s, tokens, sampling, tagged))
            if b.get("scale_baselines", True):
                out += [ctx.mono(z, s, tokens, "multi", "bilingual") for z in (x, y)]
    return out


def balanced_k_design(targets: list[str], fillers: list[str], ks: list[int], sets: int, seed: int = 0
                      ) -> tuple[list[tuple[str, list[str], int]], dict[str, int]]:
    """The K-law design: every target at every K, ``sets`` different co-language sets at each K >= 2.

    The rule, stated once (it is quoted in the book):

    * verse slots: ``max(ks)`` disjoint slots; target i trains on slot i, fillers take the remaining slots in
      turn (filler j on slot ``T + j mod (max K - T)``); a mixture never holds two languages of one slot, so
      its languages never share verses, and a language's unique text is its slot at every K;
    * K = 1: each target alone;
    * K >= 2: ``g = min(T, max(2, K // 2))`` targets per mixture, the rest fillers. For each replicate
      ``r < sets`` a generator seeded with ``(seed, K, r)`` shuffles the targets into groups of ``g`` and,
      for each group, picks ``K - g`` filler slots and one filler of each; a draw that would give a target a
      co-language set it already has at this K is redrawn.

    Returns the named mixtures with their replicate ``(name, languages, r)`` (``k1-eng``, ``k4a``, ...; K = 1
    is replicate 0) and the slot of every language. Each target has exactly one mixture per replicate at each
    K >= 2, so "replicate >= 1" is a set of unseen mixtures for Table 1's R2(M) that no choice of K_t saw.
    """
    T, kmax = len(targets), max(ks)
    if T < 1 or len(set(targets) | set(fillers)) != T + len(fillers):
        raise GridError(f"capacity design: targets and fillers must be distinct languages, got {targets} / {fillers}")
    if kmax < T:
        raise GridError(f"capacity design: the largest K ({kmax}) must be >= the number of targets ({T})")
    n_fill_slots = kmax - T
    slots = {t: i for i, t in enumerate(targets)}
    for j, f in enumerate(fillers):
        if n_fill_slots == 0:
            raise GridError("capacity design: no slot is left for fillers; drop fillers or raise K")
        slots[f] = T + j % n_fill_slots
    by_slot: dict[int, list[str]] = {}
    for f in fillers:
        by_slot.setdefault(slots[f], []).append(f)
    mixtures: list[tuple[str, list[str], int]] = []
    for k in ks:
        if k == 1:
            mixtures += [(f"k1-{t}", [t], 0) for t in targets]
            continue
        g = min(T, max(2, k // 2))
        if T % g or k - g > len(by_slot):
            raise GridError(f"capacity design: K={k} needs the {T} targets in groups of {g} and {k - g} filler "
                            f"slot(s) (have {len(by_slot)})")
        seen: dict[str, set[frozenset[str]]] = {t: set() for t in targets}
        names = iter("abcdefghijklmnopqrstuvwxyz")
        for r in range(sets):
            for attempt in range(1000):
                rng = np.random.default_rng([seed, k, r, attempt])
                order = [targets[i] for i in rng.permutation(T)]
                draw = []
                for i in range(0, T, g):
                    group = order[i : i + g]
                    chosen = sorted(rng.choice(sorted(by_slot), size=k - g, replace=False))
                    draw.append(group + [by_slot[c][int(rng.integers(len(by_slot[c])))] for c in chosen])
                cos = [(t, frozenset(m) - {t}) for m in draw for t in m if t in seen]
                if all(c not in seen[t] for t, c in cos):
                    break
            else:
                raise GridError(f"capacity design: could not draw {sets} different co-language sets at K={k}")
            for t, c in cos:
                seen[t].add(c)
            mixtures += [(f"k{k}{next(names)}", sorted(m), r) for m in draw]
    return mixtures, slots


def _balanced_capacity(ctx: _Ctx, b: dict[str, Any]) -> list[dict[str, Any]]:
    """``capacity`` with ``targets``: the balanced K-law design (:func:`balanced_k_design`) on fixed verse slots,
    ``K * tokens_per_language`` tokens per run, so every language sees the same tokens (and epochs) at every K."""
    where = "capacity"
    shapes = [ctx.shape(s, where) for s in _need(b, "shapes", where)]
    targets = ctx.langs(_need(b, "targets", where), f"{where}.targets")
    fillers = ctx.langs(b.get("fillers", []), f"{where}.fillers", min_count=0) if b.get("fillers") else []
    ks = _need(b, "K", where)
    if not isinstance(ks, list) or not all(isinstance(k, int) and k >= 1 for k in ks):
        raise GridError(f"experiments.{where}.K must be a list of positive integers, got {ks!r}")
    sets = b.get("sets", 2)
    if not isinstance(sets, int) or sets < 1:
        raise GridError(f"experiments.{where}.sets must be a positive integer, got {sets!r}")
    per_lang = _tokens(_need(b, "tokens_per_language", where), where)
    design_seed = int(b.get("design_seed", 0))
    mixtures, slots = balanced_k_design(targets, fillers, ks, sets, design_seed)
    pool = sorted(slots)
    run = _overrides(ctx, b, where)
    seed_shapes, seed_mixes, seeds = _seed_replicates(b, where, int(ctx.train.get("seed", 0)))
    sampling = {"partition": "slots", "pool": pool, "n_slots": max(ks), "slot_seed": design_seed}
    out = []
    for s in shapes:
        for name, langs, replicate in mixtures:
            k = len(langs)
            for r in [run] + ([run.with_seed(v) for v in seeds] if s["name"] in seed_shapes and name in seed_mixes else []):
                spec = ctx.spec(
                    run_id=f"cap-{name}-{s['name']}{r.seed_suffix}", experiment="capacity", shape=s, kind="multi",
                    mixture={x: 1.0 / k for x in langs}, languages=langs, tokens=k * per_lang,
                    eval_langs=[x for x in langs if x in targets],
                    sampling={**sampling, "slots": {x: slots[x] for x in langs}}, run=r)
                spec["design"] = {"mixture": name, "K": k, "replicate": replicate}
                out.append(spec)
    return out


def _capacity(ctx: _Ctx, b: dict[str, Any]) -> list[dict[str, Any]]:
    where = "capacity"
    if "targets" in b:
        return _balanced_capacity(ctx, b)
    shapes = [ctx.shape(s, where) for s in _need(b, "shapes", where)]
    tokens = _tokens(_need(b, "tokens", where), where)
    sampling = _partition(b, where)
    mixtures: list[tuple[str, list[str]]] = []
    if "mixtures" in b:
        for name, langs in dict(b["mixtures"]).items():
            mixtures.append((str(name), ctx.langs(langs, f"{where}.mixtures.{name}")))
    if "K" in b or "pool" in b:
        pool = ctx.langs(_need(b, "pool", where), f"{where}.pool")
        for k in _need(b, "K", where):
            if not isinstance(k, int) or not 1 <= k <= len(pool):
                raise GridError(f"experiments.{where}: K={k!r} must be an integer in [1, {len(pool)}] (the pool size)")
            mixtures.append((f"k{k}", pool[:k]))
    if not mixtures:
        raise GridError(f"experiments.{where} needs pool + K or mixtures")
    run = _overrides(ctx, b, where)
    out = []
    for s in shapes:
        for name, langs in mixtures:
            if len(langs) == 1:
                out.append(ctx.mono(langs[0], s, tokens, "multi", "capacity", run=run))
                continue
            out.append(ctx.spec(run_id=f"cap-{name}-{s['name']}", experiment="capacity", shape=s, kind="multi",
                                mixture={x: 1.0 / len(langs) for x in langs}, languages=langs, tokens=tokens,
                                eval_langs=langs, sampling=sampling, run=run))
    return out


def _unimax_id(shape: Mapping[str, Any], budget: int) -> str:
    return f"unimax-{shape['name']}-{fmt_tokens(budget)}"


def _unimax(ctx: _Ctx, b: dict[str, Any]) -> list[dict[str, Any]]:
    where = "unimax"
    shapes = [ctx.shape(s, where) for s in _need(b, "shapes", where)]
    budgets = [_tokens(x, where) for x in _need(b, "base_tokens", where)]
    langs = ctx.langs(b.get("languages", ctx.languages), f"{where}.languages", min_count=2)
    evals = ctx.langs(b.get("eval_languages", langs), f"{where}.eval_languages")
    max_epochs = float(b.get("max_epochs", 4.0))
    if max_epochs <= 0:
        raise GridError(f"experiments.{where}.max_epochs must be > 0, got {max_epochs}")
    sampling = {"kind": "unimax", "max_epochs": max_epochs, **_partition(b, where)}
    return [ctx.spec(run_id=_unimax_id(s, n), experiment="unimax", shape=s, kind="multi", mixture=None,
                     languages=langs, tokens=n, eval_langs=evals, sampling=sampling, save_checkpoint=True)
            for s in shapes for n in budgets]


def _finetune(ctx: _Ctx, b: dict[str, Any], bases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    where = "finetune"
    targets = ctx.langs(_need(b, "targets", where), f"{where}.targets")
    shapes = [ctx.shape(s, where) for s in _need(b, "shapes", where)]
    budgets = [_tokens(x, where) for x in _need(b, "base_tokens", where)]
    tokens = _tokens(_need(b, "tokens", where), where)
    evals = ctx.langs(b.get("eval_languages", targets), f"{where}.eval_languages")
    tagged = _flag(b, "budget_in_id", where)
    out = []
    for s in shapes:
        for n in budgets:
            base_id = _unimax_id(s, n)
            if base_id not in bases:
                raise GridError(f"experiments.finetune needs the Unimax base {base_id!r} (shape {s['name']}, "
                                f"{n} tokens): add the shape and budget to experiments.unimax")
            for t in targets:
                ft = ctx.spec(run_id=f"ft-{t}-{s['name']}-from-{fmt_tokens(n)}" + (f"-{fmt_tokens(tokens)}" if tagged else ""),
                              experiment="finetune", shape=s,
                              kind="multi", mixture={t: 1.0}, languages=[t], tokens=tokens,
                              eval_langs=list(dict.fromkeys([t, *evals])), base_run=base_id, base_tokens=n)
                if b.get("scratch", True):
                    ft["scratch_run"] = f"finetune/{ctx.mono(t, s, tokens, 'multi', 'finetune')['run_id']}"
                out.append(ft)
        if b.get("scratch", True):  # FAS finetunes need no from-scratch twin
            for t in targets:
                out.append(ctx.mono(t, s, tokens, "multi", "finetune"))
    return out


# ----------------------------------------------------------------------------------------------------------
# The plan
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The ordered runs of a selection (dependencies first) of ``preset``."""

    preset: Preset
    selection: list[str]
    runs: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.runs)

    def key(self, spec: Mapping[str, Any]) -> str:
        return f"{spec['experiment']}/{spec['run_id']}"


def _check_cooldown(spec: Mapping[str, Any]) -> None:
    """A run whose cooldown branches cannot all start after the warm-up fails at plan time, not mid-grid."""
    cool = spec.get("cooldown")
    if not cool:
        return
    steps = max(1, math.ceil(spec["tokens"] / (spec["batch_size"] * spec["seq_len"])))
    try:
        cooldown_branches(steps, int(cool["points"]), float(cool["decades"]), float(cool["fraction"]),
                          int(spec["train"]["warmup_steps"]))
    except ValueError as exc:
        raise GridError(f"experiments.{spec['experiment']} run {spec['run_id']}: {exc}") from None


def experiment_names(preset: Preset) -> list[str]:
    """The experiments ``preset`` defines, in :data:`EXPERIMENTS` order."""
    return [e for e in EXPERIMENTS if e in preset.experiments]


def build_plan(preset: Preset, experiment: str = "all") -> Plan:
    """Every run of ``experiment`` (or ``all``) of ``preset``, validated, deduplicated and ordered.

    Raises :class:`GridError` before any work for a bad experiment name or experiments section.
    """
    section = preset.experiments
    unknown = sorted(set(section) - set(EXPERIMENTS))
    if unknown:
        raise GridError(f"preset {preset.name!r}: unknown experiment(s) {unknown}; allowed: {', '.join(EXPERIMENTS)}")
    names = [e for e in EXPERIMENTS if e in section]
    if not names:
        raise GridError(f"preset {preset.name!r} has no experiments section")
    if experiment != "all" and experiment not in names:
        raise GridError(f"unknown experiment {experiment!r} for preset {preset.name!r}; allowed: all, {', '.join(names)}")
    try:
        languages = _validate_langs(preset, preset.languages)
    except ValueError as exc:
        raise GridError(f"preset {preset.name!r}: {exc}") from None
    shapes = {}
    for s in preset.shapes:
        try:
            shapes[s["name"]] = Shape.from_dict(s).as_dict()
        except (ValueError, KeyError, TypeError) as exc:
            raise GridError(f"preset {preset.name!r}: bad shape {s!r}: {exc}") from None
    ctx = _Ctx(preset=preset, languages=languages, shapes=shapes, train=train_settings(preset.train))
    if int(preset.train.get("batch_size", 0)) < 1 or int(preset.model.get("seq_len", 0)) < 1:
        raise GridError(f"preset {preset.name!r}: train.batch_size and model.seq_len must be >= 1")

    by_exp: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        specs: list[dict[str, Any]] = []
        for block in _blocks(section[name], name):
            if name == "finetune":
                bases = {s["run_id"]: s for s in by_exp.get("unimax", [])}
                specs += _finetune(ctx, block, bases)
            else:
                specs += {"monolingual": _monolingual, "bilingual": _bilingual, "capacity": _capacity,
                          "unimax": _unimax}[name](ctx, block)
        for spec in specs:
            _check_cooldown(spec)
        by_exp[name] = specs

    # Deduplicate: one id = one configuration; identical runs within an experiment are one run; finetune
    # scratch runs identical to a run of another experiment reuse it.
    seen: dict[str, dict[str, Any]] = {}  # "experiment/run_id" -> spec
    by_content: dict[str, str] = {}  # content key -> "experiment/run_id" (first owner)
    ids: dict[str, str] = {}  # run_id -> content key
    ordered: list[dict[str, Any]] = []
    alias: dict[str, str] = {}
    for name in names:
        for spec in by_exp[name]:
            ck = content_key(spec)
            if ids.setdefault(spec["run_id"], ck) != ck:
                raise GridError(f"preset {preset.name!r}: run id {spec['run_id']!r} names two different runs "
                                f"(e.g. the same shape and language with two token budgets); change a budget or shape")
            key = f"{name}/{spec['run_id']}"
            if key in seen:
                prev = seen[key]
                prev["eval_langs"] = list(dict.fromkeys(prev["eval_langs"] + spec["eval_langs"]))
                continue
            owner = by_content.get(ck)
            if name == "finetune" and spec["base_run"] is None and owner is not None and owner.split("/")[0] != "finetune":
                target = spec["languages"][0]
                if target in seen[owner]["eval_langs"]:
                    alias[key] = owner
                    continue
            by_content.setdefault(ck, key)
            seen[key] = spec
            ordered.append(spec)
    for spec in ordered:
        if spec.get("scratch_run"):
            spec["scratch_run"] = alias.get(spec["scratch_run"], spec["scratch_run"])

    if experiment == "all":
        selection = names
        runs = ordered
    else:
        selection = [experiment]
        wanted = {f"{experiment}/{s['run_id']}" for s in ordered if s["experiment"] == experiment}
        for s in list(ordered):
            if s["experiment"] == experiment:
                if s.get("base_run"):
                    wanted.add(f"unimax/{s['base_run']}")
                if s.get("scratch_run"):
                    wanted.add(s["scratch_run"])
        runs = [s for s in ordered if f"{s['experiment']}/{s['run_id']}" in wanted]
    return Plan(preset=preset, selection=selection, runs=runs)


# ----------------------------------------------------------------------------------------------------------
# Cost model, sharding, status
# ----------------------------------------------------------------------------------------------------------


def compute_settings(preset: Preset) -> dict[str, Any]:
    """The preset's ``compute:`` section: the device the estimate assumes and its throughput model.

    ``seconds per run = overhead_seconds_per_run + tokens * (overhead_seconds_per_token +
    flops_per_token / (peak_flops * mfu))`` (evaluation forward passes count a third of a training token).
    """
    c = {"device": "unspecified", "peak_flops": 1e11, "mfu": 0.2, "overhead_seconds_per_token": 0.0,
         "overhead_seconds_per_run": 0.0, "device_kind": "CPU"}
    c.update(preset.compute)
    for key in ("peak_flops", "mfu", "overhead_seconds_per_token", "overhead_seconds_per_run"):
        try:
            c[key] = float(c[key])
        except (TypeError, ValueError):
            raise GridError(f"compute.{key} must be a number, got {c[key]!r}") from None
    if c["peak_flops"] <= 0 or not 0 < c["mfu"] <= 1:
        raise GridError(f"compute.peak_flops must be > 0 and compute.mfu in (0, 1], got {c['peak_flops']}, {c['mfu']}")
    return c


def run_cost(spec: Mapping[str, Any], preset: Preset) -> dict[str, float]:
    """Training tokens, training FLOPs (6 N D, N with embeddings) and estimated seconds of one run."""
    c = compute_settings(preset)
    tokens_per_step = spec["batch_size"] * spec["seq_len"]
    steps = max(1, math.ceil(spec["tokens"] / tokens_per_step))
    d = steps * tokens_per_step
    v = spec["vocab"]["size"]
    flops = 6.0 * spec["params"] * d
    fpt = flops_per_token(spec["shape"], v, spec["seq_len"])
    main_evals = set(eval_steps(steps, spec["train"]["n_evals"], spec["train"]["first_eval_fraction"]))
    branches = []
    if spec.get("cooldown"):
        cool = spec["cooldown"]
        branches = cooldown_branches(steps, int(cool["points"]), float(cool["decades"]), float(cool["fraction"]),
                                     int(spec["train"]["warmup_steps"]))
    n_eval_points = len(main_evals | {e for _, e in branches}) + len(branches)
    cooldown_tokens = sum(e - b for b, e in branches) * tokens_per_step
    data = preset.data
    n_sets = len(data.get("eval_sets", ["bible", "flores"]))
    eval_tok = n_eval_points * len(spec["eval_langs"]) * n_sets * int(data.get("eval_tokens", 8192))
    per_token = c["overhead_seconds_per_token"] + fpt / (c["peak_flops"] * c["mfu"])
    seconds = c["overhead_seconds_per_run"] + (d + cooldown_tokens + eval_tok / 3.0) * per_token
    return {"tokens": float(d), "flops": flops + 6.0 * spec["params"] * cooldown_tokens, "seconds": seconds}


def shard_runs(plan: Plan, i: int, n: int) -> list[dict[str, Any]]:
    """Runs of shard ``i`` of ``n`` (1-based): groups (a base with its finetunes) balanced by estimated time."""
    i, n = parse_shard((i, n))
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in plan.runs:
        groups.setdefault(s["group"], []).append(s)
    cost = {g: sum(run_cost(s, plan.preset)["seconds"] for s in runs) for g, runs in groups.items()}
    load = [0.0] * n
    owner: dict[str, int] = {}
    for g in sorted(groups, key=lambda g: (-cost[g], g)):  # longest processing time first
        k = min(range(n), key=lambda j: (load[j], j))
        owner[g] = k
        load[k] += cost[g]
    return [s for s in plan.runs if owner[s["group"]] == i - 1]


def plan_table(plan: Plan, runs: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per run: experiment, run_id, shape, N, tokens, FLOPs, estimated seconds."""
    rows = []
    for s in plan.runs if runs is None else runs:
        c = run_cost(s, plan.preset)
        rows.append({"experiment": s["experiment"], "run_id": s["run_id"], "shape": s["shape"]["name"],
                     "params": s["params"], "tokens": c["tokens"], "flops": c["flops"], "seconds": c["seconds"]})
    return pd.DataFrame(rows, columns=["experiment", "run_id", "shape", "params", "tokens", "flops", "seconds"])


def plan_summary(plan: Plan, runs: list[dict[str, Any]] | None = None) -> str:
    """Human-readable plan: runs, tokens and FLOPs per experiment, and the estimated time."""
    table = plan_table(plan, runs)
    c = compute_settings(plan.preset)
    lines = [f"preset {plan.preset.name}: {len(table)} runs ({', '.join(plan.selection)})"]
    if len(table):
        agg = table.groupby("experiment", sort=False).agg(runs=("run_id", "size"), tokens=("tokens", "sum"),
                                                          flops=("flops", "sum"), seconds=("seconds", "sum"))
        for name, r in agg.iterrows():
            lines.append(f"  {name:<12} {int(r.runs):>5} runs  {r.tokens:10.3g} tokens  {r.flops:10.3g} FLOPs (6ND)"
                         f"  ~{_duration(r.seconds, c)}")
    total_s = float(table["seconds"].sum()) if len(table) else 0.0
    total_f = float(table["flops"].sum()) if len(table) else 0.0
    lines.append(f"  {'total':<12} {len(table):>5} runs  {table['tokens'].sum() if len(table) else 0:10.3g} tokens  "
                 f"{total_f:10.3g} FLOPs (6ND)  ~{_duration(total_s, c)}")
    lines.append(f"  estimate: {c['device']}, peak {c['peak_flops']:.3g} FLOP/s at {c['mfu']:.0%} utilisation"
                 + (f", + {c['overhead_seconds_per_token']:.2g} s/token and {c['overhead_seconds_per_run']:.2g} s/run overhead"
                    if c["overhead_seconds_per_token"] or c["overhead_seconds_per_run"] else ""))
    if plan.preset.reported_runs:
        lines.append(f"  the paper reports {plan.preset.reported_runs} runs (Table B.1); see the preset's notes")
    return "\n".join(lines)


def _duration(seconds: float, c: Mapping[str, Any]) -> str:
    if c.get("device_kind") == "GPU":
        if seconds < 86400:
            return f"{seconds / 3600:,.1f} GPU-hours"
        return f"{seconds / 86400:,.1f} GPU-days"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def checkpoint_path(preset: Preset, spec: Mapping[str, Any]) -> Path:
    """Where a base's weights live: ``cache_dir()/checkpoints/<preset>/<run_id>-<content hash>.pt``."""
    return cache_dir() / "checkpoints" / preset.name / f"{spec['run_id']}-{content_key(spec)}.pt"


def is_stale(path: Path, spec: Mapping[str, Any]) -> bool:
    """A finished run whose recorded spec no longer matches the preset's plan (the preset changed)."""
    try:
        return records.read_json(Path(path) / records.SPEC).get("plan_hash") != spec_hash(spec)
    except (OSError, ValueError):
        return True


def run_status(path: Path, spec: Mapping[str, Any] | None = None) -> str:
    """``done``/``diverged`` (finished), ``stale`` (finished under an older preset), ``partial`` (started, no
    summary: a killed run) or ``todo``."""
    if records.is_finished(path):
        if spec is not None and is_stale(path, spec):
            return "stale"
        return str(records.read_json(path / records.SUMMARY).get("status", "done"))
    return "partial" if path.exists() else "todo"


def grid_status(preset: Preset, experiment: str = "all", root: Path | None = None) -> pd.DataFrame:
    """One row per planned run: ``experiment, run_id, status, path`` and, for finished runs, the measured
    ``wall_seconds`` (training + evaluation, from ``summary.json``) and ``device`` (from ``env.json``)."""
    plan = build_plan(preset, experiment)
    rows = []
    for s in plan.runs:
        d = records.run_dir(preset.name, s["experiment"], s["run_id"], root)
        status = run_status(d, s)
        wall, device = float("nan"), None
        if status in ("done", "diverged"):
            with contextlib.suppress(Exception):
                wall = float(records.read_json(d / records.SUMMARY).get("wall_seconds", float("nan")))
            with contextlib.suppress(Exception):
                env = records.read_json(d / records.ENV)
                device = env.get("cuda") or f"{env.get('device', '?')} x{env.get('cpu_count', '?')}"
        rows.append({"experiment": s["experiment"], "run_id": s["run_id"], "status": status, "path": str(d),
                     "wall_seconds": wall, "device": device})
    return pd.DataFrame(rows, columns=["experiment", "run_id", "status", "path", "wall_seconds", "device"])


def _run_hours(preset: Preset, root: Path | None = None) -> pd.DataFrame:
    """:func:`grid_status` with ``planned_s``, the cost model's seconds for each run."""
    cost = plan_table(build_plan(preset)).set_index(["experiment", "run_id"])["seconds"]
    status = grid_status(preset, root=root)
    status["planned_s"] = [cost.get((e, r), float("nan")) for e, r in zip(status.experiment, status.run_id)]
    return status


def _hours_row(g: pd.DataFrame) -> dict[str, Any]:
    done = g[g["status"].isin(["done", "diverged"])]
    planned_done = done["planned_s"].sum() / 3600
    measured = done["wall_seconds"].sum() / 3600
    return {"runs": len(g), "done": len(done), "planned_h": g["planned_s"].sum() / 3600,
            "planned_done_h": planned_done, "measured_h": measured,
            "ratio": measured / planned_done if planned_done > 0 else float("nan"),
            "device": ", ".join(sorted({str(d) for d in done["device"].dropna()}))}


def planned_vs_measured(preset: Preset, root: Path | None = None) -> pd.DataFrame:
    """Per experiment: ``runs``, ``done`` (finished, incl. diverged), ``planned_h`` (the preset's cost model,
    all runs), ``measured_h`` (recorded wall-clock hours of the finished runs), ``planned_done_h`` (the cost
    model for just the finished runs), ``ratio`` (measured / planned_done) and ``device``."""
    status = _run_hours(preset, root)
    rows = [{"experiment": exp, **_hours_row(g)} for exp, g in status.groupby("experiment", sort=False)]
    return pd.DataFrame(rows + [{"experiment": "total", **_hours_row(status)}])


def study_hours(preset: Preset, root: Path | None = None) -> pd.DataFrame:
    """Planned and measured hours per study of the preset's ``studies:`` section, beside its ``budget_h``.

    A run counts in the first study whose ``runs`` patterns (``experiment/run_id``, shell globs) it matches;
    runs no study names are summed as ``other``. Columns as :func:`planned_vs_measured`, plus ``study``,
    ``budget_h`` and ``planned_over_budget_h`` (planned - budget; > 0: the design was planned over its budget).
    """
    studies = preset.studies
    if not all(isinstance(st, Mapping) for st in studies):
        raise GridError(f"studies: a list of mappings (name, runs, budget_h), got {studies!r}")
    names = [str(st.get("name", "")) for st in studies]
    for st, name in zip(studies, names):
        runs = st.get("runs")
        if not name or name == "other" or names.count(name) > 1:
            raise GridError(f"studies: each study needs a unique name other than 'other', got {name!r}")
        if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
            raise GridError(f"studies: {name!r} needs runs: a list of experiment/run_id patterns, got {runs!r}")
    status = _run_hours(preset, root)
    keys = [f"{e}/{r}" for e, r in zip(status.experiment, status.run_id)]
    owner: list[str | None] = [None] * len(keys)
    for st, name in zip(studies, names):
        for i, key in enumerate(keys):
            if owner[i] is None and any(fnmatch.fnmatchcase(key, p) for p in st["runs"]):
                owner[i] = name
    status["study"] = [o or "other" for o in owner]
    budgets = {n: float(st["budget_h"]) if st.get("budget_h") is not None else float("nan")
               for st, n in zip(studies, names)}
    rows = []
    for name in names + (["other"] if None in owner else []):
        g = status[status["study"] == name]
        row = {"study": name, **_hours_row(g), "budget_h": budgets.get(name, float("nan"))}
        row["planned_over_budget_h"] = row["planned_h"] - row["budget_h"]
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------
# Execution
# ----------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _run_lock(path: Path) -> Iterator[bool]:
    """Non-blocking exclusive lock for one run directory (released when the process dies).

    ``path`` is ``<runs>/<preset>/<experiment>/<run_id>``; the lock file is ``<runs>/.locks/<preset>/<experiment>/
    <run_id>.lock`` (ignored by git), in the runs directory itself, so every process that writes these records
    sees it, whatever its cache directory.
    """
    *_, preset, experiment, run_id = Path(path).absolute().parts
    folder = Path(path).absolute().parents[2] / ".locks" / preset / experiment
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{run_id}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_grid(
    preset: Preset,
    experiment: str = "all",
    shard: str | tuple[int, int] | None = None,
    *,
    dry_run: bool = False,
    progress: bool = True,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, int]:
    """Train every unfinished run of the selection (this shard's part), resumably. Returns counts by outcome."""
    i, n = parse_shard(shard)
    plan = build_plan(preset, experiment)
    if not preset.runnable:
        raise GridError(preset.not_runnable_reason
                        or f"preset {preset.name!r} is for planning only; use `python -m atlas grid plan --preset {preset.name}`")
    mine = shard_runs(plan, i, n)
    base = Path(root or runs_dir())
    # Under `accelerate launch` / torchrun every process runs this loop (data parallel); only rank 0 touches
    # the run directories and logs, and locks are per launch (one launch per shard), not per process.
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if rank != 0:
        log = lambda message: None  # noqa: E731
        progress = False
    log(f"grid: preset {preset.name}, experiment {experiment}, shard {i}/{n}: {len(mine)} of {len(plan)} runs "
        f"-> records under {base / preset.name}/<experiment>/<run_id>/ ; checkpoints under {cache_dir() / 'checkpoints'}")
    if dry_run:
        log(plan_summary(plan, mine))
        return {"planned": len(mine)}
    from tqdm.auto import tqdm

    from atlas.train import train_run

    counts = {"skipped": 0, "trained": 0, "diverged": 0, "locked": 0, "blocked": 0}
    dirs = {plan.key(s): records.run_dir(preset.name, s["experiment"], s["run_id"], root) for s in mine}
    pending_children: dict[str, int] = {}
    for s in mine:
        d = dirs[plan.key(s)]
        if s.get("base_run") and (not records.is_finished(d) or is_stale(d, s)):
            pending_children[s["base_run"]] = pending_children.get(s["base_run"], 0) + 1
    bar = tqdm(mine, desc=f"grid {preset.name}/{experiment} {i}/{n}", disable=not progress, unit="run")
    t0 = time.time()
    for s in bar:
        d = dirs[plan.key(s)]
        ckpt = checkpoint_path(preset, s) if s.get("save_checkpoint") else None
        stale = records.is_finished(d) and is_stale(d, s)
        if records.is_finished(d):
            if stale:
                log(f"  {plan.key(s)}: finished under a different preset (stale) -> retraining")
            elif ckpt is not None and pending_children.get(s["run_id"]) and not ckpt.exists():
                log(f"  {plan.key(s)}: checkpoint {ckpt} missing but needed by finetunes -> retraining the base")
            else:
                counts["skipped"] += 1
                continue
        base_ckpt = None
        if s.get("base_run"):
            base_spec = next(b for b in plan.runs if b["run_id"] == s["base_run"] and b["experiment"] == "unimax")
            base_ckpt = checkpoint_path(preset, base_spec)
            if not base_ckpt.exists():
                log(f"  {plan.key(s)}: base {s['base_run']} has no checkpoint (diverged or trained elsewhere) -> skipped")
                counts["blocked"] += 1
                continue
        with (_run_lock(d) if world == 1 else contextlib.nullcontext(True)) as got:
            if not got:
                log(f"  {plan.key(s)}: being trained by another process -> skipped")
                counts["locked"] += 1
                continue
            if records.is_finished(d) and not is_stale(d, s) and not (
                    ckpt is not None and pending_children.get(s["run_id"]) and not ckpt.exists()):
                counts["skipped"] += 1  # another process finished it meanwhile
                continue
            if d.exists() and rank == 0:
                shutil.rmtree(d)  # a killed run (or a stale one, or a base whose checkpoint is gone): restart cleanly
            bar.set_postfix_str(s["run_id"], refresh=True)
            summary = train_run(s, preset, d, progress=progress, checkpoint_path=ckpt, base_checkpoint=base_ckpt)
        counts["trained"] += 1
        if summary["status"] != "done":
            counts["diverged"] += 1
        log(f"  {plan.key(s)}: {summary['status']}, {summary['wall_seconds']:.1f} s, "
            f"{summary['tokens_per_second'] or 0:,.0f} tokens/s -> {d}")
    bar.close()
    log(f"grid: {counts['trained']} trained ({counts['diverged']} diverged), {counts['skipped']} already done, "
        f"{counts['locked']} locked by another process, {counts['blocked']} blocked; {time.time() - t0:.0f} s")
    return counts
