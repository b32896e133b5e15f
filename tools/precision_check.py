"""Does bf16 autocast (compiled) train the same model as float32, within the seed noise?

Trains one committed run of a preset again with ``train.mixed_precision: bf16`` and ``compile: true`` (the
benchmark's fastest variant) into a temporary folder, and compares its decayed losses with the float32 run and
its seed replicates. Writes ``runs/<preset>/bench/precision.json``:

    python tools/precision_check.py --preset cpu --run mono-eng-s2
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from atlas import grid, records
from atlas.presets import Preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--run", default="mono-eng-s2")
    ap.add_argument("--experiment", default="monolingual")
    args = ap.parse_args()
    preset = Preset.load(args.preset)
    spec = next(s for s in grid.build_plan(preset, args.experiment).runs if s["run_id"] == args.run)
    bf16 = copy.deepcopy(spec)
    bf16["train"] = {**bf16["train"], "mixed_precision": "bf16", "compile": True}
    from atlas.train import train_run

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / args.run
        summary = train_run(bf16, preset, out, progress=False)
        new = pd.read_csv(out / "metrics.csv")
    ref = records.load_metrics(args.preset, args.experiment)
    ids = [args.run] + [r for r in ref["run_id"].unique() if r.startswith(args.run + "-seed")]
    fp32 = ref[ref["run_id"].isin(ids) & ref["decayed"] & (ref["eval_set"] == "bible")]
    table = fp32.pivot_table(index="tokens", columns="run_id", values="loss")
    mine = new[new["decayed"].astype(bool) & (new["eval_set"] == "bible")].set_index("tokens")["loss"]
    rows = []
    for tokens, r in table.iterrows():
        sd = float(r.std(ddof=1)) if r.notna().sum() > 1 else float("nan")
        rows.append({"tokens": float(tokens), "fp32": float(r[args.run]), "bf16": float(mine.get(tokens, np.nan)),
                     "seed_sd": sd, "fp32_seeds": int(r.notna().sum())})
    diffs = [abs(x["bf16"] - x["fp32"]) for x in rows]
    sds = [x["seed_sd"] for x in rows]
    result = {"preset": args.preset, "run": args.run, "variant": "bf16 autocast, torch.compile",
              "points": rows, "max_abs_diff": float(np.nanmax(diffs)), "median_seed_sd": float(np.nanmedian(sds)),
              "within_seed_noise": bool(all(d <= 2 * s for d, s in zip(diffs, sds) if np.isfinite(s))),
              "tokens_per_second_bf16": summary.get("tokens_per_second")}
    path = Path("runs") / args.preset / "bench" / "precision.json"
    records.atomic_write_json(path, result)
    print(json.dumps({k: v for k, v in result.items() if k != "points"}, indent=1), f"-> {path}")


if __name__ == "__main__":
    main()
