"""Chapter 02 (model grid and training): Table B.3 beside our shapes, the runs and their training curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from atlas import grid, records
from atlas import rules
from atlas.chapters.verdicts import EXACT, Verdict, judged
from atlas.paper_tables import model_grid_table_b3
from atlas.paths import runs_dir
from atlas.presets import Preset
from atlas.shapes import PAPER_VOCAB, Shape, param_count


def require_runs(preset: Preset, experiment: str | None = None, root: Path | None = None) -> int:
    """Number of finished runs of ``preset`` (one ``experiment`` if given); a clear error if there are none."""
    names = grid.experiment_names(preset)
    name = preset.name
    if experiment is not None and experiment not in names:
        raise grid.GridError(f"unknown experiment {experiment!r} for preset {name!r}; allowed: {', '.join(names)}")
    n = sum(1 for _ in records.iter_runs(name, experiment, root))
    if n == 0:
        where = Path(root or runs_dir()) / name
        raise grid.GridError(f"no finished runs for preset {name!r}{'' if experiment is None else f' experiment {experiment!r}'} "
                        f"under {where}; create them with `python -m atlas grid run --preset {name} "
                        f"--experiment {experiment or 'all'}`")
    return n


def shape_table(preset: Preset) -> pd.DataFrame:
    """The preset's shapes with parameter counts (embeddings counted once) for both vocabularies."""
    v_multi, v_mono = preset.vocab_size("multi"), preset.vocab_size("mono")
    rows = []
    for s in preset.shapes:
        shape = Shape.from_dict(s)
        rows.append({**shape.as_dict(), "params_multi_vocab": param_count(shape, v_multi),
                     "params_mono_vocab": param_count(shape, v_mono),
                     "params_non_embedding": param_count(shape, v_multi, embeddings=False),
                     "embedding_share_multi": shape.d_model * v_multi / param_count(shape, v_multi),
                     "ffw_over_d": shape.ffw / shape.d_model, "heads_x_kv_over_d": shape.heads * shape.kv / shape.d_model})
    out = pd.DataFrame(rows)
    out.attrs.update(vocab_multi=v_multi, vocab_mono=v_mono, seq_len=preset.seq_len)
    return out


def paper_shape_table() -> pd.DataFrame:
    """Table B.3 with our formula's count and the share of embedding parameters (V = 64,512)."""
    t = model_grid_table_b3().copy()
    shapes = [Shape(f"scale{r.scale}", r.layers, r.d_model, r.heads, r.kv, r.ffw) for r in t.itertuples()]
    t["params_formula"] = [param_count(s, PAPER_VOCAB) for s in shapes]
    t["matches"] = t["params_formula"] == t["params"]
    t["params_non_embedding"] = [param_count(s, PAPER_VOCAB, embeddings=False) for s in shapes]
    t["embedding_share"] = t["d_model"] * PAPER_VOCAB / t["params"]
    return t


def run_table(preset: str, experiment: str | None = None, root: Path | None = None) -> pd.DataFrame:
    """One row per finished run: experiment, id, shape, N, tokens, status, tokens/s, wall seconds."""
    specs = records.load_specs(preset, experiment, root)
    if specs.empty:
        return specs
    cols = {"experiment": "experiment", "run_id": "run_id", "shape.name": "shape", "params": "params",
            "vocab.kind": "vocab", "tokens_trained": "tokens", "summary.status": "status",
            "summary.tokens_per_second": "tokens_per_second", "summary.wall_seconds": "wall_seconds",
            "summary.train_seconds": "train_seconds"}
    out = specs[[c for c in cols if c in specs]].rename(columns=cols)
    out["languages"] = specs["languages"].map(lambda x: "+".join(x) if isinstance(x, list) else x)
    return out.sort_values(["experiment", "params", "run_id"]).reset_index(drop=True)


def training_curves(preset: str, experiment: str = "monolingual", root: Path | None = None) -> pd.DataFrame:
    """Evaluation rows of an experiment's finished runs joined with shape, N and vocabulary (tidy, for plots)."""
    metrics = records.load_metrics(preset, experiment, root)
    if metrics.empty:
        return metrics
    runs = run_table(preset, experiment, root)[["run_id", "shape", "params", "vocab", "languages"]]
    return metrics.merge(runs, on="run_id", how="left")


def chapter_verdicts(preset: str, paper: pd.DataFrame, ours: pd.DataFrame) -> list[Verdict]:
    """Verdicts of the training chapter: the parameter formula against Table B.3 (``paper``:
    :func:`paper_shape_table`) and our shapes' ratios against the paper's (``ours``: :func:`shape_table`)."""
    ch, src = "02_training", "Table B.3"
    n_match = int(paper["matches"].sum())
    out = [judged(ch, src, preset, rules.value(
        "Our parameter formula gives Table B.3's counts", f"{len(paper)} shapes, N as printed",
        n_match / max(len(paper), 1), 1.0, 0.0, EXACT, name=f"share of rows matching exactly ({n_match} of {len(paper)})"))]
    ffw_ok = ours["ffw_over_d"].eq(4)
    kv_ok = ours["heads_x_kv_over_d"].eq(1)
    both = float((ffw_ok & kv_ok).mean()) if len(ours) else float("nan")
    v = rules.value("The miniature keeps the grid's shape ratios", "ffw = 4 d, heads x kv = d", both, 1.0, 0.0, EXACT,
                    name=f"share of our {len(ours)} shapes with ffw / d = 4 and heads x kv / d = 1")
    out.append(judged(ch, src, preset, v))
    return out


