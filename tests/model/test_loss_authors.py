"""segmentation_loss with bootstrap=0.4 is the authors' test-time criterion (CE + mask IoU), in float64."""

from __future__ import annotations

import pytest
import torch

from erfkit.model.loss import segmentation_loss

from .authors_loss import authors_cross_entropy, authors_loss

B, K, H, W = 2, 3, 6, 7  # H*W*0.4 = 16.8: floor 16, round 17


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(B, K + 1, H, W, generator=g, dtype=torch.float64)).requires_grad_(True)
    labels = torch.randint(0, K + 1, (B, H, W), generator=g)
    target = torch.nn.functional.one_hot(labels, K + 1).permute(0, 3, 1, 2).to(torch.float64)
    target[0, :, 0, :] = 0  # unlabelled pixels (a letterbox border): zero in every channel
    target[1, :, :, -2:] = 0
    return logits, target


def _ref(valid: torch.Tensor) -> torch.Tensor:
    """The authors' ``ref=`` mask for ``valid``: the background always present, invalid objects empty."""
    present = torch.cat([torch.ones(B, 1, dtype=torch.bool), valid], 1)
    return present[:, :, None, None].to(torch.float64).expand(B, K + 1, H, W)


def test_bootstrapped_loss_equals_the_authors_criterion():
    logits, target = _problem()
    assert int(H * W * 0.4) == 16 and round(H * W * 0.4) == 17  # the floor matters at this size
    pred = logits.detach().softmax(1)
    assert abs(authors_cross_entropy(pred, target, K, 0.4) - authors_cross_entropy(pred, target, K, 17 / 42)) > 1e-3
    ours = segmentation_loss(logits, target, bootstrap=0.4)
    theirs = authors_loss(logits.softmax(1), target, K, 0.4)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12, abs=1e-12)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_theirs,) = torch.autograd.grad(theirs, logits)
    assert torch.allclose(g_ours, g_theirs, atol=1e-12, rtol=1e-9)


def test_valid_masks_the_cross_entropy_and_the_iou_as_the_authors_ref():
    logits, target = _problem(1)
    valid = torch.tensor([[True, False, True], [False, True, True]])
    assert target[0, 2].sum() > 0 and target[1, 1].sum() > 0  # the invalid objects are in the target
    ours = segmentation_loss(logits, target, bootstrap=0.4, valid=valid)
    theirs = authors_loss(logits.softmax(1), target, K, 0.4, ref=_ref(valid))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12, abs=1e-12)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_theirs,) = torch.autograd.grad(theirs, logits)
    assert torch.allclose(g_ours, g_theirs, atol=1e-12, rtol=1e-9)
    per = segmentation_loss(logits, target, bootstrap=0.4, valid=valid, reduction="none")
    assert per.mean().item() == pytest.approx(ours.item(), rel=1e-14)
    # the cross-entropy channels of invalid objects are dropped also without a bootstrap
    plain = segmentation_loss(logits, target, valid=valid)
    assert plain.item() == pytest.approx(authors_loss(logits.softmax(1), target, K, 1.0, _ref(valid)).item(), rel=1e-12)


def test_bootstrap_one_is_the_plain_mean():
    logits, target = _problem(2)
    plain = segmentation_loss(logits, target)
    assert torch.equal(segmentation_loss(logits, target, bootstrap=1.0), plain)
    assert plain.item() == pytest.approx(authors_loss(logits.softmax(1), target, K, 1.0).item(), rel=1e-12)
    with pytest.raises(ValueError):
        segmentation_loss(logits, target, bootstrap=0.0)
    with pytest.raises(ValueError):
        segmentation_loss(logits, target, bootstrap=1.5)


def test_valid_changes_nothing_for_padded_slots():
    logits, target = _problem(3)
    target[0, 0] += target[0, 3]  # slot 3 of element 0 is padding: an all-zero target
    target[0, 3] = 0
    valid = torch.tensor([[True, True, False], [True, True, True]])
    ce_all = segmentation_loss(logits, target, 0.0, bootstrap=0.4)
    ce_valid = segmentation_loss(logits, target, 0.0, bootstrap=0.4, valid=valid)
    assert torch.equal(ce_all, ce_valid)
    pred = logits.detach().softmax(1)
    assert ce_all.item() == pytest.approx(authors_cross_entropy(pred, target, K, 0.4).item(), rel=1e-12)
