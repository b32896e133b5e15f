"""Check the committed cpu study against what its design promises (the must-shows of the scaling and transfer
redesigns), from the records alone: `.venv/bin/python tools/verify_cpu_study.py [--preset cpu]`.

Prints one line per check (ok / FAIL and the measured value) and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from atlas import bts, fas, grid, paper_tables, records
from atlas import languages as L
from atlas.presets import Preset, available_presets


def checks(preset: str) -> list[tuple[str, bool, str]]:
    """(what, passed, measured) for every promise of the design."""
    out: list[tuple[str, bool, str]] = []
    status = grid.grid_status(Preset.load(preset))
    todo = status[~status["status"].isin(["done", "diverged"])]
    out.append(("every planned run is done (grid status --experiment all)", todo.empty,
                f"{len(status) - len(todo)} of {len(status)} done" + (f"; open: {sorted(set(todo.experiment))}"
                                                                      if len(todo) else "")))

    metrics = records.load_metrics(preset, "monolingual")
    if metrics.empty:
        return out + [("monolingual runs exist", False, "none")]
    # load_metrics casts the column, so read the raw file: the records themselves must carry it
    raw = next(records.iter_runs(preset, "monolingual")) / "metrics.csv"
    header = raw.read_text(encoding="utf-8").splitlines()[0].split(",")
    out.append(("metrics.csv has a `decayed` column (load_metrics: boolean)",
                "decayed" in header and metrics["decayed"].dtype == bool, f"{raw.parent.name}: {header[-3:]}"))
    dec = metrics[metrics["decayed"]].groupby("run_id")["tokens"].agg(["nunique", "min", "max"])
    span = np.log10(dec["max"] / dec["min"])
    runs = metrics["run_id"].nunique()
    ok = len(dec) == runs and bool((dec["nunique"] >= 6).all() and (span >= 1.5 - 1e-9).all())
    out.append(("every monolingual run has >= 6 decayed points over >= 1.5 decades", ok,
                f"{len(dec)} of {runs} runs; points {dec['nunique'].min()}-{dec['nunique'].max()}, "
                f"decades {span.min():.2f}-{span.max():.2f}"))

    specs = records.load_specs(preset)
    sizes = specs.groupby("vocab.kind")["vocab.size"].unique()
    out.append(("mono and multi vocabularies have the same size", len({int(v) for s in sizes for v in s}) == 1,
                ", ".join(f"{k}: {sorted(int(x) for x in v)}" for k, v in sizes.items())))

    cap = specs[specs["experiment"] == "capacity"]
    per_target = {}
    for langs, k in zip(cap["languages"], cap["languages"].map(len)):
        for lang in langs:
            per_target.setdefault(lang, set()).add(k)
    full = sorted(t for t, ks in per_target.items() if {1, 2, 4, 8} <= ks)
    out.append(("capacity: >= 4 languages at K = 1, 2, 4 and 8", len(full) >= 4, ", ".join(full)))

    seeded = specs.assign(shape=specs["shape.name"], mix=specs["languages"].map(lambda v: "-".join(sorted(v))))
    for exp in ("monolingual", "capacity", "bilingual"):
        n = seeded[seeded["experiment"] == exp].groupby(["shape", "mix", "tokens", "vocab.kind"])["seed"].nunique()
        need = 3 if exp != "bilingual" else 2
        out.append((f"{exp}: >= {need} seeds for one (shape, mixture)", bool(len(n)) and n.max() >= need,
                    f"max {n.max() if len(n) else 0} seeds"))

    bi = specs[(specs["experiment"] == "bilingual") & specs["languages"].map(len).eq(2)]
    pairs = {tuple(sorted(v)) for v in bi["languages"]}
    langs = {x for p in pairs for x in p}
    nine = {L.resolve(x) for x in paper_tables.measured_block()}
    out.append(("36 bilingual pairs over exactly the paper's nine languages", len(pairs) == 36 and langs == nine,
                f"{len(pairs)} pairs over {len(langs)} languages"))

    table = bts.bts_table(preset)
    main = table[~table["replicate"]] if len(table) else table
    s0 = main[main["shape"] == main["shape"].mode().iloc[0]] if len(main) else main
    tpp = (s0["d_mono"] / s0["params"]) if len(s0) else np.array([0.0])
    out.append(("the matrix's scores are read at d_mono / N >= 20", bool(len(s0)) and float(np.min(tpp)) >= 20,
                f"{len(s0)} directed scores, d_mono/N {float(np.min(tpp)):.2f}"))
    seeds = bts.seed_table(table)
    out.append(("seed spread on >= 6 directions", len(seeds) >= 6, f"{len(seeds)} directions with 2+ seeds"))
    size = bts.bts_vs_size(preset)
    dirs = size.groupby(["source", "target"])["shape"].nunique() if len(size) else []
    n_dirs = int((np.asarray(dirs) >= 2).sum()) if len(size) else 0
    out.append(("a second shape on >= 6 directions (BTS against N)", n_dirs >= 6, f"{n_dirs} directions"))

    try:
        ft = fas.fas_table(preset, shape="s0", base_tokens=4_000_000)
        sources = sorted(set(ft.loc[np.isfinite(ft["fas"].astype(float)), "source"]))
    except (ValueError, OSError) as err:
        print(f"FAS: {err}", file=sys.stderr)
        sources = []
    n_lang = len(Preset.load(preset).languages)
    out.append((f"FAS for >= 9 source languages (the design: all {n_lang})", len(sources) >= 9,
                f"{len(sources)} sources"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=available_presets())
    args = ap.parse_args(argv)
    results = checks(args.preset)
    for what, ok, measured in results:
        print(f"{'ok  ' if ok else 'FAIL'}  {what}: {measured}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
