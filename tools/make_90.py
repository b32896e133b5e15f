"""Generate notebooks/90_presets_and_scale.ipynb (run from the repository root)."""
import sys
sys.path.insert(0, "tools")
from nbbuild import write_notebook  # noqa: E402

write_notebook("notebooks/90_presets_and_scale.ipynb", [
    ("md", """
# Appendix: presets, environment, and running at paper scale

Every command and chapter takes a `preset`. This page shows what each preset trains, what it costs (the
same planner as `python -m atlas grid plan`), the environment the committed runs were recorded in, and how
to run the paper's own grid on a cluster.
"""),
    ("params", 'preset = "smoke"'),
    ("code", """
%matplotlib inline
import json
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from atlas import grid, paper_tables, records
from atlas.params import validate_notebook_params
from atlas.presets import available_presets, load_preset

cfg, _ = validate_notebook_params(preset)
"""),
    ("md", "## What each preset trains"),
    ("code", """
plans = {name: grid.build_plan(name) for name in available_presets()}
rows = []
for name, plan in plans.items():
    t = grid.plan_table(plan)
    for exp, sub in t.groupby("experiment"):
        rows.append({"preset": name, "experiment": exp, "runs": len(sub), "params min": sub["params"].min(),
                     "params max": sub["params"].max(), "tokens": sub["tokens"].sum(), "FLOPs (6ND)": sub["flops"].sum()})
costs = pd.DataFrame(rows)
display(costs.style.format({"params min": "{:,.0f}", "params max": "{:,.0f}", "tokens": "{:.3g}", "FLOPs (6ND)": "{:.3g}"}))
fig, ax = plt.subplots(figsize=(7, 3.4))
sns.barplot(data=costs, x="FLOPs (6ND)", y="experiment", hue="preset", ax=ax)
ax.set_xscale("log")
ax.set(title="Training compute per experiment and preset (6ND, log scale)")
plt.show()
"""),
    ("md", "Cost estimates (device, peak and utilisation are stated in each preset's `compute:` section):"),
    ("code", """
for name, plan in plans.items():
    print(grid.plan_summary(plan))
    print()
"""),
    ("md", """
## Planned and measured time of this build's runs

The planner's estimate (`grid plan`) beside the wall-clock time each finished run recorded in its
`summary.json` (training + evaluations; the device is read from its `env.json`). A ratio above 1 means the
machine was slower than the cost model, typically because it was shared while the grid ran.
"""),
    ("code", """
timing = grid.planned_vs_measured(preset)
display(timing.style.format({"planned_h": "{:.2f}", "planned_done_h": "{:.2f}", "measured_h": "{:.2f}",
                             "ratio": "{:.2f}"}).hide(axis="index"))
"""),
    ("md", "## Shapes of the preset used for this build, beside the paper's Table B.3"),
    ("code", """
display(pd.DataFrame(cfg["model"]["shapes"]))
display(paper_tables.model_grid_b3())
"""),
    ("md", "## Environment of the recorded runs"),
    ("code", """
envs = []
for path in records.iter_runs(preset):
    e = records.read_json(path / records.ENV)
    envs.append({k: e.get(k) for k in ("python", "torch", "numpy", "platform", "cpu_count", "torch_threads", "cuda", "git_sha")})
if envs:
    env = pd.DataFrame(envs)
    display(env.value_counts().rename("runs").reset_index())
else:
    display(Markdown(f"No runs recorded for `{preset}`."))
"""),
    ("md", """
## Running at paper scale

The `paper` preset holds the paper's grid: Table B.3 shapes (10M-8B parameters), a 64,000 + 512 vocabulary,
MADLAD-400 through HF `datasets` (`pip install -e .[hub]`), the L_mono / L_pairs / capacity / Unimax /
finetune experiments of Table B.1. It is never run here; on a cluster:

```bash
python -m atlas grid plan --preset paper --experiment all        # the table above
accelerate config                                                # once per machine
accelerate launch -m atlas grid run --preset paper --experiment monolingual --shard 1/64
```

Each shard runs a disjoint slice of the grid and skips finished runs, so shards can be restarted or spread
over machines; all of them write records under `runs/paper/`, which every chapter then reads with
`-p preset paper`.
"""),
])
