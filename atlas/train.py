"""Train one run: an ``accelerate`` loop with AdamW and a WSD schedule, writing the run's records.

A *run spec* (built by :mod:`atlas.grid`) says what to train: ``shape``, ``vocab`` kind, training
``languages`` and their ``mixture`` (or ``sampling.kind = unimax``), a token budget ``tokens``, ``seq_len``,
``batch_size`` (sequences per optimiser step, global over processes), ``seed``, the ``train`` settings
and the evaluation languages ``eval_langs``. :func:`train_run` turns it into records (the contract of
:mod:`atlas.records`):

1. ``spec.json`` and ``env.json`` (the plan spec completed with the tokenizer's name and size, the mixture,
   the unique tokens U per language, steps) -- written first;
2. ``metrics.csv`` -- rewritten atomically after every evaluation; evaluations happen at ``train.n_evals``
   log-spaced step counts (the last one at the end of training) on the held-out Bible books and FLORES-200
   devtest of every evaluation language, recording ``loss`` (cross-entropy) and ``loss_u`` (the
   unigram-normalised loss of Tao et al. 2024), both in nats/token;
   ``decayed`` marks the rows of a model whose learning rate has been decayed to the floor: the main run's
   last evaluation and, with ``spec["cooldown"]``, the cooldown branches (below). Only decayed rows are data
   points of a scaling law; the others show the stable phase;
3. ``summary.json`` -- written last: ``status`` (``done`` or ``diverged``), final losses, wall seconds and
   training tokens per second.

Token counts: ``tokens`` in metrics.csv counts the training tokens of *this* run (for a finetune: tokens of
continued pretraining, not including the base's ``base_tokens``, which the spec records); tokens of
language l = ``mixture[l] * tokens`` to within one sequence.

Schedule (WSD, Table B.2): linear warm-up over ``warmup_steps``, constant, then linear decay to zero over
the last ``decay_fraction`` of the steps. With ``spec["cooldown"] = {"points", "decades", "fraction"}`` (Hagele et al. 2024) the run also yields decayed
models at ``points`` log-spaced budgets: at each budget's cooldown start the model, optimiser and sampler are
copied, the copy is decayed over ``fraction`` of the budget on the same batches the main run will see,
evaluated (rows with ``decayed = True`` at that budget) and discarded; the main run continues untouched
(:func:`atlas.train_config.cooldown_branches`). Finetunes (continued pretraining) load a base checkpoint and start
a fresh optimiser and a fresh schedule. Checkpoints are written only when asked (bases), under
``cache_dir()/checkpoints`` -- never under ``runs/``.

Determinism: on CPU, two runs with the same spec produce bit-identical losses (seeded initialisation,
seeded deterministic sampler, fixed reduction order). On GPUs, ``accelerate launch`` splits every global
batch across processes (rows ``rank::world``), so the token accounting is the same at any scale.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from atlas import records
from atlas.metrics import mean_unigram_log_prob
from atlas.model import Transformer, param_count
from atlas.presets import Preset
from atlas.train_config import (  # the rules a run is trained with (torch-free, re-exported here)
    PAPER_TABLE_B2,
    TRAIN_DEFAULTS,
    TrainError,
    cooldown_branches,
    eval_steps,
    hyperparameter_table,
    spec_hash,
    train_settings,
    wsd_lr,
)

__all__ = ["METRIC_COLUMNS", "PAPER_TABLE_B2", "TRAIN_DEFAULTS", "TrainError", "cooldown_branches", "eval_steps",
           "hyperparameter_table",
           "spec_hash", "train_run", "train_settings", "wsd_lr"]

METRIC_COLUMNS = ["step", "tokens", "eval_lang", "eval_set", "loss", "loss_u", "lr", "train_loss", "decayed"]


# ----------------------------------------------------------------------------------------------------------
# Data for one run
# ----------------------------------------------------------------------------------------------------------


@dataclass
class EvalSet:
    """One (language, evaluation set): windows of ``seq_len`` inputs/targets and the unigram correction."""

    lang: str
    name: str
    inputs: torch.Tensor  # (sequences, seq_len) int64
    targets: torch.Tensor  # (sequences, seq_len) int64
    mean_log_unigram: float  # (1/T) sum log p(w_i) over the targets, nats


@dataclass
class RunData:
    tokenizer: Any
    streams: dict[str, np.ndarray]
    mixture: dict[str, float]
    unique_tokens: dict[str, int]
    evals: list[EvalSet] = field(default_factory=list)


def _windows(stream: np.ndarray, seq_len: int, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping next-token windows covering the first ``max_tokens`` targets of ``stream``
    (:func:`atlas.sampling.eval_windows`, as tensors)."""
    from atlas import sampling

    if len(stream) < 2:
        raise TrainError("an evaluation stream has fewer than 2 tokens")
    x, y = sampling.eval_windows(stream, seq_len, max_tokens)
    return torch.from_numpy(x), torch.from_numpy(y)


