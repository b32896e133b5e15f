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
* ``replicate`` -- which co-language set of the balanced K design the run belongs to (``NaN`` outside it);
  mixtures of replicate >= 1 are Table 1's unseen mixtures (split M)
* ``decayed`` -- the row is a decayed model (a cooldown branch or a run's last evaluation)
* finetunes: ``base_run``, ``base_tokens``, ``C_with_base = 6 N (D_tot + base_tokens)``, ``scratch_run``
  (``<experiment>/<run_id>`` of the matching from-scratch run); ``D`` and the per-language columns count the
  finetuning tokens only.

:func:`atlas_design` adds the transfer-language columns of ATLAS (``D_k1..3``, ``U_k1..3``, and ``D_other``,
``U_other`` re-defined to exclude them) for one target; :func:`fit_rows` applies the protocol's exclusions and
says what it excluded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlas import languages, noise
from atlas import fit as F
from atlas.laws import get_law
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


def _opt(spec_row: pd.Series, key: str) -> Any:
    v = spec_row.get(key, None) if key in spec_row else None
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


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
        key = (str(s.get("experiment", "")), str(s["run_id"]))
        if key in run_rows:
            raise ScalingTableError(f"two finished runs share experiment/run_id {key[0]}/{key[1]}")
        run_rows[key] = {"spec": s, "mix": mix, "uniq": uniq}
    langs = sorted(all_langs)

    m = metrics.copy()
    keys = list(zip(m["experiment"].astype(str), m["run_id"].astype(str)))
    unknown = sorted(set(keys) - set(run_rows))
    if unknown:
        raise ScalingTableError(f"metrics of run(s) {['/'.join(k) for k in unknown[:3]]} have no spec")
    out_cols: dict[str, list[Any]] = {k: [] for k in (
        "mixture_id", "N", "N_non_embedding", "D", "U", "D_tot", "D_other", "U_other", "K", "C", "p_family",
        "in_mixture", "status", "shape", "vocab", "seed", "base_run", "base_tokens", "C_with_base", "scratch_run",
        "replicate")}
    per_lang_D = {l: [] for l in langs}
    per_lang_U = {l: [] for l in langs}
    tokens = m["tokens"].to_numpy(float)
    for i, (key, lang) in enumerate(zip(keys, m["eval_lang"].astype(str))):
        r = run_rows[key]
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
        out_cols["base_run"].append(_opt(s, "base_run"))
        out_cols["scratch_run"].append(_opt(s, "scratch_run"))
        out_cols["base_tokens"].append(base_tokens)
        out_cols["C_with_base"].append(6.0 * N * (tok + base_tokens))
        rep_ = _opt(s, "design.replicate")
        out_cols["replicate"].append(np.nan if rep_ is None else float(rep_))
        for l in langs:
            per_lang_D[l].append(mix.get(l, 0.0) * tok)
            per_lang_U[l].append(float(uniq.get(l, 0.0)) if l in mix else 0.0)
    if "decayed" not in m:
        m["decayed"] = True  # frames built by hand: every row is a model of its own (the caller's claim)
    table = m[[c for c in ("run_id", "experiment", "eval_lang", "eval_set", "step", "tokens", "loss", "loss_u",
                           "decayed") if c in m]].copy()
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

    The base table's ``D_other``/``U_other`` (every non-target language) are kept as ``D_other_all``/
    ``U_other_all`` for the ``atlas-other`` ablation (see :func:`law_columns`).

    ``transfer``: the K_t languages (default: :func:`co_sampled`, the paper's choice, counted over the
    mixtures that split M does NOT hold out, so R2(M) scores mixtures that played no part in choosing K_t). Empty slots (fewer
    than 3 co-sampled languages) get zero tokens, so their tau is not identified (the fit warns).
    The chosen languages are stored in ``frame.attrs["transfer_languages"]``.
    """
    target = languages.resolve(target)
    if transfer is None:
        from atlas.fit import FitDataError, heldout_mask

        try:
            unseen = heldout_mask(table, "M")
        except FitDataError:
            unseen = np.zeros(len(table), bool)
        transfer = co_sampled(table[~unseen], target, k_t)
    transfer = [languages.resolve(l) for l in transfer]
    if target in transfer:
        raise ScalingTableError(f"the target {target!r} cannot be one of its own transfer languages")
    if len(transfer) > 3:
        raise ScalingTableError(f"ATLAS uses |K_t| = 3 transfer languages; got {len(transfer)}: {transfer}")
    rows = table[table["eval_lang"] == target].copy()
    if "D_other_all" not in rows:  # keep the "+D_other" ablation's definition (every non-target token)
        rows["D_other_all"] = rows["D_other"]
        rows["U_other_all"] = rows["U_other"]
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
    decayed_only: bool = True,
    seed_replicates: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the protocol's exclusions; return ``(rows, report)`` where the report counts each exclusion.

    Excluded (each reason counted, nothing silent): evaluations of a model whose learning rate was not decayed
    (``decayed_only``: a scaling law's data point is a decayed model -- cooldown branches and each run's last
    evaluation; ``False`` keeps the stable-phase checkpoints, the old behaviour, as an ablation); other
    evaluation sets; diverged runs; evaluations before any token of the target was seen (``D = 0``: the laws
    need ``D > 0``) or targets outside the mixture (``require_trained``); non-finite or non-positive losses;
    seed replicates (runs ``<id>-seed<n>``: the noise floor of :mod:`atlas.noise`, not extra data points)
    unless ``seed_replicates``.
    """
    keep = np.ones(len(table), bool)
    report = []

    def drop(mask: np.ndarray, reason: str) -> None:
        nonlocal keep
        newly = keep & mask
        report.append({"reason": reason, "rows": int(newly.sum())})
        keep &= ~mask

    if decayed_only and "decayed" in table:
        drop(~table["decayed"].to_numpy(bool), "not a decayed model (stable-phase checkpoint)")
    elif "decayed" in table:  # the ablation: one row per step, the main run's (cooldown branches dropped)
        drop(table["decayed"].to_numpy(bool) & (table["step"].to_numpy() < table.groupby(
            ["experiment", "run_id"])["step"].transform("max").to_numpy()), "cooldown branch (ablation: main run only)")
    if not seed_replicates:
        drop(noise.is_replicate(table["run_id"]), "seed replicate (the noise floor, not a data point)")
    if eval_set is not None:
        drop(table["eval_set"].to_numpy() != eval_set, f"eval_set != {eval_set!r}")
    if exclude_diverged and "status" in table:
        drop(table["status"].to_numpy() == "diverged", "diverged run")
    if require_trained:
        drop(~(table["D"].to_numpy(float) > 0), "target not trained on yet (D = 0) or not in the mixture")
    v = table[loss].to_numpy(float)
    drop(~(np.isfinite(v) & (v > 0)), f"{loss} missing or non-positive")
    return table[keep].reset_index(drop=True), pd.DataFrame(report)


# ----------------------------------------------------------------------------------------------------------
# per-language held-out R2 (Table 1)

#: Column mapping (law column -> design-frame column) per law, for frames made by :func:`atlas_design`:
#: the "+D_other" ablations count every non-target token as "other"; the full law excludes K_t.
LAW_COLUMNS: dict[str, dict[str, str]] = {
    "atlas-other": {"D_other": "D_other_all", "U_other": "U_other_all"},
    "atlas-other-perlam": {"D_other": "D_other_all", "U_other": "U_other_all"},
}


def law_columns(law: str) -> dict[str, str]:
    """The column mapping :func:`atlas.fit.fit` needs to fit ``law`` on an :func:`atlas_design` frame."""
    return dict(LAW_COLUMNS.get(get_law(law).name, {}))


def _heldout_job(args: tuple) -> tuple[str, Any]:
    """One (law, language) of :func:`heldout_by_language`: ("ok", frame) or ("failed", message)."""
    law, design, splits, fit_kw = args
    try:
        return "ok", F.heldout_r2(law, design, splits=splits, columns=law_columns(law), **fit_kw)
    except F.FitDataError as exc:
        return "failed", str(exc)


def heldout_by_language(
    rows: pd.DataFrame,
    laws: Sequence[str],
    *,
    languages: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    k_t: int = 3,
    progress: bool = False,
    n_jobs: int = 1,
    **fit_kw: Any,
) -> pd.DataFrame:
    """Held-out R^2 (on loss) of every law, per target language, on the paper's splits.

    ``rows``: fit rows (:func:`fit_rows`). Each language's rows get ATLAS's transfer columns
    (:func:`atlas_design`, K_t from co-sampling in ``rows``). Long table: ``law, eval_lang, split, metric,
    n_train, n_test, r2, status, reason, test_sd, bias, rmse, flags`` (the held-out losses' s.d., the mean
    prediction error and its root mean square, nats/token) (the training fit's diagnosis, :func:`atlas.fit.diagnosis_columns`;
    empty for a clean fit) -- failed and unscorable fits included, never dropped.
    ``n_jobs > 1`` runs the (language, law) fits in that many forked processes; the results do not depend
    on it (every fit is deterministic).
    """
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    from tqdm import tqdm

    splits = list(splits or F.SPLITS)
    languages = list(languages or sorted(rows["eval_lang"].unique()))
    designs: dict[str, pd.DataFrame | str] = {}
    for lang in languages:
        try:
            designs[lang] = atlas_design(rows, lang, k_t=k_t)
        except ScalingTableError as exc:
            designs[lang] = str(exc)
    jobs = [(lang, law) for lang in languages for law in laws]
    todo = [(law, designs[lang], splits, fit_kw) for lang, law in jobs if not isinstance(designs[lang], str)]
    if n_jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(n_jobs, len(todo)), mp_context=mp.get_context("fork")) as pool:
            done = list(tqdm(pool.map(_heldout_job, todo), total=len(todo), desc="held-out fits", disable=not progress))
    else:
        done = [_heldout_job(a) for a in tqdm(todo, desc="held-out fits", disable=not progress)]
    results = iter(done)
    out = []
    for lang, law in jobs:
        design = designs[lang]
        head = {"law": law, "eval_lang": lang}
        if isinstance(design, str):
            out.extend({**head, "split": s, "metric": F.SPLIT_TITLES[s], "n_train": 0, "n_test": 0, "r2": np.nan,
                        "status": "failed", "reason": design} for s in splits)
            continue
        status, h = next(results)
        if status == "failed":
            out.extend({**head, "split": s, "metric": F.SPLIT_TITLES[s], "n_train": len(design), "n_test": 0,
                        "r2": np.nan, "status": "failed", "reason": h} for s in splits)
            continue
        for r in h.to_dict("records"):
            out.append({**head, **{k: r.get(k, np.nan) for k in ("split", "metric", "n_train", "n_test", "r2", "status", "reason",
                                                               "test_sd", "bias", "rmse")},
                        "flags": r.get("flags") if isinstance(r.get("flags"), str) else ""})
    return pd.DataFrame(out)


