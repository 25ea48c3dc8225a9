"""The training loop and what it needs: a speaker-grouped validation split, class balancing,
Adam with a stepwise exponential learning-rate decay, gradient clipping, early stopping.

Nothing here knows about emotions. The loop is deliberately small::

    opt, sched = make_optimizer(net, lr=1e-3, decay_rate=0.9, decay_steps=1000)
    result = train_loop(net, opt, train_batches, loss_fn, scheduler=sched,
                        epochs=30, validate=lambda: val_ua(net), patience=6, clip=1.0)

``train_batches`` is a callable ``epoch -> iterable of batches`` (so each epoch can resample);
``loss_fn(net, batch) -> scalar tensor``; ``validate() -> float`` (higher is better). The best
weights (by validation score) are restored at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.torch_common import TorchModelError


def speaker_validation_split(y: Sequence[Any] | np.ndarray, speakers: Sequence[Any] | np.ndarray | None,
                             fraction: float = 0.2, *, seed: int = 0,
                             min_speakers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, validation) with no speaker on both sides.

    Takes about ``fraction`` of the speakers (at least ``min_speakers``, leaving at least one for
    training), preferring speakers whose labels cover the label set. Without speakers (or with a
    single speaker) falls back to a stratified random split of the items.
    """
    yv = np.asarray(y)
    n = len(yv)
    rng = np.random.default_rng(seed)
    if fraction <= 0 or n < 4:
        return np.arange(n), np.array([], dtype=int)
    spk = None if speakers is None else np.asarray(speakers)
    if spk is None or len(np.unique(spk)) < 2:
        tr: list[int] = []
        va: list[int] = []
        for c in np.unique(yv):
            idx = rng.permutation(np.flatnonzero(yv == c))
            k = round(len(idx) * fraction) if len(idx) > 1 else 0
            va.extend(idx[:k])
            tr.extend(idx[k:])
        return np.sort(np.array(tr, dtype=int)), np.sort(np.array(va, dtype=int))
    uniq = np.unique(spk)
    k = max(min_speakers, round(len(uniq) * fraction))
    k = min(k, len(uniq) - 1)
    labels = set(yv.tolist())
    # speakers covering most labels first (random order among equals)
    cover = {s: len(set(yv[spk == s].tolist())) for s in uniq}
    order = sorted(rng.permutation(uniq).tolist(), key=lambda s: -cover[s])
    full = [s for s in order if cover[s] == len(labels)]
    pool = full if len(full) >= k + 1 else order
    val_spk = set(pool[:k])
    mask = np.isin(spk, list(val_spk))
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def balanced_indices(y: Sequence[Any] | np.ndarray, speakers: Sequence[Any] | np.ndarray | None = None, *,
                     rng: np.random.Generator | None = None,
                     mode: str = "paper") -> np.ndarray:
    """Indices of a class-balanced resample of ``y`` (paper 002's scheme and paper 001's).

    ``mode="paper"`` (002): the largest class is down-sampled to the size of the second largest,
    keeping at least one sample of each of its speakers; the other classes are over-sampled (with
    replacement, every original sample kept once) up to that size.
    ``mode="down"`` (001): every class is down-sampled to the size of the smallest.
    ``mode="over"``: every class over-sampled to the largest. ``mode="none"``: all indices.
    """
    rng = rng or np.random.default_rng(0)
    yv = np.asarray(y)
    spk = np.asarray(speakers) if speakers is not None else np.zeros(len(yv), dtype=int)
    classes, counts = np.unique(yv, return_counts=True)
    if mode == "none" or len(classes) < 2:
        return rng.permutation(len(yv))
    if mode == "down":
        target = counts.min()
    elif mode == "over":
        target = counts.max()
    elif mode == "paper":
        target = np.sort(counts)[-2]
    else:
        raise TorchModelError(f"unknown balancing mode {mode!r} (paper, down, over, none)")
    out = []
    for c, cnt in zip(classes, counts):
        idx = np.flatnonzero(yv == c)
        if cnt > target:
            # keep one per speaker first, then fill at random
            keep = np.array([rng.choice(idx[spk[idx] == s]) for s in np.unique(spk[idx])], dtype=int)
            if len(keep) > target and mode == "down":
                keep = rng.choice(keep, target, replace=False)
            rest = np.setdiff1d(idx, keep)
            need = max(0, target - len(keep))
            extra = (rng.choice(rest, min(need, len(rest)), replace=False) if need and len(rest)
                     else np.array([], dtype=int))
            out.append(np.concatenate([keep, extra]))
        elif cnt < target:
            extra = rng.choice(idx, target - cnt, replace=True)
            out.append(np.concatenate([idx, extra]))
        else:
            out.append(idx)
    return rng.permutation(np.concatenate(out).astype(int))


