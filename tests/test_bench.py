"""The trainer benchmark's machinery (never its speed: timings belong to `make bench`, not to tests)."""

from __future__ import annotations

import pytest

from atlas.bench import LOADED_SPREAD, Variant, bench_train, format_report, spread, variants


def test_variants_cover_compile_and_precision():
    names = [v.name for v in variants()]
    assert names == ["ours_eager", "ours_compiled", "ours_eager_bf16", "ours_compiled_bf16"]
    assert variants(False, "bf16") == [Variant("ours_eager_bf16", False, "bfloat16")]
    assert [v.dtype for v in variants(True, "fp32")] == ["float32"]
    with pytest.raises(ValueError, match="precision"):
        variants(None, "fp16")


def test_spread_is_relative_range():
    assert spread([1.0, 1.0, 1.0]) == 0.0
    assert spread([90.0, 100.0, 110.0]) == pytest.approx(0.2)


def test_bench_train_report_fields():
    r = bench_train("smoke", "xs", steps=1, repeats=2, compile=False, hf=False, peak_n=256)
    assert set(r["variants"]) == {"ours_eager", "ours_eager_bf16"}
    assert set(r["matmul_peak_flops"]) == {"float32", "bfloat16"}
    for v in r["variants"].values():
        assert v["tokens_per_second"] > 0 and len(v["tokens_per_second_rounds"]) == 2
        assert v["spread"] >= 0 and v["mfu_6N"] > 0 and v["mfu_with_attention"] > v["mfu_6N"]
    assert r["best_ours"] in r["variants"] and r["mfu_6N_best"] == r["variants"][r["best_ours"]]["mfu_6N"]
    assert r["loaded"] == (r["max_spread"] > LOADED_SPREAD or r["loadavg_1min"] > r["threads"] + 0.5)
    assert r["deterministic"] is True
    text = format_report(r)
    assert "ours_eager_bf16" in text and ("LOADED MACHINE" in text) == r["loaded"]


def test_bench_train_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown shape"):
        bench_train("smoke", "nope", hf=False)
    with pytest.raises(ValueError, match=">= 1"):
        bench_train("smoke", steps=0, hf=False)
