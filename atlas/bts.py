"""Bilingual Transfer Score (BTS; paper Sec. 4, App. B.5.1) from loss curves and from run records.

Definition (paper): ``BTS_{s->t} = -(sigma_bi(L_t(d_mono)) - 2 d_mono) / d_mono = 2 - d_bi / d_mono``, where

* ``d_mono`` -- tokens of language t seen by the *monolingual* t model (its total tokens);
* ``L_t(d_mono)`` -- that model's loss on t after ``d_mono`` tokens (nats/token);
* ``d_bi = sigma_bi(L)`` -- the *total* training tokens (s and t together) at which the 50/50 (s, t)
  bilingual model first reaches loss ``L`` on t.

BTS = 0: no transfer (the bilingual model needs 2 d_mono total tokens, i.e. the same d_mono tokens of t);
BTS > 0: positive transfer (BTS = 1: an s token is worth a t token; BTS <= 2 always); BTS < 0: interference.

How curves are read (the rules the tests pin down):

* **Interpolation** is linear in log(tokens)-log(loss) between evaluations, for the monolingual loss at
  ``d_mono`` and for the bilingual crossing alike (power laws are straight lines there).
* **Never extrapolated.** ``d_mono`` outside the monolingual curve's evaluated range, or a target loss the
  bilingual curve does not reach between its first and last evaluation, gives ``bts = NaN`` with a
  ``reason``. In particular a target loss *above* the bilingual curve's first evaluation (the crossing lies
  before the first evaluation) is NaN, not "very positive".
* **Non-monotone curves.** ``sigma_bi(L)`` is the *first crossing*: the smallest token count at which the
  interpolated bilingual curve reaches ``L`` -- equivalently where its running minimum first hits ``L``. Later
  bumps back above ``L`` (evaluation noise, loss spikes) are ignored. The monolingual loss at ``d_mono`` is
  read off the interpolated curve as is (no smoothing).
* Evaluations at 0 tokens cannot be placed on a log axis and are dropped; negative token counts,
  non-positive or non-finite losses and duplicated token counts are errors.
* **Seed replicates** (run ids ``-seed<n>``, with their own baselines) are scored like any run but kept out of
  the matrix: :func:`seed_table` and :func:`score_noise` turn them into the noise floor of one score.

:func:`matrix_from_runs` builds our transfer matrix from the ``bilingual`` experiment's run records and
:func:`bts_vs_size` the BTS-vs-model-size table of the preset's scale pairs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import languages, noise, records
from atlas import paper_tables
from atlas.corpus import RECORDED_EVAL_SETS as EVAL_SETS
from atlas.presets import Preset

LOSSES = ("loss", "loss_u")
#: Default d_mono as a fraction of the monolingual baseline's token budget (see :func:`default_d_mono`).
D_MONO_FRACTION = 0.5


class BTSInputError(ValueError):
    """A malformed loss curve or a bad argument (named in the message)."""


@dataclass(frozen=True)
class BTSResult:
    """One transfer score.

    ``bts`` (dimensionless, NaN when not measurable), ``d_bi`` (total bilingual tokens, NaN when not reached),
    ``d_mono`` (monolingual tokens of the target), ``reason`` (why ``bts`` is NaN; ``None`` otherwise),
    ``target_loss`` (the monolingual loss at ``d_mono``, nats/token; NaN when ``d_mono`` is out of range).
    ``censored``: when ``bts`` is NaN because the crossing lies outside the bilingual run, which side:
    ``"below"`` (never reached: BTS < ``bound``) or ``"above"`` (reached before the first evaluation: BTS >
    ``bound``); ``None`` otherwise. ``bound`` (dimensionless) is that limit, NaN when there is none.
    """

    bts: float
    d_bi: float
    d_mono: float
    reason: str | None = None
    target_loss: float = float("nan")
    censored: str | None = None
    bound: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _few(values: np.ndarray, limit: int = 5) -> str:
    """At most ``limit`` values of a list for an error message, and how many there are in all."""
    items = np.asarray(values).tolist()
    return str(items) if len(items) <= limit else f"{items[:limit]} ... ({len(items)} in all)"


def clean_curve(tokens: Sequence[float], loss: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one loss curve and return it sorted by tokens, without 0-token points."""
    t = np.asarray(tokens, dtype=float).ravel()
    y = np.asarray(loss, dtype=float).ravel()
    if t.shape != y.shape:
        raise BTSInputError(f"{name} curve: {t.size} token values but {y.size} loss values")
    if not np.all(np.isfinite(t)):
        raise BTSInputError(f"{name} curve: non-finite token count(s) {_few(t[~np.isfinite(t)])}")
    if np.any(t < 0):
        raise BTSInputError(f"{name} curve: negative token count(s) {_few(t[t < 0])}")
    keep = t > 0
    t, y = t[keep], y[keep]
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        bad = y[~np.isfinite(y) | (y <= 0)]
        raise BTSInputError(f"{name} curve: losses must be finite and > 0 nats/token, got {_few(bad)}")
    if t.size < 2:
        raise BTSInputError(f"{name} curve: need at least 2 evaluations at > 0 tokens, got {t.size}")
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    dup = t[1:][np.diff(t) == 0]
    if dup.size:
        raise BTSInputError(f"{name} curve: duplicated token count(s) {_few(np.unique(dup))}")
    return t, y


