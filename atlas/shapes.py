"""Model shapes and their arithmetic, without torch: parameter counts and FLOPs per token.

:mod:`atlas.model` builds the network; planning, the grid and the book need only these numbers, so they
live here and importing them does not load torch (about 1.5 s per notebook kernel).

    N = V d + L (4 d heads kv + 3 d ffw + d)                (embeddings included, counted once)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

PAPER_VOCAB = 64_512  # 64,000 SentencePiece pieces + 512 special tokens (App. B)


class ShapeError(ValueError):
    """A malformed model shape."""


@dataclass(frozen=True)
class Shape:
    """A model shape as in Table B.3: ``layers``, ``d_model``, ``heads``, ``kv`` (head width), ``ffw``."""

    name: str
    layers: int
    d_model: int
    heads: int
    kv: int
    ffw: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Shape":
        keys = ("name", "layers", "d_model", "heads", "kv", "ffw")
        missing = [k for k in keys if k not in d]
        if missing:
            raise ShapeError(f"shape {dict(d)!r} lacks {missing}; a shape needs {list(keys)}")
        out = cls(str(d["name"]), *(int(d[k]) for k in keys[1:]))
        bad = [k for k in keys[1:] if getattr(out, k) <= 0]
        if bad:
            raise ShapeError(f"shape {out.name!r}: {bad} must be positive integers")
        if out.kv % 2:
            raise ShapeError(f"shape {out.name!r}: kv={out.kv} must be even (rotary embeddings rotate pairs)")
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def param_count(shape: Shape | Mapping[str, Any], vocab_size: int, *, embeddings: bool = True) -> int:
    """Parameters of our model (= the paper's Table B.3 formula), embeddings counted once if ``embeddings``."""
    s = shape if isinstance(shape, Shape) else Shape.from_dict(shape)
    d = s.d_model
    per_layer = 4 * d * s.heads * s.kv + 3 * d * s.ffw + d
    return (vocab_size * d if embeddings else 0) + s.layers * per_layer


def flops_per_token(shape: Shape | Mapping[str, Any], vocab_size: int, seq_len: int, *, attention: bool = True) -> float:
    """Training FLOPs per token: ``6 N`` (forward + backward matmuls), plus causal attention scores if asked.

    Attention adds ``6 * L * heads * kv * seq_len`` per token (QK^T and AV, forward 2x and backward 4x,
    halved for the causal mask), the usual PaLM-appendix accounting.
    """
    s = shape if isinstance(shape, Shape) else Shape.from_dict(shape)
    base = 6.0 * param_count(s, vocab_size)
    if attention:
        base += 6.0 * s.layers * s.heads * s.kv * seq_len
    return base
