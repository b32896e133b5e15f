"""The model: parameter counts against the paper's Table B.3 and torch, causality, the fused loss."""

from __future__ import annotations

import csv

import pytest
import torch
import torch.nn.functional as F

from atlas.metrics import linear_cross_entropy, unigram_log_probs_from_counts, unigram_normalised_loss
from atlas.model import (PAPER_VOCAB, Shape, ShapeError, Transformer, apply_rope, flops_per_token, param_count,
                         rope_tables)
from atlas.paths import package_data
from atlas.presets import Preset, available_presets


def _table_b3() -> list[dict[str, int]]:
    with package_data("paper/model_grid_table_b3.csv").open() as fh:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _shape(row: dict[str, int]) -> Shape:
    return Shape(f"scale{row['scale']}", row["layers"], row["d_model"], row["heads"], row["kv"], row["ffw"])


def test_table_b3_has_twenty_rows():
    assert len(_table_b3()) == 20


@pytest.mark.parametrize("row", _table_b3(), ids=lambda r: f"scale{r['scale']}")
def test_param_count_formula_reproduces_table_b3(row):
    assert param_count(_shape(row), PAPER_VOCAB) == row["params"]


@pytest.mark.parametrize("row", _table_b3(), ids=lambda r: f"scale{r['scale']}")
def test_torch_count_equals_table_b3(row):
    with torch.device("meta"):  # no memory: only shapes
        model = Transformer(_shape(row), PAPER_VOCAB, max_seq_len=16)
    assert model.num_parameters() == row["params"]
    assert model.num_parameters(embeddings=False) == param_count(_shape(row), PAPER_VOCAB, embeddings=False)


def _preset_shapes():
    out = []
    for name in available_presets():
        cfg = Preset.load(name)
        for kind in ("vocab_size", "mono_vocab_size"):
            v = int(cfg.tokenizer[kind])
            for s in cfg.shapes:
                out.append(pytest.param(s, v, id=f"{name}-{s['name']}-V{v}"))
    return out


@pytest.mark.parametrize("shape,vocab", _preset_shapes())
def test_formula_equals_torch_count_for_preset_shapes(shape, vocab):
    with torch.device("meta"):
        model = Transformer(shape, vocab, max_seq_len=8)
    assert model.num_parameters() == param_count(shape, vocab)
    # tied embeddings are one tensor: counted once
    assert model.embed.weight.data_ptr() == model.embed.weight.data_ptr()
    assert sum(p.numel() for p in model.parameters()) == param_count(shape, vocab)


def test_tied_output_projection_and_no_biases():
    model = Transformer({"name": "t", "layers": 2, "d_model": 16, "heads": 2, "kv": 8, "ffw": 32}, 50, 8)
    names = [n for n, _ in model.named_parameters()]
    assert not any("bias" in n for n in names)
    assert sum("norm" in n for n in names) == 2  # one learnable RMSNorm per layer, none at the output
    idx = torch.randint(0, 50, (1, 5))
    logits = model(idx)
    assert torch.allclose(logits, model.hidden(idx) @ model.embed.weight.t())


def test_causality():
    torch.manual_seed(0)
    model = Transformer({"name": "t", "layers": 2, "d_model": 32, "heads": 2, "kv": 16, "ffw": 64}, 100, 16).eval()
    a = torch.randint(0, 100, (2, 12))
    b = a.clone()
    b[:, 7] = (b[:, 7] + 1) % 100  # change position 7 only
    la, lb = model(a), model(b)
    assert torch.allclose(la[:, :7], lb[:, :7], atol=0, rtol=0)  # earlier positions cannot see the change
    assert not torch.allclose(la[:, 7:], lb[:, 7:])


def test_fused_loss_matches_plain_cross_entropy_and_gradients():
    torch.manual_seed(0)
    h = torch.randn(300, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 50, (300,))
    fused = linear_cross_entropy(h, w, y, chunk=64)
    fused.backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    plain = F.cross_entropy(h @ w.t(), y)
    plain.backward()
    assert fused.item() == pytest.approx(plain.item(), abs=1e-10)
    assert torch.allclose(gh, h.grad, atol=1e-12) and torch.allclose(gw, w.grad, atol=1e-12)
    with torch.no_grad():  # evaluation path: same value, no gradient work
        assert linear_cross_entropy(h, w, y).item() == pytest.approx(plain.item(), abs=1e-10)


def test_fused_loss_under_cpu_bf16_autocast_stays_chunked_and_matches_the_plain_path():
    """Under CPU autocast the loss is still the chunked kernel (no tokens x vocabulary logits), with its
    matmuls in bfloat16 and its softmax in float32: value and gradients as autocast's plain path, within
    bfloat16 tolerance, and both as close to the exact (float64) figures."""
    torch.manual_seed(0)
    h = torch.randn(600, 32, requires_grad=True)
    w = (0.3 * torch.randn(300, 32)).requires_grad_()
    y = torch.randint(0, 300, (600,))
    grads = {}
    for name in ("fused", "plain"):
        h.grad = w.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = linear_cross_entropy(h, w, y, chunk=128) if name == "fused" else F.cross_entropy(F.linear(h, w).float(), y)
        if name == "fused":
            assert type(loss.grad_fn).__name__ == "_LinearCrossEntropyBackward"  # the chunked kernel ran
        assert loss.dtype == torch.float32
        loss.backward()
        grads[name] = (loss.item(), h.grad.clone(), w.grad.clone())
    hd, wd = h.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    exact = F.cross_entropy(hd @ wd.t(), y)
    exact.backward()
    (lf, ghf, gwf), (lp, ghp, gwp) = grads["fused"], grads["plain"]
    assert lf == pytest.approx(lp, rel=1e-4) and lf == pytest.approx(exact.item(), rel=1e-2)

    def rel(a, b):
        return ((a.double() - b.double()).norm() / b.double().norm()).item()

    assert rel(ghf, ghp) < 1e-2 and rel(gwf, gwp) < 1e-2
    assert rel(ghf, hd.grad) < 1e-2 and rel(gwf, wd.grad) < 1e-2
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # evaluation path
        assert linear_cross_entropy(h, w, y).item() == pytest.approx(lp, rel=1e-4)


