"""The grid: specs per experiment, resumable execution (including kill -9), sharding, plans, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas import records
from atlas.chapters import presets_appendix
from atlas.train_config import cooldown_branches
from atlas.grid import (GridError, build_plan, checkpoint_path, parse_shard, plan_table, planned_vs_measured,
                        run_cost, run_grid, shard_runs, study_hours)
from atlas.model import param_count
from atlas.paths import REPO_ROOT
from atlas.presets import Preset

PY = sys.executable
NO_TORCH = Path(__file__).parent / "fixtures" / "no_torch"  # PYTHONPATH entry: torch/accelerate "not installed"


def cli(*args: str, runs: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if runs is not None:
        env["ATLAS_RUNS_DIR"] = str(runs)
    return subprocess.run([PY, "-m", "atlas", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process (fast): exit code, stdout, stderr."""
    from atlas.cli import main as cli_main

    rc = cli_main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def by_id(plan) -> dict[str, dict]:
    return {s["run_id"]: s for s in plan.runs}


# ---------------------------------------------------------------------------------------------- specs


def test_smoke_specs_per_experiment():
    cfg = Preset.load("smoke")
    plan = build_plan(cfg)
    runs = by_id(plan)
    count = pd.Series([s["experiment"] for s in plan.runs]).value_counts().to_dict()
    assert count == {"monolingual": 4, "bilingual": 9, "capacity": 3, "unimax": 1, "finetune": 2}
    # monolingual: shape x language, monolingual vocabulary
    assert {"mono-eng-xs", "mono-eng-s", "mono-cmn-xs", "mono-cmn-s"} <= set(runs)
    assert runs["mono-cmn-s"]["vocab"]["kind"] == "mono" and runs["mono-cmn-s"]["mixture"] == {"cmn": 1.0}
    assert runs["mono-cmn-s"]["params"] == param_count(runs["mono-cmn-s"]["shape"], cfg.tokenizer["mono_vocab_size"])
    # bilingual: 50/50 pairs on 2x tokens with the multilingual vocabulary, disjoint verses, plus baselines
    bi = runs["bi-eng-fra-xs"]
    tokens = cfg.experiments["bilingual"]["tokens"]
    assert bi["mixture"] == {"eng": 0.5, "fra": 0.5} and bi["tokens"] == 2 * tokens
    assert bi["vocab"]["kind"] == "multi" and bi["sampling"]["partition"] == "disjoint"
    base = runs["multi-eng-xs-20k"]
    assert base["tokens"] == tokens and base["shape"] == bi["shape"] and base["vocab"]["kind"] == "multi"
    assert {"bi-eng-fra-s", "multi-eng-s-20k", "multi-fra-s-20k"} <= set(runs)  # scale pairs with baselines
    # capacity: K = 1 is a monolingual multi-vocabulary run; K > 1 uniform mixtures of the pool's first K
    assert runs["multi-eng-xs-40k"]["experiment"] == "capacity"
    assert runs["cap-k4-xs"]["mixture"] == {"cmn": 0.25, "eng": 0.25, "fra": 0.25, "rus": 0.25}
    # unimax bases save checkpoints; finetunes depend on them and come after them
    assert runs["unimax-xs-20k"]["sampling"]["kind"] == "unimax" and runs["unimax-xs-20k"]["save_checkpoint"]
    ft = runs["ft-eng-xs-from-20k"]
    assert ft["base_run"] == "unimax-xs-20k" and ft["base_tokens"] == 20000 and ft["mixture"] == {"eng": 1.0}
    order = [s["run_id"] for s in plan.runs]
    assert order.index("unimax-xs-20k") < order.index("ft-eng-xs-from-20k")
    # the matching from-scratch run is identical to a bilingual baseline: reused, not duplicated
    assert ft["scratch_run"] == "bilingual/multi-eng-xs-20k"
    assert not any(s["experiment"] == "finetune" and s["base_run"] is None for s in plan.runs)
    # ids are unique per experiment and deterministic
    assert len({(s["experiment"], s["run_id"]) for s in plan.runs}) == len(plan.runs)
    assert [s["run_id"] for s in build_plan(Preset.load("smoke")).runs] == order


