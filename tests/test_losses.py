"""Tests for common.model.losses against hand-computed values, plus mask, weight and reduction
rules."""

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from common.model.losses import AsymmetricLoss, BCEWithLogits, CrossEntropy, FocalLoss, build_loss


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


LOGITS = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])
TARGETS = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def test_asl_matches_hand_computation():
    loss = AsymmetricLoss(gamma_neg=4, gamma_pos=1, clip=0.05)(LOGITS, TARGETS)
    # Positives: -(1 - p)^1 log p. Negatives: -p_m^4 log(1 - p_m), p_m = p - 0.05.
    e00 = -(1 - sig(0.0)) * math.log(sig(0.0))
    e01 = -((sig(2.0) - 0.05) ** 4) * math.log(1 - (sig(2.0) - 0.05))
    e10 = -((sig(-1.0) - 0.05) ** 4) * math.log(1 - (sig(-1.0) - 0.05))
    e11 = -(1 - sig(0.5)) * math.log(sig(0.5))
    expected = ((e00 + e01) + (e10 + e11)) / 2  # sum over classes, mean over samples
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_asl_defaults_match_paper_settings():
    asl = AsymmetricLoss()
    assert (asl.gamma_neg, asl.gamma_pos, asl.clip, asl.eps) == (4, 0, 0.05, 1e-8)
    loss = asl(LOGITS, TARGETS)
    e00 = -math.log(sig(0.0))
    e01 = -((sig(2.0) - 0.05) ** 4) * math.log(1.05 - sig(2.0))
    e10 = -((sig(-1.0) - 0.05) ** 4) * math.log(1.05 - sig(-1.0))
    e11 = -math.log(sig(0.5))
    assert loss.item() == pytest.approx((e00 + e01 + e10 + e11) / 2, rel=1e-5)


def test_asl_discards_easy_negatives_below_clip():
    logits = torch.tensor([[-4.0]], requires_grad=True)  # p = 0.018 < clip
    loss = AsymmetricLoss(clip=0.05)(logits, torch.zeros(1, 1))
    loss.backward()
    assert loss.item() == 0.0
    assert logits.grad.item() == 0.0


def test_asl_soft_target_weights_both_terms():
    x, y = 1.0, 0.3
    loss = AsymmetricLoss(gamma_neg=2, gamma_pos=0, clip=0.1)(
        torch.tensor([[x]]), torch.tensor([[y]])
    )
    p = sig(x)
    expected = -(y * math.log(p) + (1 - y) * (p - 0.1) ** 2 * math.log(1 - (p - 0.1)))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_asl_without_focusing_or_clip_is_bce():
    torch.manual_seed(0)
    logits = torch.randn(6, 9) * 3
    targets = torch.rand(6, 9)  # soft targets too
    asl = AsymmetricLoss(gamma_neg=0, gamma_pos=0, clip=0)(logits, targets)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1).mean()
    assert asl.item() == pytest.approx(bce.item(), rel=1e-5)
    assert BCEWithLogits()(logits, targets).item() == pytest.approx(bce.item(), rel=1e-6)