def prepare_data(spec: Mapping[str, Any], preset: Preset) -> RunData:
    """Tokenizer, training streams (disjoint verse shares for mixtures), mixture weights and evaluation sets."""
    from atlas import sampling
    from atlas.tokenizer import get_tokenizer

    langs = list(spec["languages"])
    kind = spec["vocab"]["kind"]
    tok = get_tokenizer(preset, kind, langs[0] if kind == "mono" else None)
    plan = sampling.split_plan(preset)
    partition = spec.get("sampling", {}).get("partition", "disjoint")
    parallel = partition == "parallel"
    if partition == "slots":  # fixed verse slots: a language's unique text is the same in every mixture
        sp = spec["sampling"]
        slots = sampling.slot_refs(plan.train_refs(sp["pool"]), int(sp["n_slots"]), int(sp["slot_seed"]))
        shares = {lang: slots[int(sp["slots"][lang])] for lang in langs}
    elif len(langs) > 1:
        shares = sampling.partition_refs(plan.train_refs(langs), langs, parallel=parallel, seed=int(spec["seed"]))
    else:
        shares = {langs[0]: None}
    streams, unique = {}, {}
    for lang in langs:
        ld = sampling.language_data(preset, lang, tok, refs=shares[lang])
        streams[lang], unique[lang] = ld.train, int(ld.unique_tokens)
    if spec.get("sampling", {}).get("kind") == "unimax":
        mixture = sampling.unimax_weights(unique, float(spec["tokens"]), float(spec["sampling"]["max_epochs"]))
    else:
        mixture = {k: float(v) for k, v in spec["mixture"].items()}
    eval_tokens = int(preset.data.get("eval_tokens", 8192))
    evals = []
    for lang in spec["eval_langs"]:
        ld = sampling.language_data(preset, lang, tok)
        log_p = sampling.unigram_log_probs([ld.train], tok.vocab_size)
        for name in plan.eval_sets:
            if name not in ld.test or len(ld.test[name]) < 2:
                continue
            x, y = _windows(ld.test[name], int(spec["seq_len"]), eval_tokens)
            evals.append(EvalSet(lang, name, x, y, mean_unigram_log_prob(y, log_p)))
    return RunData(tok, streams, mixture, unique, evals)


# ----------------------------------------------------------------------------------------------------------
# Checkpoints (cache_dir()/checkpoints, never runs/)
# ----------------------------------------------------------------------------------------------------------


