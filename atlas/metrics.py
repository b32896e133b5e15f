"""Losses, in nats per token.

* :func:`linear_cross_entropy` -- mean next-token cross-entropy of ``hidden @ weight.T`` without ever
  materialising the (tokens x vocabulary) logits: the output projection, softmax and gradients are computed
  chunk by chunk in one pass (the "fused linear cross-entropy" trick). On a CPU, where the softmax of a
  4096-token x 4096-piece logit matrix costs more than the whole transformer, this is the largest speed-up
  of the trainer; it is exact (same value and gradients as ``F.cross_entropy(F.linear(h, w), y)``). Under
  CPU autocast its matmuls run in the autocast dtype and its softmax in float32, as autocast would run
  ``F.cross_entropy(F.linear(h, w).float(), y)``.
* :func:`unigram_normalised_loss` -- the vocabulary-insensitive loss of Tao et al. (2024), used by the
  paper for every evaluation:

      L_u = -(1/T) sum_i log[ p(w_i | w_<i) / p(w_i) ] = CE + (1/T) sum_i log p(w_i)

  where ``p(w)`` is the unigram frequency of token ``w``. We estimate ``p(w)`` (add-one smoothed) from the
  *training* tokens of the evaluated language under the run's tokenizer
  (:func:`atlas.sampling.unigram_log_probs`), so for a given tokenizer and evaluation set the correction is a
  constant and runs remain comparable through CE, while runs with different vocabularies become comparable
  through L_u (a model that only knows unigram frequencies scores ~0).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_CHUNK = 1024  # tokens per chunk: 1024 x 4096 float32 logits = 16 MiB, cache friendly
_AUTOCAST_ELIGIBLE = {torch.float32, torch.bfloat16, torch.float16}


class _LinearCrossEntropy(torch.autograd.Function):
    """Chunked output projection + cross-entropy; gradients are computed in the forward pass."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int,
                need_grad: bool, amp: torch.dtype | None = None) -> torch.Tensor:
        """``amp``: the (CPU) autocast dtype the matmuls run in; None: the inputs' own dtype, no casts."""
        n, out_dtype = hidden.shape[0], hidden.dtype if amp is None else torch.float32
        total = torch.zeros((), dtype=torch.float64, device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_grad else None
        grad_w = torch.zeros_like(weight) if need_grad else None
        with torch.autocast("cpu", enabled=False) if amp is not None else contextlib.nullcontext():
            if amp is not None:  # cast once (autocast would cast the weight at every chunk's matmul)
                hidden, weight = hidden.to(amp), weight.to(amp)
            _LinearCrossEntropy._chunks(hidden, weight, targets, chunk, total, grad_h, grad_w, amp is not None)
        if need_grad:
            ctx.save_for_backward(grad_h, grad_w)
        return (total / n).to(out_dtype)

    @staticmethod
    def _chunks(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int,
                total: torch.Tensor, grad_h: torch.Tensor | None, grad_w: torch.Tensor | None, cast: bool) -> None:
        """Accumulate the summed loss into ``total`` and the gradients into ``grad_h``, ``grad_w`` in place."""
        n = hidden.shape[0]
        need_grad = grad_h is not None
        for start in range(0, n, chunk):
            h, y = hidden[start : start + chunk], targets[start : start + chunk]
            logits = h @ weight.t()
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # at least float32
            target_logit = logits.gather(1, y[:, None]).squeeze(1)
            peak = logits.amax(dim=1, keepdim=True)
            probs = logits.sub_(peak).exp_()  # in place: one exp over the chunk, reused for the gradient
            norm = probs.sum(dim=1, keepdim=True)
            lse = peak.squeeze(1) + norm.squeeze(1).log()
            total += (lse - target_logit).sum(dtype=torch.float64)
            if need_grad:  # d(mean CE)/d(logits) = (softmax - onehot) / n, in place
                probs.mul_(norm.reciprocal_().mul_(1.0 / n))
                probs[torch.arange(len(y), device=y.device), y] -= 1.0 / n
                g = probs.to(weight.dtype)
                grad_h[start : start + chunk] = g @ weight
                if cast:  # the chunk's product in the autocast dtype, summed over chunks in float32
                    grad_w += g.t() @ h
                else:
                    grad_w.addmm_(g.t(), h)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out, grad_w * grad_out, None, None, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Mean cross-entropy (nats/token) of logits ``hidden @ weight.T`` against ``targets``.

    ``hidden``: (tokens, d); ``weight``: (vocabulary, d); ``targets``: (tokens,) int64. On CPU the chunked
    fused kernel: in the inputs' precision, or under CPU autocast (``torch.autocast("cpu", bfloat16)``) with
    its matmuls in the autocast dtype and the softmax in float32. Elsewhere (accelerators, where memory, not
    the softmax, is the bottleneck and autocast does the casting) and for mixed dtypes without autocast, the
    plain ``F.cross_entropy(F.linear(h, w).float(), y)``.
    """
    hidden = hidden.reshape(-1, hidden.shape[-1])
    targets = targets.reshape(-1)
    if hidden.device.type != "cpu":
        return F.cross_entropy(F.linear(hidden, weight).float(), targets)
    amp = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    if amp is not None and not {hidden.dtype, weight.dtype} <= _AUTOCAST_ELIGIBLE:
        amp = None  # autocast leaves float64 alone
    if amp is None and hidden.dtype != weight.dtype:
        return F.cross_entropy(F.linear(hidden, weight).float(), targets)
    need_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    return _LinearCrossEntropy.apply(hidden, weight, targets, int(chunk), need_grad, amp)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy in nats/token from explicit logits (..., vocabulary)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def mean_unigram_log_prob(targets: np.ndarray | torch.Tensor, log_unigram: np.ndarray) -> float:
    """(1/T) sum_i log p(w_i) over the target tokens, in nats (negative)."""
    ids = targets.cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    ids = ids.reshape(-1)
    if ids.size == 0:
        raise ValueError("no target tokens")
    if ids.min() < 0 or ids.max() >= len(log_unigram):
        raise ValueError(f"token ids outside the unigram table of size {len(log_unigram)}")
    return float(np.asarray(log_unigram, dtype=np.float64)[ids].mean())


def unigram_normalised_loss(ce: float, targets: np.ndarray | torch.Tensor, log_unigram: np.ndarray) -> float:
    """Tao et al.'s vocabulary-insensitive loss L_u = CE + mean log p(w_i) (nats/token) for the same targets."""
    return float(ce) + mean_unigram_log_prob(targets, log_unigram)


def unigram_log_probs_from_counts(counts: np.ndarray) -> np.ndarray:
    """log p(w) with add-one smoothing from token counts (float64); the data API's estimator, for tests."""
    counts = np.asarray(counts, dtype=np.float64) + 1.0
    return np.log(counts / counts.sum())
