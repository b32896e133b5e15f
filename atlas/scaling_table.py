"""The tidy table the scaling laws take, built from run records (:mod:`atlas.records`).

One row per (run, evaluation step, evaluation language, evaluation set). Columns (units):

* ``run_id, experiment, mixture_id, eval_lang, eval_set, step, tokens, loss, loss_u, status, shape, vocab, seed``
* ``N`` (parameters incl. embeddings), ``N_non_embedding``
* ``D`` -- tokens of the evaluation (target) language seen so far = ``mixture[t] * tokens``
* ``U`` -- unique target-language tokens available to the run (``spec.unique_tokens[t]``; ``NaN`` when the
  target is not in the mixture)
* ``D_tot`` = ``tokens`` (all languages); ``D_other = D_tot - D``; ``U_other`` = the sum of ``U_l`` over the
  mixture's other languages (the "other languages" source of ATLAS Eq. 2 treated as one pooled source --
  the paper does not define U_other; this is our choice, see the fitting-protocol appendix)
* ``K`` -- languages in the mixture (weight > 0); ``C = 6 N D_tot`` (FLOPs, this run only)
* ``p_family`` -- summed mixture weight of the languages in the target's family group (MSL)
* ``D_<iso3>``, ``U_<iso3>`` -- tokens seen / unique tokens of every source language of any mixture
* ``in_mixture`` -- the target language is trained on (``D > 0`` once training started)
* finetunes: ``base_run``, ``base_tokens``, ``C_with_base = 6 N (D_tot + base_tokens)``; ``D`` and the
  per-language columns count the finetuning tokens only.

:func:`atlas_design` adds the transfer-language columns of ATLAS (``D_k1..3``, ``U_k1..3``, and ``D_other``,
``U_other`` re-defined to exclude them) for one target; :func:`fit_rows` applies the protocol's exclusions and
says what it excluded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import languages
from atlas.records import load_metrics, load_specs

FAMILY_LEVELS = ("group", "family")
_RESERVED = {"tot"}  # D_tot is not a language


class ScalingTableError(ValueError):
    """No runs, malformed specs, or a bad argument."""


def _weights(spec_row: pd.Series, prefix: str) -> dict[str, float]:
    out = {}
    for col, v in spec_row.items():
        if isinstance(col, str) and col.startswith(prefix) and v is not None and not pd.isna(v):
            out[col[len(prefix) :]] = float(v)
    return out


def mixture_id(mixture: dict[str, float]) -> str:
    """Canonical mixture label: ``eng:0.5,fra:0.5`` (languages with weight > 0, sorted by code)."""
    return ",".join(f"{k}:{round(v, 6):g}" for k, v in sorted(mixture.items()) if v > 0)


def parse_mixture_id(label: str) -> dict[str, float]:
    """Inverse of :func:`mixture_id`."""
    out = {}
    for part in str(label).split(","):
        code, _, w = part.partition(":")
        out[code] = float(w)
    return out


def family_of(iso3: str, level: str = "group") -> str:
    """The language's family (``group``: the Fig. C.2 legend groups, e.g. Germanic; ``family``: Glottolog top level)."""
    if level not in FAMILY_LEVELS:
        raise ScalingTableError(f"unknown family level {level!r}; allowed: {', '.join(FAMILY_LEVELS)}")
    try:
        lang = languages.get(iso3)
    except languages.UnknownLanguageError:
        return iso3
    return getattr(lang, level) or iso3