def test_experiment_selection_includes_dependencies():
    plan = build_plan(Preset.load("smoke"), "finetune")
    keys = {f"{s['experiment']}/{s['run_id']}" for s in plan.runs}
    assert keys == {"unimax/unimax-xs-20k", "finetune/ft-eng-xs-from-20k", "finetune/ft-fra-xs-from-20k",
                    "bilingual/multi-eng-xs-20k", "bilingual/multi-fra-xs-20k"}


def test_cpu_and_paper_plans():
    cpu = build_plan(Preset.load("cpu"))
    exps = {s["experiment"] for s in cpu.runs}
    assert exps == {"monolingual", "bilingual", "capacity", "unimax", "finetune"}
    mono = [s for s in cpu.runs if s["experiment"] == "monolingual"]
    assert len({s["shape"]["name"] for s in mono}) >= 5
    pairs = [s for s in cpu.runs if s["run_id"].startswith("bi-") and s["shape"]["name"] == "s0"]
    assert len({lang for s in pairs for lang in s["languages"]}) == 9  # the paper's measured block
    table = plan_table(cpu)
    scaling = table[table["experiment"].isin(["monolingual", "capacity"])]["seconds"].sum()
    assert scaling <= 8 * 3600  # the scaling experiments plan within their 8 h budget on 2 idle cores
    assert table["seconds"].sum() <= 12 * 3600  # and transfer within its 4 h
    paper = build_plan(Preset.load("paper"))
    assert 700 <= len(paper.runs) <= 800  # the paper reports 774 (Table B.1)
    flops = plan_table(paper)["flops"].sum()
    assert 1e23 < flops < 1e25


# ---------------------------------------------------------------------------------------------- plan numbers


def test_dry_run_numbers(capsys):
    plan = build_plan(Preset.load("smoke"))
    s = by_id(plan)["mono-eng-xs"]
    c = run_cost(s, plan.preset)
    tps = s["batch_size"] * s["seq_len"]
    d = -(-s["tokens"] // tps) * tps
    cool = s["cooldown"]
    branches = cooldown_branches(d // tps, cool["points"], cool["decades"], cool["fraction"], s["train"]["warmup_steps"])
    cooldown = sum(e - b for b, e in branches) * tps  # cooldown branches train tokens too
    assert c["tokens"] == d and c["flops"] == 6 * s["params"] * (d + cooldown) and c["seconds"] > 0
    table = plan_table(plan)
    assert len(table) == 19
    rc, out, _ = main(capsys, "grid", "plan", "--preset", "smoke")
    assert rc == 0 and "19 runs" in out and f"{table['flops'].sum():10.3g}".strip() in out
    rc, out, _ = main(capsys, "grid", "plan", "--preset", "paper")
    assert rc == 0 and "GPU-days" in out and "774" in out


def test_dry_run_trains_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))
    rc, out, _ = main(capsys, "grid", "run", "--preset", "smoke", "--experiment", "capacity", "--dry-run")
    assert rc == 0 and "3 runs" in out and not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------- shards


def test_shards_partition_the_plan_and_keep_bases_with_finetunes():
    plan = build_plan(Preset.load("cpu"))
    keys = [f"{s['experiment']}/{s['run_id']}" for s in plan.runs]
    for n in (1, 2, 3, 5):
        parts = [[f"{s['experiment']}/{s['run_id']}" for s in shard_runs(plan, i, n)] for i in range(1, n + 1)]
        flat = [k for p in parts for k in p]
        assert sorted(flat) == sorted(keys) and len(flat) == len(set(flat))
        for p in parts:
            ids = {k.split("/")[1] for k in p}
            for s in plan.runs:
                if s.get("base_run") and s["run_id"] in ids:
                    assert s["base_run"] in ids
            assert p == [k for k in keys if k in set(p)]  # plan order (bases first) kept
    costs = [plan_table(plan, shard_runs(plan, i, 3))["seconds"].sum() for i in (1, 2, 3)]
    assert max(costs) < 1.3 * min(costs)  # balanced by estimated time


@pytest.mark.parametrize("bad", ["0/2", "3/2", "x", "1/0", "1-2"])
def test_bad_shard(bad):
    with pytest.raises(GridError, match="shard"):
        parse_shard(bad)


