"""The CCC loss and the multitask weighting of paper 000 against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from callemo.models.losses import MultitaskLoss, bce_loss, ccc, ccc_loss, multitask_loss


def test_ccc_hand_computed():
    # x = [1, 2, 3], y = [2, 4, 6]
    # mean x = 2, mean y = 4
    # var x = (1 + 0 + 1) / 3 = 2/3 ; var y = (4 + 0 + 4) / 3 = 8/3   (population moments, 1/N)
    # cov = ((-1)(-2) + 0 + (1)(2)) / 3 = 4/3
    # CCC = 2 * 4/3 / (2/3 + 8/3 + (2 - 4)^2) = (8/3) / (22/3) = 4/11 = 0.363636...
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    y = torch.tensor([2.0, 4.0, 6.0], dtype=torch.float64)
    assert float(ccc(x, y)) == pytest.approx(4 / 11, abs=1e-6)
    assert float(ccc_loss(x, y)) == pytest.approx(7 / 11, abs=1e-6)  # 1 - 4/11 = 0.636364


def test_ccc_perfect_and_inverse():
    x = torch.tensor([0.1, -0.3, 0.5, 0.2])
    assert float(ccc_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    z = torch.tensor([1.0, -1.0, 2.0, -2.0])  # zero mean: CCC(z, -z) = -2 var / (2 var) = -1
    assert float(ccc_loss(z, -z)) == pytest.approx(2.0, abs=1e-5)
    # a constant offset lowers CCC though Pearson stays 1: x vs x + 1 ->
    # 2 var / (2 var + 1) with var = pop. variance of x
    v = float(x.var(unbiased=False))
    assert float(ccc(x, x + 1)) == pytest.approx(2 * v / (2 * v + 1), abs=1e-5)


def test_ccc_inverse_hand_computed():
    # x = [0, 1], y = [1, 0]: means 0.5 / 0.5, var 0.25 each, cov = (-.5*.5 + .5*-.5)/2 = -0.25
    # CCC = 2 * -0.25 / (0.25 + 0.25 + 0) = -1 -> loss 2
    x = torch.tensor([0.0, 1.0])
    y = torch.tensor([1.0, 0.0])
    assert float(ccc(x, y)) == pytest.approx(-1.0, abs=1e-6)
    assert float(ccc_loss(x, y)) == pytest.approx(2.0, abs=1e-6)


def test_ccc_mask_and_levels_hand_computed():
    # two sequences padded to 4 steps; the padding (9 / -5, 7 / 7) must not count
    pred = torch.tensor([[1.0, 2.0, 3.0, 9.0], [0.0, 1.0, 7.0, 7.0]], dtype=torch.float64)
    targ = torch.tensor([[2.0, 4.0, 6.0, -5.0], [1.0, 0.0, 7.0, 7.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.float64)
    # sequence level: mean(4/11, -1) = -7/22
    assert float(ccc(pred, targ, mask, level="sequence")) == pytest.approx(-7 / 22, abs=1e-6)
    # batch level: x = [1, 2, 3, 0, 1], y = [2, 4, 6, 1, 0]
    # mean x = 1.4, mean y = 2.6
    # var x = (.16 + .36 + 2.56 + 1.96 + .16) / 5 = 1.04
    # var y = (.36 + 1.96 + 11.56 + 2.56 + 6.76) / 5 = 4.64
    # cov = (.24 + .84 + 5.44 + 2.24 + 1.04) / 5 = 1.96
    # CCC = 3.92 / (1.04 + 4.64 + 1.2^2) = 3.92 / 7.12 = 0.550562
    assert float(ccc(pred, targ, mask, level="batch")) == pytest.approx(3.92 / 7.12, abs=1e-6)
    # gradients flow only through valid steps
    p = pred.clone().requires_grad_(True)
    ccc_loss(p, targ, mask).backward()
    assert float(p.grad[0, 3]) == 0.0 and float(p.grad[1, 2]) == 0.0
    assert float(p.grad[0, 0]) != 0.0


def test_multitask_weighting_formula():
    lv, la, le, lg = 0.2, 0.4, 0.5, 0.7
    # alpha = beta = 0: plain mean of the V and A losses
    assert multitask_loss(lv, la, le, lg) == pytest.approx((0.2 + 0.4) / 2)
    # (0.2 + 0.4 + 0.1 * 0.5 + 1 * 0.7) / (2 + 0.1 + 1) = 1.35 / 3.1 = 0.435484
    assert multitask_loss(lv, la, le, lg, alpha=0.1, beta=1.0) == pytest.approx(1.35 / 3.1)
    # (0.2 + 0.4 + 0.001 * 0.5) / 2.001
    assert multitask_loss(lv, la, le, None, alpha=0.001) == pytest.approx(0.6005 / 2.001)
    with pytest.raises(ValueError):
        multitask_loss(lv, la, alpha=-1)


def test_bce_hand_computed_and_masked():
    # logits 0 -> p = .5 -> -log .5 = ln 2 ; logit ln 3 -> p = .75, target 1 -> -ln .75
    logits = torch.tensor([0.0, math.log(3.0), 5.0])
    target = torch.tensor([1.0, 1.0, 0.0])
    mask = torch.tensor([1.0, 1.0, 0.0])
    assert float(bce_loss(logits, target, mask)) == pytest.approx((math.log(2) - math.log(0.75)) / 2, abs=1e-6)


def test_multitask_loss_object_combines_parts():
    torch.manual_seed(0)
    B, T = 3, 6
    pred = torch.randn(B, T, 4)
    tgt = {"valence": torch.randn(B, T), "arousal": torch.randn(B, T),
           "context": torch.tensor([0.2, -0.5, float("nan")])[:, None].expand(B, T).clone(),
           "gender": torch.tensor([1.0, 0.0, -1.0])}
    mask = torch.ones(B, T)
    mask[2, 4:] = 0
    loss, parts = MultitaskLoss(alpha=0.1, beta=0.01)(pred, tgt, mask)
    expect = (parts["v"] + parts["a"] + 0.1 * parts["e"] + 0.01 * parts["g"]) / 2.11
    assert float(loss) == pytest.approx(expect, abs=1e-5)
    # unknown gender (-1) and NaN context are left out: same as computing on the first 2 rows only
    m2 = mask.clone()
    m2[2] = 0
    l_g = bce_loss(pred[..., 3], tgt["gender"][:, None].expand(B, T).clamp(min=0), m2)
    assert parts["g"] == pytest.approx(float(l_g), abs=1e-6)
    loss0, parts0 = MultitaskLoss()(pred, tgt, mask)
    assert set(parts0) == {"v", "a", "loss"}
    assert float(loss0) == pytest.approx((parts0["v"] + parts0["a"]) / 2, abs=1e-6)
