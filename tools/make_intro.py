"""Generate notebooks/00_intro.ipynb (run from the repository root: .venv/bin/python tools/make_intro.py)."""
import sys, pathlib
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from nbbuild import write_notebook  # noqa: E402

write_notebook("notebooks/00_intro.ipynb", [
    ("md", """
# ATLAS, reproduced

This book is an open, runnable reproduction of *ATLAS: Adaptive Transfer Scaling Laws for Multilingual
Pretraining, Finetuning, and Decoding the Curse of Multilinguality* (Longpre et al., arXiv 2510.22037,
ICLR 2026). The authors released no code; everything here -- data sampling, training, the bilingual transfer
score (BTS), the statistics, the scaling-law fits and the pretrain-vs-finetune crossover -- is implemented in
the small package `atlas/` and every chapter is a papermill-executed notebook that reads recorded runs.

**Scale, honestly.** The paper trained 774 models from 10M to 8B parameters on MADLAD-400 with a 64K
vocabulary on TPUs. This book shows a *miniature*: models of tens of thousands to a few hundred thousand
parameters, trained on millions of tokens of real multilingual text (one Bible translation per language, with
FLORES-200 devtest as out-of-domain evaluation) on a 2-core CPU. The miniature runs the paper's *method* end to
end; it cannot test claims whose content is the paper's scale (e.g. its 144B-283B token crossovers), and each
chapter says which claims it reproduces, which it cannot test, and why. No number here is rescaled to look
like the paper's.
"""),
    ("params", 'preset = "smoke"'),
    ("code", """
%matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from atlas import paper_tables, plots, records, reproduction, verdicts
from atlas.params import validate_notebook_params

cfg, _ = validate_notebook_params(preset)
"""),
    ("md", """
## Where each part of the paper lives

Each row names the paper's table or figure, the chapter that reproduces it, the template notebook, and the
command that regenerates the runs behind it (replace `P` by a preset: `smoke`, `cpu`, `gpu`, `paper`).
"""),
    ("code", "reproduction.chapter_map()"),
    ("md", """
## The runs behind this build

Every figure in the book is computed from the run records committed under `runs/<preset>/`; here is what the
preset used for this build contains, against the paper's Table B.3 model grid.
"""),
    ("code", """
specs = records.load_specs(preset)
if len(specs):
    summary = specs.groupby("experiment").agg(runs=("run_id", "size"), min_params=("params", "min"),
                                              max_params=("params", "max"), total_tokens=("tokens", "sum"))
    display(summary)
    display(Markdown(f"**{len(specs)} runs** in `runs/{preset}`, {specs['params'].min():,.0f}-"
                     f"{specs['params'].max():,.0f} parameters; total compute 6ND = "
                     f"{(6 * specs['params'] * specs['tokens']).sum():.2e} FLOPs."))
else:
    display(Markdown(f"`runs/{preset}` holds no finished runs yet: `python -m atlas grid run --preset {preset}`."))
fig = plots.scale_comparison(specs, paper_tables.model_grid_b3(), preset)
plt.show()
"""),
    ("md", """
## Reproduction map

Each chapter records its verdicts while it executes: the paper's number (with section/table), ours, and a
status -- *reproduced*, *partially*, *not reproduced* or *not testable* at this scale -- with the reason. The
table below gathers them for this build.
"""),
    ("code", """
repro = reproduction.reproduction_map(verdicts.load_all())
fig = plots.status_counts(repro)
plt.show()
with pd.option_context("display.max_colwidth", 120):
    display(repro)
"""),
])