def save_checkpoint(path: Path, model: Transformer, spec: Mapping[str, Any]) -> None:
    """Model weights plus the facts a finetune must match (shape, vocabulary), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"state_dict": model.state_dict(), "shape": dict(spec["shape"]), "vocab": dict(spec["vocab"]),
                "run_id": spec["run_id"], "tokens": int(spec["tokens_trained"])}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, model: Transformer, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Load a base checkpoint into ``model``; its shape and vocabulary must equal the spec's."""
    path = Path(path)
    if not path.exists():
        raise TrainError(f"base checkpoint {path} does not exist (train the base run first)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt["shape"] != dict(spec["shape"]) or ckpt["vocab"]["name"] != spec["vocab"]["name"]:
        raise TrainError(f"base checkpoint {path} has shape/vocab {ckpt['shape']}/{ckpt['vocab']['name']}, "
                         f"the finetune needs {dict(spec['shape'])}/{spec['vocab']['name']}")
    model.load_state_dict(ckpt["state_dict"])
    return ckpt


# ----------------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: Transformer, ev: EvalSet, batch_size: int, device: torch.device, autocast) -> tuple[float, float]:
    """(loss, loss_u) in nats/token on one evaluation set."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(ev.inputs), batch_size):
        x, y = ev.inputs[i : i + batch_size].to(device), ev.targets[i : i + batch_size].to(device)
        with autocast():
            loss = model(x, y)
        total += float(loss) * y.numel()
        count += y.numel()
    model.train(was_training)
    ce = total / count
    return ce, ce + ev.mean_log_unigram


def _adamw(model: Transformer, settings: Mapping[str, Any]) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices only (norm gains and other vectors are not decayed)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings["lr"], betas=tuple(settings["betas"]), foreach=True,
    )


def _metrics_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The metrics table in step order; at one step the main run's (undecayed) row precedes the branch's."""
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return frame.sort_values(["step", "decayed"], kind="stable").reset_index(drop=True)


def _cooldown_branch(model: Transformer, optimizer: Any, sampler: Any, data: RunData, start: int, end: int,
                     settings: Mapping[str, Any], acc: Any, tokens_per_step: int,
                     diverge_above: float = math.inf) -> list[dict[str, Any]]:
    """Decay a copy of the stable-phase state from step ``start`` to ``end``, evaluate it, and discard it.

    The copy gets its own optimiser state and sampler (the same batches the main run will draw next), and the
    torch RNG is restored afterwards, so the main run's trajectory is bit-identical with or without branches.
    Returns the evaluation rows (``decayed = True``) of the model trained on ``end`` steps; a branch whose
    training loss diverges (non-finite or above ``diverge_above``) gets NaN losses, so no fit can use it.
    """
    from atlas.sampling import MixtureSampler

    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    branch = copy.deepcopy(model)
    opt = _adamw(branch, settings)
    opt.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # deep: load_state_dict may alias the tensors
    feed = MixtureSampler(sampler.streams, sampler.weights, sampler.seq_len, sampler.batch_size, sampler.seed)
    feed.load_state_dict(sampler.state_dict())
    rank, world = acc.process_index, acc.num_processes
    branch.train()
    losses, lr = [], 0.0
    for step in range(start, end):
        lr = wsd_lr(step, end, settings["lr"], settings["warmup_steps"], settings["decay_fraction"])
        for group in opt.param_groups:
            group["lr"] = lr
        batch = feed.next_batch()[rank::world].to(acc.device)
        with acc.autocast():
            loss = branch(batch[:, :-1], batch[:, 1:])
        loss.backward()
        if world > 1:  # the copy is not wrapped for data parallelism: average its gradients by hand
            for p in branch.parameters():
                if p.grad is not None:
                    p.grad = acc.reduce(p.grad, "mean")
        if settings["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(branch.parameters(), settings["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
    values = torch.stack(losses).float() if losses else torch.empty(0)
    diverged = bool(len(values)) and (not bool(torch.isfinite(values).all()) or float(values.max()) > diverge_above)
    train_loss = float(values.mean()) if len(values) else float("nan")
    rows = []
    for ev in data.evals:
        ce, ce_u = ((float("nan"), float("nan")) if diverged else
                    evaluate(branch, ev, settings["eval_batch_size"], acc.device, acc.autocast))
        rows.append({"step": end, "tokens": end * tokens_per_step, "eval_lang": ev.lang, "eval_set": ev.name,
                     "loss": ce, "loss_u": ce_u, "lr": lr, "train_loss": train_loss, "decayed": True})
    torch.set_rng_state(rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    return rows


def _finite_or_none(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def train_run(
    spec: Mapping[str, Any],
    preset: Preset,
    out_dir: Path,
    *,
    progress: bool = True,
    checkpoint_path: Path | None = None,
    base_checkpoint: Path | None = None,
    data: RunData | None = None,
) -> dict[str, Any]:
    """Train ``spec`` and write its records into ``out_dir`` (which must not hold a finished run).

    ``checkpoint_path``: where to save the final weights (bases of finetunes). ``base_checkpoint``: weights to
    start from (finetunes; the optimiser and the LR schedule start afresh). Returns the summary.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    if records.is_finished(out_dir):
        raise TrainError(f"{out_dir} already holds a finished run")
    settings = {**train_settings(preset.train), **dict(spec.get("train") or {})}
    if spec.get("base_run") and base_checkpoint is None:
        raise TrainError(f"run {spec['run_id']} finetunes {spec['base_run']}: pass base_checkpoint")

    acc = Accelerator(mixed_precision=settings["mixed_precision"], cpu=not torch.cuda.is_available())
    seed, seq_len, batch_size = int(spec["seed"]), int(spec["seq_len"]), int(spec["batch_size"])
    if batch_size % acc.num_processes:
        raise TrainError(f"batch_size {batch_size} is not divisible by {acc.num_processes} processes")
    data = data or prepare_data(spec, preset)
    tok = data.tokenizer
    set_seed(seed)

    tokens_per_step = batch_size * seq_len
    total_steps = max(1, math.ceil(int(spec["tokens"]) / tokens_per_step))
    evals_at = eval_steps(total_steps, settings["n_evals"], settings["first_eval_fraction"])
    cool = spec.get("cooldown") or None
    branches = (cooldown_branches(total_steps, int(cool["points"]), float(cool["decades"]), float(cool["fraction"]),
                                  settings["warmup_steps"]) if cool else [])
    if cool and settings["mixed_precision"] == "fp16":
        raise TrainError(f"run {spec['run_id']}: cooldown branches do not use fp16's loss scaler; use bf16 or no")
    if cool and abs(float(cool["fraction"]) - settings["decay_fraction"]) > 1e-12:
        raise TrainError(f"run {spec['run_id']}: the main run must decay like its branches (decay_fraction "
                         f"{settings['decay_fraction']} != cooldown fraction {cool['fraction']})")
    # a BTS baseline is read at d_mono: evaluate exactly there (spec["bts"], atlas.grid._transfer_bilingual)
    # and a BTS curve ends where the decay starts (stable phase only): evaluate there too
    at_d_mono = ({math.ceil(spec["bts"]["d_mono"] / tokens_per_step),
                  total_steps - math.ceil(settings["decay_fraction"] * total_steps)} if spec.get("bts") else set())
    evals_at = sorted(set(evals_at) | {end for _, end in branches} | {s for s in at_d_mono if s <= total_steps})
    branch_at = dict(branches)
    full = copy.deepcopy(dict(spec))
    full["plan_hash"] = spec_hash(spec)
    full["vocab"] = {**dict(spec["vocab"]), "size": int(tok.vocab_size), "name": tok.name}
    full["params"] = param_count(spec["shape"], tok.vocab_size)
    full["params_non_embedding"] = param_count(spec["shape"], tok.vocab_size, embeddings=False)
    full["mixture"] = {k: float(v) for k, v in data.mixture.items()}
    full["unique_tokens"] = dict(data.unique_tokens)
    full["train"] = settings
    full["steps"] = total_steps
    full["tokens_trained"] = total_steps * tokens_per_step
    full["eval_steps"] = evals_at
    full["cooldown_steps"] = [list(b) for b in branches]
    full["eval_tokens"] = {f"{e.lang}/{e.name}": int(e.targets.numel()) for e in data.evals}
    main = acc.is_main_process
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        records.atomic_write_json(out_dir / records.SPEC, full)
        env = records.environment()
        env.update({"accelerate_processes": acc.num_processes, "device": str(acc.device),
                    "mixed_precision": settings["mixed_precision"]})
        records.atomic_write_json(out_dir / records.ENV, env)

    model = Transformer(spec["shape"], tok.vocab_size, seq_len, dropout=settings["dropout"])
    if model.num_parameters() != full["params"]:  # the formula and the module must agree
        raise TrainError(f"param_count {full['params']} != torch count {model.num_parameters()}")
    if base_checkpoint is not None:
        load_checkpoint(base_checkpoint, model, full)
    optimizer = _adamw(model, settings)
    model, optimizer = acc.prepare(model, optimizer)
    raw_model = acc.unwrap_model(model)
    forward = torch.compile(model) if settings["compile"] else model

    from atlas.sampling import MixtureSampler

    sampler = MixtureSampler(data.streams, full["mixture"], seq_len, batch_size, seed)
    rank, world = acc.process_index, acc.num_processes
    diverge_above = 2.0 * math.log(tok.vocab_size)
    rows: list[dict[str, Any]] = []
    status, diverged_at, train_seconds, cooldown_steps = "done", None, 0.0, 0
    window: list[float] = []
    last_lr = 0.0
    next_eval = 0
    bar = tqdm(total=total_steps, desc=str(spec["run_id"]), disable=not (progress and main), leave=False,
               mininterval=1.0, unit="step")
    model.train()
    for step in range(total_steps):
        if step in branch_at:
            rows += _cooldown_branch(raw_model, optimizer, sampler, data, step, branch_at[step], settings, acc,
                                     tokens_per_step, diverge_above)
            cooldown_steps += branch_at[step] - step
        t0 = time.perf_counter()
        lr = wsd_lr(step, total_steps, settings["lr"], settings["warmup_steps"], settings["decay_fraction"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = sampler.next_batch()[rank::world].to(acc.device)
        with acc.autocast():
            loss = forward(batch[:, :-1], batch[:, 1:])
        acc.backward(loss)
        if settings["grad_clip"] > 0:
            acc.clip_grad_norm_(model.parameters(), settings["grad_clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(acc.reduce(loss.detach(), "mean") if world > 1 else loss.detach())  # global batch mean
        train_seconds += time.perf_counter() - t0
        window.append(value)
        last_lr = lr
        bar.update(1)
        if bar.n % 10 == 0:
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
        done = step + 1
        bad = not math.isfinite(value) or value > diverge_above
        if bad or done == evals_at[next_eval]:
            train_loss = float(np.mean(window)) if window else float("nan")
            window = []
            for ev in data.evals:
                ce, ce_u = evaluate(raw_model, ev, settings["eval_batch_size"], acc.device, acc.autocast)
                rows.append({"step": done, "tokens": done * tokens_per_step, "eval_lang": ev.lang,
                             "eval_set": ev.name, "loss": ce, "loss_u": ce_u, "lr": last_lr,
                             "train_loss": train_loss,
                             "decayed": done == total_steps and settings["decay_fraction"] > 0})
                bad = bad or not math.isfinite(ce)
            if main:
                records.atomic_write_csv(out_dir / records.METRICS, _metrics_frame(rows))
            if not bad:
                next_eval += 1
        if bad:
            status, diverged_at = "diverged", done
            break
    bar.close()

    if main and checkpoint_path is not None and status == "done":
        save_checkpoint(checkpoint_path, raw_model, full)
    last = {}
    for r in rows:  # the main run's last evaluation of each (language, set)
        if not (r["decayed"] and r["step"] < total_steps):
            last[f"{r['eval_lang']}/{r['eval_set']}"] = r
    trained = (diverged_at or total_steps) * tokens_per_step
    summary = {
        "status": status,
        "final": {k: _finite_or_none(r["loss"]) for k, r in last.items()},
        "final_u": {k: _finite_or_none(r["loss_u"]) for k, r in last.items()},
        "final_step": max((r["step"] for r in rows), default=0),
        "cooldown_tokens": cooldown_steps * tokens_per_step,
        "diverged_at_step": diverged_at,
        "tokens_trained": trained,
        "tokens_seen": {k: int(v) for k, v in sampler.tokens_seen.items()},
        "epochs": {k: float(v) for k, v in sampler.epochs.items()},
        "wall_seconds": time.perf_counter() - t_start,
        "train_seconds": train_seconds,
        "tokens_per_second": trained / train_seconds if train_seconds > 0 else None,
        "checkpoint": str(checkpoint_path) if checkpoint_path is not None and status == "done" else None,
        "vocab_sha256": getattr(tok, "sha256", None),  # the model file (the spec names it by its training input)
    }
    if main:
        if not (out_dir / records.METRICS).exists():
            records.atomic_write_csv(out_dir / records.METRICS, _metrics_frame(rows))
        records.atomic_write_json(out_dir / records.SUMMARY, summary)
    acc.wait_for_everyone()
    return summary