# ---------------------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("args,message", [
    (["grid", "run", "--preset", "nope"], "unknown preset 'nope'"),
    (["grid", "plan", "--preset", "smoke", "--experiment", "bogus"], "unknown experiment 'bogus'"),
    (["grid", "status", "--preset", "smoke", "--shard", "5/4"], "bad shard"),
    (["grid", "run", "--preset", "paper"], "preset 'paper' is the paper's own grid"),
])
def test_bad_cli_inputs_fail_before_work(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))
    rc, _, err = main(capsys, *args)
    assert rc == 2 and message in err and err.startswith("error: ")
    assert not any(tmp_path.iterdir())


def test_bad_cli_input_in_a_subprocess(tmp_path):
    out = cli("grid", "run", "--preset", "smoke", "--experiment", "bogus", runs=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: unknown experiment 'bogus'")


def _cfg(**experiments) -> Preset:
    return Preset.load("smoke").replace(experiments=experiments)


@pytest.mark.parametrize("experiments,message", [
    ({"monolingual": {"languages": ["eng"], "shapes": ["xxl"], "tokens": 10}}, "unknown shape 'xxl'"),
    ({"monolingual": {"languages": ["klingon"], "shapes": ["xs"], "tokens": 10}}, "klingon"),
    ({"monolingual": {"languages": ["deu"], "shapes": ["xs"], "tokens": 10}}, "not among the preset's languages"),
    ({"monolingual": {"languages": ["eng"], "shapes": ["xs"], "tokens": 10, "epochs": 2}}, "unknown key"),
    ({"monolingual": {"languages": ["eng"], "shapes": ["xs"], "tokens": -5}}, "positive"),
    ({"capacity": {"pool": ["eng", "fra"], "K": [3], "shapes": ["xs"], "tokens": 10}}, "K=3"),
    ({"finetune": {"targets": ["eng"], "shapes": ["xs"], "base_tokens": [10], "tokens": 10}}, "Unimax base"),
    ({"pretraining": {}}, "unknown experiment"),
    ({"monolingual": [{"languages": ["eng"], "shapes": ["xs"], "tokens": 10, "vocab": "multi"},
                      {"languages": ["eng"], "shapes": ["xs"], "tokens": 10, "vocab": "multi", "partition": "x"}]},
     "unknown key"),
])
def test_bad_experiment_sections(experiments, message):
    with pytest.raises(GridError, match=message):
        build_plan(_cfg(**experiments))


def test_longer_bilingual_block_gets_its_own_ids():
    short = {"languages": ["eng", "fra", "rus"], "shape": "xs", "tokens": 1000}
    long = {"languages": ["eng", "fra"], "shape": "xs", "tokens": 5000, "pairs": [["fra", "eng"]], "budget_in_id": True}
    ids = {s["run_id"]: s for s in build_plan(_cfg(bilingual=[short, long])).runs}
    assert {"bi-eng-fra-xs", "bi-eng-fra-xs-5k", "multi-eng-xs-1k", "multi-eng-xs-5k", "multi-fra-xs-5k"} <= set(ids)
    assert ids["bi-eng-fra-xs-5k"]["tokens"] == 10000 and ids["bi-eng-fra-xs"]["tokens"] == 2000
    with pytest.raises(GridError, match="names two different runs"):  # without the budget the ids collide
        build_plan(_cfg(bilingual=[short, {**long, "budget_in_id": False}]))
    with pytest.raises(GridError, match="budget_in_id must be true or false"):
        build_plan(_cfg(bilingual=[short, {**long, "budget_in_id": "yes"}]))


# ---------------------------------------------------------------------------------------------- execution


def test_grid_run_monolingual_cli(tmp_path, monkeypatch, capsys):
    out = cli("grid", "run", "--preset", "smoke", "--experiment", "monolingual", "--no-progress", runs=tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(tmp_path / "smoke") in out.stderr  # says where results go
    specs = records.load_specs("smoke", "monolingual", root=tmp_path)
    assert sorted(specs.run_id) == ["mono-cmn-s", "mono-cmn-xs", "mono-eng-s", "mono-eng-xs"]
    assert (specs["summary.status"] == "done").all()
    metrics = records.load_metrics("smoke", "monolingual", root=tmp_path)
    assert set(metrics.eval_set) == {"bible", "flores"}
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))
    rc, out, _ = main(capsys, "grid", "status", "--preset", "smoke", "--experiment", "monolingual")
    assert rc == 0 and "monolingual" in out and "total" in out and "measured_h" in out and "cpu x" in out
    rc, _, err = main(capsys, "grid", "run", "--preset", "smoke", "--experiment", "monolingual", "--no-progress")
    assert rc == 0 and "0 trained" in err and "4 already done" in err
    timing = planned_vs_measured(Preset.load("smoke"), root=tmp_path).set_index("experiment")
    assert timing.loc["monolingual", "done"] == 4 and timing.loc["monolingual", "measured_h"] > 0
    assert timing.loc["bilingual", "done"] == 0 and timing.loc["total", "runs"] == len(build_plan(Preset.load("smoke")).runs)
    cfg = Preset.load("smoke").to_dict()
    cfg["studies"] = [{"name": "mono", "runs": ["monolingual/mono-*-xs"], "budget_h": 1},
                      {"name": "rest of mono", "runs": ["monolingual/*"]}]
    studies = study_hours(Preset.from_dict(cfg), root=tmp_path).set_index("study")
    assert list(studies.index) == ["mono", "rest of mono", "other"]  # first match wins; unnamed runs are "other"
    assert studies.loc["mono", "runs"] == 2 and studies.loc["rest of mono", "done"] == 2
    assert studies["runs"].sum() == timing.loc["total", "runs"]
    assert studies.loc["mono", "planned_over_budget_h"] == studies.loc["mono", "planned_h"] - 1
    assert np.isnan(studies.loc["other", "budget_h"])
    assert "planned" in presets_appendix.study_hours_markdown(studies.reset_index(), "smoke")
    for bad in ([{"name": "other", "runs": ["*"]}], [{"name": "a", "runs": "monolingual/*"}],
                [{"name": "a", "runs": ["*"]}, {"name": "a", "runs": ["*"]}], ["monolingual/*"]):
        cfg["studies"] = bad
        with pytest.raises(GridError, match="studies"):
            study_hours(Preset.from_dict(cfg), root=tmp_path)


