"""Losses of the continuous regressor (paper 000, eqs. 1-3).

- :func:`ccc` / :func:`ccc_loss`: the concordance correlation coefficient
  ``2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` and ``1 - CCC``, computed over the valid
  (masked) time steps. ``level="batch"`` pools every valid step of every sequence of the batch into
  one series (as in paper 000 and the end-to-end systems it builds on, where the batch of segments
  is one long series); ``level="sequence"`` computes one CCC per sequence and averages them.
  Population (biased, ``1/N``) moments are used, like the paper's formula.
- :func:`bce_loss`: binary cross-entropy on logits, masked (unknown gender = masked out).
- :func:`multitask_loss` and :class:`MultitaskLoss`:
  ``L = (L_V + L_A + alpha * L_E + beta * L_G) / (2 + alpha + beta)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-8


def _flat(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None):
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if mask is None:
        return pred.reshape(-1), target.reshape(-1)
    m = mask.reshape(-1).bool()
    return pred.reshape(-1)[m], target.reshape(-1)[m]


def _ccc_1d(x: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    mx, my = x.mean(), y.mean()
    vx = ((x - mx) ** 2).mean()
    vy = ((y - my) ** 2).mean()
    cov = ((x - mx) * (y - my)).mean()
    return 2 * cov / (vx + vy + (mx - my) ** 2 + eps)


def ccc(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, *,
        level: str = "batch", eps: float = EPS) -> torch.Tensor:
    """CCC between ``pred`` and ``target`` (same shape, ``(batch, time)`` or ``(time,)``).

    ``mask`` (same shape, 1 = valid step) drops padding. ``level`` is ``"batch"`` (pool all valid
    steps) or ``"sequence"`` (mean of per-sequence CCCs; sequences with < 2 valid steps are skipped).
    """
    if level == "batch" or pred.dim() < 2:
        x, y = _flat(pred, target, mask)
        if x.numel() == 0:
            return pred.sum() * 0.0
        return _ccc_1d(x, y, eps)
    if level != "sequence":
        raise ValueError(f"level must be 'batch' or 'sequence', not {level!r}")
    vals = []
    for i in range(pred.shape[0]):
        x, y = _flat(pred[i], target[i], None if mask is None else mask[i])
        if x.numel() >= 2:
            vals.append(_ccc_1d(x, y, eps))
    if not vals:
        return pred.sum() * 0.0
    return torch.stack(vals).mean()


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, *,
             level: str = "batch") -> torch.Tensor:
    """``1 - CCC`` (paper 000, eq. 1): 0 for perfect agreement, 1 for none, up to 2 for inverse."""
    return 1.0 - ccc(pred, target, mask, level=level)


def bce_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy (paper 000, eq. 2) on logits over the valid entries; targets in {0, 1}."""
    x, y = _flat(logits, target.to(logits.dtype), mask)
    if x.numel() == 0:
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(x, y)


def multitask_loss(l_v, l_a, l_e=None, l_g=None, *, alpha: float = 0.0, beta: float = 0.0):
    """``(L_V + L_A + alpha L_E + beta L_G) / (2 + alpha + beta)`` (paper 000, eq. 3).

    A missing auxiliary loss (``None``) counts as 0 and its weight is dropped from the numerator
    and the denominator, so ``alpha=beta=0`` gives the plain mean of the valence and arousal losses.
    """
    if alpha < 0 or beta < 0:
        raise ValueError("alpha and beta must be >= 0")
    num = l_v + l_a
    den = 2.0
    if l_e is not None and alpha > 0:
        num = num + alpha * l_e
        den += alpha
    if l_g is not None and beta > 0:
        num = num + beta * l_g
        den += beta
    return num / den


@dataclass
class MultitaskLoss:
    """The loss of the regressor: CCC on valence, arousal (and the context target), BCE on gender.

    Called with ``pred`` (``(B, T, K)``: valence, arousal, [context], [gender logit]) and a dict of
    targets ``valence``/``arousal``/``context`` ``(B, T)``, ``gender`` ``(B,)`` (1 = female,
    0 = male, -1 = unknown) and ``mask`` ``(B, T)``. Returns ``(loss, parts)`` with the parts as
    floats for logging.
    """

    alpha: float = 0.0
    beta: float = 0.0
    level: str = "batch"
    context_index: int | None = 2
    gender_index: int | None = 3

    def __call__(self, pred: torch.Tensor, target: dict, mask: torch.Tensor):
        l_v = ccc_loss(pred[..., 0], target["valence"], mask, level=self.level)
        l_a = ccc_loss(pred[..., 1], target["arousal"], mask, level=self.level)
        parts = {"v": float(l_v.detach()), "a": float(l_a.detach())}
        l_e = l_g = None
        if self.alpha > 0 and self.context_index is not None and target.get("context") is not None:
            ctx = target["context"]
            ok = mask * torch.isfinite(ctx).to(mask.dtype)
            l_e = ccc_loss(pred[..., self.context_index], torch.nan_to_num(ctx), ok, level="batch")
            parts["e"] = float(l_e.detach())
        if self.beta > 0 and self.gender_index is not None and target.get("gender") is not None:
            g = target["gender"].to(pred.dtype)
            gm = mask * (g >= 0).to(mask.dtype)[:, None]
            l_g = bce_loss(pred[..., self.gender_index], g[:, None].expand_as(mask).clamp(min=0), gm)
            parts["g"] = float(l_g.detach())
        loss = multitask_loss(l_v, l_a, l_e, l_g, alpha=self.alpha, beta=self.beta)
        parts["loss"] = float(loss.detach())
        return loss, parts
