"""``python -m atlas grid run|status|plan|submit --preset P --experiment E|all [--shard i/n] [--dry-run]``.

* ``run``    -- train every unfinished run of the selection (resumable; finished runs are skipped, killed
  runs restart cleanly); records go to ``runs/<preset>/<experiment>/<run_id>/`` (``ATLAS_RUNS_DIR``
  overrides ``runs/``). ``--dry-run`` prints the plan instead.
* ``status`` -- how many runs are done, diverged, stale (trained under an edited preset), partial (killed)
  or still to do, per experiment.
* ``plan``   -- run count, training FLOPs (6 N D) and the estimated time on the preset's stated device.
* ``submit`` -- one job array through submitit (``--executor slurm`` on a cluster, ``local`` here): one task
  per shard, each resumable; logs in ``runs/<preset>/.submitit/``. ``--dry-run`` prints the array and its
  sbatch parameters. Needs the ``cluster`` extra (submitit).

Several processes or machines split a grid with ``--shard 1/4`` ... ``--shard 4/4`` (use the same
``--experiment`` in all of them); on GPUs each shard can be started with ``accelerate launch``.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("grid", help="plan, run and check the experiment grid of a preset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["run", "status", "plan", "submit"])
    p.add_argument("--preset", required=True, help="smoke, cpu, gpu or paper")
    p.add_argument("--experiment", default="all", help="an experiment of the preset, or all (default)")
    p.add_argument("--shard", default=None, help="i/n: run the i-th of n parts (1-based), e.g. 2/4")
    p.add_argument("--dry-run", action="store_true", help="with run or submit: print the plan, train nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    s = p.add_argument_group("submit (submitit job array, one task per shard)")
    s.add_argument("--executor", choices=["slurm", "local"], help="slurm (a cluster) or local (processes here)")
    s.add_argument("--tasks", type=int, help="array size (default: one task per run group, at most 1000)")
    s.add_argument("--max-parallel", type=int, help="tasks running at once (default: all on slurm, 1 locally)")
    s.add_argument("--gpus-per-run", type=int,
                   help="GPUs per task; > 1 trains with accelerate launch (default: 1 on slurm, 0 locally)")
    s.add_argument("--partition", help="SLURM partition")
    s.add_argument("--time-min", type=int, help="time limit per task in minutes (default: 1.5x the estimate)")
    s.add_argument("--cpus-per-task", type=int, help="CPUs per task")
    s.add_argument("--mem-gb", type=int, help="memory per task in GB")
    p.set_defaults(func=run)


def _submit(args: argparse.Namespace) -> int:
    """``grid submit``: validate, then print the plan (--dry-run) or submit the array."""
    if args.shard is not None:
        raise ValueError("--shard does not apply to submit: each task of the array is one shard (see --tasks)")
    if args.executor is None:
        raise ValueError("grid submit needs --executor slurm|local")
    from atlas import submit

    sub = submit.plan_submission(args.preset, args.experiment, executor=args.executor, tasks=args.tasks,
                                 gpus_per_run=args.gpus_per_run, max_parallel=args.max_parallel,
                                 time_min=args.time_min, partition=args.partition,
                                 cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb)
    if args.dry_run:
        print(sub.describe())
        return 0
    counts = submit.submit(sub, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"grid submit ({sub.executor}): {counts}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "submit":
        return _submit(args)
    from atlas import grid  # torch-free: plan and status work on the base (book) install
    from atlas.presets import Preset

    shard = grid.parse_shard(args.shard)  # validate everything before any work
    preset = Preset.load(args.preset)
    plan = grid.build_plan(preset, args.experiment)
    if args.action == "plan" or (args.action == "run" and args.dry_run):
        runs = grid.shard_runs(plan, *shard)
        if shard != (1, 1):
            print(f"shard {shard[0]}/{shard[1]}:")
        print(grid.plan_summary(plan, runs))
        if not preset.runnable and args.action == "run":
            print(f"note: {preset.not_runnable_reason or 'this preset is for planning only'}")
        return 0
    if args.action == "status":
        table = grid.grid_status(preset, args.experiment)
        if shard != (1, 1):
            keep = {(s["experiment"], s["run_id"]) for s in grid.shard_runs(plan, *shard)}
            table = table[[(e, r) in keep for e, r in zip(table.experiment, table.run_id)]]
        counts = table.pivot_table(index="experiment", columns="status", values="run_id", aggfunc="count",
                                   fill_value=0, sort=False)
        cols = ["done", "diverged", "stale", "partial", "todo"]
        for col in cols:
            if col not in counts:
                counts[col] = 0
        counts = counts[cols]
        counts.loc["total"] = counts.sum()
        hours = table.groupby("experiment", sort=False)["wall_seconds"].sum() / 3600
        counts["measured_h"] = hours.reindex(counts.index).fillna(0.0)
        counts.loc["total", "measured_h"] = table["wall_seconds"].sum() / 3600
        counts["measured_h"] = counts["measured_h"].round(2)
        print(f"preset {preset.name}: records under {grid.runs_dir() / preset.name}")
        print(counts.to_string())
        devices = sorted({d for d in table["device"].dropna()})
        if devices:
            print(f"measured_h: wall-clock hours of the finished runs as recorded (summary.json), on {', '.join(devices)}")
        return 0
    import atlas.train  # noqa: F401  (training needs the `train` extra: fail here, before the run log starts)

    grid.run_grid(preset, args.experiment, shard, progress=not args.no_progress,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0
