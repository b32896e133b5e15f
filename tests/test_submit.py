"""``grid submit``: the smoke grid through submitit's local executor, the paper's SLURM plan, and the run lock
shared by processes whose cache directories differ."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas import records
from atlas.cli import main
from atlas.paths import REPO_ROOT

pytest.importorskip("submitit")
PY = sys.executable


def _losses(root: Path):
    m = records.load_metrics("smoke", "monolingual", root=root)
    return m.sort_values(["run_id", "step", "eval_lang", "eval_set"])[
        ["run_id", "step", "eval_lang", "eval_set", "loss"]].reset_index(drop=True)


@pytest.mark.slow
def test_local_submit_gives_the_records_of_grid_run_and_resumes(tmp_path, monkeypatch, capsys):
    env = {**os.environ, "ATLAS_RUNS_DIR": str(tmp_path / "direct"), "PYTHONPATH": str(REPO_ROOT)}
    direct = subprocess.run([PY, "-m", "atlas", "grid", "run", "--preset", "smoke", "--experiment", "monolingual",
                             "--no-progress"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert direct.returncode == 0, direct.stderr
    runs = tmp_path / "submitted"
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(runs))
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the tasks import this checkout's atlas
    assert main(["grid", "submit", "--preset", "smoke", "--experiment", "monolingual", "--executor", "local",
                 "--tasks", "2"]) == 0
    out = capsys.readouterr()
    assert "'trained': 4" in out.out, out
    assert any((runs / "smoke" / ".submitit").glob("*_log.err"))  # logs beside the runs
    assert _losses(runs).equals(_losses(tmp_path / "direct"))
    # a resubmitted array skips every finished run
    assert main(["grid", "submit", "--preset", "smoke", "--experiment", "monolingual", "--executor", "local",
                 "--tasks", "1"]) == 0
    assert "'trained': 0" in capsys.readouterr().out


def test_slurm_dry_run_prints_the_paper_array(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))
    assert main(["grid", "submit", "--preset", "paper", "--executor", "slurm", "--dry-run", "--partition", "gpu",
                 "--gpus-per-run", "8", "--max-parallel", "64"]) == 0
    out = capsys.readouterr().out
    assert "637 tasks" in out and "759 runs" in out
    for line in ("#SBATCH --array=0-636%64", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=8",
                 f"#SBATCH --output={tmp_path}/paper/.submitit/%A_%a_0_log.out"):
        assert line in out
    assert "accelerate launch --num_processes 8 -m atlas grid run --preset paper" in out
    assert not (tmp_path / "paper").exists()  # a dry run writes nothing


@pytest.mark.parametrize("args, message", [
    (["--preset", "paper", "--executor", "slurm"], "preset 'paper' is the paper's own grid"),
    (["--preset", "smoke"], "needs --executor slurm|local"),
    (["--preset", "smoke", "--executor", "local", "--tasks", "0"], "--tasks must be an integer >= 1, got 0"),
    (["--preset", "smoke", "--executor", "local", "--shard", "1/2"], "--shard does not apply to submit"),
])
def test_bad_submissions_fail_before_anything_is_written(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path))
    assert main(["grid", "submit", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_run_lock_is_shared_across_cache_directories(tmp_path):
    """A process holding a run's lock blocks another one with a different ATLAS_CACHE_DIR."""
    run = tmp_path / "runs" / "smoke" / "monolingual" / "mono-eng-xs"
    hold = ("import sys, time; from pathlib import Path; from atlas.grid import _run_lock\n"
            "with _run_lock(Path(sys.argv[1])) as got:\n    print(got, flush=True); time.sleep(60)")
    env = {**os.environ, "ATLAS_CACHE_DIR": str(tmp_path / "cache_a"), "PYTHONPATH": str(REPO_ROOT)}
    holder = subprocess.Popen([PY, "-c", hold, str(run)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        env["ATLAS_CACHE_DIR"] = str(tmp_path / "cache_b")
        probe = ("import sys; from pathlib import Path; from atlas.grid import _run_lock\n"
                 "with _run_lock(Path(sys.argv[1])) as got:\n    print(got)")
        other = subprocess.run([PY, "-c", probe, str(run)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                               timeout=120)
        assert other.stdout.strip() == "False", other.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "runs" / ".locks" / "smoke" / "monolingual" / "mono-eng-xs.lock").exists()
    assert not run.exists()  # the lock never creates or touches the run directory itself


@pytest.mark.slow
def test_two_grid_runs_with_different_caches_train_each_run_once(tmp_path):
    runs = tmp_path / "runs"
    procs = []
    for name in ("a", "b"):
        env = {**os.environ, "ATLAS_RUNS_DIR": str(runs), "ATLAS_CACHE_DIR": str(tmp_path / f"cache_{name}"),
               "PYTHONPATH": str(REPO_ROOT)}
        procs.append(subprocess.Popen([PY, "-m", "atlas", "grid", "run", "--preset", "smoke", "--experiment",
                                       "monolingual", "--no-progress"], cwd=REPO_ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    logs = [p.communicate(timeout=900)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    trained = [line.split(":")[0].strip() for log in logs for line in log.splitlines()
               if line.startswith("  monolingual/") and ": done," in line]
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 4, logs  # each run trained exactly once
    specs = records.load_specs("smoke", "monolingual", root=runs)
    assert len(specs) == 4 and (specs["summary.status"] == "done").all()
