"""Shared helpers for the PyTorch model families (CNN-BiLSTM, SSL heads, raw-waveform CNN-LSTM).

Nothing here knows about emotions: device selection, seeding, a speaker-grouped validation split,
Adam with a stepwise exponential learning-rate decay, a generic training loop with gradient
clipping and early stopping, class balancing, state-dict save/load and parameter counting.

The training loop is deliberately small::

    opt, sched = make_optimizer(model, lr=1e-3, decay_rate=0.9, decay_steps=1000)
    result = train_loop(model, opt, train_batches, loss_fn, scheduler=sched,
                        epochs=30, validate=lambda: val_ua(model), patience=6, clip=1.0)

``train_batches`` is a callable ``epoch -> iterable of batches`` (so each epoch can resample);
``loss_fn(model, batch) -> scalar tensor``; ``validate() -> float`` (higher is better). The best
weights (by validation score) are restored at the end.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import CallemoError


class TorchModelError(CallemoError, RuntimeError):
    """A neural model cannot be built, trained or loaded as asked."""


# --------------------------------------------------------------------------------------------
# device, threads, seeds
# --------------------------------------------------------------------------------------------

def select_device(device: str | None = None) -> torch.device:
    """``None``/``"cpu"`` -> CPU; ``"cuda"``/``"cuda:N"`` -> that GPU (error if none); ``"auto"`` ->
    CUDA when available, else CPU. The project default is CPU (reproducible, no GPU needed)."""
    d = (device or "cpu").lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TorchModelError(f"device {device!r} asked for, but no CUDA GPU is available (use device: cpu)")
        return torch.device(d)
    if d in ("cpu", "mps"):
        return torch.device(d)
    raise TorchModelError(f"unknown device {device!r} (cpu, cuda, cuda:N or auto)")


def set_threads(n: int | None = None) -> None:
    """Limit intra-op threads (``n`` or ``$CALLEMO_TORCH_THREADS`` or ``$OMP_NUM_THREADS``; else untouched)."""
    if n is None:
        env = os.environ.get("CALLEMO_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
        n = int(env) if env and env.isdigit() else None
    if n:
        torch.set_num_threads(int(n))


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed python, numpy and torch (CPU and CUDA); returns a numpy Generator seeded the same."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# parameters, initialisation, persistence
# --------------------------------------------------------------------------------------------

def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def he_init(model: nn.Module) -> None:
    """He (Kaiming) normal initialisation of convolution and linear weights (ReLU nets), zero biases;
    LSTM input weights Xavier, recurrent weights orthogonal, forget-gate bias 1."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LSTM, nn.GRU)):
            for name, p in m.named_parameters():
                if "weight_ih" in name:
                    nn.init.xavier_uniform_(p)
                elif "weight_hh" in name:
                    nn.init.orthogonal_(p)
                elif "bias" in name:
                    nn.init.zeros_(p)
                    if isinstance(m, nn.LSTM):
                        h = p.shape[0] // 4
                        p.data[h:2 * h] = 1.0


def save_state(model: nn.Module, path: str | os.PathLike, **extra: Any) -> Path:
    """Save a state dict (on CPU) plus optional extra tensors/objects in one ``.pt`` file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, **extra}, p)
    return p


def load_state(model: nn.Module, path: str | os.PathLike, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load what :func:`save_state` wrote into ``model``; returns the extra entries."""
    p = Path(path)
    if not p.exists():
        raise TorchModelError(f"{p}: weights file not found")
    try:
        blob = torch.load(p, map_location=device, weights_only=False)
    except Exception as e:  # corrupt / truncated file
        raise TorchModelError(f"{p}: cannot read weights ({e})") from None
    try:
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise TorchModelError(f"{p}: weights do not fit the model configuration ({e})") from None
    return {k: v for k, v in blob.items() if k != "state_dict"}


# --------------------------------------------------------------------------------------------
# splits and balancing
# --------------------------------------------------------------------------------------------

