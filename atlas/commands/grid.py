"""``python -m atlas grid run|status|plan --preset P --experiment E|all [--shard i/n] [--dry-run]``.

* ``run``    -- train every unfinished run of the selection (resumable; finished runs are skipped, killed
  runs restart cleanly); records go to ``runs/<preset>/<experiment>/<run_id>/`` (``ATLAS_RUNS_DIR``
  overrides ``runs/``). ``--dry-run`` prints the plan instead.
* ``status`` -- how many runs are done, diverged, stale (trained under an edited preset), partial (killed)
  or still to do, per experiment.
* ``plan``   -- run count, training FLOPs (6 N D) and the estimated time on the preset's stated device.

Several processes or machines split a grid with ``--shard 1/4`` ... ``--shard 4/4`` (use the same
``--experiment`` in all of them); on GPUs each shard can be started with ``accelerate launch``.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("grid", help="plan, run and check the experiment grid of a preset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["run", "status", "plan"])
    p.add_argument("--preset", required=True, help="smoke, cpu, gpu or paper")
    p.add_argument("--experiment", default="all", help="an experiment of the preset, or all (default)")
    p.add_argument("--shard", default=None, help="i/n: run the i-th of n parts (1-based), e.g. 2/4")
    p.add_argument("--dry-run", action="store_true", help="with run: print the plan, train nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from atlas import grid  # torch-free: plan and status work on the base (book) install

    shard = grid.parse_shard(args.shard)  # validate everything before any work
    plan = grid.build_plan(args.preset, args.experiment)
    if args.action == "plan" or (args.action == "run" and args.dry_run):
        runs = grid.shard_runs(plan, *shard)
        if shard != (1, 1):
            print(f"shard {shard[0]}/{shard[1]}:")
        print(grid.plan_summary(plan, runs))
        if plan.cfg.get("runnable", True) is False and args.action == "run":
            print(f"note: {plan.cfg.get('not_runnable_reason', 'this preset is for planning only')}")
        return 0
    if args.action == "status":
        table = grid.grid_status(plan.cfg, args.experiment)
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
        print(f"preset {plan.preset}: records under {grid.runs_dir() / plan.preset}")
        print(counts.to_string())
        devices = sorted({d for d in table["device"].dropna()})
        if devices:
            print(f"measured_h: wall-clock hours of the finished runs as recorded (summary.json), on {', '.join(devices)}")
        return 0
    import atlas.train  # noqa: F401  (training needs the `train` extra: fail here, before the run log starts)

    grid.run_grid(plan.cfg, args.experiment, shard, progress=not args.no_progress,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0