def first_crossing(tokens: Sequence[float], loss: Sequence[float], level: float) -> float:
    """Smallest token count at which the log-log-interpolated curve first reaches ``level`` (loss <= level).

    NaN if the curve starts below ``level`` (the crossing would lie before the first evaluation; an exact hit
    at the first evaluation, to rounding, counts as reached there) or never reaches it.
    """
    t, y = clean_curve(tokens, loss, "curve")
    hits = np.flatnonzero(y <= level)
    if hits.size == 0:
        return float("nan")
    i = int(hits[0])
    if i == 0:
        # an exact hit (to rounding) at the first evaluation is inside the range; anything lower is not
        return float(t[0]) if math.isclose(y[0], level, rel_tol=1e-12) else float("nan")
    lt0, lt1 = np.log(t[i - 1]), np.log(t[i])
    ly0, ly1, ll = np.log(y[i - 1]), np.log(y[i]), np.log(level)
    frac = (ly0 - ll) / (ly0 - ly1)  # ly0 > ll >= ly1, so 0 < frac <= 1
    return float(np.exp(lt0 + frac * (lt1 - lt0)))


def bts_from_curves(
    mono_tokens: Sequence[float],
    mono_loss: Sequence[float],
    bi_tokens: Sequence[float],
    bi_loss: Sequence[float],
    d_mono: float,
) -> BTSResult:
    """BTS_{s->t} from the monolingual t curve and the bilingual (s, t) model's curve on t.

    ``mono_tokens``: tokens seen by the monolingual model; ``bi_tokens``: *total* tokens seen by the bilingual
    model; losses in nats/token on the same evaluation set of t. ``d_mono``: tokens (> 0).
    """
    mt, ml = clean_curve(mono_tokens, mono_loss, "monolingual")
    bt, bl = clean_curve(bi_tokens, bi_loss, "bilingual")
    try:
        d_mono = float(d_mono)
    except (TypeError, ValueError):
        raise BTSInputError(f"d_mono must be a number of tokens, got {d_mono!r}") from None
    if not (math.isfinite(d_mono) and d_mono > 0):
        raise BTSInputError(f"d_mono must be a finite number of tokens > 0, got {d_mono!r}")
    nan = float("nan")
    if not (mt[0] <= d_mono <= mt[-1]):
        return BTSResult(nan, nan, d_mono, (
            f"d_mono = {d_mono:.4g} tokens is outside the monolingual curve's evaluated range "
            f"[{mt[0]:.4g}, {mt[-1]:.4g}]; not extrapolated"))
    target = float(np.exp(np.interp(np.log(d_mono), np.log(mt), np.log(ml))))
    d_bi = first_crossing(bt, bl, target)
    if math.isnan(d_bi):
        if bl[0] <= target:
            side, bound = "above", 2 - bt[0] / d_mono
            reason = (f"target loss {target:.4f} is above the bilingual curve's first evaluation "
                      f"({bl[0]:.4f} at {bt[0]:.4g} tokens): d_bi < {bt[0]:.4g} lies before the observed "
                      f"range (BTS > {bound:.3g}); not extrapolated")
        else:
            side, bound = "below", 2 - bt[-1] / d_mono
            reason = (f"the bilingual curve never reaches the target loss {target:.4f} within "
                      f"{bt[-1]:.4g} tokens (best {bl.min():.4f}; BTS < {bound:.3g}); "
                      "not extrapolated")
        return BTSResult(nan, nan, d_mono, reason, target, side, float(bound))
    return BTSResult(2.0 - d_bi / d_mono, d_bi, d_mono, None, target)


# --------------------------------------------------------------------------------------------- run records


def validate_matrix_params(preset: str, eval_set: str = "bible", loss: str = "loss") -> None:
    """Check the parameters of :func:`matrix_from_runs` (and of the transfer chapter) before any work."""
    Preset.load(preset)  # a bad name fails here, naming the allowed presets
    if eval_set not in EVAL_SETS:
        raise BTSInputError(f"unknown eval_set {eval_set!r}; allowed: {', '.join(EVAL_SETS)}")
    if loss not in LOSSES:
        raise BTSInputError(f"unknown loss column {loss!r}; allowed: {', '.join(LOSSES)}")


def bilingual_available(preset: str, root: Path | None = None) -> bool:
    """True when ``runs/<preset>/bilingual`` holds at least one finished bilingual (two-language) run."""
    return any(len(records.read_json(p / records.SPEC).get("mixture") or {}) == 2
               for p in records.iter_runs(preset, "bilingual", root))


