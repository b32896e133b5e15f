"""Run a preset's grid as one job array through submitit: on a SLURM cluster, or as local processes.

Each array task is one shard of the grid (the runs :func:`atlas.grid.shard_runs` gives it: whole groups, a
base with its finetunes, balanced by estimated time) and calls :func:`atlas.grid.run_grid` on that shard.
Finished runs are skipped and a killed run restarts cleanly, so a resubmitted array -- or a task that SLURM
requeues after a timeout or a pre-emption (:meth:`ShardTask.checkpoint`) -- continues where it stopped.
Submitit's pickles and logs go to ``<runs>/<preset>/.submitit/`` beside the records (ignored by git).

A run that needs several GPUs is trained by ``accelerate launch --num_processes G -m atlas grid run ...
--shard i/n`` inside its task (data parallel; rank 0 writes the records). With one GPU or none the task
trains in its own process.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from atlas.grid import GridError, build_plan, run_cost
from atlas.paths import runs_dir
from atlas.presets import Preset

EXECUTORS = ("slurm", "local")
#: SLURM's default MaxArraySize is 1001 (indices 0..1000).
MAX_TASKS = 1000
#: Estimated task time x this margin = the task's time limit (unless --time-min is given).
TIME_MARGIN = 1.5
MIN_TIME_MIN = 10
#: Default ceiling of a task's time limit (many clusters allow no more); a longer shard is requeued and resumes.
MAX_TIME_MIN = 72 * 60


@dataclass(frozen=True)
class Submission:
    """One array job: ``n_tasks`` shards of ``experiment`` of ``preset``, records under ``root``."""

    preset: str
    experiment: str
    executor: str
    n_tasks: int
    root: Path
    gpus_per_run: int
    max_parallel: int
    time_min: int
    partition: str | None = None
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    n_runs: int = 0
    task_hours: tuple[float, float] = (0.0, 0.0)  # estimated (shortest, longest) task on the preset's device
    too_long: int = 0  # runs whose estimate alone exceeds the time limit
    runnable: bool = True
    not_runnable_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """Submitit's pickles and the tasks' logs, beside the records."""
        return self.root / self.preset / ".submitit"

    @property
    def name(self) -> str:
        return f"atlas-{self.preset}-{self.experiment}"

    def sbatch(self) -> list[str]:
        """The sbatch header submitit writes for this array (one task per shard)."""
        lines = [f"--job-name={self.name}", f"--array=0-{self.n_tasks - 1}%{self.max_parallel}"]
        if self.partition:
            lines.append(f"--partition={self.partition}")
        lines += ["--nodes=1", "--ntasks-per-node=1"]
        if self.gpus_per_run:
            lines.append(f"--gpus-per-node={self.gpus_per_run}")
        if self.cpus_per_task:
            lines.append(f"--cpus-per-task={self.cpus_per_task}")
        if self.mem_gb:
            lines.append(f"--mem={self.mem_gb}GB")
        lines += [f"--time={self.time_min}", f"--output={self.folder}/%A_%a_0_log.out",
                  f"--error={self.folder}/%A_%a_0_log.err", "--signal=USR2@90", "--open-mode=append"]
        return [f"#SBATCH {line}" for line in lines]

    def describe(self) -> str:
        """The plan as printed by ``grid submit --dry-run``."""
        lo, hi = self.task_hours
        launch = (f"accelerate launch --num_processes {self.gpus_per_run} -m atlas grid run"
                  if self.gpus_per_run > 1 else "python -m atlas grid run")
        lines = [
            f"array job {self.name}: {self.n_tasks} tasks (one shard each) over {self.n_runs} runs, "
            f"at most {self.max_parallel} at once; executor {self.executor}",
            f"each task: {launch} --preset {self.preset} --experiment {self.experiment} --shard i/{self.n_tasks} "
            f"(resumable: finished runs are skipped)",
            f"estimated task time on {max(self.gpus_per_run, 1)} x the preset's device: {lo:.2g}-{hi:.2g} h; "
            f"time limit {self.time_min} min "
            f"(a task that hits it is requeued: it skips its finished runs and restarts the interrupted one)",
            f"records: {self.root / self.preset}/<experiment>/<run_id>/ ; logs: {self.folder}/",
        ]
        if self.executor == "slurm":
            lines += ["sbatch parameters:", *(f"  {line}" for line in self.sbatch())]
        if self.too_long:
            lines.append(f"warning: {self.too_long} run(s) are estimated to need more than {self.time_min} min on "
                         f"{max(self.gpus_per_run, 1)} device(s); runs are not checkpointed mid-way, so these need "
                         "more GPUs per run (--gpus-per-run) or a longer --time-min")
        if not self.runnable:
            lines.append(f"note: not submittable: {self.not_runnable_reason}")
        return "\n".join(lines)


def _positive(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise GridError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _task_loads(group_costs: list[float], n: int) -> list[float]:
    """Estimated seconds per shard: longest group first onto the least loaded shard (as shard_runs does)."""
    load = [0.0] * n
    for cost in sorted(group_costs, reverse=True):
        k = min(range(n), key=lambda j: (load[j], j))
        load[k] += cost
    return load


def plan_submission(
    preset: str,
    experiment: str = "all",
    *,
    executor: str = "slurm",
    tasks: int | None = None,
    gpus_per_run: int | None = None,
    max_parallel: int | None = None,
    time_min: int | None = None,
    partition: str | None = None,
    cpus_per_task: int | None = None,
    mem_gb: int | None = None,
    root: Path | str | None = None,
) -> Submission:
    """Validate everything and size the array; raises :class:`atlas.grid.GridError` naming a bad value."""
    if executor not in EXECUTORS:
        raise GridError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    for name, value, minimum in (("--tasks", tasks, 1), ("--max-parallel", max_parallel, 1),
                                 ("--time-min", time_min, 1), ("--gpus-per-run", gpus_per_run, 0),
                                 ("--cpus-per-task", cpus_per_task, 1), ("--mem-gb", mem_gb, 1)):
        _positive(name, value, minimum)
    plan = build_plan(Preset.load(preset), experiment)
    groups: dict[str, float] = {}
    seconds = [run_cost(s, plan.preset)["seconds"] for s in plan.runs]
    for s, sec in zip(plan.runs, seconds):
        groups[s["group"]] = groups.get(s["group"], 0.0) + sec
    n = min(tasks or len(groups), len(groups), MAX_TASKS)  # more tasks than groups would leave some empty
    gpus = (1 if executor == "slurm" else 0) if gpus_per_run is None else gpus_per_run
    default = n if executor == "slurm" else 1  # locally one task at a time: torch's threads take every core
    loads = [s / 3600 / max(gpus, 1) for s in _task_loads(list(groups.values()), n)]
    limit = time_min or min(MAX_TIME_MIN, max(MIN_TIME_MIN, math.ceil(max(loads) * 60 * TIME_MARGIN)))
    if executor == "local" and time_min is None:
        limit = MAX_TIME_MIN  # a shared machine's load, not the preset's device, sets the pace here
    return Submission(
        preset=plan.preset.name, experiment=experiment, executor=executor, n_tasks=n,
        root=Path(root or runs_dir()).absolute(), gpus_per_run=gpus, max_parallel=min(max_parallel or default, n),
        time_min=limit, partition=partition, cpus_per_task=cpus_per_task, mem_gb=mem_gb, n_runs=len(plan.runs),
        task_hours=(min(loads), max(loads)), too_long=sum(sec / max(gpus, 1) > limit * 60 for sec in seconds),
        runnable=plan.preset.runnable,
        not_runnable_reason=" ".join(str(plan.preset.not_runnable_reason or "planning only").split()),
    )


def run_shard(preset: str, experiment: str, i: int, n: int, root: str, gpus_per_run: int = 0) -> dict[str, int]:
    """Train shard ``i`` of ``n`` (what one array task does); returns run_grid's counts by outcome."""
    if gpus_per_run > 1:
        cmd = ["accelerate", "launch", "--num_processes", str(gpus_per_run), "--num_machines", "1", "-m", "atlas",
               "grid", "run", "--preset", preset, "--experiment", experiment, "--shard", f"{i}/{n}", "--no-progress"]
        subprocess.run(cmd, check=True, env={**os.environ, "ATLAS_RUNS_DIR": root})
        return {"launched": 1}
    from atlas.grid import run_grid

    return run_grid(Preset.load(preset), experiment, (i, n), progress=False, root=Path(root),
                    log=lambda m: print(m, file=sys.stderr, flush=True))


