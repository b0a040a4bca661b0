"""Training losses on logits, with soft targets, an elementwise mask and per-sample weights.

Multi-label (sigmoid, one binary problem per class): ``asl``, ``bce``, ``focal``. Single-label
(softmax over the classes, one class per clip): ``cross_entropy``. Which fit a task is
:meth:`common.tasks.base.Task.loss_name`'s business; this module only builds them.

All losses share one call signature::

    loss = criterion(logits, targets, mask=None, weight=None)

- ``logits`` ``(B, C)``: raw scores (clip logits from the SED head).
- ``targets`` ``(B, C)`` in ``[0, 1]``: hard labels, label-smoothed or pseudo labels
  (``cross_entropy``: a distribution over the classes per row, e.g. one-hot).
- ``mask`` ``(B, C)``, optional: 1 keeps an entry, 0 drops it (e.g. secondary labels whose
  presence in the window is uncertain). Dropped entries contribute nothing and get no gradient
  (``cross_entropy``: a dropped class is left out of that row's softmax).
- ``weight`` ``(B,)``, optional: per-sample weight (e.g. down-weighting pseudo-labelled clips).

Reduction (``reduction="mean"``, the default): sum over classes, then mean over the batch of
``weight_b * loss_b``. Summing over classes follows the ASL paper and keeps the loss scale
independent of how many classes are negative; dividing by the batch size (not the weight sum)
means ``weight=ones`` equals no weight and a zero-weight sample only removes its own term.
``reduction="none"`` returns the masked, weighted elementwise loss ``(B, C)``.

Losses are computed in float32 whatever the autocast dtype: ``log`` near 0 and 1 is where
half precision fails.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["AsymmetricLoss", "BCEWithLogits", "CrossEntropy", "FocalLoss", "build_loss"]

_REDUCTIONS = ("mean", "none")


def _check_shapes(logits: torch.Tensor, targets: torch.Tensor,
                  mask: torch.Tensor | None = None) -> None:
    if logits.ndim != 2 or logits.shape != targets.shape:
        raise ValueError(
            f"expected logits and targets of the same shape (B, C), got "
            f"{tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    if mask is not None and mask.shape != logits.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != logits shape {tuple(logits.shape)}")


def _reduce(
    loss: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor | None,
    reduction: str,
) -> torch.Tensor:
    """Apply mask ``(B, C)`` and weight ``(B,)`` to an elementwise loss ``(B, C)`` and reduce.

    Shapes of the loss and mask were checked by :func:`_check_shapes`.
    """
    if mask is not None:
        # where(), not multiply: a masked entry with an inf/NaN loss must not poison the sum.
        loss = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    if weight is not None:
        if weight.shape != loss.shape[:1]:
            raise ValueError(f"weight shape {tuple(weight.shape)} != batch ({loss.shape[0]},)")
        loss = loss * weight.float()[:, None]
    if reduction == "none":
        return loss
    return loss.sum(dim=1).mean()


class _ElementwiseLoss(nn.Module):
    """Shared plumbing: shape checks, float32 inputs, mask, weight and reduction.

    Subclasses implement :meth:`elementwise`, the ``(B, C)`` loss of float32 logits and targets,
    or :meth:`masked_elementwise` when the mask changes the loss of the classes it keeps (a
    softmax over the kept classes only).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def elementwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def masked_elementwise(self, x: torch.Tensor, y: torch.Tensor,
                           mask: torch.Tensor | None) -> torch.Tensor:
        """The ``(B, C)`` loss; masked entries are zeroed afterwards by the reduction."""
        return self.elementwise(x, y)

    def forward(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args: logits, targets, mask ``(B, C)``; weight ``(B,)``.

        Returns: scalar, or ``(B, C)`` with ``reduction="none"``.
        """
        _check_shapes(logits, targets, mask)
        loss = self.masked_elementwise(logits.float(), targets.float(), mask)
        return _reduce(loss, mask, weight, self.reduction)


class AsymmetricLoss(_ElementwiseLoss):
    """Asymmetric loss (Ridnik et al. 2021, arXiv:2009.14119) for multi-label classification.

    With ``p = sigmoid(x)`` and the shifted probability ``p_m = max(p - clip, 0)``::

        loss = -[ y (1 - p)^gamma_pos log(p) + (1 - y) p_m^gamma_neg log(1 - p_m) ]

    ``gamma_neg`` focuses away from easy negatives (most of 234 classes in every window) and
    ``clip`` zeroes the loss of negatives predicted below ``clip``, which also discards
    negatives that are likely missing labels. Soft targets weight the two terms, as written.
    ``log`` arguments are clamped at ``eps`` like the reference implementation.
    ``gamma_neg = gamma_pos = clip = 0`` is binary cross-entropy.
    """

    def __init__(
        self,
        gamma_neg: float = 4.0,
        gamma_pos: float = 0.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps

    def elementwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(x)
        p_m = (p - self.clip).clamp(min=0) if self.clip > 0 else p
        loss_pos = y * torch.log(p.clamp(min=self.eps))
        loss_neg = (1 - y) * torch.log((1 - p_m).clamp(min=self.eps))
        if self.gamma_pos > 0:
            loss_pos = loss_pos * torch.pow(1 - p, self.gamma_pos)
        if self.gamma_neg > 0:
            loss_neg = loss_neg * torch.pow(p_m, self.gamma_neg)
        return -(loss_pos + loss_neg)

    def extra_repr(self) -> str:
        return f"gamma_neg={self.gamma_neg}, gamma_pos={self.gamma_pos}, clip={self.clip}"


class BCEWithLogits(_ElementwiseLoss):
    """Binary cross-entropy on logits with the shared mask/weight signature and reduction."""

    def elementwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(x, y, reduction="none")


class FocalLoss(_ElementwiseLoss):
    """Sigmoid focal loss (Lin et al. 2017), as ``torchvision.ops.sigmoid_focal_loss``.

    ``loss = alpha_t (1 - p_t)^gamma BCE(x, y)`` with ``p_t = p y + (1 - p)(1 - y)`` and
    ``alpha_t = alpha y + (1 - alpha)(1 - y)``; ``alpha=None`` disables the class balancing.
    """

    def __init__(
        self, gamma: float = 2.0, alpha: float | None = 0.25, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        self.gamma = gamma
        self.alpha = alpha

    def elementwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(x)
        bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = bce * (1 - p_t) ** self.gamma
        if self.alpha is not None:
            loss = loss * (self.alpha * y + (1 - self.alpha) * (1 - y))
        return loss

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}"


class CrossEntropy(_ElementwiseLoss):
    """Softmax cross-entropy with soft targets, for single-label tasks (one genre per clip).

    Elementwise ``-y_c log softmax(x)_c``, so the per-row sum over classes is the usual
    cross-entropy ``-sum_c y_c log p_c``; rows whose targets sum to 1 (one-hot, mixup, pseudo
    labels) give the textbook value, and a row summing to ``s`` weighs ``s`` times as much.

    ``label_smoothing`` ``eps`` replaces ``y`` by ``(1 - eps) y + eps / K`` (``K`` = classes
    kept by the mask), as :class:`torch.nn.CrossEntropyLoss` does; it lives here rather than
    in :mod:`common.audio.augment`, whose smoothing is the binary (sigmoid) kind.

    The mask removes a class from that row's softmax (its logit is ignored and gets no
    gradient); a row with every class masked contributes 0.
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def masked_elementwise(self, x: torch.Tensor, y: torch.Tensor,
                           mask: torch.Tensor | None) -> torch.Tensor:
        keep = mask.bool() if mask is not None else torch.ones_like(x, dtype=torch.bool)
        if self.label_smoothing > 0:
            kept = keep.float()
            uniform = kept / kept.sum(dim=1, keepdim=True).clamp(min=1.0)
            y = (1.0 - self.label_smoothing) * y + self.label_smoothing * uniform
        log_p = torch.log_softmax(x.masked_fill(~keep, float("-inf")), dim=1)
        # where(), not multiply: a masked entry's -inf must not become NaN in the sum.
        return torch.where(keep, -y * log_p, torch.zeros_like(x))

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


_LOSSES = {"asl": AsymmetricLoss, "bce": BCEWithLogits, "focal": FocalLoss,
           "cross_entropy": CrossEntropy}


def build_loss(name: str, **params) -> nn.Module:
    """Loss by name: ``"asl"`` (AsymmetricLoss), ``"bce"`` (BCEWithLogits), ``"focal"``
    (FocalLoss) or ``"cross_entropy"`` (CrossEntropy, softmax: single-label tasks only).

    ``params`` go to that class's constructor (see its signature for the valid names).
    """
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(_LOSSES)}")
    return _LOSSES[name](**params)