def test_model_loss_equals_cross_entropy_of_logits():
    torch.manual_seed(0)
    model = Transformer({"name": "t", "layers": 1, "d_model": 16, "heads": 2, "kv": 8, "ffw": 32}, 40, 8)
    x = torch.randint(0, 40, (3, 9))
    loss = model(x[:, :-1], x[:, 1:])
    ref = F.cross_entropy(model(x[:, :-1]).reshape(-1, 40), x[:, 1:].reshape(-1))
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


def test_unigram_normalised_loss():
    counts = torch.tensor([5.0, 3.0, 1.0, 0.0]).numpy()
    log_p = unigram_log_probs_from_counts(counts)
    targets = torch.tensor([0, 0, 1, 2])
    # a model that predicts exactly the unigram distribution has L_u = 0
    ce_unigram = -float(log_p[targets.numpy()].mean())
    assert unigram_normalised_loss(ce_unigram, targets, log_p) == pytest.approx(0.0, abs=1e-12)
    assert unigram_normalised_loss(1.0, targets, log_p) == pytest.approx(1.0 + float(log_p[[0, 0, 1, 2]].mean()))
    with pytest.raises(ValueError, match="outside"):
        unigram_normalised_loss(1.0, torch.tensor([7]), log_p)


def test_flops_per_token():
    s = Shape("t", 2, 32, 2, 16, 128)
    assert flops_per_token(s, 100, 64, attention=False) == 6 * param_count(s, 100)
    assert flops_per_token(s, 100, 64) == 6 * param_count(s, 100) + 6 * 2 * 2 * 16 * 64


@pytest.mark.parametrize("bad", [{"name": "x", "layers": 0, "d_model": 8, "heads": 1, "kv": 8, "ffw": 8},
                                 {"name": "x", "layers": 1, "d_model": 8, "heads": 1, "kv": 7, "ffw": 8},
                                 {"name": "x", "layers": 1, "d_model": 8, "heads": 1, "ffw": 8}])
def test_bad_shapes_raise(bad):
    with pytest.raises(ShapeError):
        Shape.from_dict(bad)


def test_sequence_too_long_raises():
    model = Transformer({"name": "t", "layers": 1, "d_model": 16, "heads": 2, "kv": 8, "ffw": 32}, 40, 8)
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.zeros(1, 9, dtype=torch.long))


# The complex-number RoPE the committed runs were trained with (verbatim, before the real-valued rewrite):
# the reference the model's real-valued RoPE must reproduce.
def _complex_rope_frequencies(seq_len: int, head_dim: int, base: float = 10_000.0) -> torch.Tensor:
    theta = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), theta)
    return torch.polar(torch.ones_like(angles), angles)


def _complex_apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * freqs[:, None, :]).flatten(-2).type_as(x)


def _reference_loss(model: Transformer, x: torch.Tensor) -> torch.Tensor:
    """The model's loss computed by the pre-rewrite forward pass (complex RoPE, separate q and k)."""
    idx, targets = x[:, :-1], x[:, 1:]
    b, t = idx.shape
    freqs = _complex_rope_frequencies(model.max_seq_len, model.shape.kv)[:t]
    h = model.embed(idx)
    for blk in model.blocks:
        n = blk.norm(h)
        q, k, v = blk.qkv(n).view(b, t, 3, blk.heads, blk.kv).unbind(2)
        q, k = _complex_apply_rope(q, freqs), _complex_apply_rope(k, freqs)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        att = blk.out(att.transpose(1, 2).reshape(b, t, blk.heads * blk.kv))
        gate, up = blk.gate_up(n).split(blk.ffw, dim=-1)
        h = h + att + blk.down(F.silu(gate) * up)
    return linear_cross_entropy(model.final_norm(h), model.embed.weight, targets)


def test_real_rope_equals_complex_rope():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 40, 4, 32)  # (batch, q/k, time, heads, head_dim)
    ref = _complex_apply_rope(x, _complex_rope_frequencies(40, 32))
    real = apply_rope(x, rope_tables(40, 32))
    assert torch.allclose(real, ref, rtol=0, atol=1e-6)
    # rotations preserve each pair's norm
    assert torch.allclose(real.unflatten(-1, (-1, 2)).norm(dim=-1), x.unflatten(-1, (-1, 2)).norm(dim=-1), atol=1e-5)


def test_model_loss_and_gradients_unchanged_by_real_rope():
    torch.manual_seed(0)
    model = Transformer({"name": "t", "layers": 2, "d_model": 64, "heads": 2, "kv": 32, "ffw": 256}, 300, 32)
    x = torch.randint(0, 300, (4, 33))
    loss = model(x[:, :-1], x[:, 1:])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    ref = _reference_loss(model, x)
    ref_grads = torch.autograd.grad(ref, list(model.parameters()))
    assert loss.item() == pytest.approx(ref.item(), abs=1e-6)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-4, atol=1e-7)