def build_table(
    preset: str | None = None,
    *,
    experiment: str | None = None,
    root: str | Path | None = None,
    specs: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    family_level: str = "group",
) -> pd.DataFrame:
    """Build the tidy scaling table from run records (``preset``/``root``) or from given specs/metrics frames."""
    if family_level not in FAMILY_LEVELS:
        raise ScalingTableError(f"unknown family level {family_level!r}; allowed: {', '.join(FAMILY_LEVELS)}")
    if specs is None or metrics is None:
        if preset is None:
            raise ScalingTableError("give a preset (e.g. 'smoke') or both specs and metrics frames")
        specs = load_specs(preset, experiment, Path(root) if root else None)
        metrics = load_metrics(preset, experiment, Path(root) if root else None)
    if len(specs) == 0 or len(metrics) == 0:
        where = f"preset {preset!r}" if preset else "the given frames"
        raise ScalingTableError(f"no finished runs in {where}" + (f" (experiment {experiment!r})" if experiment else ""))
    for col in ("run_id", "params", "tokens"):
        if col not in specs:
            raise ScalingTableError(f"run specs lack the key {col!r} (see the run-record contract in atlas.records)")

    run_rows: dict[str, dict[str, Any]] = {}
    all_langs: set[str] = set()
    for _, s in specs.iterrows():
        mix = {k: v for k, v in _weights(s, "mixture.").items() if v > 0}
        if not mix:
            raise ScalingTableError(f"run {s['run_id']!r}: spec has no mixture")
        uniq = _weights(s, "unique_tokens.")
        all_langs.update(mix)
        run_rows[str(s["run_id"])] = {"spec": s, "mix": mix, "uniq": uniq}
    langs = sorted(all_langs)

    m = metrics.copy()
    unknown = sorted(set(m["run_id"].astype(str)) - set(run_rows))
    if unknown:
        raise ScalingTableError(f"metrics of run(s) {unknown[:3]} have no spec")
    out_cols: dict[str, list[Any]] = {k: [] for k in (
        "mixture_id", "N", "N_non_embedding", "D", "U", "D_tot", "D_other", "U_other", "K", "C", "p_family",
        "in_mixture", "status", "shape", "vocab", "seed", "base_run", "base_tokens", "C_with_base")}
    per_lang_D = {l: [] for l in langs}
    per_lang_U = {l: [] for l in langs}
    tokens = m["tokens"].to_numpy(float)
    for i, (rid, lang) in enumerate(zip(m["run_id"].astype(str), m["eval_lang"].astype(str))):
        r = run_rows[rid]
        s, mix, uniq = r["spec"], r["mix"], r["uniq"]
        tok = tokens[i]
        N = float(s["params"])
        w = mix.get(lang, 0.0)
        base_tokens = float(s["base_tokens"]) if "base_tokens" in s and not pd.isna(s.get("base_tokens")) else 0.0
        fam = family_of(lang, family_level)
        out_cols["mixture_id"].append(mixture_id(mix))
        out_cols["N"].append(N)
        out_cols["N_non_embedding"].append(float(s["params_non_embedding"]) if "params_non_embedding" in s else np.nan)
        out_cols["D"].append(w * tok)
        out_cols["U"].append(float(uniq[lang]) if lang in mix and lang in uniq else np.nan)
        out_cols["D_tot"].append(tok)
        out_cols["D_other"].append(tok - w * tok)
        out_cols["U_other"].append(float(sum(uniq.get(l, 0.0) for l in mix if l != lang)))
        out_cols["K"].append(len(mix))
        out_cols["C"].append(6.0 * N * tok)
        out_cols["p_family"].append(float(sum(v for l, v in mix.items() if family_of(l, family_level) == fam)))
        out_cols["in_mixture"].append(lang in mix)
        out_cols["status"].append(s.get("summary.status", "done"))
        out_cols["shape"].append(s.get("shape.name", None))
        out_cols["vocab"].append(s.get("vocab.kind", None))
        out_cols["seed"].append(s.get("seed", None))
        out_cols["base_run"].append(s.get("base_run", None) if "base_run" in s else None)
        out_cols["base_tokens"].append(base_tokens)
        out_cols["C_with_base"].append(6.0 * N * (tok + base_tokens))
        for l in langs:
            per_lang_D[l].append(mix.get(l, 0.0) * tok)
            per_lang_U[l].append(float(uniq.get(l, 0.0)) if l in mix else 0.0)
    table = m[[c for c in ("run_id", "experiment", "eval_lang", "eval_set", "step", "tokens", "loss", "loss_u") if c in m]].copy()
    for k, v in out_cols.items():
        table[k] = v
    for l in langs:
        table[f"D_{l}"] = per_lang_D[l]
        table[f"U_{l}"] = per_lang_U[l]
    table.attrs["languages"] = langs
    table.attrs["family_level"] = family_level
    return table


def source_languages(table: pd.DataFrame) -> list[str]:
    """ISO 639-3 codes that have ``D_<iso3>`` columns."""
    return sorted(
        c[2:] for c in table.columns
        if c.startswith("D_") and len(c) == 5 and c[2:].isalpha() and c[2:].islower() and c[2:] not in _RESERVED
    )