def summarise_r2(long: pd.DataFrame) -> pd.DataFrame:
    """Mean R^2 over languages per law and split (Table 1's layout), plus how many languages were scored.

    Languages whose split could not be scored are left out of that mean and counted in ``n_scored``.
    """
    scored = long[np.isfinite(long["r2"].astype(float))]
    mean = scored.pivot_table(index="law", columns="metric", values="r2", aggfunc="mean")
    count = long.assign(ok=np.isfinite(long["r2"].astype(float))).pivot_table(
        index="law", columns="metric", values="ok", aggfunc="sum")
    order = [m for m in ("R2", "R2(N)", "R2(D)", "R2(C)", "R2(M)") if m in count.columns]
    mean = mean.reindex(index=list(dict.fromkeys(long["law"])), columns=order)
    count = count.reindex(index=mean.index, columns=order).astype(int)
    count.columns = [f"n_scored {c}" for c in count.columns]
    return mean.join(count)


# ----------------------------------------------------------------------------------------------------------
# settings (which runs a chapter fits) and the curse-of-multilinguality penalty

SETTINGS = ("mono", "multi", "capacity")
#: the experiments Table 1's "multi" setting reads: the scaling design's decayed models (not the transfer
#: experiment's bilingual runs, nor the finetune experiment's from-scratch twins)
MULTI_EXPERIMENTS = ("monolingual", "capacity", "unimax")


