"""Finetuning Adaptation Score (FAS) and the transfer features of paper App. B.5.2.

The paper finetunes one Unimax base on a single language s and evaluates every language t during the
finetune. With ``L_t^unimax`` the base's loss on t and ``L_{s->t}(d)`` the finetuned model's loss on t after
``d`` finetune tokens (all losses in nats/token):

* ``FAS_{s->t} = (1/d_max) * integral_0^{d_max} (L_t^unimax - L_{s->t}(d)) dd`` -- the loss gained on t,
  averaged over the finetune (nats/token; > 0: finetuning on s helped t);
* ``delta_{s->t} = L_{s->t}(d_max) - L_t^unimax(d_max)`` -- the loss change on t at the end of the finetune
  (nats/token; < 0: t improved);
* ``g_l = (1/d_max) * integral_0^{d_max} (L_l^unimax - L_{l->l}(d)) dd = FAS_{l->l}`` -- the adaptation gain;
* z-scores: ``g~_l = (g_l - mu_g) / sd_g`` over every language with a gain; ``delta~_{s->t} = (delta_{s->t}
  - mu_{delta,t}) / sd_{delta,t}`` over the sources s != t of each target t (every source with a delta);
* the feature vector of a pair: ``x_{s->t} = [g~_s, g~_t, g~_s - g~_t, delta~_{s->t}]``.

How this module reads the formulas (the tests pin each rule):

* **The integral** is the trapezoid rule, linear in tokens, over the points ``(0, L_t^unimax), (d_1, L_1),
  ..., (d_max, L_max)``: the finetune's evaluations, with the base's own loss placed at d = 0 (the finetune
  starts from the base checkpoint). ``d_max`` is the finetune's last evaluation; a recorded d = 0 row is
  replaced by the base's loss so that the integrand is exactly 0 there.
* **L_t^unimax(d_max)** in delta is the base checkpoint's loss on t, the same constant as ``L_t^unimax`` in
  FAS: the paper finetunes a fixed base and describes no Unimax run continued for d_max more tokens (Table
  B.1 lists none), so "(d_max)" names the horizon of the comparison, not a second model. Then
  ``delta_{s->t} = L_{s->t}(d_max) - L_t^unimax``.
* **Standard deviations** are population ones (ddof = 0, as a z-score of the whole set); a target with fewer
  than two sources, or an all-equal set, has no delta~ (NaN, with a reason).
* **Seeds**: several finetunes of one (source, shape, base budget) are averaged per (source, target) before
  the z-scores.

:func:`fas_from_curve` and :func:`fas_scores` are pure functions of curves; :func:`fas_table` builds the
same table from the ``finetune`` run records of a preset (base losses from the base run's final evaluation).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from atlas import records

#: Columns of :func:`fas_scores` / :func:`fas_table`.
FAS_COLUMNS = ["source", "target", "fas", "delta", "d_max", "base_loss", "final_loss", "n_points", "reason"]
#: Columns of :func:`transfer_features` (the paper's feature vector is the last four).
FEATURE_NAMES = ["g_s_z", "g_t_z", "g_diff_z", "delta_z"]


class FASInputError(ValueError):
    """A malformed finetune curve, a bad argument, or records that cannot give FAS (named in the message)."""


# ------------------------------------------------------------------------------------------ pure formulas


def _curve_points(tokens: Sequence[float], loss: Sequence[float], base_loss: float, name: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The finetune curve with the base's loss at d = 0, sorted by tokens (validated)."""
    d = np.asarray(tokens, dtype=float).ravel()
    y = np.asarray(loss, dtype=float).ravel()
    if d.shape != y.shape:
        raise FASInputError(f"{name}: {d.size} token values but {y.size} loss values")
    if not (np.all(np.isfinite(d)) and np.all(d >= 0)):
        raise FASInputError(f"{name}: token counts must be finite and >= 0, got {d.tolist()}")
    if not (math.isfinite(base_loss) and base_loss > 0):
        raise FASInputError(f"{name}: base loss must be finite and > 0 nats/token, got {base_loss!r}")
    keep = d > 0  # a recorded d = 0 evaluation is the base itself: replaced by base_loss
    d, y = d[keep], y[keep]
    if d.size == 0:
        raise FASInputError(f"{name}: need at least one evaluation at > 0 finetune tokens")
    if not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise FASInputError(f"{name}: losses must be finite and > 0 nats/token, got {y.tolist()}")
    order = np.argsort(d, kind="stable")
    d, y = d[order], y[order]
    if np.any(np.diff(d) == 0):
        raise FASInputError(f"{name}: duplicated token count(s) {np.unique(d[1:][np.diff(d) == 0]).tolist()}")
    return np.concatenate([[0.0], d]), np.concatenate([[base_loss], y])


