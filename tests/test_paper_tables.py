"""The paper's transcribed tables load with the right shape, orientation and values."""

import numpy as np
import pandas as pd
import pytest

from atlas import languages, paper_tables


def test_38x38_shape_orientation_and_diagonal():
    m = paper_tables.transfer_matrix("38x38", codes="paper")
    assert m.shape == (38, 38)
    assert list(m.index) == list(m.columns)
    assert m.index.name == "target" and m.columns.name == "source"
    values = m.to_numpy()
    assert np.isnan(np.diag(values)).all()
    off = values[~np.eye(38, dtype=bool)]
    assert np.isfinite(off).all() and off.size == 1406
    # orientation checks from the transcription notes (rows = target): es -> pt synergy, en -> zh interference
    assert m.loc["pt", "es"] == 0.5 and m.loc["zh", "en"] == -1.0
    assert m.loc["zh", "fa"] == -1.4 and m.loc["fa", "zh"] == -0.1  # zh-fa "highly asymmetric"
    assert m.loc["ms", "id"] == 0.4 and m.loc["no", "sv"] == 0.3 and m.loc["ar", "he"] == 0.2
    # printed -0.0 keeps its sign bit but equals 0
    assert m.loc["en", "sw"] == 0 and np.signbit(m.loc["en", "sw"])
    assert "Fig. C.2" in m.attrs["provenance"]


def test_30x30_is_the_figC2_subblock_and_codes_resolve():
    big = paper_tables.transfer_matrix("38x38")
    small = paper_tables.transfer_matrix("30x30")
    assert small.shape == (30, 30)
    assert all(len(c) == 3 for c in small.index)  # ISO 639-3 by default
    sub = big.loc[small.index, small.columns]
    pd.testing.assert_frame_equal(sub, small, check_exact=True)
    assert set(paper_tables.measured_block()) <= set(small.index)
    assert paper_tables.measured_block(codes="paper")[:3] == ["en", "ru", "es"]
    for code in big.index:
        assert languages.resolve(code) == code


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="allowed: 38x38, 30x30"):
        paper_tables.transfer_matrix("10x10")
    with pytest.raises(ValueError, match="codes must be"):
        paper_tables.transfer_matrix(codes="iso2")
    with pytest.raises(ValueError, match="unknown paper table"):
        paper_tables.provenance("table9")


def test_table1_and_curse_and_crossover():
    t1 = paper_tables.table1_r2()
    assert list(t1.columns) == ["setting", "law", "r2", "r2_N", "r2_D", "r2_C", "r2_M"]
    full = t1[(t1.setting == "multi") & (t1.law == "ATLAS (full)")].iloc[0]
    assert full.r2 == 0.98 and full.r2_M == 0.82
    assert t1[t1.setting == "mono"]["r2_M"].isna().all()
    curse = paper_tables.curse_of_multilinguality()
    assert float(curse.loc["phi", "value"]) == 0.11 and float(curse.loc["psi", "value"]) == -0.04
    cross = paper_tables.crossover_points()
    assert cross["crossover_tokens"].dtype == float
    assert cross.set_index("language").loc["eng", "crossover_tokens"] == 144e9
    assert set(cross["language"]) == {languages.resolve(c) for c in cross["code"]}


def test_model_grid_matches_the_parameter_formula():
    g = paper_tables.model_grid_table_b3()
    V = 64512
    n = V * g.d_model + g.layers * (4 * g.d_model * g.heads * g.kv + 3 * g.d_model * g.ffw + g.d_model)
    assert (n == g.params).all()
    assert paper_tables.model_grid_b3 is paper_tables.model_grid_table_b3


def test_language_sets_resolve_and_findings():
    sets = paper_tables.language_sets()
    assert len(paper_tables.resolve_set(sets["L_pairs"])) == 10
    for mix in sets["capacity_mixtures"].values():
        paper_tables.resolve_set(mix)
    assert paper_tables.resolve_set(sets["transfer_matrix_30_order"]) == list(paper_tables.transfer_matrix("30x30").index)
    f = paper_tables.paper_bts_findings()
    assert f["mean_same_script"] == -0.23 and f["symmetry_pearson_r"] == -0.11