def setting_rows(table: pd.DataFrame, setting: str) -> pd.DataFrame:
    """The rows of one fitting setting (apply :func:`fit_rows` first):

    * ``mono``: monolingual-vocabulary, monolingual runs (the paper's "Mono" block of Table 1, Fig. 1);
    * ``multi``: every from-scratch run of the scaling experiments (:data:`MULTI_EXPERIMENTS`) with the
      multilingual vocabulary -- monolingual baselines, capacity and Unimax mixtures (Table 1's "Multi"
      block). Finetunes of a base are excluded (their loss depends on the base, which no law here models), and
      so are the ``bilingual`` runs and the ``finetune`` experiment's from-scratch twins: they are built for
      the transfer score and the crossover (one decayed model per run, outside the scaling design), so Table 1
      rests on the decayed models of the balanced scaling design alone;
    * ``capacity``: the uniform K-language mixtures (and their K = 1 runs) of the ``capacity`` experiment
      (the K-law, Sec. 5).

    Cross-entropies from different tokenizers are not comparable, so a setting never mixes vocabularies.
    """
    if setting not in SETTINGS:
        raise ScalingTableError(f"unknown setting {setting!r}; allowed: {', '.join(SETTINGS)}")
    scratch = table["base_tokens"].fillna(0).to_numpy(float) == 0 if "base_tokens" in table else np.ones(len(table), bool)
    vocab = table["vocab"].astype(str).to_numpy() if "vocab" in table else np.full(len(table), "")
    if setting == "mono":
        keep = scratch & (vocab == "mono") & (table["K"].to_numpy() == 1)
    elif setting == "multi":
        keep = scratch & (vocab == "multi") & np.isin(table["experiment"].astype(str).to_numpy(), MULTI_EXPERIMENTS)
    else:
        keep = scratch & (table["experiment"].astype(str).to_numpy() == "capacity")
    return table[keep].reset_index(drop=True)