def fas_from_curve(tokens: Sequence[float], loss: Sequence[float], base_loss: float, name: str = "curve") -> float:
    """``FAS = (1/d_max) * integral_0^{d_max} (base_loss - L(d)) dd`` in nats/token.

    ``tokens``: finetune tokens d of each evaluation (> 0; a 0 is replaced by the base); ``loss``: the
    finetuned model's loss there (nats/token); ``base_loss``: the base checkpoint's loss (nats/token), placed
    at d = 0. Trapezoid rule, linear in tokens, up to the last evaluation d_max.
    """
    d, y = _curve_points(tokens, loss, float(base_loss), name)
    gain = base_loss - y
    area = float(np.sum(np.diff(d) * (gain[1:] + gain[:-1]) / 2.0))  # trapezoid, written out (numpy-version safe)
    return area / float(d[-1])


def delta_from_curve(tokens: Sequence[float], loss: Sequence[float], base_loss: float, name: str = "curve") -> float:
    """``delta = L(d_max) - base_loss`` in nats/token (the loss change at the finetune's last evaluation)."""
    d, y = _curve_points(tokens, loss, float(base_loss), name)
    return float(y[-1] - base_loss)


def fas_scores(curves: pd.DataFrame, base_loss: Mapping[str, float]) -> pd.DataFrame:
    """FAS and delta of every (source, target) curve in a tidy table.

    ``curves``: columns ``source`` (the finetuned language), ``eval_lang`` (the evaluated language t),
    ``tokens`` (finetune tokens d), ``loss`` (nats/token); one curve per (source, eval_lang).
    ``base_loss``: eval_lang -> the base checkpoint's loss on it (nats/token). A target without a base loss
    gets NaN scores with a ``reason`` (never an error: the rest of the table is still usable).
    Returns :data:`FAS_COLUMNS`, one row per (source, target), sorted.
    """
    missing = {"source", "eval_lang", "tokens", "loss"} - set(curves.columns)
    if missing:
        raise FASInputError(f"curves table: missing column(s) {sorted(missing)}; "
                            "need source, eval_lang, tokens, loss")
    rows = []
    for (s, t), g in curves.groupby(["source", "eval_lang"], sort=True):
        rows.append(_score_row(str(s), str(t), g, base_loss.get(t)))
    return pd.DataFrame(rows, columns=FAS_COLUMNS)


def _score_row(s: str, t: str, g: pd.DataFrame, base: float | None) -> dict:
    d = g["tokens"].to_numpy(float)
    final = float(g.loc[g["tokens"].idxmax(), "loss"])
    row = {"source": s, "target": t, "d_max": float(d.max()), "final_loss": final, "n_points": int((d > 0).sum()),
           "base_loss": float("nan") if base is None else float(base), "fas": float("nan"),
           "delta": float("nan"), "reason": None}
    if base is None or not math.isfinite(base):
        row["reason"] = f"no base loss on {t} (the base run did not evaluate {t})"
        return row
    name = f"finetune {s} -> eval {t}"
    row["fas"] = fas_from_curve(g["tokens"], g["loss"], base, name)
    row["delta"] = delta_from_curve(g["tokens"], g["loss"], base, name)
    return row


def adaptation_gains(fas: pd.DataFrame) -> pd.Series:
    """``g_l = FAS_{l->l}`` (nats/token) of every language finetuned and evaluated on itself with a finite FAS.

    ``fas``: :func:`fas_scores` rows (seeds already averaged, or one per (source, target)). Index: language.
    """
    diag = fas[(fas["source"] == fas["target"]) & np.isfinite(fas["fas"])]
    g = diag.groupby("source")["fas"].mean()
    g.index.name = "language"
    return g.rename("g")


def _z(values: pd.Series) -> pd.Series:
    """Population z-scores (ddof = 0); NaN when fewer than two values or zero spread."""
    sd = float(values.std(ddof=0)) if len(values) >= 2 else 0.0
    if not (sd > 0):
        return pd.Series(np.nan, index=values.index)
    return (values - values.mean()) / sd


