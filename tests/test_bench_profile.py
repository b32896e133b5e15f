"""The per-op profile of ``bench profile`` (its machinery on a tiny shape; the figures belong to `make bench`)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from atlas import bench_profile as bp
from atlas.bench_profile import CATEGORIES, bench_profile, format_profile
from atlas.cli import main
from atlas.model import param_count

HAS_HF = importlib.util.find_spec("transformers") is not None
#: regions every step has, whatever the model: found by label (norm, rope, output_ce, optimizer) or by name
REGIONS = ("matmul", "attention", "output_ce", "norm", "rope", "optimizer")


@pytest.fixture(scope="module")
def profile() -> dict:
    return bench_profile("smoke", "xs", steps=2, warmup=1, rounds=1, hf=HAS_HF, peak_n=128)


def test_profile_has_every_category_and_shares_sum_to_one(profile):
    assert set(profile["models"]) == ({"ours_eager", "hf_llama"} if HAS_HF else {"ours_eager"})
    for name, m in profile["models"].items():
        cats = m["categories"]
        assert list(cats) == list(CATEGORIES), name
        assert sum(c["share"] for c in cats.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(c["ms"] >= 0 and 0 <= c["share"] <= 1 for c in cats.values())
        assert all(cats[k]["ms"] > 0 for k in REGIONS), {k: cats[k]["ms"] for k in REGIONS}
        assert m["step_ms"] > 0 and m["step_ms_profiled"] > 0
        assert "aten::mm" in dict(m["top_ops"]["matmul"])  # the transformer's own GEMMs
        assert "aten::mm" in dict(m["top_ops"]["output_ce"])  # the output projection's, in its region


def test_profile_gemm_flops_are_six_n_per_token(profile):
    """FLOPs from the recorded shapes: 6 (N - L d) per token (the norms have no GEMM), within a percent."""
    for m in profile["models"].values():
        g = m["gemm"]
        assert g["flops_per_step"] == pytest.approx(g["flops_6N_per_step"], rel=0.02)
        assert 0 < g["share"] <= 1 and g["flops_per_second"] > 0
        # the ceiling holds against the profiled step, which contains the GEMM time it is read from (the
        # unprofiled step_ms is timed in other rounds, so under load it may beat the profiled one)
        mfu_profiled = g["flops_6N_per_step"] / (m["step_ms_profiled"] / 1e3) / profile["matmul_peak_flops"]
        assert m["mfu_6N_ceiling"] >= mfu_profiled * 0.98 and m["speedup_bound_self"] >= 1
    if HAS_HF:
        assert profile["speedup_vs_hf"] > 0
        assert profile["speedup_vs_hf_bound"] > 0 and profile["speedup_vs_hf_bound_at_peak"] > 0


def test_profile_table_names_every_category(profile):
    text = format_profile(profile)
    assert all(label in text for label in CATEGORIES.values())
    assert "ours_eager ms" in text and ("hf_llama ms" in text) == HAS_HF


def test_labels_are_undone():
    """Profiling patches a few functions and hooks modules while it runs, and restores them all."""
    import torch

    import atlas.model as model

    before = (model.apply_rope, model.linear_cross_entropy, torch.nn.utils.clip_grad_norm_)
    from atlas.bench import Variant, _ours, workload

    shape, vocab, seq_len, _, batch = workload("smoke", "xs")
    step = _ours(shape, vocab, seq_len, batch, Variant("ours_eager", False, "float32"))
    with bp.labels("ours", step.model) as installed:
        assert all(installed.values()) and model.apply_rope is not before[0]
    assert (model.apply_rope, model.linear_cross_entropy, torch.nn.utils.clip_grad_norm_) == before
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in step.model.modules())


def test_category_by_name():
    assert bp._category_by_name("aten::mm") == "matmul"
    assert bp._category_by_name("aten::_scaled_dot_product_flash_attention_for_cpu_backward") == "attention"
    assert bp._category_by_name("aten::copy_") == "memory"
    assert bp._category_by_name("aten::silu_backward") == "elementwise"
    assert bp._category_by_name("aten::embedding_dense_backward") == "other"
    assert bp._category_by_name("autograd::engine::evaluate_function: MmBackward0") == "framework"


def test_profile_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown shape 'nope'"):
        bench_profile("smoke", "nope", hf=False)
    with pytest.raises(ValueError, match=">= 1"):
        bench_profile("smoke", steps=0, hf=False)


# a bad --shape (one line, exit 2): tests/test_cli_bad_input.py::test_named_bad_inputs


def test_cli_json_path_writes_the_profile(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bp, "matmul_peak", lambda dtype="float32", n=0: 1e11)  # the 2048^3 peak: not in tests
    path = tmp_path / "sub" / "profile.json"
    assert main(["bench", "profile", "--preset", "smoke", "--shape", "xs", "--steps", "1", "--repeats", "1",
                 "--no-hf", "--json", str(path)]) == 0
    r = json.loads(path.read_text())
    assert r["shape"]["name"] == "xs" and set(r["models"]) == {"ours_eager"}
    assert r["params"] == param_count(bp.workload("smoke", "xs")[0], r["vocab_size"])
    assert "bench profile: preset smoke, shape xs" in capsys.readouterr().out
    assert main(["bench", "profile", "--preset", "smoke", "--json", str(tmp_path)]) == 2  # a directory