def relative_loss_increase(
    rows: pd.DataFrame,
    *,
    baseline: pd.DataFrame | None = None,
    loss: str = "loss",
    match: Sequence[str] = ("eval_lang", "eval_set", "shape"),
) -> pd.DataFrame:
    """Curse of multilinguality, measured: each K > 1 point's loss over the K = 1 run's loss at the same
    target-language tokens D (log-log interpolation of the K = 1 curve with the same ``match`` columns).

    ``baseline``: where to find the K = 1 curves (default ``rows``; pass the ``multi`` setting to use the
    monolingual multilingual-vocabulary runs of other experiments). Returns the K > 1 rows with ``baseline_loss`` and ``relative_increase = loss / baseline - 1``; NaN (with
    ``reason``) when D falls outside the baseline curve or no baseline exists -- never extrapolated.
    """
    out = []
    base = (rows if baseline is None else baseline)
    base = base[base["K"] == 1]
    for _, r in rows[rows["K"] > 1].iterrows():
        b = base
        for k in match:
            b = b[b[k] == r[k]]
        b = b[b["D"] > 0].groupby("D")[loss].mean()
        row = r.to_dict()
        if len(b) < 2:
            row.update(baseline_loss=np.nan, relative_increase=np.nan, reason="no K = 1 curve with the same " + "/".join(match))
        elif not b.index.min() <= r["D"] <= b.index.max():
            row.update(baseline_loss=np.nan, relative_increase=np.nan,
                       reason=f"D = {r['D']:.4g} outside the K = 1 curve ({b.index.min():.4g}-{b.index.max():.4g})")
        else:
            bl = float(np.exp(np.interp(np.log(r["D"]), np.log(b.index.to_numpy(float)), np.log(b.to_numpy(float)))))
            row.update(baseline_loss=bl, relative_increase=r[loss] / bl - 1, reason="")
        out.append(row)
    return pd.DataFrame(out)