def transfer_features(fas: pd.DataFrame) -> pd.DataFrame:
    """The paper's feature vector for every ordered pair s != t that has one (App. B.5.2).

    ``fas``: :func:`fas_scores` / :func:`fas_table` rows (several rows of one (source, target), e.g. seeds,
    are averaged first). A pair has features when g_s, g_t and delta_{s->t} exist and target t has at least
    two sources with a delta (its z-score needs a spread). delta~ uses every source s != t with a delta,
    including sources without a gain of their own (the paper has all of them; here it uses what exists). Index: (source, target). Columns: ``g_s, g_t``
    (nats/token), ``delta`` (nats/token), then :data:`FEATURE_NAMES` = ``[g~_s, g~_t, g~_s - g~_t, delta~]``.
    """
    mean = (fas[np.isfinite(fas["fas"]) & np.isfinite(fas["delta"])]
            .groupby(["source", "target"], as_index=False)[["fas", "delta"]].mean())
    g = adaptation_gains(mean)
    g_z = _z(g)
    pairs = mean[mean["source"] != mean["target"]].copy()
    pairs["delta_z"] = pairs.groupby("target")["delta"].transform(_z)  # over every source of t with a delta
    pairs = pairs[pairs["source"].isin(g.index) & pairs["target"].isin(g.index)]
    out = pd.DataFrame({
        "source": pairs["source"], "target": pairs["target"],
        "g_s": pairs["source"].map(g).to_numpy(), "g_t": pairs["target"].map(g).to_numpy(),
        "delta": pairs["delta"].to_numpy(),
        "g_s_z": pairs["source"].map(g_z).to_numpy(), "g_t_z": pairs["target"].map(g_z).to_numpy(),
    })
    out["g_diff_z"] = out["g_s_z"] - out["g_t_z"]
    out["delta_z"] = pairs["delta_z"].to_numpy()
    out = out.dropna(subset=FEATURE_NAMES).set_index(["source", "target"]).sort_index()
    return out[["g_s", "g_t", "delta", *FEATURE_NAMES]]


# ------------------------------------------------------------------------------------------ from run records


def finetune_specs(preset: str, root: Path | None = None) -> pd.DataFrame:
    """One row per finished single-language finetune of ``preset``: ``run_id, source, seed, shape, params,
    base_run, base_tokens, tokens, path`` (mixtures read from ``spec.json``, run ids never parsed)."""
    rows = []
    for path in records.iter_runs(preset, "finetune", root):
        spec = records.read_json(path / records.SPEC)
        mixture = spec.get("mixture") or {}
        if not spec.get("base_run") or len(mixture) != 1:
            continue  # from-scratch comparison runs share the experiment folder
        rows.append({"run_id": spec["run_id"], "source": next(iter(mixture)), "seed": spec.get("seed"),
                     "shape": (spec.get("shape") or {}).get("name"), "params": spec.get("params"),
                     "base_run": spec["base_run"], "base_tokens": float(spec.get("base_tokens") or float("nan")),
                     "tokens": float(spec.get("tokens", float("nan"))), "path": str(path)})
    return pd.DataFrame(rows, columns=["run_id", "source", "seed", "shape", "params", "base_run", "base_tokens",
                                       "tokens", "path"])


def finetune_groups(preset: str, root: Path | None = None) -> pd.DataFrame:
    """(shape, base_tokens, tokens) groups of the preset's finetunes -- one finetuning budget per group, so a
    longer finetune never averages with a shorter one: ``shape, base_tokens, tokens, params, n_sources,
    n_runs``, in the default order of :func:`fas_table` (most sources, then the larger base budget, then larger
    N)."""
    specs = finetune_specs(preset, root)
    if specs.empty:
        return pd.DataFrame(columns=["shape", "base_tokens", "tokens", "params", "n_sources", "n_runs"])
    out = (specs.groupby(["shape", "base_tokens", "tokens"], as_index=False)
           .agg(params=("params", "max"), n_sources=("source", "nunique"), n_runs=("run_id", "size")))
    return out.sort_values(["n_sources", "base_tokens", "params"], ascending=False, ignore_index=True)


def _base_losses(base_path: Path, eval_set: str, loss: str) -> dict[str, float]:
    """eval_lang -> the base run's loss at its last evaluation (the checkpoint the finetunes start from)."""
    m = records.main_trajectory(pd.read_csv(base_path / records.METRICS))
    last = m[(m["step"] == m["step"].max()) & (m["eval_set"] == eval_set)]
    return {str(k): float(v) for k, v in last.groupby("eval_lang")[loss].mean().items()}