def test_bce_hand_value():
    loss = BCEWithLogits()(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx(math.log(2) + math.log(1 + math.exp(2.0)), rel=1e-6)


def test_focal_hand_value_and_torchvision_parity():
    loss = FocalLoss(gamma=2, alpha=0.25)(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    pos = 0.25 * (1 - 0.5) ** 2 * math.log(2)  # p_t = 0.5, alpha_t = alpha
    neg = 0.75 * sig(2.0) ** 2 * math.log(1 + math.exp(2.0))  # p_t = 1 - p, alpha_t = 1 - alpha
    assert loss.item() == pytest.approx(pos + neg, rel=1e-5)

    torch.manual_seed(0)
    logits, targets = torch.randn(4, 7), (torch.rand(4, 7) > 0.7).float()
    ref = sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2, reduction="none")
    ours = FocalLoss(reduction="none")(logits, targets)
    assert torch.allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("name", ["asl", "bce", "focal"])
def test_mask_removes_entries_and_their_gradient(name):
    torch.manual_seed(0)
    criterion = build_loss(name)
    logits = torch.randn(3, 4, requires_grad=True)
    targets = (torch.rand(3, 4) > 0.5).float()
    mask = torch.ones(3, 4)
    mask[0, 1] = 0
    mask[2, 3] = 0

    loss = criterion(logits, targets, mask=mask)
    loss.backward()
    elementwise = build_loss(name, reduction="none")(logits.detach(), targets)
    expected = (elementwise * mask).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert logits.grad[0, 1] == 0 and logits.grad[2, 3] == 0
    assert logits.grad[0, 0] != 0

    # Changing a masked logit changes nothing.
    moved = logits.detach().clone()
    moved[0, 1] += 10
    assert criterion(moved, targets, mask=mask).item() == pytest.approx(loss.item(), rel=1e-6)


@pytest.mark.parametrize("name", ["asl", "bce", "focal", "cross_entropy"])
def test_weight_scales_each_sample(name):
    torch.manual_seed(0)
    criterion = build_loss(name)
    logits = torch.randn(2, 5)
    targets = (torch.rand(2, 5) > 0.5).float()
    per_sample = build_loss(name, reduction="none")(logits, targets).sum(1)

    ones = criterion(logits, targets, weight=torch.ones(2))
    assert ones.item() == pytest.approx(criterion(logits, targets).item(), rel=1e-6)
    weighted = criterion(logits, targets, weight=torch.tensor([2.0, 0.0]))
    assert weighted.item() == pytest.approx(2 * per_sample[0].item() / 2, rel=1e-6)


def test_reduction_none_and_shape_checks():
    out = AsymmetricLoss(reduction="none")(LOGITS, TARGETS, weight=torch.tensor([1.0, 3.0]))
    assert out.shape == (2, 2)
    plain = AsymmetricLoss(reduction="none")(LOGITS, TARGETS)
    assert torch.allclose(out[1], 3 * plain[1])
    with pytest.raises(ValueError, match="same shape"):
        AsymmetricLoss()(LOGITS, TARGETS[:, :1])
    with pytest.raises(ValueError, match="mask shape"):
        BCEWithLogits()(LOGITS, TARGETS, mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="weight shape"):
        FocalLoss()(LOGITS, TARGETS, weight=torch.ones(3))


def test_half_precision_logits_are_computed_in_float32():
    logits = torch.tensor([[12.0, -12.0]], dtype=torch.float16)
    loss = AsymmetricLoss(gamma_neg=0, clip=0)(logits, torch.tensor([[0.0, 1.0]]))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(2 * math.log(1 + math.exp(12.0)), rel=1e-3)


def test_build_loss():
    assert isinstance(build_loss("asl", gamma_neg=2), AsymmetricLoss)
    assert build_loss("asl", gamma_neg=2).gamma_neg == 2
    assert isinstance(build_loss("bce"), BCEWithLogits)
    assert isinstance(build_loss("focal", gamma=1.0), FocalLoss)
    assert build_loss("cross_entropy", label_smoothing=0.1).label_smoothing == 0.1
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("hinge")
    with pytest.raises(TypeError):
        build_loss("bce", gamma=2)


# ---------------------------------------------------------------------------------------------
# Softmax cross-entropy (single-label tasks).


def test_cross_entropy_matches_torch_for_hard_soft_and_smoothed_targets():
    torch.manual_seed(0)
    logits = torch.randn(4, 5)
    hard = torch.tensor([0, 3, 4, 1])
    one_hot = F.one_hot(hard, 5).float()
    assert CrossEntropy()(logits, one_hot).item() == pytest.approx(
        F.cross_entropy(logits, hard).item(), rel=1e-6)
    soft = torch.softmax(torch.randn(4, 5), dim=1)
    assert CrossEntropy()(logits, soft).item() == pytest.approx(
        F.cross_entropy(logits, soft).item(), rel=1e-6)
    assert CrossEntropy(label_smoothing=0.1)(logits, one_hot).item() == pytest.approx(
        F.cross_entropy(logits, hard, label_smoothing=0.1).item(), rel=1e-6)
    # By hand for one row: -log softmax(x)_y.
    x = [0.5, -1.0, 2.0]
    expected = -(x[2] - math.log(sum(math.exp(v) for v in x)))
    out = CrossEntropy(reduction="none")(torch.tensor([x]), torch.tensor([[0.0, 0.0, 1.0]]))
    assert out.shape == (1, 3) and out.sum().item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropy(label_smoothing=1.0)


def test_cross_entropy_mask_leaves_the_class_out_of_the_softmax():
    logits = torch.tensor([[1.0, 2.0, -0.5], [0.3, 0.1, 0.2]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # row 1: everything masked
    loss = CrossEntropy()(logits, targets, mask=mask)
    loss.backward()
    # Row 0 is a two-class softmax over classes 0 and 2; row 1 contributes 0.
    expected = -(1.0 - math.log(math.exp(1.0) + math.exp(-0.5))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 1] == 0 and (logits.grad[1] == 0).all()
    moved = logits.detach().clone()
    moved[0, 1] += 10
    assert CrossEntropy()(moved, targets, mask=mask).item() == pytest.approx(loss.item())


def test_cross_entropy_is_float32_under_half_precision():
    logits = torch.tensor([[30.0, -30.0]], dtype=torch.float16)
    loss = CrossEntropy()(logits, torch.tensor([[0.0, 1.0]]))
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(60.0, rel=1e-3)
