"""Chapter 01 (data sampling): token counts, test splits, fertility, sampling weights, verdicts.

Everything here is computed from the bundled corpus with the preset's tokenizers and sampling rules; the
paper's numbers come from :mod:`atlas.paper_tables` (``language_sets.yaml``). Units: tokens are tokenizer
tokens (EOS included in stream lengths), fertility is tokens per non-space character.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import warnings
from typing import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
from tqdm import tqdm

from atlas import corpus, records
from atlas import languages as L
from atlas import sampling as S
from atlas.paper_tables import language_sets
from atlas.presets import Preset
from atlas.tokenizer import Tokenizer, fertility, get_tokenizer
from atlas import rules
from atlas.chapters.verdicts import EXACT, Verdict, judged, untestable

CHAPTER = "01_data_sampling"


def mono_vocab_languages(preset: Preset) -> list[str]:
    """Languages that some experiment of ``preset`` trains with a monolingual vocabulary (the ``monolingual``
    experiment's blocks with ``vocab: mono``, the default); every other run uses the multilingual one."""
    blocks = preset.experiments.get("monolingual") or []
    blocks = blocks if isinstance(blocks, list) else [blocks]
    out: list[str] = []
    for b in blocks:
        if isinstance(b, dict) and b.get("vocab", "mono") == "mono":
            out += [str(x) for x in b.get("languages", []) if str(x) not in out]
    return out


def tokenizers(preset: Preset, languages: Iterable[str], mono_languages: Iterable[str] | None = None,
               retrain: bool = False, install: bool = True) -> dict[tuple[str, str], Tokenizer]:
    """The multilingual vocabulary of ``preset`` for every language, keyed ("multi", lang), and a monolingual one,
    keyed ("mono", lang), for each of ``languages`` that is in ``mono_languages`` (default
    :func:`mono_vocab_languages`: only the vocabularies the preset's runs use).

    By default the models the runs were trained with come from ``runs/<preset>/tokenizers`` (each installed
    only if its SHA-256 is the one the runs recorded: :func:`atlas.records.install_committed_tokenizers`);
    a vocabulary without a committed model is trained (seconds to minutes of SentencePiece on 2 cores).
    ``retrain``: train every vocabulary afresh in a temporary cache (removed at exit), to see what training
    gives on this machine; ``install=False`` skips the committed models without a temporary cache.
    """
    if retrain:
        tmp = tempfile.mkdtemp(prefix="atlas-retrain-")
        atexit.register(shutil.rmtree, tmp, True)
        with _cache_at(tmp):
            out = tokenizers(preset, languages, mono_languages, install=False)
            for tok in out.values():
                _ = tok.sha256  # read the model file while it exists
            return out
    if install:
        installed = records.install_committed_tokenizers(preset.name)
        bad = {k: v for k, v in installed.items() if v not in ("installed", "cached")}
        if bad:  # the page must say that a committed model was not used
            warnings.warn("committed tokenizer model(s) not used: " + "; ".join(f"{k}: {v}" for k, v in bad.items()),
                          stacklevel=2)
    langs = list(languages)
    wanted = set(mono_vocab_languages(preset) if mono_languages is None else mono_languages)
    multi = get_tokenizer(preset, "multi")
    out = {("multi", lang): multi for lang in langs}
    for lang in tqdm([x for x in langs if x in wanted], desc="monolingual vocabularies", disable=None):
        out[("mono", lang)] = get_tokenizer(preset, "mono", lang)
    return out


@contextlib.contextmanager
def _cache_at(path: str) -> Iterator[None]:
    """Point :func:`atlas.paths.cache_dir` at ``path`` for the duration (tokenizers, tokenised corpora)."""
    old = os.environ.get("ATLAS_CACHE_DIR")
    os.environ["ATLAS_CACHE_DIR"] = path
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ATLAS_CACHE_DIR", None)
        else:
            os.environ["ATLAS_CACHE_DIR"] = old


def vocabulary_table(toks: Mapping[tuple[str, str], Tokenizer]) -> pd.DataFrame:
    """One row per distinct vocabulary: size, languages, training sentences, character coverage."""
    rows, seen = [], set()
    for (kind, _lang), tok in toks.items():
        if tok.name in seen:
            continue
        seen.add(tok.name)
        s = tok.meta["settings"]
        rows.append(
            {
                "vocabulary": tok.name,
                "kind": kind,
                "languages": " ".join(tok.languages),
                "pieces": tok.vocab_size,
                "byte pieces": 256 if s["byte_fallback"] else 0,
                "sentences": sum(tok.meta["sentences"].values()),
                "temperature": s["temperature"] if kind == "multi" else np.nan,
                "coverage setting": s["character_coverage"],
                "chars with own piece": tok.meta["effective_character_coverage"],
            }
        )
    return pd.DataFrame(rows)


def tokenizer_check(preset: str, toks: Mapping[tuple[str, str], Tokenizer]) -> pd.DataFrame:
    """Is each vocabulary trained here the model file the preset's runs were trained with?

    One row per distinct vocabulary: ``this build`` and ``recorded`` (first 12 hex digits of the model's
    SHA-256; see :func:`atlas.records.recorded_tokenizers`), ``runs`` (finished runs naming it) and ``same``
    (``True``/``False``, or ``None`` where nothing was recorded). A ``False`` means the runs were trained with
    another model than this machine's SentencePiece builds from the same input: their token counts and losses
    do not refer to the vocabulary shown in this chapter.
    """
    specs = records.load_specs(preset)
    recorded = records.recorded_tokenizers(preset, specs=specs)
    uses = specs["vocab.name"].value_counts().to_dict() if "vocab.name" in specs else {}
    rows, seen = [], set()
    for (kind, _lang), tok in toks.items():
        if tok.name in seen:
            continue
        seen.add(tok.name)
        shas = recorded.get(tok.name, [])
        rows.append({"vocabulary": tok.name, "kind": kind, "this build": tok.sha256[:12],
                     "recorded": ", ".join(h[:12] for h in shas) or "-", "runs": int(uses.get(tok.name, 0)),
                     "same": (shas == [tok.sha256]) if shas else None})
    return pd.DataFrame(rows)


def data_table(preset: Preset, toks: Mapping[tuple[str, str], Tokenizer]) -> pd.DataFrame:
    """One row per (language, vocabulary kind): training/test token counts, caps, fertility.

    Columns: ``lang``, ``script``, ``family``, ``vocab``, ``pool_tokens`` (training verses before the unique
    cap), ``unique_tokens`` (U after the cap), ``capped``, ``test_bible`` (tokens), ``test_limit`` (which of
    cap / fraction / available set it), ``total_tokens``, ``test_share`` (test / total), ``flores_tokens``,
    ``fertility_bible`` and ``fertility_flores`` (tokens per character).
    """
    rows = []
    for (kind, lang), tok in tqdm(toks.items(), desc="token counts", disable=None):
        d = S.language_data(preset, lang, tok)
        frame = corpus.bible_verses(lang)
        train_text = frame.set_index("ref").loc[list(d.train_refs[:500]), "text"].tolist()
        meta = L.get(lang)
        rows.append(
            {
                "lang": lang,
                "script": meta.script,
                "family": meta.family,
                "vocab": kind,
                "pool_tokens": d.meta["pool_tokens"],
                "unique_tokens": d.unique_tokens,
                "capped": d.capped,
                "test_bible": len(d.test["bible"]),
                "test_limit": d.test_limit,
                "total_tokens": d.total_tokens,
                "test_share": len(d.test["bible"]) / d.total_tokens,
                "flores_tokens": len(d.test["flores"]),
                "fertility_bible": fertility(tok, train_text),
                "fertility_flores": fertility(tok, corpus.flores_devtest(lang)),
            }
        )
    return pd.DataFrame(rows)


def fertility_by_script(table: pd.DataFrame) -> pd.DataFrame:
    """Mean FLORES fertility per script and vocabulary kind, and the multilingual/monolingual ratio."""
    wide = table.pivot_table(index="script", columns="vocab", values="fertility_flores", aggfunc="mean")
    wide["languages"] = table.groupby("script")["lang"].nunique()
    if {"multi", "mono"} <= set(wide.columns):
        wide["multi / mono"] = wide["multi"] / wide["mono"]
    return wide.reset_index()


def paper_unique_tokens() -> pd.Series:
    """The paper's unique-token counts (Sec. 3, Fig. 1), keyed by ISO 639-3 code."""
    raw = language_sets()["unique_tokens"]
    return pd.Series({L.resolve(k): float(v) for k, v in raw.items()}, name="paper_unique_tokens")


def unique_tokens_table(table: pd.DataFrame, vocab: str = "multi") -> pd.DataFrame:
    """Our U beside the paper's, both also as a ratio to English (where English is present)."""
    ours = table[table["vocab"] == vocab].set_index("lang")["unique_tokens"].astype(float)
    paper = paper_unique_tokens()
    out = pd.DataFrame({"ours": ours, "paper": paper}).dropna(how="all")
    for col in ("ours", "paper"):
        ref = out.loc["eng", col] if "eng" in out.index else np.nan
        out[f"{col} / eng"] = out[col] / ref
    return out.rename_axis("lang").reset_index()


def weights_table(sizes: Mapping[str, float], temperatures: Iterable[float], budget_tokens: float,
                  max_epochs: float) -> pd.DataFrame:
    """Long table of sampling weights: temperature sampling at each T and UniMax, per language."""
    rows = []
    for t in temperatures:
        for lang, w in S.temperature_weights(sizes, t).items():
            rows.append({"lang": lang, "scheme": f"temperature T={t:g}", "weight": w})
    for lang, w in S.unimax_weights(sizes, budget_tokens, max_epochs).items():
        rows.append({"lang": lang, "scheme": f"UniMax ({max_epochs:g} epochs max)", "weight": w})
    frame = pd.DataFrame(rows)
    frame["size"] = frame["lang"].map(sizes)
    frame["epochs at budget"] = frame["weight"] * budget_tokens / frame["size"]
    return frame


def paper_unimax_rates() -> pd.Series:
    """The paper's UniMax sampling rates (Table B.4), in percent, by label (``most_other_top50`` included)."""
    return pd.Series(language_sets()["unimax_rates_percent"], name="paper_percent", dtype=float)


def sampler_report(streams: Mapping[str, np.ndarray], weights: Mapping[str, float], tokens: int, seq_len: int,
                   batch_size: int, seed: int = 0) -> pd.DataFrame:
    """Run :class:`atlas.sampling.MixtureSampler` for ``tokens`` training tokens and compare with the targets."""
    sampler = S.MixtureSampler(streams, weights, seq_len=seq_len, batch_size=batch_size, seed=seed)
    steps = max(1, int(round(tokens / (seq_len * batch_size))))
    max_dev = 0.0
    for _ in range(steps):
        sampler.next_rows()
        max_dev = max(max_dev, max(abs(sampler.rows[k] - sampler.weights[k] * sampler.total_rows)
                                   for k in sampler.langs))
    seen = sampler.tokens_seen
    total = sum(seen.values())
    out = pd.DataFrame(
        {
            "weight": pd.Series(sampler.weights),
            "target_tokens": pd.Series({k: sampler.weights[k] * total for k in sampler.langs}),
            "tokens_seen": pd.Series(seen),
            "unique_tokens": pd.Series({k: len(streams[k]) for k in sampler.langs}),
            "epochs": pd.Series(sampler.epochs),
        }
    ).rename_axis("lang").reset_index()
    out["error_in_sequences"] = (out["tokens_seen"] - out["target_tokens"]) / seq_len
    out.attrs.update(steps=steps, max_row_deviation=max_dev, total_tokens=total)
    return out


def repetition_table(preset: Preset, table: pd.DataFrame) -> pd.DataFrame:
    """Epochs over U in the preset's monolingual experiment: ``tokens / unique_tokens`` per language and vocabulary
    (one row per block of the experiment that trains the language).

    These are the runs behind the compute-optimal frontiers (the paper's Fig. 1), where repetition bends the
    curves of the low-resource languages. Only languages present in ``table`` are listed.
    """
    blocks = preset.experiments.get("monolingual") or []
    parts = []
    for b in blocks if isinstance(blocks, list) else [blocks]:
        kind = b.get("vocab", "mono")
        langs = [L.resolve(x) for x in b.get("languages", [])]
        sub = table[(table["vocab"] == kind) & table["lang"].isin(langs)].set_index("lang")
        part = pd.DataFrame({"vocab": kind, "unique_tokens": sub["unique_tokens"], "capped": sub["capped"]})
        part["budget_tokens"] = float(b.get("tokens", np.nan))
        parts.append(part.rename_axis("lang").reset_index())
    if not parts:
        return pd.DataFrame(columns=["lang", "vocab", "unique_tokens", "capped", "budget_tokens", "epochs"])
    out = pd.concat(parts, ignore_index=True)
    out["epochs"] = out["budget_tokens"] / out["unique_tokens"]
    return out


def chapter_verdicts(preset: Preset, table: pd.DataFrame, vocab: pd.DataFrame,
                     repetition: pd.DataFrame) -> list[Verdict]:
    """Claim-by-claim verdicts of the data chapter, computed from the tables above."""
    data, tk = preset.data, preset.tokenizer
    multi = table[table["vocab"] == "multi"]
    limits = multi["test_limit"].value_counts().to_dict()
    rule_only = set(limits) <= {"cap", "fraction"}
    multi_vocab = vocab[vocab["kind"] == "multi"].iloc[0]
    low_cov = vocab[vocab["chars with own piece"] < vocab["coverage setting"]]
    name = preset.name
    n_rule = sum(v for k, v in limits.items() if k in ("cap", "fraction"))
    n_all = sum(limits.values())
    split = rules.value(
        "Test split per language = min(20M tokens, 20%)", "min(20M tokens, 20%)", n_rule / max(n_all, 1), 1.0, 0.0,
        EXACT, name=(f"share of languages whose split follows the rule, min({data['test_cap_tokens']:,} tokens, "
                     f"{data['test_fraction']:.0%}) (binding limit: " + ", ".join(f"{k} x{v}" for k, v in limits.items()) + ")"))
    n_cov = len(vocab) - len(low_cov)
    vocab_v = rules.value(
        "SentencePiece vocabulary, T = 100, 99.9995% character coverage",
        "64,000 + 512 special pieces; T = 100; coverage 99.9995%; mono vocabularies with the same settings",
        n_cov / max(len(vocab), 1) if float(tk["temperature"]) == 100 else 0.0, 1.0, 0.0, EXACT,
        name=(f"share of our vocabularies with T = 100 and the coverage setting ({n_cov} of {len(vocab)}; "
              f"{int(multi_vocab['pieces']):,} pieces multi incl. 256 byte pieces, {int(tk['mono_vocab_size']):,} mono, "
              f"T = {tk['temperature']}, coverage {tk['character_coverage']:.4%})"))
    return [
        judged(CHAPTER, "App. B.1", name, split),
        judged(CHAPTER, "App. B.1", name, vocab_v),
        untestable(CHAPTER, "UniMax rates: EN 5%, most languages 1.42%, SW 0.719%, YO 0.060%", "Table B.4",
                   "EN 5.00%, ~50 languages 1.42%, SW 0.719%, YO 0.060% (420 languages)",
                   "the rates depend on MADLAD-400's sizes for 420 languages and an unreported epoch cap", name,
                   ours="UniMax implemented (Chung et al. 2023, Alg. 1); our languages' weights are in the table above"),
        _repetition_verdict(name, repetition),
    ]


def unimax_settings(preset: Preset) -> tuple[float, float]:
    """(budget in tokens, max epochs) for the chapter's UniMax illustration.

    From the preset's ``experiments.unimax`` section when it has one; otherwise the capacity experiment's
    budget and 4 epochs (our choice: the paper does not report its cap).
    """
    exps = preset.experiments
    unimax = exps.get("unimax") or {}
    budget = float(unimax.get("tokens", exps.get("capacity", {}).get("tokens", 1e6)))
    return budget, float(unimax.get("max_epochs", 4))


def paper_unimax(max_epochs: float, budget_tokens: float = 1e12) -> pd.DataFrame:
    """Table B.4's UniMax rates beside what they imply and what UniMax gives on the paper's six counts.

    Rows are Table B.4's labels (``en``, ``most_other_top50``, ``mk`` ...). Columns: ``table_b4_percent``;
    ``paper_unique_tokens`` (Sec. 3, where published); ``implied_epochs`` = rate x budget / unique tokens;
    ``unimax_on_six_percent`` = :func:`atlas.sampling.unimax_weights` on the six published counts alone.
    """
    rates = paper_unimax_rates()
    uniq = paper_unique_tokens()
    six = S.unimax_weights(uniq.to_dict(), budget_tokens, max_epochs)
    rows = []
    for label, rate in rates.items():
        iso3 = L.resolve(label) if label in L._lookup() else None
        u = uniq.get(iso3, np.nan) if iso3 else np.nan
        rows.append({
            "label": label,
            "table_b4_percent": rate,
            "paper_unique_tokens": u,
            "implied_epochs": rate / 100 * budget_tokens / u if np.isfinite(u) else np.nan,
            "unimax_on_six_percent": 100 * six[iso3] if iso3 in six else np.nan,
        })
    for iso3 in uniq.index:  # the published counts without a Table B.4 rate
        if not any(L.resolve(r["label"]) == iso3 for r in rows if r["label"] in L._lookup()):
            rows.append({"label": L.get(iso3).code, "table_b4_percent": np.nan, "paper_unique_tokens": uniq[iso3],
                         "implied_epochs": np.nan, "unimax_on_six_percent": 100 * six[iso3]})
    return pd.DataFrame(rows).set_index("label")


def _repetition_verdict(preset: str, repetition: pd.DataFrame) -> Verdict:
    """Capped (simulated low-resource) languages repeat: the fewest epochs of a capped language against the
    most of an uncapped one (or 1 epoch, whichever is larger), an exact ordering (no sampling noise)."""
    claim, src = "Low-resource languages are repeated (> 1 epoch) at large budgets", "Sec. 3, Fig. 1"
    paper = "unique tokens EN 2.8T ... HI 7.9B, SW 770M; HI and SW frontiers bend from repetition"
    capped = repetition[repetition["capped"]]
    free = repetition[~repetition["capped"]]
    if capped.empty:
        return untestable(CHAPTER, claim, src, paper, "no capped language in the selected monolingual-experiment "
                          "languages", preset)
    ref = max(1.0, float(free["epochs"].max())) if len(free) else 1.0
    v = rules.ordering(claim, paper, float(capped["epochs"].min()), ref, EXACT,
                       names=("fewest epochs of a capped language", "max(1, most epochs of an uncapped language)"))
    note = (f"; monolingual experiment, {repetition['budget_tokens'].max():,.0f} tokens: "
            + "; ".join(f"{r.lang}{' (capped)' if r.capped else ''} {r.epochs:.1f} epochs" for r in repetition.itertuples()))
    return judged(CHAPTER, src, preset, rules.Verdict(v.claim, v.paper, v.ours + note, v.status, v.rule, v.reason, v.noise))