def speaker_validation_split(y: Sequence, speakers: Sequence | None, fraction: float = 0.2, *, seed: int = 0,
                             min_speakers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, validation) with no speaker on both sides.

    Takes about ``fraction`` of the speakers (at least ``min_speakers``, leaving at least one for
    training), preferring speakers whose labels cover the label set. Without speakers (or with a
    single speaker) falls back to a stratified random split of the items.
    """
    y = np.asarray(y)
    n = len(y)
    rng = np.random.default_rng(seed)
    if fraction <= 0 or n < 4:
        return np.arange(n), np.array([], dtype=int)
    spk = None if speakers is None else np.asarray(speakers)
    if spk is None or len(np.unique(spk)) < 2:
        tr, va = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = int(round(len(idx) * fraction)) if len(idx) > 1 else 0
            va.extend(idx[:k])
            tr.extend(idx[k:])
        return np.sort(np.array(tr, dtype=int)), np.sort(np.array(va, dtype=int))
    uniq = np.unique(spk)
    k = max(min_speakers, int(round(len(uniq) * fraction)))
    k = min(k, len(uniq) - 1)
    labels = set(y.tolist())
    # speakers covering most labels first (random order among equals)
    cover = {s: len(set(y[spk == s].tolist())) for s in uniq}
    order = sorted(rng.permutation(uniq).tolist(), key=lambda s: -cover[s])
    full = [s for s in order if cover[s] == len(labels)]
    pool = full if len(full) >= k + 1 else order
    val_spk = set(pool[:k])
    mask = np.isin(spk, list(val_spk))
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def balanced_indices(y: Sequence, speakers: Sequence | None = None, *, rng: np.random.Generator | None = None,
                     mode: str = "paper") -> np.ndarray:
    """Indices of a class-balanced resample of ``y`` (paper 002's scheme and paper 001's).

    ``mode="paper"`` (002): the largest class is down-sampled to the size of the second largest,
    keeping at least one sample of each of its speakers; the other classes are over-sampled (with
    replacement, every original sample kept once) up to that size.
    ``mode="down"`` (001): every class is down-sampled to the size of the smallest.
    ``mode="over"``: every class over-sampled to the largest. ``mode="none"``: all indices.
    """
    rng = rng or np.random.default_rng(0)
    y = np.asarray(y)
    spk = np.asarray(speakers) if speakers is not None else np.zeros(len(y), dtype=int)
    classes, counts = np.unique(y, return_counts=True)
    if mode == "none" or len(classes) < 2:
        return rng.permutation(len(y))
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
        idx = np.flatnonzero(y == c)
        if cnt > target:
            # keep one per speaker first, then fill at random
            keep = []
            for s in np.unique(spk[idx]):
                keep.append(rng.choice(idx[spk[idx] == s]))
            keep = np.array(keep, dtype=int)
            if len(keep) > target and mode == "down":
                keep = rng.choice(keep, target, replace=False)
            rest = np.setdiff1d(idx, keep)
            need = max(0, target - len(keep))
            extra = rng.choice(rest, min(need, len(rest)), replace=False) if need and len(rest) else np.array([], dtype=int)
            out.append(np.concatenate([keep, extra]))
        elif cnt < target:
            extra = rng.choice(idx, target - cnt, replace=True)
            out.append(np.concatenate([idx, extra]))
        else:
            out.append(idx)
    return rng.permutation(np.concatenate(out).astype(int))


def unweighted_accuracy(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int | None = None) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if len(t) == 0:
        return float("nan")
    rec = [float(np.mean(p[t == c] == c)) for c in np.unique(t)]
    return float(np.mean(rec))


# --------------------------------------------------------------------------------------------
# optimisation
# --------------------------------------------------------------------------------------------

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
    if staircase:
        fn = lambda step: rate ** (step // ds)  # noqa: E731
    else:
        fn = lambda step: rate ** (step / ds)  # noqa: E731
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
                raise TorchModelError(f"training diverged (loss {float(loss)}) at epoch {epoch}; lower the learning rate")
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


def iterate_minibatches(n: int, batch_size: int, *, rng: np.random.Generator | None = None,
                        order: np.ndarray | None = None, drop_last: bool = False):
    """Yield index arrays of size ``batch_size`` over ``order`` (or a permutation of ``range(n)``)."""
    idx = order if order is not None else (rng.permutation(n) if rng is not None else np.arange(n))
    stop = len(idx) - (len(idx) % batch_size if drop_last else 0)
    for i in range(0, stop, batch_size):
        b = idx[i:i + batch_size]
        if len(b):
            yield b


def pad_sequences(seqs: Sequence[np.ndarray], max_len: int | None = None, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad ``(T_i, F)`` arrays into ``(N, T, F)``; returns (padded, lengths)."""
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    T = int(max_len or (lens.max() if len(lens) else 0))
    F = seqs[0].shape[1] if len(seqs) and np.ndim(seqs[0]) == 2 else 0
    out = np.zeros((len(seqs), max(T, 1), F), dtype=dtype)
    for i, s in enumerate(seqs):
        L = min(len(s), T)
        out[i, :L] = s[:L]
    return out, np.minimum(lens, T)


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(N,)`` lengths -> ``(N, T)`` boolean mask, True on valid steps."""
    T = int(max_len if max_len is not None else (int(lengths.max()) if lengths.numel() else 0))
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]


def conv_out_length(length, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1):
    """Length after a convolution / pooling (paper 002 eq. 1-2), for ints or integer tensors."""
    num = length + 2 * padding - dilation * (kernel - 1) - 1
    if isinstance(num, torch.Tensor):
        return torch.div(num, stride, rounding_mode="floor") + 1
    return int(math.floor(num / stride)) + 1