def co_sampled(table: pd.DataFrame, target: str, k: int = 3) -> list[str]:
    """The ``k`` languages most often co-sampled with ``target`` across the runs' mixtures (ATLAS's K_t).

    Counts runs whose mixture contains both; ties broken by the summed mixture weight, then by code.
    Returns fewer than ``k`` codes if fewer languages were ever co-sampled.
    """
    target = languages.resolve(target)
    count: dict[str, int] = {}
    weight: dict[str, float] = {}
    for mix_label in table.drop_duplicates("run_id")["mixture_id"]:
        mix = parse_mixture_id(mix_label)
        if mix.get(target, 0) <= 0:
            continue
        for l, w in mix.items():
            if l != target and w > 0:
                count[l] = count.get(l, 0) + 1
                weight[l] = weight.get(l, 0.0) + w
    ranked = sorted(count, key=lambda l: (-count[l], -weight[l], l))
    return ranked[:k]


def atlas_design(
    table: pd.DataFrame, target: str, *, k_t: int = 3, transfer: Sequence[str] | None = None
) -> pd.DataFrame:
    """The rows of ``target`` with ATLAS's columns: ``D_k1..3``/``U_k1..3`` (transfer languages) and
    ``D_other``/``U_other`` re-defined as everything except the target and the transfer languages.

    ``transfer``: the K_t languages (default: :func:`co_sampled`, the paper's choice). Empty slots (fewer
    than 3 co-sampled languages) get zero tokens, so their tau is not identified (the fit warns).
    The chosen languages are stored in ``frame.attrs["transfer_languages"]``.
    """
    target = languages.resolve(target)
    if transfer is None:
        transfer = co_sampled(table, target, k_t)
    transfer = [languages.resolve(l) for l in transfer]
    if target in transfer:
        raise ScalingTableError(f"the target {target!r} cannot be one of its own transfer languages")
    if len(transfer) > 3:
        raise ScalingTableError(f"ATLAS uses |K_t| = 3 transfer languages; got {len(transfer)}: {transfer}")
    rows = table[table["eval_lang"] == target].copy()
    if rows.empty:
        raise ScalingTableError(f"no rows evaluated on {target!r}; evaluated: {sorted(table['eval_lang'].unique())}")
    srcs = source_languages(table)
    zeros = np.zeros(len(rows))
    d_k = np.zeros(len(rows))
    for i, slot in enumerate(("k1", "k2", "k3")):
        l = transfer[i] if i < len(transfer) else None
        rows[f"D_{slot}"] = rows[f"D_{l}"].to_numpy(float) if l in srcs else zeros
        rows[f"U_{slot}"] = rows[f"U_{l}"].to_numpy(float) if l in srcs else zeros
        d_k = d_k + rows[f"D_{slot}"].to_numpy(float)
    rows["D_other"] = np.maximum(rows["D_tot"].to_numpy(float) - rows["D"].to_numpy(float) - d_k, 0.0)
    excluded = {target, *transfer}
    rows["U_other"] = sum((rows[f"U_{l}"].to_numpy(float) for l in srcs if l not in excluded), zeros)
    rows.attrs["transfer_languages"] = list(transfer)
    rows.attrs["target"] = target
    return rows


def fit_rows(
    table: pd.DataFrame,
    *,
    eval_set: str | None = None,
    loss: str = "loss",
    exclude_diverged: bool = True,
    require_trained: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the protocol's exclusions; return ``(rows, report)`` where the report counts each exclusion.

    Excluded (each reason counted, nothing silent): other evaluation sets; diverged runs; evaluations
    before any token of the target was seen (``D = 0``: the laws need ``D > 0``) or targets outside the
    mixture (``require_trained``); non-finite or non-positive losses.
    """
    keep = np.ones(len(table), bool)
    report = []

    def drop(mask: np.ndarray, reason: str) -> None:
        nonlocal keep
        newly = keep & mask
        report.append({"reason": reason, "rows": int(newly.sum())})
        keep &= ~mask

    if eval_set is not None:
        drop(table["eval_set"].to_numpy() != eval_set, f"eval_set != {eval_set!r}")
    if exclude_diverged and "status" in table:
        drop(table["status"].to_numpy() == "diverged", "diverged run")
    if require_trained:
        drop(~(table["D"].to_numpy(float) > 0), "target not trained on yet (D = 0) or not in the mixture")
    v = table[loss].to_numpy(float)
    drop(~(np.isfinite(v) & (v > 0)), f"{loss} missing or non-positive")
    return table[keep].reset_index(drop=True), pd.DataFrame(report)
