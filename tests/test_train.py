"""The trainer: WSD schedule, evaluation points, determinism, divergence, complete records, finetunes."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from atlas import records
from atlas.grid import build_plan, checkpoint_path
from atlas.presets import Preset
from atlas.train import METRIC_COLUMNS, TrainError, eval_steps, train_run, train_settings, wsd_lr

SPEC_KEYS = {"run_id", "experiment", "preset", "shape", "params", "params_non_embedding", "vocab", "mixture",
             "unique_tokens", "tokens", "seq_len", "batch_size", "seed", "train"}


def tiny_preset() -> Preset:
    """The smoke preset with budgets small enough for a few-second test."""
    cfg = Preset.load("smoke").to_dict()
    cfg["train"]["n_evals"] = 3
    cfg["data"]["eval_tokens"] = 256
    cfg["experiments"] = {
        "monolingual": {"languages": ["eng"], "shapes": ["xs"], "tokens": 4096, "vocab": "mono"},
        "bilingual": {"languages": ["eng", "fra"], "shape": "xs", "tokens": 2048},
        "unimax": {"shapes": ["xs"], "base_tokens": [4096], "languages": ["eng", "fra", "rus"]},
        "finetune": {"targets": ["fra"], "shapes": ["xs"], "base_tokens": [4096], "tokens": 2048},
    }
    return Preset.from_dict(cfg)


def _spec(cfg: Preset, run_id: str) -> dict:
    return copy.deepcopy(next(s for s in build_plan(cfg).runs if s["run_id"] == run_id))


# ---------------------------------------------------------------------------------------------- schedule


def test_wsd_schedule_shape():
    total, peak, warm = 200, 1e-3, 20
    lrs = [wsd_lr(s, total, peak, warm, 0.1) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / warm)
    assert np.all(np.diff(lrs[:warm]) > 0)  # linear warm-up
    assert lrs[warm - 1] == pytest.approx(peak)
    assert set(lrs[warm:180]) == {peak}  # stable
    decay = lrs[180:]
    assert np.all(np.diff(decay) < 0) and decay[-1] == pytest.approx(peak / 20)  # linear decay to ~0
    assert np.allclose(np.diff(decay), -peak / 20)


def test_wsd_schedule_short_run_and_bad_input():
    lrs = [wsd_lr(s, 10, 1.0, 50, 0.5) for s in range(10)]  # warm-up shortened to meet the decay
    assert lrs[4] == 1.0 and lrs[-1] == pytest.approx(0.2) and max(lrs) == 1.0
    with pytest.raises(TrainError):
        wsd_lr(10, 10, 1.0, 1, 0.1)
    with pytest.raises(TrainError):
        wsd_lr(0, 10, 1.0, 1, 1.5)


def test_eval_steps_log_spaced():
    steps = eval_steps(1000, 12, 0.02)
    assert steps[0] == 20 and steps[-1] == 1000 and len(steps) == 12
    ratios = np.diff(np.log(steps))
    assert np.allclose(ratios, ratios.mean(), atol=0.02)
    assert eval_steps(3, 12, 0.02) == [1, 2, 3]  # short runs: fewer points, never duplicates
    assert eval_steps(50, 1) == [50]


def test_train_settings_validation():
    train = tiny_preset().train
    with pytest.raises(TrainError, match="warmpu_steps"):
        train_settings({**train, "warmpu_steps": 3})
    with pytest.raises(TrainError, match="mixed_precision"):
        train_settings({**train, "mixed_precision": "fp8"})


# ---------------------------------------------------------------------------------------------- runs


def test_determinism_same_seed_identical_losses(tmp_path):
    cfg = tiny_preset()
    spec = _spec(cfg, "mono-eng-xs")
    train_run(spec, cfg, tmp_path / "a", progress=False)
    train_run(spec, cfg, tmp_path / "b", progress=False)
    a, b = pd.read_csv(tmp_path / "a" / "metrics.csv"), pd.read_csv(tmp_path / "b" / "metrics.csv")
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    spec["seed"] = 1
    train_run(spec, cfg, tmp_path / "c", progress=False)
    c = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert not np.array_equal(a["loss"].to_numpy(), c["loss"].to_numpy())


def test_records_complete(tmp_path):
    cfg = tiny_preset()
    spec = _spec(cfg, "bi-eng-fra-xs")
    out = tmp_path / "run"
    summary = train_run(spec, cfg, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["env.json", "metrics.csv", "spec.json", "summary.json"]
    saved = records.read_json(out / "spec.json")
    assert SPEC_KEYS <= set(saved)
    assert saved["experiment"] == "bilingual" and saved["mixture"] == {"eng": 0.5, "fra": 0.5}
    assert abs(sum(saved["mixture"].values()) - 1) < 1e-12
    assert saved["tokens"] == 4096 and saved["vocab"]["kind"] == "multi" and saved["vocab"]["name"]
    assert set(saved["shape"]) == {"name", "layers", "d_model", "heads", "kv", "ffw"}
    assert saved["unique_tokens"]["eng"] > 0 and saved["unique_tokens"]["fra"] > 0
    m = pd.read_csv(out / "metrics.csv")
    assert list(m.columns) == METRIC_COLUMNS
    n_points = len(saved["eval_steps"])
    assert len(m) == n_points * 2 * 2  # points x languages x {bible, flores}
    assert set(m.eval_set) == {"bible", "flores"} and set(m.eval_lang) == {"eng", "fra"}
    assert m.tokens.max() == saved["tokens_trained"] == saved["steps"] * 8 * 64
    assert np.isfinite(m[["loss", "loss_u", "lr", "train_loss"]].to_numpy()).all()
    assert m.loss.iloc[-1] < m.loss.iloc[0]
    s = records.read_json(out / "summary.json")
    assert s["status"] == "done" and s == json.loads(json.dumps(summary))
    assert set(s["final"]) == {"eng/bible", "eng/flores", "fra/bible", "fra/flores"}
    assert s["tokens_per_second"] > 0 and s["wall_seconds"] > 0
    from atlas.tokenizer import get_tokenizer  # the model file trained on, beside the spec's input-hash name

    assert s["vocab_sha256"] == get_tokenizer(cfg, "multi").sha256
    assert abs(s["tokens_seen"]["eng"] - s["tokens_seen"]["fra"]) <= 64  # within one sequence
    env = records.read_json(out / "env.json")
    assert {"torch", "git_sha", "python"} <= set(env)
    with pytest.raises(TrainError, match="finished"):
        train_run(spec, cfg, out, progress=False)


def test_divergence_is_recorded_not_raised(tmp_path):
    cfg = tiny_preset()
    spec = _spec(cfg, "mono-eng-xs")
    spec["train"]["lr"] = 1e30
    spec["train"]["grad_clip"] = 0.0
    summary = train_run(spec, cfg, tmp_path / "d", progress=False)
    assert summary["status"] == "diverged" and summary["diverged_at_step"] >= 1
    s = records.read_json(tmp_path / "d" / "summary.json")
    assert s["status"] == "diverged"
    m = pd.read_csv(tmp_path / "d" / "metrics.csv")
    assert len(m) > 0 and int(m.step.max()) == summary["diverged_at_step"]


def test_finetune_loads_base_and_resets_schedule(tmp_path):
    cfg = tiny_preset()
    base = _spec(cfg, "unimax-xs-4.1k")
    ckpt = tmp_path / "base.pt"
    bs = train_run(base, cfg, tmp_path / "base", progress=False, checkpoint_path=ckpt)
    assert bs["status"] == "done" and ckpt.exists()
    assert checkpoint_path(cfg, base).parts[-3] == "checkpoints"  # grid checkpoints live in the cache, not runs/
    saved = records.read_json(tmp_path / "base" / "spec.json")
    assert saved["sampling"]["kind"] == "unimax" and set(saved["mixture"]) == {"eng", "fra", "rus"}
    ft = _spec(cfg, "ft-fra-xs-from-4.1k")
    assert ft["base_run"] == base["run_id"]
    scratch = _spec(cfg, ft["scratch_run"].split("/")[1])
    train_run(ft, cfg, tmp_path / "ft", progress=False, base_checkpoint=ckpt)
    train_run(scratch, cfg, tmp_path / "scratch", progress=False)
    mf = pd.read_csv(tmp_path / "ft" / "metrics.csv")
    ms = pd.read_csv(tmp_path / "scratch" / "metrics.csv")
    first = lambda m: m[(m.eval_lang == "fra") & (m.eval_set == "bible")].iloc[0]  # noqa: E731
    assert first(mf).lr == first(ms).lr  # the schedule restarts (same warm-up point as from scratch)
    assert first(mf).loss < first(ms).loss  # but the weights come from the base
    with pytest.raises(TrainError, match="base_checkpoint"):
        train_run(ft, cfg, tmp_path / "ft2", progress=False)
    with pytest.raises(TrainError, match="does not exist"):
        train_run(ft, cfg, tmp_path / "ft3", progress=False, base_checkpoint=tmp_path / "missing.pt")
    wrong = copy.deepcopy(ft)
    wrong["shape"] = {**wrong["shape"], "ffw": 32}
    with pytest.raises(TrainError, match="shape"):
        train_run(wrong, cfg, tmp_path / "ft4", progress=False, base_checkpoint=ckpt)
    assert math.isfinite(records.read_json(tmp_path / "ft" / "summary.json")["final"]["fra/bible"])