def _find_run(preset: str, run_id: str, root: Path | None) -> Path:
    """The finished run ``run_id`` of ``preset`` (the ``unimax`` experiment first)."""
    base = Path(root or records.runs_dir()) / preset
    hits = [base / "unimax" / run_id] + sorted(p for p in base.glob(f"*/{run_id}") if p.parent.name != "unimax")
    for path in hits:
        if records.is_finished(path):
            return path
    raise FASInputError(f"base run {run_id!r} of preset {preset!r} is not a finished run under {base}")


def finetune_curves(
    preset: str,
    shape: str | None = None,
    base_tokens: float | None = None,
    eval_set: str = "bible",
    loss: str = "loss",
    root: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy finetune curves of one (shape, base budget) group and the base losses they start from.

    ``shape``/``base_tokens`` ``None``: the first group of :func:`finetune_groups` that matches (the group with
    the most source languages). Returns ``(curves, base)``:
    ``curves`` with columns ``run_id, seed, base_run, source, eval_lang, tokens, loss`` (main trajectory, cooldown
    branches dropped) and ``base`` with ``base_run, eval_lang, base_loss`` (nats/token, last evaluation).
    """
    from atlas.bts import validate_matrix_params

    validate_matrix_params(preset, eval_set, loss)
    specs = finetune_specs(preset, root)
    if specs.empty:
        raise FASInputError(f"no finished finetune runs in preset {preset!r}; generate them with: "
                            f"python -m atlas grid run --preset {preset} --experiment finetune")
    groups = finetune_groups(preset, root)
    sel = groups
    if shape is not None:
        sel = sel[sel["shape"] == shape]
    if base_tokens is not None:
        sel = sel[np.isclose(sel["base_tokens"].astype(float), float(base_tokens))]
    if sel.empty:
        have = ", ".join(f"{r.shape}@{r.base_tokens:.0f}" for r in groups.itertuples())
        raise FASInputError(f"no finetunes of shape {shape!r} from a {base_tokens!r}-token base in preset "
                            f"{preset!r}; groups (shape@base tokens): {have}")
    shape_, budget, ft_tokens = sel.iloc[0]["shape"], float(sel.iloc[0]["base_tokens"]), float(sel.iloc[0]["tokens"])
    runs = specs[(specs["shape"] == shape_) & np.isclose(specs["base_tokens"].astype(float), budget)
                 & np.isclose(specs["tokens"].astype(float), ft_tokens)]
    frames, bases = [], []
    for r in runs.itertuples():
        m = records.main_trajectory(pd.read_csv(Path(r.path) / records.METRICS))
        m = m[m["eval_set"] == eval_set]
        frames.append(pd.DataFrame({"run_id": r.run_id, "seed": r.seed, "base_run": r.base_run, "source": r.source,
                                    "eval_lang": m["eval_lang"], "tokens": m["tokens"], "loss": m[loss]}))
    for base_run in sorted(runs["base_run"].unique()):
        losses = _base_losses(_find_run(preset, base_run, root), eval_set, loss)
        bases += [{"base_run": base_run, "eval_lang": k, "base_loss": v} for k, v in sorted(losses.items())]
    curves = pd.concat(frames, ignore_index=True)
    base = pd.DataFrame(bases, columns=["base_run", "eval_lang", "base_loss"])
    curves.attrs.update(shape=str(shape_), base_tokens=budget, tokens=ft_tokens, eval_set=eval_set, loss=loss,
                        preset=preset)
    return curves, base


def fas_table(
    preset: str,
    shape: str | None = None,
    base_tokens: float | None = None,
    eval_set: str = "bible",
    loss: str = "loss",
    root: Path | None = None,
) -> pd.DataFrame:
    """FAS and delta of every (finetune run, evaluated language) of one (shape, base budget) group.

    One row per (run, target): :data:`FAS_COLUMNS` plus ``run_id, seed, base_run``. Targets the base run did
    not evaluate are NaN with a reason. ``frame.attrs``: ``shape, base_tokens, eval_set, loss, preset``.
    See :func:`finetune_curves` for the group choice and :func:`fas_scores` for the formulas.
    """
    curves, base = finetune_curves(preset, shape, base_tokens, eval_set, loss, root)
    parts = []
    for (run_id, seed, base_run), g in curves.groupby(["run_id", "seed", "base_run"], sort=True):
        b = base[base["base_run"] == base_run].set_index("eval_lang")["base_loss"].to_dict()
        part = fas_scores(g, b)
        part.insert(0, "run_id", run_id)
        part.insert(1, "seed", seed)
        part.insert(2, "base_run", base_run)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True).sort_values(["source", "target", "seed"], ignore_index=True)
    out.attrs.update(curves.attrs)
    return out