def _load_bilingual(preset: str, root: Path | None) -> list[dict[str, Any]]:
    """Finished runs of the bilingual experiment: spec, summary status and path (metrics read lazily)."""
    out = []
    for path in records.iter_runs(preset, "bilingual", root):
        spec = records.read_json(path / records.SPEC)
        summary = records.read_json(path / records.SUMMARY)
        mixture = {str(k): float(v) for k, v in (spec.get("mixture") or {}).items()}
        vocab = spec.get("vocab") or {}
        train = spec.get("train") or {}
        steps = int(spec.get("steps") or 0)
        # the BTS design (spec["bts"]) reads curves in the stable phase only: up to the step the decay starts
        stable_end = (steps - math.ceil(float(train.get("decay_fraction", 0.0)) * steps)
                      if spec.get("bts") and steps else None)
        out.append({
            "run_id": spec.get("run_id", path.name), "path": path, "mixture": mixture,
            "shape": spec.get("shape", {}).get("name"), "params": spec.get("params"),
            "vocab": (vocab.get("kind"), vocab.get("size"), vocab.get("name")),
            "tokens": float(spec.get("tokens", float("nan"))),
            "tokens_per_step": float(spec.get("batch_size", float("nan"))) * float(spec.get("seq_len", float("nan"))),
            "warmup_steps": float((spec.get("train") or {}).get("warmup_steps", 0)),
            "status": summary.get("status", "done"),
            "bts": spec.get("bts"),
            "stable_end": stable_end,
            "seed": int(spec.get("seed") or 0),
        })
    return out


