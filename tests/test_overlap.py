"""Token overlap between languages (atlas.overlap): the histogram intersection and its reading of real text."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas import overlap, stats

dists = st.lists(st.floats(0, 1), min_size=5, max_size=5).filter(lambda v: sum(v) > 0)


@settings(max_examples=50, deadline=None)
@given(a=dists, b=dists)
def test_intersection_is_symmetric_bounded_and_one_on_the_diagonal(a, b):
    d = pd.DataFrame([np.asarray(a) / sum(a), np.asarray(b) / sum(b)], index=["a", "b"])
    m = overlap.overlap_matrix(d)
    assert np.allclose(np.diag(m), 1.0)
    assert m.loc["a", "b"] == m.loc["b", "a"]
    assert -1e-12 <= m.loc["a", "b"] <= 1 + 1e-12


def test_disjoint_and_identical_distributions():
    d = pd.DataFrame([[0.5, 0.5, 0, 0], [0, 0, 0.2, 0.8], [0.5, 0.5, 0, 0]], index=["x", "y", "z"])
    m = overlap.overlap_matrix(d)
    assert m.loc["x", "y"] == 0 and m.loc["x", "z"] == 1


def test_same_script_pairs_share_more_tokens_on_real_text():
    d = overlap.token_distributions("smoke", ["eng", "fra", "cmn"])
    assert np.allclose(d.sum(axis=1), 1.0) and list(d.index) == ["eng", "fra", "cmn"]
    pairs = pd.DataFrame({"source": ["eng", "eng"], "target": ["fra", "cmn"]})
    en_fr, en_zh = overlap.pair_overlap("smoke", pairs)
    assert en_fr > 2 * en_zh  # Latin with Latin against Latin with Han


def test_language_bootstrap_resamples_languages_not_cells():
    langs = ["a", "b", "c", "d", "e"]
    cells = pd.DataFrame([(s, t) for s in langs for t in langs if s != t], columns=["source", "target"])
    cells["y"] = np.arange(len(cells), dtype=float)
    lo, hi = stats.language_bootstrap(cells, lambda rows: float(rows["y"].mean()), n_boot=300)
    assert lo < cells["y"].mean() < hi
    assert stats.language_bootstrap(cells[cells["source"].isin(["a", "b"]) & cells["target"].isin(["a", "b", "c"])],
                                      lambda rows: 0.0) is None  # 3 languages: too few to resample