class ShardTask:
    """The callable each array task runs; on a timeout or pre-emption SLURM requeues it with the same shard."""

    def __call__(self, *args: Any) -> dict[str, int]:
        return run_shard(*args)

    def checkpoint(self, *args: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args)  # run_grid skips what is finished: nothing else to save


def _executor(sub: Submission) -> Any:
    import submitit

    sub.folder.mkdir(parents=True, exist_ok=True)
    params: dict[str, Any] = dict(name=sub.name, timeout_min=sub.time_min, nodes=1, tasks_per_node=1)
    if sub.gpus_per_run:
        params["gpus_per_node"] = sub.gpus_per_run
    if sub.cpus_per_task:
        params["cpus_per_task"] = sub.cpus_per_task
    if sub.mem_gb:
        params["mem_gb"] = sub.mem_gb
    if sub.executor == "slurm":
        params["slurm_array_parallelism"] = sub.max_parallel
        if sub.partition:
            params["slurm_partition"] = sub.partition
    executor = submitit.AutoExecutor(folder=sub.folder, cluster=sub.executor)
    executor.update_parameters(**params)
    return executor


def submit(sub: Submission, log: Callable[[str], None] = print, poll_s: float = 1.0) -> dict[str, int]:
    """Submit the array. SLURM: returns at once (``{"tasks": n}``). Local: runs at most ``max_parallel`` tasks
    at a time, waits for all and returns the summed counts (raises if a task failed)."""
    if not sub.runnable:
        raise GridError(sub.not_runnable_reason)
    executor = _executor(sub)
    args = [(sub.preset, sub.experiment, i, sub.n_tasks, str(sub.root), sub.gpus_per_run)
            for i in range(1, sub.n_tasks + 1)]
    if sub.executor == "slurm":
        jobs = executor.map_array(ShardTask(), *zip(*args))
        log(f"submitted array job {jobs[0].job_id.split('_')[0]} ({sub.n_tasks} tasks); logs in {sub.folder}/; "
            f"follow with: python -m atlas grid status --preset {sub.preset} --experiment {sub.experiment}")
        return {"tasks": sub.n_tasks}
    totals: dict[str, int] = {}
    pending, running = list(args), []
    while pending or running:
        while pending and len(running) < sub.max_parallel:
            a = pending.pop(0)
            running.append((a[2], executor.submit(ShardTask(), *a)))
        for shard, job in [r for r in running if r[1].done()]:
            running.remove((shard, job))
            counts = job.result()  # re-raises a task's failure, with its log path
            log(f"task {shard}/{sub.n_tasks}: {counts}")
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
        time.sleep(poll_s if running else 0)
    return totals