def _curve(path: Path, lang: str, eval_set: str, loss: str, last_step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    m = records.main_trajectory(pd.read_csv(path / records.METRICS))
    if last_step is not None and "step" in m:  # stable phase only (the BTS design)
        m = m[m["step"] <= last_step]
    missing = {"tokens", "eval_lang", "eval_set", loss} - set(m.columns)
    if missing:
        raise BTSInputError(f"{path / records.METRICS}: missing column(s) {sorted(missing)}")
    sub = m[(m["eval_lang"] == lang) & (m["eval_set"] == eval_set)].sort_values("tokens")
    return sub["tokens"].to_numpy(float), sub[loss].to_numpy(float)


def default_d_mono(baseline_tokens: float, fraction: float = D_MONO_FRACTION) -> float:
    """Default d_mono: ``fraction`` (0.5) of the monolingual baseline's token budget.

    Why 0.5: bilingual runs train 2x the baseline's tokens, so with no transfer d_bi = 2 d_mono = the
    baseline budget, i.e. the middle of the bilingual run; d_bi stays inside the observed range for any
    BTS >= -2 (d_bi <= 4 d_mono = 2x baseline budget). Both losses are then read in the stable phase of the
    WSD schedule (the last 10% decays), for any BTS >= -1.6 -- comparing a stable-phase monolingual loss with
    an end-of-decay bilingual loss would credit the learning-rate decay to transfer.
    """
    return float(fraction) * float(baseline_tokens)


def _same_budget(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1.0)


def _directions(runs: list[dict[str, Any]], shape: str | None) -> list[tuple[dict, str, str, dict | None]]:
    """(bilingual run, source, target, baseline or None) for every direction of every 50/50 run.

    With the BTS design (``spec["bts"]``, :func:`atlas.grid._transfer_bilingual`) the baseline is the run the
    spec names (same verse half and seed). Otherwise the baseline for target t is the finished run whose mixture is {t: 1} with the same shape name, vocabulary
    (kind, size, name) and half the bilingual run's tokens (the BTS design: the bilingual model trains on
    twice the baseline's tokens, so both learning-rate schedules cover the same d_mono range).
    """
    baselines: dict[tuple, list[dict]] = {}
    for r in runs:
        if len(r["mixture"]) == 1:
            baselines.setdefault((next(iter(r["mixture"])), r["shape"], r["vocab"]), []).append(r)
    by_id = {r["run_id"]: r for r in runs}
    out = []
    for r in runs:
        mix = r["mixture"]
        if len(mix) != 2 or (shape is not None and r["shape"] != shape):
            continue
        if not all(abs(w - 0.5) < 1e-6 for w in mix.values()):
            continue  # not a 50/50 mixture: not a BTS run
        a, b = sorted(mix)
        for src, tgt in ((a, b), (b, a)):
            if r.get("bts"):  # the design names each target's baseline (same verse half, same seed)
                out.append((r, src, tgt, by_id.get(r["bts"]["baselines"][tgt].split("/", 1)[1])))
                continue
            same = [x for x in baselines.get((tgt, r["shape"], r["vocab"]), [])
                    if _same_budget(x["tokens"], r["tokens"] / 2)]
            out.append((r, src, tgt, same[0] if same else None))
    return out


def _cached_curve(cache: dict, run: dict, lang: str, eval_set: str, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_curve` of ``run`` on ``lang``, read once per ``cache`` (keyed by run id and language)."""
    if (run["run_id"], lang) not in cache:
        cache[(run["run_id"], lang)] = _curve(run["path"], lang, eval_set, loss, run.get("stable_end"))
    return cache[(run["run_id"], lang)]


def _score(r: dict, t: str, base: dict | None, d_mono: float | None, eval_set: str, loss: str,
           cache: dict | None = None) -> BTSResult:
    """BTS of one direction (the bilingual run ``r`` scored on ``t`` against ``base``)."""
    nan = float("nan")
    if base is None:
        return BTSResult(nan, nan, d_mono or nan, f"no monolingual baseline for {t} with shape {r['shape']!r}, "
                         f"vocabulary (kind, size, name) = {r['vocab']!r} and {r['tokens'] / 2:,.0f} tokens "
                         "(half the bilingual run's)")
    if r["status"] != "done" or base["status"] != "done":
        return BTSResult(nan, nan, d_mono or nan, "a run diverged "
                         f"({r['run_id']}: {r['status']}, {base['run_id']}: {base['status']})")
    if d_mono is None and r.get("bts"):
        d_mono = float(r["bts"]["d_mono"])  # the design's horizon (tokens per parameter), not a budget fraction
    dm = d_mono if d_mono is not None else default_d_mono(base["tokens"])
    cache = {} if cache is None else cache
    mt, ml = _cached_curve(cache, base, t, eval_set, loss)
    bt, bl = _cached_curve(cache, r, t, eval_set, loss)
    if mt.size == 0 or bt.size == 0:
        return BTSResult(nan, nan, dm, f"no {eval_set!r} evaluations of {t} in "
                         f"{base['run_id'] if mt.size == 0 else r['run_id']}")
    try:
        return bts_from_curves(mt, ml, bt, bl, dm)
    except BTSInputError as exc:  # a malformed record: report it in the cell, keep the matrix
        return BTSResult(nan, nan, dm, f"malformed metrics ({r['run_id']} / {base['run_id']}): {exc}")


_TABLE_COLS = ["source", "target", "shape", "params", "budget", "horizon", "bts", "d_bi", "d_mono", "steps_mono",
               "warmup_steps", "target_loss", "reason", "censored", "bound", "run_id", "baseline_run_id",
               "bi_tokens", "mono_tokens", "seed", "replicate", "primary_run_id", "experiment"]


def horizon(r: dict) -> str:
    """What a bilingual run's training length was fixed by, as a label that groups runs of one design:
    ``"20 tokens/param"`` for the BTS design (d_mono = tokens per parameter x N, so shapes differ in budget),
    else ``"40,000 tokens/language"`` (the budget of the older design, equal across shapes)."""
    if r.get("bts") and r.get("params"):
        return f"{round(float(r['bts']['d_mono']) / float(r['params']), 1):g} tokens/param"
    return f"{r['tokens'] / 2:,.0f} tokens/language"


def _row(r: dict, s: str, t: str, base: dict | None, res: BTSResult) -> dict[str, Any]:
    return {"source": s, "target": t, "shape": r["shape"], "params": r["params"], "budget": r["tokens"] / 2,
            "horizon": horizon(r), "bts": res.bts, "d_bi": res.d_bi, "d_mono": res.d_mono,
            "steps_mono": res.d_mono / base["tokens_per_step"] if base else float("nan"),
            "warmup_steps": base["warmup_steps"] if base else float("nan"),
            "target_loss": res.target_loss, "reason": res.reason, "censored": res.censored, "bound": res.bound,
            "run_id": r["run_id"], "baseline_run_id": base["run_id"] if base else None, "bi_tokens": r["tokens"],
            "mono_tokens": base["tokens"] if base else float("nan"), "seed": r.get("seed", 0),
            "replicate": bool(noise.is_replicate(pd.Series([r["run_id"]]))[0]),
            "primary_run_id": noise.replicate_key(r["run_id"]), "experiment": "bilingual"}


def _bilingual_runs(preset: str, shape: str | None, root: Path | None) -> list[dict[str, Any]]:
    runs = _load_bilingual(preset, root)
    if not any(len(r["mixture"]) == 2 for r in runs):
        base = Path(root or records.runs_dir()) / preset / "bilingual"
        raise BTSInputError(f"no finished bilingual runs under {base}; "
                            f"generate them with: python -m atlas grid run --preset {preset} --experiment bilingual")
    shapes = sorted({r["shape"] for r in runs if len(r["mixture"]) == 2})
    if shape is not None and shape not in shapes:
        raise BTSInputError(f"no bilingual runs of shape {shape!r} in preset {preset!r}; shapes: {', '.join(shapes)}")
    return runs


def bts_table(
    preset: str,
    shape: str | None = None,
    eval_set: str = "bible",
    d_mono: float | None = None,
    loss: str = "loss",
    root: Path | None = None,
) -> pd.DataFrame:
    """One row per (bilingual run, direction): every BTS_{s->t} the ``bilingual`` experiment supports.

    Bilingual runs are the finished runs whose spec mixture has two languages at 0.5 each; both directions
    come from the same run (s->t is scored on t, t->s on s). The monolingual baseline for target t is the
    finished run of the same experiment whose mixture is {t: 1} with the same shape name and vocabulary
    (kind, size and name) and half the bilingual run's tokens.
    Mixtures and shapes are read from ``spec.json`` (run ids are never parsed). ``shape=None``: all shapes.
    ``d_mono=None``: :func:`default_d_mono` of each baseline's budget.

    Columns: ``source, target, shape, params, budget`` (tokens per language of the bilingual run = the
    baseline's tokens), ``bts, d_bi, d_mono, steps_mono`` (optimiser steps of the baseline at d_mono),
    ``warmup_steps`` (the baseline's learning-rate warmup),
    ``target_loss, reason, run_id, baseline_run_id, bi_tokens, mono_tokens`` (token counts are totals per run).
    """
    validate_matrix_params(preset, eval_set, loss)
    if d_mono is not None and not (isinstance(d_mono, numbers.Real) and math.isfinite(d_mono) and d_mono > 0):
        raise BTSInputError(f"d_mono must be a number of tokens > 0 (or None for the default), got {d_mono!r}")
    runs = _bilingual_runs(preset, shape, root)
    cache: dict = {}
    rows = [_row(r, s, t, base, _score(r, t, base, d_mono, eval_set, loss, cache))
            for r, s, t, base in _directions(runs, shape)]
    return pd.DataFrame(rows, columns=_TABLE_COLS).sort_values(["shape", "budget", "target", "source"],
                                                               ignore_index=True)


#: d_mono values of the training-length sweep: 12,500 tokens x powers of two (plus each budget's default).
SWEEP_BASE_TOKENS = 12_500


def sweep_d_monos(budget: float, first_eval: float = 0.0, top: float | None = None) -> list[float]:
    """d_mono values (tokens) for a baseline of ``budget`` tokens: 12,500 x 2^k from ``first_eval`` up to
    ``top`` and ``top`` itself. ``top=None``: the default d_mono (half the budget, which keeps both losses in
    the stable phase of the WSD schedule); the BTS design passes its own d_mono (``spec["bts"]["d_mono"]``)."""
    top = default_d_mono(budget) if top is None else float(top)
    out = {top}
    d = float(SWEEP_BASE_TOKENS)
    while d < top:
        if d >= first_eval:
            out.add(d)
        d *= 2
    return sorted(out)


def bts_sweep(
    preset: str,
    shape: str | None = None,
    eval_set: str = "bible",
    loss: str = "loss",
    d_monos: Sequence[float] | None = None,
    root: Path | None = None,
    replicates: bool = False,
) -> pd.DataFrame:
    """BTS of every direction at several d_mono (how the score depends on how long the models trained).

    ``d_monos=None``: :func:`sweep_d_monos` of each baseline's budget (from its first evaluation, up to the
    design's d_mono for runs of the BTS design). One row per (direction, budget, d_mono) with the columns of
    :func:`bts_table`; out-of-range values are NaN with a reason, never extrapolated. ``replicates``: keep the
    seed replicates' rows (default: primary runs only, one curve per direction).
    """
    validate_matrix_params(preset, eval_set, loss)
    if d_monos is not None:
        bad = [d for d in d_monos if not (isinstance(d, numbers.Real) and math.isfinite(d) and d > 0)]
        if bad or not len(d_monos):
            raise BTSInputError(f"d_monos must be a non-empty list of token counts > 0, got {list(d_monos)!r}")
    runs = _bilingual_runs(preset, shape, root)
    cache: dict = {}
    rows = []
    for r, s, t, base in _directions(runs, shape):
        if not replicates and noise.is_replicate(pd.Series([r["run_id"]]))[0]:
            continue  # a seed replicate is noise, not a second curve of the direction
        if base is None:
            grid = list(d_monos or [float("nan")])
        elif d_monos is not None:
            grid = list(d_monos)
        else:
            tok = _cached_curve(cache, base, t, eval_set, loss)[0]
            first = float(tok[tok > 0].min()) if (tok > 0).any() else 0.0
            grid = sweep_d_monos(base["tokens"], first, top=(r.get("bts") or {}).get("d_mono"))
        for dm in grid:
            res = _score(r, t, base, None if base is None else dm, eval_set, loss, cache)
            rows.append(_row(r, s, t, base, res))
    return pd.DataFrame(rows, columns=_TABLE_COLS).sort_values(
        ["shape", "budget", "target", "source", "d_mono"], ignore_index=True)


def sweep_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (shape, budget, d_mono): ``n`` finite scores, ``median``, ``q25``, ``q75``, ``share_negative``,
    ``steps_mono`` (optimiser steps of the baselines at d_mono)."""
    g = sweep[np.isfinite(sweep["bts"])].groupby(["shape", "budget", "d_mono"])
    out = g.agg(n=("bts", "size"), median=("bts", "median"), q25=("bts", lambda x: x.quantile(0.25)),
                q75=("bts", lambda x: x.quantile(0.75)), share_negative=("bts", lambda x: float((x < 0).mean())),
                steps_mono=("steps_mono", "median"))
    return out.reset_index()


def training_length_pairs(sweep: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``sweep`` whose direction was trained with more than one budget at the same shape."""
    n = sweep.groupby(["source", "target", "shape"])["budget"].transform("nunique")
    return sweep[n > 1].reset_index(drop=True)


def training_trend(sweep: pd.DataFrame, past_warmup: bool = True) -> pd.DataFrame:
    """Per (direction, shape, budget) of a sweep: how BTS moves as d_mono grows.

    ``past_warmup``: only d_mono at or after the baseline's warmup (inside the warmup both models are still
    ramping their learning rate). Columns: ``source, target, shape, budget, n`` (finite scores),
    ``d_mono_first, d_mono_last`` (tokens), ``bts_first, bts_last``, ``slope_per_doubling`` (least-squares
    change of BTS per doubling of d_mono; NaN with fewer than 2 scores).
    """
    rows = []
    ok = np.isfinite(sweep["bts"])
    if past_warmup:
        ok &= sweep["steps_mono"] >= sweep["warmup_steps"]
    for (s, t, shape, budget), g in sweep[ok].groupby(["source", "target", "shape", "budget"], sort=True):
        g = g.sort_values("d_mono")
        slope = float(np.polyfit(np.log2(g["d_mono"].astype(float)), g["bts"], 1)[0]) if len(g) >= 2 else float("nan")
        rows.append({"source": s, "target": t, "shape": shape, "budget": budget, "n": len(g),
                     "d_mono_first": float(g["d_mono"].iloc[0]), "d_mono_last": float(g["d_mono"].iloc[-1]),
                     "bts_first": float(g["bts"].iloc[0]), "bts_last": float(g["bts"].iloc[-1]),
                     "slope_per_doubling": slope})
    cols = ["source", "target", "shape", "budget", "n", "d_mono_first", "d_mono_last", "bts_first", "bts_last",
            "slope_per_doubling"]
    return pd.DataFrame(rows, columns=cols)


def _main_group(table: pd.DataFrame, preset: str, shape: str | None = None) -> tuple[str, float]:
    """(shape, budget) with the most bilingual pairs -- the preset's matrix; other groups hold only the scale
    pairs or the longer-trained pairs. A tie goes to the preset's ``experiments.bilingual.shape`` and the
    smaller budget."""
    sub = table if shape is None else table[table["shape"] == shape]
    if "replicate" in sub:
        sub = sub[~sub["replicate"].astype(bool)]  # seed replicates are not extra pairs
    pairs = sub.drop_duplicates("run_id").groupby(["shape", "budget"]).size()
    best = pairs[pairs == pairs.max()]
    if len(best) > 1 and best.index.get_level_values("shape").nunique() > 1:
        blocks = Preset.load(preset).experiments.get("bilingual") or {}
        blocks = blocks if isinstance(blocks, list) else [blocks]
        configured = {b.get("shape") for b in blocks if isinstance(b, dict)}
        keep = [i for i in best.index if i[0] in configured]
        if len({i[0] for i in keep}) != 1:
            raise BTSInputError(f"several shapes have {pairs.max()} bilingual pairs each "
                                f"({', '.join(sorted({i[0] for i in best.index}))}); pass shape=")
        best = best.loc[keep]
    shape_, budget = min(best.index, key=lambda i: i[1])
    return str(shape_), float(budget)


def matrix_from_runs(
    preset: str,
    shape: str | None = None,
    eval_set: str = "bible",
    d_mono: float | None = None,
    loss: str = "loss",
    root: Path | None = None,
    censored_at_bound: bool = False,
) -> pd.DataFrame:
    """Our transfer matrix: rows = target, columns = source (ISO 639-3), cell = BTS_{source->target}.

    The matrix is the (shape, budget) group with the most bilingual pairs (the preset's matrix; other groups
    hold only the scale pairs or the longer-trained pairs); ``shape`` restricts the choice to one shape. Seed
    replicates (run ids ``-seed<n>``) stay out: each cell is the primary run's score (:func:`seed_table`). The
    diagonal and unmeasured cells are NaN; ``frame.attrs`` carries ``shape``, ``budget`` (tokens per
    language), ``eval_set``, ``loss`` and ``reasons`` ({(target, source): why NaN}). See :func:`bts_table`.
    ``censored_at_bound``: a direction whose bilingual run never reached the target loss enters at the bound
    of its score (its rank is then still right) instead of NaN; ``attrs["n_censored_at_bound"]`` counts them.
    """
    table = bts_table(preset, shape=shape, eval_set=eval_set, d_mono=d_mono, loss=loss, root=root)
    shape, budget = _main_group(table, preset, shape)
    sub = table[(table["shape"] == shape) & (table["budget"] == budget) & ~table["replicate"].astype(bool)]
    langs = sorted(set(sub["source"]) | set(sub["target"]))
    at_bound = (censored_at_bound & sub["censored"].eq("below") & ~np.isfinite(sub["bts"].astype(float))
                & np.isfinite(sub["bound"].astype(float)))
    sub = sub.assign(bts=np.where(at_bound, sub["bound"], sub["bts"]))
    matrix = sub.pivot(index="target", columns="source", values="bts").reindex(index=langs, columns=langs)
    matrix.index.name, matrix.columns.name = "target", "source"
    matrix = matrix.astype(float)
    matrix.attrs.update(shape=shape, budget=budget, eval_set=eval_set, loss=loss, preset=preset,
                        reasons={(r.target, r.source): r.reason for r in sub.itertuples() if r.reason},
                        n_censored_at_bound=int(at_bound.sum()))
    return matrix


def bts_vs_size(
    preset: str,
    eval_set: str = "bible",
    d_mono: float | None = None,
    loss: str = "loss",
    root: Path | None = None,
) -> pd.DataFrame:
    """BTS against model size for the scale pairs: every bilingual pair trained at more than one shape.

    One row per (direction, shape) of one :func:`horizon` (a common budget in the older design, a common
    number of tokens per parameter in the BTS design), primary runs only, sorted by pair then parameters:
    ``source, target, shape, params, budget, horizon, bts, d_bi, d_mono, reason`` (paper App. C.2 / Fig. C.1:
    scores rise modestly with N).
    """
    table = bts_table(preset, eval_set=eval_set, d_mono=d_mono, loss=loss, root=root)
    table = table[~table["replicate"].astype(bool)]
    n_shapes = table.groupby(["source", "target", "horizon"])["shape"].transform("nunique")
    out = table[n_shapes > 1]
    cols = ["source", "target", "shape", "params", "budget", "horizon", "bts", "d_bi", "d_mono", "reason"]
    return out[cols].sort_values(["source", "target", "horizon", "params"], ignore_index=True)


# ------------------------------------------------------------------------------------------ seed noise


def seed_table(table: pd.DataFrame) -> pd.DataFrame:
    """The directions scored by more than one seed (a primary run and its ``-seed<n>`` replicates).

    ``table``: :func:`bts_table` rows. One row per replicated direction: ``source, target, shape, horizon,
    primary_run_id, n_seeds`` (finite scores), ``seeds`` (the training seeds), ``bts_primary`` (the matrix's
    value), ``bts_mean``, ``sd`` (ddof 1, dimensionless; NaN with fewer than 2 finite scores) and ``range``
    (max - min).
    """
    cols = ["source", "target", "shape", "horizon", "primary_run_id", "n_seeds", "seeds", "bts_primary",
            "bts_mean", "sd", "range"]
    if table.empty or "replicate" not in table:
        return pd.DataFrame(columns=cols)
    keys = ["source", "target", "shape", "horizon", "primary_run_id"]
    rows = []
    for key, g in table.groupby(keys, sort=True):
        if not g["replicate"].astype(bool).any() or (~g["replicate"].astype(bool)).sum() != 1:
            continue  # no replicate, or a replicate whose primary run is missing: no spread to read
        v = g["bts"].to_numpy(float)
        ok = v[np.isfinite(v)]
        rows.append({**dict(zip(keys, key)), "n_seeds": int(ok.size), "seeds": sorted(int(x) for x in g["seed"]),
                     "bts_primary": float(g.loc[~g["replicate"].astype(bool), "bts"].iloc[0]),
                     "bts_mean": float(ok.mean()) if ok.size else float("nan"),
                     "sd": float(np.std(ok, ddof=1)) if ok.size >= 2 else float("nan"),
                     "range": float(np.ptp(ok)) if ok.size >= 2 else float("nan")})
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class ScoreNoise:
    """The seed noise of one transfer score, pooled over the replicated directions.

    ``sd``: sqrt of the mean within-direction variance (dimensionless; NaN without a replicated direction);
    ``n_directions``: directions with 2+ finite scores; ``dof``: degrees of freedom of the pooled variance
    (sum of seeds - 1); ``largest``: the largest single-direction s.d.
    """

    sd: float
    n_directions: int
    dof: int
    largest: float

    def describe(self) -> str:
        if not self.n_directions:
            return "no seed replicates: the seed noise of a score is unknown"
        return (f"seed s.d. of one score {self.sd:.3f} (pooled over {self.n_directions} directions, {self.dof} "
                f"degrees of freedom; largest single direction {self.largest:.3f})")


def score_noise(table: pd.DataFrame) -> ScoreNoise:
    """:class:`ScoreNoise` of :func:`bts_table` rows: the within-direction variance of BTS over seeds, pooled."""
    seeds = seed_table(table)
    seeds = seeds[np.isfinite(seeds["sd"].astype(float))] if len(seeds) else seeds
    if seeds.empty:
        return ScoreNoise(float("nan"), 0, 0, float("nan"))
    dof = (seeds["n_seeds"] - 1).astype(int)
    pooled = float(np.sqrt(np.sum(dof * seeds["sd"].astype(float) ** 2) / dof.sum()))
    return ScoreNoise(pooled, len(seeds), int(dof.sum()), float(seeds["sd"].max()))


def main_cells(table: pd.DataFrame, preset: str) -> pd.DataFrame:
    """The rows of :func:`bts_table` that form the preset's matrix (its (shape, budget) group), seed replicates
    included: the table :func:`atlas.noise.seed_variants` swaps replicates into."""
    shape, budget = _main_group(table, preset)
    return table[(table["shape"] == shape) & (table["budget"] == budget)].reset_index(drop=True)


def matrix_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """Rows = target, columns = source from :func:`bts_table` rows of one (shape, budget) group (primary runs,
    or one :func:`atlas.noise.seed_variants` table): the matrix :func:`matrix_from_runs` builds, for a seed
    variant."""
    sub = table[~noise.is_replicate(table["run_id"])]  # by run id: a seed variant renames its swapped rows
    langs = sorted(set(sub["source"]) | set(sub["target"]))
    m = sub.pivot(index="target", columns="source", values="bts").reindex(index=langs, columns=langs).astype(float)
    m.index.name, m.columns.name = "target", "source"
    return m


# ------------------------------------------------------------------------------------------ chapter helpers


def compare_with_paper(matrix: pd.DataFrame, which: str = "38x38") -> pd.DataFrame:
    """Cells scored both by us and by the paper: ``source, target, ours, paper, measured`` (``measured``:
    the cell lies in the paper's directly measured 9x9 block, the rest are the paper's estimates)."""
    paper = paper_tables.transfer_matrix(which)
    block = set(paper_tables.measured_block())
    rows = []
    for t in matrix.index:
        for s in matrix.columns:
            ti, si = languages.resolve(t), languages.resolve(s)
            if ti == si or ti not in paper.index or si not in paper.columns:
                continue
            ours = float(matrix.loc[t, s])
            if np.isfinite(ours):
                rows.append({"source": si, "target": ti, "ours": ours, "paper": float(paper.loc[ti, si]) + 0.0,
                             "measured": ti in block and si in block})
    return pd.DataFrame(rows, columns=["source", "target", "ours", "paper", "measured"])


def size_trend(size_table: pd.DataFrame) -> pd.DataFrame:
    """Per scale-pair direction (and :func:`horizon`, when the table has one): ``n_shapes``, BTS at the smallest
    and largest model, and ``slope`` = least-squares change of BTS per decade of parameters (finite scores
    only; NaN with fewer than 2)."""
    rows = []
    group = "horizon" if "horizon" in size_table else "budget" if "budget" in size_table else None
    keys = ["source", "target"] + ([group] if group else [])
    for key, g in size_table.groupby(keys, sort=True):
        s, t = key[0], key[1]
        g = g[np.isfinite(g["bts"])].sort_values("params")
        slope = float(np.polyfit(np.log10(g["params"].astype(float)), g["bts"], 1)[0]) if len(g) >= 2 else float("nan")
        rows.append({"source": s, "target": t, "n_shapes": len(g),
                     "params_min": g["params"].min() if len(g) else np.nan,
                     "params_max": g["params"].max() if len(g) else np.nan,
                     "bts_smallest": float(g["bts"].iloc[0]) if len(g) else np.nan,
                     "bts_largest": float(g["bts"].iloc[-1]) if len(g) else np.nan, "slope_per_decade": slope})
    return pd.DataFrame(rows)


def pair_curves(
    preset: str,
    source: str,
    target: str,
    shape: str | None = None,
    eval_set: str = "bible",
    loss: str = "loss",
    root: Path | None = None,
    budget: float | None = None,
) -> pd.DataFrame:
    """The two curves behind BTS_{source->target}: ``model`` (``monolingual`` | ``bilingual``), ``tokens``
    (total tokens of that model), ``loss`` (nats/token on ``target``'s ``eval_set``). For figures.
    ``budget`` (tokens per language) picks among runs of the pair trained for different lengths
    (default: the smallest)."""
    validate_matrix_params(preset, eval_set, loss)
    s, t = languages.resolve(source), languages.resolve(target)
    table = bts_table(preset, shape=shape, eval_set=eval_set, loss=loss, root=root)
    row = table[(table["source"] == s) & (table["target"] == t)]
    if budget is not None:
        row = row[[_same_budget(b, budget) for b in row["budget"]]]
    row = row.sort_values(["replicate", "budget"])  # the primary run before its seed replicates
    if row.empty:
        raise BTSInputError(f"no bilingual run for {s}->{t}" + (f" with shape {shape!r}" if shape else ""))
    row = row.iloc[0]
    runs = {r["run_id"]: r for r in _load_bilingual(preset, root)}
    frames = []
    for model, run_id in (("monolingual", row["baseline_run_id"]), ("bilingual", row["run_id"])):
        if run_id is None:
            continue
        run = runs[run_id]
        tok, val = _curve(run["path"], t, eval_set, loss, run.get("stable_end"))  # the part BTS reads
        frames.append(pd.DataFrame({"model": model, "tokens": tok, "loss": val}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(bts=row["bts"], d_bi=row["d_bi"], d_mono=row["d_mono"], target_loss=row["target_loss"],
                     shape=row["shape"])
    return out