#: Where the committed benchmark records of a preset live: ``runs/<preset>/bench/{train,profile}.json``
#: (written by ``python -m atlas bench train|profile --preset P --json runs/P/bench/...``).
BENCH_DIR = "bench"


def bench_record(preset: str, name: str, root: Path | None = None) -> dict[str, Any] | None:
    """The committed benchmark record ``runs/<preset>/bench/<name>.json`` (None when absent)."""
    path = Path(root or runs_dir()) / preset / BENCH_DIR / f"{name}.json"
    return records.read_json(path) if path.exists() else None


def profile_table(profile: dict[str, Any]) -> pd.DataFrame:
    """Per category of ops (:mod:`atlas.bench_profile`): ms per step and share of the step, ours beside HF."""
    out = []
    for key, label in profile["categories"].items():
        row = {"ops": label}
        for model, name in (("ours_eager", "ours"), ("hf_llama", "HF Llama")):
            c = profile["models"].get(model, {}).get("categories", {}).get(key)
            row[f"{name} ms"] = c["ms"] if c else float("nan")
            row[f"{name} share"] = c["share"] if c else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def profile_summary(profile: dict[str, Any]) -> dict[str, float]:
    """The numbers the chapter's prose quotes from a profile record: step times, the matmul share and its
    efficiency, the measured speed-up over HF and its bounds (all non-matmul time free; matmuls also at peak)."""
    ours, hf = profile["models"]["ours_eager"], profile["models"].get("hf_llama", {})
    return {"threads": profile["threads"], "ours_ms": ours["step_ms"], "hf_ms": hf.get("step_ms", float("nan")),
            "matmul_share": ours["gemm"]["share"], "matmul_of_peak": ours["gemm"]["fraction_of_peak"],
            "mfu": ours["mfu_6N"], "mfu_ceiling": ours["mfu_6N_ceiling"],
            "speedup": profile.get("speedup_vs_hf", float("nan")),
            "bound": profile.get("speedup_vs_hf_bound", float("nan")),
            "bound_at_peak": profile.get("speedup_vs_hf_bound_at_peak", float("nan")),
            "loadavg": profile.get("loadavg_1min", float("nan")),
            "measured_at": profile.get("measured_at", "an unrecorded date"), "cpu_count": profile.get("cpu_count")}


def profile_reading(profile: dict[str, Any]) -> str:
    """Where our step gains or loses against HF, read from the profile: the categories with the largest
    differences in ms per step, and what bounds the speed-up (nothing here is stated whatever the numbers)."""
    ours = profile["models"]["ours_eager"]["categories"]
    hf = profile["models"].get("hf_llama", {}).get("categories", {})
    if not hf:
        return "The profile has no HF Llama step to compare with."
    diff = {k: hf[k]["ms"] - ours[k]["ms"] for k in ours if k in hf}
    label = profile["categories"]
    gains = [k for k in sorted(diff, key=diff.get, reverse=True) if diff[k] > 0][:2]
    losses = [k for k in sorted(diff, key=diff.get) if diff[k] < 0][:2]
    parts = []
    if gains:
        parts.append("Our step saves most on " + " and ".join(f"{label[k]} ({diff[k]:.0f} ms)" for k in gains))
    if losses:
        parts.append("it spends more on " + " and ".join(f"{label[k]} ({-diff[k]:.0f} ms)" for k in losses))
    s = profile_summary(profile)
    return ("; ".join(parts) + ". " if parts else "") + (
        f"The matmuls, which both models run alike, take {s['matmul_share']:.0%} of our step: that share bounds "
        f"the speed-up at {s['bound']:.2f}x however fast everything else becomes, and at a d_model of "
        f"{profile['shape']['d_model']} the matmuls reach only {s['matmul_of_peak']:.0%} of the peak.")


def bench_table(train: dict[str, Any]) -> pd.DataFrame:
    """``bench train``'s record as a table: per variant, dtype, compiled, tokens/s, spread over rounds, MFU of
    its dtype's matmul peak and the ratio to HF Llama (measured in the same interleaved rounds)."""
    return pd.DataFrame([{"variant": name, "dtype": v["dtype"], "compiled": v["compiled"],
                          "tokens/s": v["tokens_per_second"], "spread": v["spread"], "MFU (6N)": v["mfu_6N"],
                          "vs HF": v["ratio_vs_hf"]} for name, v in train["variants"].items()])
