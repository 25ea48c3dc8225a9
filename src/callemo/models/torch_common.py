"""Shared helpers of the PyTorch networks (CNN-BiLSTM, SSL heads, raw-waveform CNN-LSTM).

Nothing here knows about emotions: device selection, threads, seeding, initialisation, padding and
masks, mini-batch indices, and the weights file (a state dict read back with
``torch.load(weights_only=True)``, so loading a model never runs pickled code). The training loop,
the validation split and class balancing are in :mod:`callemo.train.loop`.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    np.random.seed(seed % (2**32))  # noqa: NPY002 - the legacy global generator other libraries still draw from
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
    """Save a state dict (on CPU) plus extra entries in one ``.pt`` file.

    ``extra`` values must be tensors, numpy arrays (stored as tensors) or plain numbers/strings, so
    that :func:`load_state` can read the file with ``weights_only=True``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    blob = {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in extra.items()}
    torch.save({"state_dict": state, **blob}, p)
    return p


def read_state(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict[str, Any]:
    """What :func:`save_state` wrote, read with ``weights_only=True`` (tensors and plain values only)."""
    p = Path(path)
    if not p.exists():
        raise TorchModelError(f"{p}: weights file not found")
    try:
        return torch.load(p, map_location=device, weights_only=True)
    except Exception as e:  # corrupt / truncated file, or objects a weights file must not hold
        raise TorchModelError(f"{p}: cannot read weights ({e})") from None


def load_state(model: nn.Module, path: str | os.PathLike, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load what :func:`save_state` wrote into ``model``; returns the extra entries."""
    p = Path(path)
    blob = read_state(p, device)
    try:
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise TorchModelError(f"{p}: weights do not fit the model configuration ({e})") from None
    return {k: v for k, v in blob.items() if k != "state_dict"}


def iterate_minibatches(n: int, batch_size: int, *, rng: np.random.Generator | None = None,
                        order: np.ndarray | None = None, drop_last: bool = False):
    """Yield index arrays of size ``batch_size`` over ``order`` (or a permutation of ``range(n)``)."""
    idx = order if order is not None else (rng.permutation(n) if rng is not None else np.arange(n))
    stop = len(idx) - (len(idx) % batch_size if drop_last else 0)
    for i in range(0, stop, batch_size):
        b = idx[i:i + batch_size]
        if len(b):
            yield b


def pad_sequences(seqs: Sequence[np.ndarray], max_len: int | None = None,
                  dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
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
    return math.floor(num / stride) + 1
