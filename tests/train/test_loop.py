"""The training loop and its helpers: the speaker-grouped validation split, class balancing,
the optimiser with its decay, clipping, early stopping, best-epoch restore, EMA of weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from callemo.models.torch_common import TorchModelError, seed_everything
from callemo.train.loop import balanced_indices, make_optimizer, speaker_validation_split, train_loop

torch.set_num_threads(1)


def test_speaker_validation_split_is_grouped():
    y = np.repeat(["a", "b"], 50)
    spk = np.tile([f"s{i}" for i in range(10)], 10)
    tr, va = speaker_validation_split(y, spk, 0.2, seed=1)
    assert len(tr) + len(va) == 100 and len(va) > 0
    assert not set(spk[tr]) & set(spk[va])
    assert len(set(spk[va])) == 2
    # without speakers: stratified item split
    tr, va = speaker_validation_split(y, None, 0.2)
    assert len(va) == 20 and set(y[va]) == {"a", "b"}


def test_balanced_indices_paper_mode_keeps_one_per_speaker():
    rng = np.random.default_rng(0)
    # neutral is the big class: 60 items over 6 speakers; others 20 and 10
    y = np.array(["neutral"] * 60 + ["angry"] * 20 + ["happy"] * 10)
    spk = np.array([f"s{i % 6}" for i in range(60)] + [f"s{i % 4}" for i in range(20)] + ["s0"] * 10)
    idx = balanced_indices(y, spk, rng=rng, mode="paper")
    counts = dict(zip(*np.unique(y[idx], return_counts=True)))
    assert counts == {"neutral": 20, "angry": 20, "happy": 20}
    assert set(spk[idx][y[idx] == "neutral"]) == {f"s{i}" for i in range(6)}
    # every happy item kept at least once when over-sampling
    assert set(np.flatnonzero(y == "happy")) <= set(idx)
    down = balanced_indices(y, spk, rng=rng, mode="down")
    assert dict(zip(*np.unique(y[down], return_counts=True))) == {"neutral": 10, "angry": 10, "happy": 10}
    with pytest.raises(TorchModelError):
        balanced_indices(y, spk, mode="nope")


def test_train_loop_loss_goes_down_with_decay_clipping_and_restores_best():
    seed_everything(0)
    X = torch.randn(128, 6)
    yt = (X[:, 0] + X[:, 1] > 0).long()
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    opt, sched = make_optimizer(net, lr=1e-2, decay_rate=0.5, decay_steps=4)
    ce = nn.CrossEntropyLoss()

    def batches(epoch):
        perm = torch.randperm(128)
        for i in range(0, 128, 32):
            b = perm[i:i + 32]
            yield X[b], yt[b]

    scores = iter([0.1, 0.9, 0.2, 0.3, 0.4, 0.5])
    snapshots = []

    def validate():
        snapshots.append({k: v.clone() for k, v in net.state_dict().items()})
        return next(scores)

    res = train_loop(net, opt, batches, lambda m, b: ce(m(b[0]), b[1]), scheduler=sched, epochs=6,
                     validate=validate, patience=3, clip=1.0, clip_mode="value")
    assert res.train_loss[-1] < res.train_loss[0]
    assert res.best_epoch == 1 and res.stopped_early and res.epochs_run == 5
    # best weights restored
    for k, v in net.state_dict().items():
        assert torch.equal(v, snapshots[1][k])
    # lr decayed x0.5 every 4 steps (4 batches per epoch, 5 epochs -> 20 steps)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 5)
    assert res.samples == 5 * 128 and res.samples_per_second > 0


def test_train_loop_select_after_ignores_early_lucky_epochs():
    seed_everything(0)
    X = torch.randn(32, 4)
    yt = (X[:, 0] > 0).long()
    net = nn.Linear(4, 2)
    opt, _ = make_optimizer(net, lr=1e-2)
    scores = iter([0.9, 0.1, 0.3, 0.2])
    res = train_loop(net, opt, lambda e: [(X, yt)], lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
                     epochs=4, validate=lambda: next(scores), select_after=2)
    assert res.best_epoch == 2 and res.best_score == pytest.approx(0.3)


class _RecordSteps:
    """A stand-in scheduler that records the weights after every optimiser step."""

    def __init__(self, net):
        self.net, self.after = net, []

    def step(self):
        self.after.append({k: v.detach().clone() for k, v in self.net.state_dict().items()})


def test_train_loop_ema_keeps_and_validates_the_averaged_weights():
    seed_everything(0)
    X = torch.randn(64, 4)
    yt = (X[:, 0] - X[:, 2] > 0).long()
    net = nn.Linear(4, 2)
    init = {k: v.clone() for k, v in net.state_dict().items()}
    opt, _ = make_optimizer(net, lr=5e-2)
    rec = _RecordSteps(net)
    decay = 0.7

    def batches(epoch):
        for i in range(0, 64, 16):
            yield X[i:i + 16], yt[i:i + 16]

    def manual_ema(states):
        ema = {k: v.clone() for k, v in states[0].items()}  # the first update copies
        for st in states[1:]:
            ema = {k: decay * ema[k] + (1 - decay) * st[k] for k in ema}
        return ema

    seen = []

    def validate():  # what is validated must be the average of the steps so far, not the last step
        seen.append({k: v.clone() for k, v in net.state_dict().items()})
        expect = manual_ema(rec.after)
        for k in expect:
            assert torch.allclose(seen[-1][k], expect[k], atol=1e-6)
        assert not torch.allclose(seen[-1]["weight"], rec.after[-1]["weight"])
        return [0.2, 0.8, 0.5][len(seen) - 1]

    res = train_loop(net, opt, batches, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
                     scheduler=rec, epochs=3, validate=validate, ema=decay)
    assert res.best_epoch == 1 and len(rec.after) == 12
    # training went on from the raw weights (the average was swapped in only to validate): the
    # raw trajectory is the one of the same training without EMA ...
    plain = nn.Linear(4, 2)
    plain.load_state_dict(init)
    rec_plain = _RecordSteps(plain)
    opt_p, _ = make_optimizer(plain, lr=5e-2)
    train_loop(plain, opt_p, batches, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
               scheduler=rec_plain, epochs=3)
    for a, b in zip(rec.after, rec_plain.after):
        assert torch.allclose(a["weight"], b["weight"], atol=1e-6)
    # ... and the kept weights are the average validated at the best epoch
    for k, v in net.state_dict().items():
        assert torch.equal(v, seen[1][k])
    # without validation, the final average is returned
    net2 = nn.Linear(4, 2)
    rec2 = _RecordSteps(net2)
    opt2, _ = make_optimizer(net2, lr=5e-2)
    train_loop(net2, opt2, batches, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
               scheduler=rec2, epochs=2, ema=decay)
    expect = manual_ema(rec2.after)
    for k, v in net2.state_dict().items():
        assert torch.allclose(v, expect[k], atol=1e-6)
    with pytest.raises(TorchModelError, match="ema"):
        train_loop(net2, opt2, batches, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), epochs=1, ema=1.5)
