"""A decoder-only transformer close to the paper's, readable in one sitting (nanoGPT-sized).

Architecture (App. B of the paper gives only the shapes of Table B.3; the rest is inferred from its
parameter counts, which :func:`param_count` reproduces exactly for every row):

* token embedding ``V x d`` **tied** with the output projection (counted once);
* ``L`` *parallel* blocks (PaLM / T5X style): ``x + Attn(norm(x)) + FFN(norm(x))`` with **one** learnable
  RMSNorm scale per block -- the only way to get exactly one ``d``-vector per layer in the paper's count;
* multi-head causal attention with ``heads`` heads of width ``kv`` (so ``heads * kv`` need not equal ``d``),
  rotary position embeddings (RoPE, in real arithmetic so torch.compile fuses it),
  :func:`torch.nn.functional.scaled_dot_product_attention`;
* gated FFN (SwiGLU: ``W_down(silu(W_gate x) * W_up x)``, three ``d x ffw`` matrices);
* no biases anywhere; a final RMSNorm *without* a learnable scale (the paper's count has none).

Per layer: ``4 d (heads kv)`` attention + ``3 d ffw`` FFN + ``d`` norm parameters, hence

    N = V d + L (4 d heads kv + 3 d ffw + d)                (embeddings included, counted once)

The Q/K/V and gate/up projections are stored as one fused matrix each (``qkv``, ``gate_up``) -- the same
parameters, fewer and larger matmuls (faster on CPU and GPU).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from atlas.metrics import linear_cross_entropy
from atlas.shapes import PAPER_VOCAB, Shape, ShapeError, flops_per_token, param_count

__all__ = ["PAPER_VOCAB", "Shape", "ShapeError", "Transformer", "flops_per_token", "param_count"]


class RMSNorm(nn.Module):
    """Root-mean-square norm; ``learnable=False`` gives the weightless final norm."""

    def __init__(self, dim: int, eps: float = 1e-6, learnable: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if learnable else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return y * self.weight if self.weight is not None else y


def _rope_angles(seq_len: int, head_dim: int, base: float) -> torch.Tensor:
    """Angles ``position * theta_j`` in radians, (seq_len, head_dim / 2), float32."""
    theta = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    return torch.outer(torch.arange(seq_len, dtype=torch.float32), theta)


def rope_tables(seq_len: int, head_dim: int, base: float = 10_000.0) -> torch.Tensor:
    """Real RoPE tables (2, seq_len, head_dim): ``[cos, signed sin]`` with each value repeated per channel pair.

    Row 0 is ``cos(a_j)`` at channels ``2j, 2j+1``; row 1 is ``-sin(a_j)`` at ``2j`` and ``+sin(a_j)`` at
    ``2j+1``, so that :func:`apply_rope` is two multiplies and an add (no complex numbers, no ``cat``).
    """
    angles = _rope_angles(seq_len, head_dim, base)
    cos, sin = torch.cos(angles), torch.sin(angles)
    cos2 = torch.stack((cos, cos), dim=-1).flatten(-2)
    sin2 = torch.stack((-sin, sin), dim=-1).flatten(-2)
    return torch.stack((cos2, sin2))


def apply_rope(x: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of ``x`` (..., time, heads, head_dim) by ``tables`` (2, time, head_dim).

    ``(x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)`` per pair -- exactly the complex product
    ``(x0 + i x1) exp(i a)`` of the reference formulation, in real arithmetic; computed in float32.
    """
    xf = x.float()
    swapped = xf.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (x1, x0) per pair
    return (xf * tables[0][:, None, :] + swapped * tables[1][:, None, :]).type_as(x)


class Block(nn.Module):
    """One parallel block: ``x + Attn(norm(x)) + FFN(norm(x))``."""

    def __init__(self, s: Shape, dropout: float) -> None:
        super().__init__()
        self.heads, self.kv, self.ffw = s.heads, s.kv, s.ffw
        inner = s.heads * s.kv
        self.norm = RMSNorm(s.d_model)
        self.qkv = nn.Linear(s.d_model, 3 * inner, bias=False)
        self.out = nn.Linear(inner, s.d_model, bias=False)
        self.gate_up = nn.Linear(s.d_model, 2 * s.ffw, bias=False)
        self.down = nn.Linear(s.ffw, s.d_model, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, time, d_model), ``freqs`` the RoPE tables (2, time, kv) of :func:`rope_tables`."""
        b, t, _ = x.shape
        h = self.norm(x)
        qkv = self.qkv(h).view(b, t, 3, self.heads, self.kv)
        qk = apply_rope(qkv[:, :, :2].transpose(1, 2), freqs)  # (batch, 2, time, heads, kv): q and k in one pass
        q, k, v = qk[:, 0], qk[:, 1], qkv[:, :, 2]  # (batch, time, heads, kv) each
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (batch, heads, time, kv)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        att = self.out(att.transpose(1, 2).reshape(b, t, self.heads * self.kv))
        gate, up = self.gate_up(h).split(self.ffw, dim=-1)
        ffn = self.down(F.silu(gate) * up)
        y = att + ffn
        if self.dropout and self.training:
            y = F.dropout(y, self.dropout)
        return x + y


class Transformer(nn.Module):
    """Decoder-only language model; ``forward(idx)`` returns logits (batch, time, vocab)."""

    def __init__(self, shape: Shape | Mapping[str, Any], vocab_size: int, max_seq_len: int, dropout: float = 0.0) -> None:
        super().__init__()
        s = shape if isinstance(shape, Shape) else Shape.from_dict(shape)
        if vocab_size <= 0 or max_seq_len <= 0:
            raise ShapeError(f"vocab_size={vocab_size} and max_seq_len={max_seq_len} must be positive")
        self.shape, self.vocab_size, self.max_seq_len = s, vocab_size, max_seq_len
        self.embed = nn.Embedding(vocab_size, s.d_model)
        self.blocks = nn.ModuleList(Block(s, dropout) for _ in range(s.layers))
        self.final_norm = RMSNorm(s.d_model, learnable=False)
        self.register_buffer("rope", rope_tables(max_seq_len, s.kv), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nanoGPT/GPT-2 initialisation: N(0, 0.02), residual outputs scaled by 1/sqrt(2 L)."""
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * self.shape.layers) if name.endswith(("out.weight", "down.weight")) else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """Final normalised hidden states (batch, time, d_model) for token ids (batch, time)."""
        t = idx.shape[1]
        if t > self.max_seq_len:
            raise ValueError(f"sequence of {t} tokens exceeds max_seq_len={self.max_seq_len}")
        freqs = self.rope[:, :t]
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, freqs)
        return self.final_norm(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (batch, time, vocab) -- or, given ``targets`` (batch, time), the mean cross-entropy in nats/token.

        With targets the tied output projection and the softmax are fused and chunked
        (:func:`atlas.metrics.linear_cross_entropy`), so the logits are never materialised.
        """
        h = self.hidden(idx)
        if targets is None:
            return F.linear(h, self.embed.weight)  # tied output projection
        return linear_cross_entropy(h, self.embed.weight, targets)

    def num_parameters(self, embeddings: bool = True) -> int:
        """Actual torch parameter count (tied weights counted once)."""
        n = sum(p.numel() for p in self.parameters())
        return n if embeddings else n - self.embed.weight.numel()