def _kill_preset(tmp_path: Path) -> Path:
    cfg = Preset.load("smoke").to_dict()
    cfg["train"]["n_evals"] = 6
    cfg["experiments"] = {"monolingual": {"languages": ["eng", "cmn"], "shapes": ["xs", "s"], "tokens": 100000}}
    path = tmp_path / "preset.json"
    path.write_text(json.dumps(cfg))
    return path


def test_kill9_mid_run_then_rerun_records_every_run_once(tmp_path):
    preset = _kill_preset(tmp_path)
    runs = tmp_path / "runs"
    code = ("import json, sys; from atlas.grid import run_grid; from atlas.presets import Preset; "
            "run_grid(Preset.from_dict(json.load(open(sys.argv[1]))), 'monolingual', progress=False, root=sys.argv[2])")
    proc = subprocess.Popen([PY, "-c", code, str(preset), str(runs)], cwd=REPO_ROOT, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = runs / "smoke" / "monolingual"
    partial = None
    deadline = time.time() + 400  # generous: a loaded 2-core machine is slow to tokenise and start
    try:
        while time.time() < deadline and proc.poll() is None:
            dirs = [d for d in folder.glob("*") if d.is_dir()] if folder.exists() else []
            done = [d for d in dirs if (d / "summary.json").exists()]
            started = [d for d in dirs if not (d / "summary.json").exists() and (d / "metrics.csv").exists()]
            if done and started:
                partial = started[0]
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert partial is not None, "never caught a run mid-training"
    assert not (partial / "summary.json").exists()

    edited = Preset.from_dict(json.loads(preset.read_text()))
    counts = run_grid(edited, "monolingual", progress=False, root=runs, log=lambda m: None)
    assert counts["trained"] >= 1 and counts["skipped"] >= 1
    plan = build_plan(edited, "monolingual")
    assert sorted(p.name for p in folder.iterdir()) == sorted(s["run_id"] for s in plan.runs)
    for d in folder.iterdir():
        assert sorted(p.name for p in d.iterdir()) == ["env.json", "metrics.csv", "spec.json", "summary.json"]
        m = pd.read_csv(d / "metrics.csv")
        spec = records.read_json(d / "spec.json")
        assert len(m) == len(spec["eval_steps"]) * 2 and not m.duplicated(["step", "eval_lang", "eval_set"]).any()
        assert records.read_json(d / "summary.json")["status"] == "done"
    specs = records.load_specs("smoke", "monolingual", root=runs)
    assert len(specs) == len(plan.runs) and specs.run_id.is_unique


def test_missing_base_checkpoint_is_retrained(tmp_path):
    cfg = Preset.load("smoke").to_dict()
    cfg["data"]["eval_tokens"] = 256
    cfg["train"]["n_evals"] = 2
    cfg["experiments"] = {"unimax": {"shapes": ["xs"], "base_tokens": [2048], "languages": ["eng", "fra"]},
                          "finetune": {"targets": ["eng"], "shapes": ["xs"], "base_tokens": [2048], "tokens": 1024}}
    cfg = Preset.from_dict(cfg)
    messages: list[str] = []
    first = run_grid(cfg, "finetune", progress=False, root=tmp_path, log=messages.append)
    assert first["trained"] == 3  # base, finetune, scratch
    base = next(s for s in build_plan(cfg).runs if s["experiment"] == "unimax")
    ckpt = checkpoint_path(cfg, base)
    assert ckpt.exists() and str(tmp_path) not in str(ckpt)  # checkpoints never go under runs/
    ckpt.unlink()
    ft_dir = records.run_dir("smoke", "finetune", "ft-eng-xs-from-2.05k", tmp_path)
    import shutil

    shutil.rmtree(ft_dir)
    second = run_grid(cfg, "all", progress=False, root=tmp_path, log=messages.append)
    assert second["trained"] == 2 and second["skipped"] == 1  # base retrained, finetune trained, scratch kept
    assert any("checkpoint" in m and "retraining" in m for m in messages)
    assert ckpt.exists() and records.is_finished(ft_dir)


def test_stale_runs_are_retrained_after_a_preset_edit(tmp_path):
    raw = Preset.load("smoke").to_dict()
    raw["data"]["eval_tokens"] = 256
    raw["train"]["n_evals"] = 2
    raw["experiments"] = {"monolingual": {"languages": ["eng"], "shapes": ["xs"], "tokens": 1024}}
    cfg = Preset.from_dict(raw)
    assert run_grid(cfg, progress=False, root=tmp_path, log=lambda m: None)["trained"] == 1
    assert run_grid(cfg, progress=False, root=tmp_path, log=lambda m: None)["skipped"] == 1
    from atlas.grid import grid_status

    cfg = cfg.replace(train={**cfg.train, "n_evals": 3})  # the preset changes: the finished run no longer matches it
    assert grid_status(cfg, root=tmp_path).status.tolist() == ["stale"]
    assert run_grid(cfg, progress=False, root=tmp_path, log=lambda m: None)["trained"] == 1
    assert grid_status(cfg, root=tmp_path).status.tolist() == ["done"]


def test_training_without_torch_names_the_extra(tmp_path):
    """The base install is the book's (no torch): `grid run` then says which extra to install, before any work."""
    env = {**os.environ, "PYTHONPATH": str(NO_TORCH), "ATLAS_RUNS_DIR": str(tmp_path / "runs")}
    out = subprocess.run([PY, "-m", "atlas", "grid", "run", "--preset", "smoke", "--experiment", "monolingual"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "needs torch" in out.stderr and "pip install -e '.[train]'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("summary.json"))
    # the book's commands still work without torch
    status = subprocess.run([PY, "-m", "atlas", "grid", "status", "--preset", "cpu"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert status.returncode == 0, status.stderr[-2000:]


def test_longer_finetune_block_gets_its_own_ids():
    unimax = {"shapes": ["xs"], "base_tokens": [2000]}
    short = {"targets": ["eng"], "shapes": ["xs"], "base_tokens": [2000], "tokens": 1000}
    long = {**short, "tokens": 24000, "budget_in_id": True}
    ids = {s["run_id"]: s for s in build_plan(_cfg(unimax=unimax, finetune=[short, long])).runs}
    assert {"ft-eng-xs-from-2k", "ft-eng-xs-from-2k-24k", "multi-eng-xs-1k", "multi-eng-xs-24k"} <= set(ids)
    assert ids["ft-eng-xs-from-2k-24k"]["tokens"] == 24000
    assert ids["ft-eng-xs-from-2k-24k"]["scratch_run"] == "finetune/multi-eng-xs-24k"
    with pytest.raises(GridError, match="names two different runs"):
        build_plan(_cfg(unimax=unimax, finetune=[short, {**long, "budget_in_id": False}]))
    with pytest.raises(GridError, match="budget_in_id must be true or false"):
        build_plan(_cfg(unimax=unimax, finetune=[{**long, "budget_in_id": "yes"}]))