def make_optimizer(model: nn.Module | Iterable[nn.Parameter], lr: float = 1e-4, *, decay_rate: float = 0.9,
                   decay_steps: int = 1000, weight_decay: float = 0.0, staircase: bool = True):
    """Adam plus a per-step exponential decay ``lr * decay_rate ** (step / decay_steps)`` (paper 002:
    1e-4, x0.9 every 1000 steps; ``staircase`` applies it in whole steps of ``decay_steps``).
    Call ``scheduler.step()`` after every optimiser step."""
    params = model.parameters() if isinstance(model, nn.Module) else model
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.Adam(params, lr=float(lr), weight_decay=float(weight_decay))
    ds = max(1, int(decay_steps))
    rate = float(decay_rate)

    def fn(step: int) -> float:
        return rate ** (step // ds) if staircase else rate ** (step / ds)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
    return opt, sched


@dataclass
class TrainResult:
    """What :func:`train_loop` did: per-epoch losses and validation scores, the best epoch, timings."""

    train_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("-inf")
    epochs_run: int = 0
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / self.epochs_run if self.epochs_run else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "train_loss": [round(float(v), 5) for v in self.train_loss],
            "val_score": [round(float(v), 5) for v in self.val_score],
            "best_epoch": int(self.best_epoch), "best_score": float(self.best_score),
            "epochs_run": int(self.epochs_run), "steps": int(self.steps), "samples": int(self.samples),
            "seconds": round(float(self.seconds), 3),
            "samples_per_second": round(float(self.samples_per_second), 2) if self.seconds > 0 else None,
            "seconds_per_epoch": round(float(self.seconds_per_epoch), 3) if self.epochs_run else None,
            "stopped_early": bool(self.stopped_early),
        }


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        for v in batch.values():
            if isinstance(v, torch.Tensor):
                return int(v.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_size(batch[0])
    return 1


def train_loop(model: nn.Module, optimizer: torch.optim.Optimizer,
               batches: Callable[[int], Iterable[Any]], loss_fn: Callable[[nn.Module, Any], torch.Tensor], *,
               scheduler: Any = None, epochs: int = 10, validate: Callable[[], float] | None = None,
               patience: int | None = None, clip: float | None = 1.0, clip_mode: str = "norm",
               min_epochs: int = 1, log: Callable[[str], None] | None = None,
               max_seconds: float | None = None, select_after: int = 0, ema: float | None = None) -> TrainResult:
    """Train ``model``; keep (and restore at the end) the weights of the best validation epoch.

    ``clip``: gradient clipping, by global norm (``clip_mode="norm"``) or element-wise to
    ``[-clip, clip]`` (``"value"``, as paper 002). ``patience``: stop after that many epochs without a
    better validation score (needs ``validate``). ``max_seconds``: stop after the epoch that crosses
    this wall-clock budget. ``select_after``: epochs before this one are never kept as the best (a
    small validation set can make a barely trained early epoch look best); patience counts from
    there. Without ``validate`` the last epoch's weights are kept.
    ``ema``: a decay in (0, 1), e.g. 0.98: an exponential moving average of the weights is kept
    after every step (``torch.optim.swa_utils.AveragedModel``), and it is the averaged weights that
    are validated, kept and returned (smoother than the last step's weights when batches are few
    and noisy).
    """
    res = TrainResult()
    best_state = None
    avg = None
    if ema:
        if not 0.0 < float(ema) < 1.0:
            raise TorchModelError(f"ema must be a decay in (0, 1), got {ema}")
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(float(ema)), use_buffers=True)

    def _clone(state):
        return {k: v.detach().clone() for k, v in state.items()}
    bad = 0
    t0 = time.perf_counter()
    for epoch in range(int(epochs)):
        model.train()
        tot, nb = 0.0, 0
        for batch in batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise TorchModelError(f"training diverged (loss {float(loss)}) at epoch {epoch}; "
                                      "lower the learning rate")
            loss.backward()
            if clip:
                params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
                if clip_mode == "value":
                    torch.nn.utils.clip_grad_value_(params, clip)
                else:
                    torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if avg is not None:
                avg.update_parameters(model)
            tot += float(loss.detach())
            nb += 1
            res.steps += 1
            res.samples += _batch_size(batch)
        res.train_loss.append(tot / max(nb, 1))
        res.epochs_run = epoch + 1
        msg = f"epoch {epoch + 1}/{epochs} loss {res.train_loss[-1]:.4f}"
        if validate is not None:
            training_state = None
            if avg is not None:  # validate (and keep) the averaged weights
                training_state = _clone(model.state_dict())
                model.load_state_dict(avg.module.state_dict())
            model.eval()
            with torch.no_grad():
                score = float(validate())
            res.val_score.append(score)
            msg += f" val {score:.4f}"
            eligible = epoch + 1 >= select_after or epoch == int(epochs) - 1
            if eligible and (score > res.best_score or best_state is None):
                res.best_score, res.best_epoch = score, epoch
                best_state = _clone(model.state_dict())
                bad = 0
            elif eligible:
                bad += 1
            if training_state is not None:
                model.load_state_dict(training_state)
        res.seconds = time.perf_counter() - t0
        if log:
            log(msg + f" ({res.seconds:.1f}s)")
        if patience is not None and validate is not None and bad >= patience and epoch + 1 >= min_epochs:
            res.stopped_early = True
            break
        if max_seconds is not None and res.seconds > max_seconds and epoch + 1 >= min_epochs:
            res.stopped_early = True
            break
    res.seconds = time.perf_counter() - t0
    if best_state is None and avg is not None:
        best_state = avg.module.state_dict()
        res.best_epoch, res.best_score = res.epochs_run - 1, float("nan")
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        res.best_epoch = res.epochs_run - 1
        res.best_score = float("nan")
    model.eval()
    return res
