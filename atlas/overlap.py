"""How much two languages share their tokens under one vocabulary.

Under a shared multilingual vocabulary, two languages in the same script draw on the same subword pieces (and
the same embedding rows); two languages in different scripts hardly touch each other's rows. The overlap of
their token distributions is therefore a direct measure of how much of the model's input and output layer a
bilingual pair has to share, which matters most in small models whose parameters are mostly embeddings.

``overlap = sum_w min(p_s(w), p_t(w))`` (histogram intersection over the vocabulary's token ids, end-of-verse
excluded): 1 = identical token distributions, 0 = disjoint pieces. Distributions are read from each language's
training verses (held-out books never enter).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from atlas import languages as L
from atlas import records, sampling
from atlas.presets import Preset


def token_distributions(preset: str | Preset, langs: Sequence[str], kind: str = "multi") -> pd.DataFrame:
    """Unigram distribution of each language's training tokens under the preset's ``kind`` vocabulary.

    Rows: languages (ISO 639-3), columns: token ids; each row sums to 1 (probability per token, EOS excluded).
    """
    from atlas.tokenizer import get_tokenizer

    p = preset if isinstance(preset, Preset) else Preset.load(preset)
    codes = [L.resolve(x, require_corpus=True) for x in langs]
    records.install_committed_tokenizers(p.name)  # the runs' own vocabulary, never a retrained one
    tok = get_tokenizer(p, kind)
    rows = {}
    for code in codes:
        train = sampling.language_data(p, code, tok).train
        counts = np.bincount(train[train != tok.eos_id], minlength=tok.vocab_size).astype(float)
        rows[code] = counts / counts.sum()
    return pd.DataFrame.from_dict(rows, orient="index")


def overlap_matrix(distributions: pd.DataFrame) -> pd.DataFrame:
    """Histogram intersection of every pair of rows of :func:`token_distributions` (symmetric, diagonal 1)."""
    x = distributions.to_numpy(float)
    out = np.minimum(x[:, None, :], x[None, :, :]).sum(axis=2)
    return pd.DataFrame(out, index=distributions.index, columns=distributions.index)


def pair_overlap(preset: str | Preset, pairs: pd.DataFrame, kind: str = "multi") -> pd.Series:
    """The token overlap of each (``source``, ``target``) row of ``pairs`` (language codes in any accepted
    form), as a Series aligned with ``pairs``. A language outside the corpus raises
    :class:`atlas.languages.UnknownLanguageError`."""
    langs = {L.resolve(x, require_corpus=True) for x in (*pairs["source"], *pairs["target"])}
    return lookup(overlap_matrix(token_distributions(preset, sorted(langs), kind)), pairs)


def lookup(matrix: pd.DataFrame, pairs: pd.DataFrame) -> pd.Series:
    """The overlap of each (``source``, ``target``) row of ``pairs`` from an :func:`overlap_matrix`."""
    src = [L.resolve(x, require_corpus=True) for x in pairs["source"]]
    tgt = [L.resolve(x, require_corpus=True) for x in pairs["target"]]
    return pd.Series([float(matrix.loc[a, b]) for a, b in zip(src, tgt)], index=pairs.index, name="token_overlap")
