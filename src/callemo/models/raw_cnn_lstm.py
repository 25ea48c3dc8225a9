"""The raw-waveform CNN-LSTM continuous valence/arousal regressor (paper 000).

Architecture (paper 000, section III-B): the raw waveform (8 or 16 kHz) goes through three
convolution blocks (50, 125, 125 channels; kernels 8, 6, 6; ReLU; max-pooling 10, 5, 5 with equal
stride: one frame every 250 samples, i.e. 32 frames/s at 8 kHz), two stacked LSTM layers of 256
units with dropout 0.5, and an MLP 512-256-outputs. Where the frame sequence meets the label rate
(500, 200, 100 or 40 ms) the paper does not say; here, as in the end-to-end systems it adopts
(Tzirakis et al. 2018: the CNN encodes each label-rate chunk of the waveform, the LSTM runs over the
chunks), the conv features are pooled to the label rate *before* the LSTM: the feature of label
``k`` (time ``k * hop``) is the mean of the conv frames whose centres fall within ``hop / 2`` of
it (the linear interpolation of the two nearest frames for label rates faster than the frame rate).
The LSTM and the MLP then run at the label rate, so a 3 s annotation lag is 6 LSTM steps at 2 Hz,
not 96 frames (a first version with the LSTM at the 32 Hz frame rate did not learn in a CPU budget).

Outputs per label step: valence, arousal, and optionally the context target (e.g. empathy, a
per-recording value repeated over time, CCC loss with weight ``alpha``) and a gender logit (BCE,
weight ``beta``); the loss is ``(L_V + L_A + alpha L_E + beta L_G) / (2 + alpha + beta)``
(:mod:`callemo.models.losses`).

Training (:func:`callemo.train.continuous.fit_continuous`): recordings are cut, at a random offset
each epoch, into segments of ``segment_length`` seconds (the last pieces padded and masked);
batches hold ``batch_duration // segment_length``
segments (a bound on the total audio per batch, as in paper 000: 300 s x 5, 150 s x 10...). Adam,
gradient-norm clipping, the best epoch on the validation recordings (mean of CCC(V) and CCC(A))
is kept. Each recording's waveform is scaled to unit RMS over the whole recording (relative
loudness inside a call is kept; the recording gain is not).

Inference (:meth:`RawCNNLSTMModel.predict_curves`) computes the conv features in chunks of
``segment_length`` (bounded memory for long calls), pools them to the label rate and runs the LSTM
over the whole recording; it returns one (valence, arousal) row per label step.
:meth:`predict_dimensions` is the per-signal mean of the curve; :meth:`predict_proba` derives
category probabilities from it through the circumplex (for the call pipeline; not a classifier).

Options beyond the paper (off by default, see ``configs/raw_cnn_lstm_proxy.yaml`` and
``docs/continuous.md``): ``feature_norm: instance`` standardises the label-rate conv features over
each recording (per-speaker normalisation; ``instance_level`` also feeds the recording's feature
means and log-sds, layer-normalised, at every step), ``conv_norm: batch`` adds batch norm to the conv
blocks, ``burn_in`` masks the loss at the start of segments cut inside a recording, ``precision:
bf16`` autocasts the training forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..labels.schemes import CIRCUMPLEX
from .base import EmotionModel, ModelError, register_model
from .torch_common import load_state, save_state, select_device

DEFAULTS: dict[str, Any] = {
    "sample_rate": 8000,
    "conv_channels": [50, 125, 125],
    "conv_kernels": [8, 6, 6],
    "conv_pools": [10, 5, 5],
    "conv_norm": "none",         # none | batch (batch norm after each pooling; not in paper 000)
    "feature_norm": "none",      # none | instance (per-recording standardisation before the LSTM; not in paper 000)
                                 # | instance_level (the same + the recording's feature means and log-sds)
    "lstm_hidden": 256,
    "lstm_layers": 2,
    "dropout": 0.5,
    "mlp": [512, 256],
    "label_hop": 0.5,            # s (500 ms = paper 000's 2 Hz)
    "segment_length": 150.0,     # s (paper 000: 50-300 s)
    "batch_duration": 750.0,     # s of audio per batch (paper: 150 s x 5)
    "lr": 1e-4,                  # Adam (paper 000)
    "epochs": 100,
    "patience": None,
    "clip": 1.0,
    "alpha": 0.0,                # weight of the context target (CCC)
    "beta": 0.0,                 # weight of gender (BCE)
    "context": True,             # build the context output (used when alpha > 0)
    "gender": True,              # build the gender output (used when beta > 0)
    "ccc_level": "batch",
    "min_segment": 2.0,          # s; shorter pieces are dropped in training
    "burn_in": 0.0,              # s without loss at the start of segments cut inside a recording
    "normalise": "rms",          # per-recording waveform scaling: rms | peak | none
    "seed": 0,
    "device": "cpu",
    "threads": None,
    "max_seconds": None,         # wall-clock budget of training (stops after the epoch crossing it)
    "ema": None,                 # e.g. 0.98: validate and keep an exponential moving average of the weights
    "output_activation": "tanh",  # tanh | linear, on valence, arousal and context (targets in [-1, 1])
    "precision": "fp32",         # fp32 | bf16 (autocast of the training forward pass; CPU speed-up)
    "labels": ["angry", "happy", "neutral", "sad"],  # categories of predict_proba (via the circumplex)
    "circumplex_temperature": 0.1,
}


class RawCNNLSTM(nn.Module):
    """The network: raw waveform ``(B, S)`` -> frame outputs ``(B, S // hop, n_out)``."""

    def __init__(self, n_out: int = 2, conv_channels=(50, 125, 125), conv_kernels=(8, 6, 6),
                 conv_pools=(10, 5, 5), lstm_hidden: int = 256, lstm_layers: int = 2,
                 dropout: float = 0.5, mlp=(512, 256), conv_norm: str = "none", feature_norm: str = "none"):
        super().__init__()
        if feature_norm not in ("none", "instance", "instance_level"):
            raise ModelError(f"feature_norm must be 'none', 'instance' or 'instance_level', not {feature_norm!r}")
        self.feature_norm = feature_norm
        if not (len(conv_channels) == len(conv_kernels) == len(conv_pools)):
            raise ModelError("conv_channels, conv_kernels and conv_pools must have the same length")
        blocks = []
        c_in = 1
        for c, k, p in zip(conv_channels, conv_kernels, conv_pools):
            norm = nn.BatchNorm1d(int(c)) if conv_norm == "batch" else nn.Identity()
            blocks += [nn.Conv1d(c_in, int(c), int(k), padding=int(k) // 2), nn.ReLU(),
                       nn.MaxPool1d(int(p), int(p)), norm]
            c_in = int(c)
        self.kernels = [int(k) for k in conv_kernels]
        self.conv = nn.Sequential(*blocks)
        self.hop = int(np.prod(conv_pools))
        # instance_level: the standardised features plus each recording's (un-normalised) channel
        # means and log standard deviations, repeated at every step -> 3 x C inputs
        n_in = 3 * c_in if feature_norm == "instance_level" else c_in
        # the level statistics, layer-normalised across their 2 C values (their raw scale made training unstable)
        self.level_norm = nn.LayerNorm(2 * c_in) if feature_norm == "instance_level" else None
        self.lstm = nn.LSTM(n_in, int(lstm_hidden), int(lstm_layers), batch_first=True,
                            dropout=float(dropout) if lstm_layers > 1 else 0.0)
        layers = []
        h = int(lstm_hidden)
        for m in mlp:
            layers += [nn.Linear(h, int(m)), nn.ReLU()]
            h = int(m)
        layers.append(nn.Linear(h, int(n_out)))
        self.mlp = nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Conv front end: ``(B, S)`` -> ``(B, S // hop, C)``.

        Each block is conv (padding ``k // 2``) -> max-pool -> [batch norm] -> ReLU: without the
        norm, the same function as conv -> ReLU -> max-pool (ReLU is monotonic, so it commutes with
        max), computed on the pooled, 5-10x shorter signal, which saves a third of the CPU time. With even kernels the
        convolution yields one extra sample, which the floor of the pooling drops (the input is cut
        to a multiple of the total pooling ``hop``).
        """
        n = x.shape[-1] // self.hop
        h = x[:, : n * self.hop].unsqueeze(1)
        layers = list(self.conv)
        for i in range(0, len(layers), 4):
            conv, relu, pool, norm = layers[i:i + 4]
            h = relu(norm(pool(conv(h))))
        return h[..., :n].transpose(1, 2)

    def forward(self, x: torch.Tensor, n_labels: int, label_hop: float, sample_rate: int, state=None,
                mask: torch.Tensor | None = None):
        """``(B, S)`` waveform -> ``(B, n_labels, n_out)``: conv features pooled to the label rate,
        then the LSTM and the MLP at the label rate. ``mask`` ``(B, n_labels)`` marks the steps
        inside the audio (for the statistics of ``feature_norm="instance"``)."""
        h = self.features(x)
        h = frames_to_labels(h, n_labels, self.hop / sample_rate, label_hop)
        return self.sequence(h, state, mask)

    def sequence(self, h: torch.Tensor, state=None, mask: torch.Tensor | None = None):
        """[instance norm +] LSTM + MLP over label-rate features ``(B, T, C)``."""
        if self.feature_norm == "instance":
            h = instance_norm(h, mask)
        elif self.feature_norm == "instance_level":
            assert self.level_norm is not None  # built together with feature_norm="instance_level"
            c = h.shape[-1]
            h = instance_norm(h, mask, with_level=True)
            z, level = h[..., :c], h[..., c:]
            valid = (mask if mask is not None else h.new_ones(h.shape[:2])).to(h.dtype)[..., None]
            h = torch.cat([z, self.level_norm(level) * valid], dim=-1)
        h, state = self.lstm(h, state)
        return self.mlp(h), state


def instance_norm(h: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-5,
                  with_level: bool = False) -> torch.Tensor:
    """Standardise every channel over the time steps of each sequence (``mask``: valid steps).

    A recording is one speaker (a client's side of a call), so this is a per-speaker feature
    normalisation inside the network: it removes the voice's and the channel's constant part.
    ``with_level``: also return the sequence's channel means and log standard deviations (the
    overall level the standardisation hides), repeated at every valid step: ``(B, T, 3 C)``."""
    if mask is None:
        mask = h.new_ones(h.shape[:2])
    m = mask.to(h.dtype)[..., None]
    n = m.sum(dim=1, keepdim=True).clamp(min=1.0)
    mu = (h * m).sum(dim=1, keepdim=True) / n
    var = (((h - mu) ** 2) * m).sum(dim=1, keepdim=True) / n
    z = (h - mu) / torch.sqrt(var + eps) * m
    if not with_level:
        return z
    level = torch.cat([mu, 0.5 * torch.log(var + eps)], dim=-1).expand(-1, h.shape[1], -1) * m
    return torch.cat([z, level], dim=-1)


# ------------------------------------------------------------------------------ label alignment

_ALIGN_CACHE: dict[tuple, tuple[torch.Tensor, ...]] = {}


def label_alignment(n_frames: int, n_labels: int, frame_hop: float, label_hop: float):
    """Index tensors that bring frames (centres at ``(j + .5) * frame_hop``) to labels at ``k * label_hop``.

    Returns ``(lo, hi, i0, i1, w, use_pool)``: label ``k`` is the mean of frames ``lo[k]:hi[k]`` when
    ``use_pool[k]``, else ``(1 - w[k]) * f[i0[k]] + w[k] * f[i1[k]]``.
    """
    key = (n_frames, n_labels, round(frame_hop, 9), round(label_hop, 9))
    if key in _ALIGN_CACHE:
        return _ALIGN_CACHE[key]
    t = np.arange(n_labels) * label_hop
    lo = np.ceil((t - label_hop / 2) / frame_hop - 0.5 - 1e-9).astype(np.int64)
    hi = np.ceil((t + label_hop / 2) / frame_hop - 0.5 - 1e-9).astype(np.int64)
    lo = np.clip(lo, 0, n_frames)
    hi = np.clip(hi, 0, n_frames)
    # label rate faster than the frame rate: interpolate everywhere (no mix of the two rules)
    use_pool = (hi > lo) & (label_hop >= frame_hop)
    p = t / frame_hop - 0.5
    i0 = np.clip(np.floor(p), 0, max(n_frames - 1, 0)).astype(np.int64)
    i1 = np.clip(i0 + 1, 0, max(n_frames - 1, 0))
    w = np.clip(p - i0, 0.0, 1.0)
    out = (torch.from_numpy(lo), torch.from_numpy(hi), torch.from_numpy(i0), torch.from_numpy(i1),
           torch.from_numpy(w).float(), torch.from_numpy(use_pool))
    if len(_ALIGN_CACHE) > 256:
        _ALIGN_CACHE.clear()
    _ALIGN_CACHE[key] = out
    return out


def frames_to_labels(frames: torch.Tensor, n_labels: int, frame_hop: float, label_hop: float) -> torch.Tensor:
    """``(B, N, K)`` frame outputs -> ``(B, n_labels, K)`` at the label rate (differentiable)."""
    B, N, K = frames.shape
    lo, hi, i0, i1, w, use_pool = (a.to(frames.device) for a in label_alignment(N, n_labels, frame_hop, label_hop))
    cs = torch.cat([frames.new_zeros(B, 1, K), frames.cumsum(dim=1)], dim=1)
    cnt = (hi - lo).clamp(min=1).to(frames.dtype)[None, :, None]
    pooled = (cs[:, hi] - cs[:, lo]) / cnt
    if bool(use_pool.all()):
        return pooled
    w_ = w.to(frames.dtype)[None, :, None]
    interp = (1 - w_) * frames[:, i0] + w_ * frames[:, i1]
    return torch.where(use_pool[None, :, None], pooled, interp)


# ------------------------------------------------------------------------------------ the model

def scale_waveform(x: np.ndarray, mode: str) -> np.ndarray:
    """Per-recording waveform scaling (``normalise``): ``rms`` to RMS 0.1, ``peak`` to 0.9, ``none``."""
    x = np.asarray(x, dtype=np.float32)
    if mode == "rms":
        r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0
        return x / r * 0.1 if r > 1e-8 else x
    if mode == "peak":
        p = float(np.max(np.abs(x))) if x.size else 0.0
        return x / p * 0.9 if p > 1e-8 else x
    return x


@register_model("raw_cnn_lstm")
class RawCNNLSTMModel(EmotionModel):
    """Time-continuous valence/arousal from raw audio (paper 000). See the module doc."""

    defaults = DEFAULTS

    def __init__(self, config: dict[str, Any] | None = None):
        cfg = dict(DEFAULTS)
        cfg.update({k: v for k, v in (config or {}).items() if v is not None or k not in cfg})
        cfg["type"] = "raw_cnn_lstm"
        super().__init__(cfg)
        # the regressor's outputs are valence/arousal; ``labels`` are the categories that
        # predict_proba derives from them through the circumplex (for the call pipeline)
        self.labels = list(cfg.get("labels") or ["angry", "happy", "neutral", "sad"])
        self.sample_rate = int(cfg["sample_rate"])
        self.min_duration = 0.5
        self.outputs = (["valence", "arousal"] + (["context"] if cfg["context"] else [])
                        + (["gender"] if cfg["gender"] else []))
        self.net: RawCNNLSTM | None = None
        self.history: dict[str, Any] = {}

    # -- helpers ------------------------------------------------------------------------------
    @property
    def label_hop(self) -> float:
        return float(self.config["label_hop"])

    def device(self) -> torch.device:
        return select_device(self.config.get("device"))

    def build_net(self) -> RawCNNLSTM:
        c = self.config
        return RawCNNLSTM(len(self.outputs), c["conv_channels"], c["conv_kernels"], c["conv_pools"],
                          c["lstm_hidden"], c["lstm_layers"], c["dropout"], c["mlp"], c.get("conv_norm", "none"),
                          c.get("feature_norm", "none"))

    def n_labels(self, n_samples: int, label_hop: float | None = None) -> int:
        """Label steps of a signal: times ``0, hop, ...`` strictly before its end."""
        hop = label_hop or self.label_hop
        return max(1, math.ceil(n_samples / self.sample_rate / hop - 1e-9))

    def squash(self, y: torch.Tensor) -> torch.Tensor:
        """tanh on the bounded outputs (valence, arousal, context); the gender logit stays linear."""
        if str(self.config.get("output_activation", "tanh")) != "tanh":
            return y
        k = len([o for o in self.outputs if o != "gender"])
        return torch.cat([torch.tanh(y[..., :k]), y[..., k:]], dim=-1)

    def forward_labels(self, x: torch.Tensor, n_labels: int, state=None, mask: torch.Tensor | None = None):
        if self.net is None:
            raise ModelError("the model has no network yet (train or load it first)")
        y, state = self.net(x, n_labels, self.label_hop, self.sample_rate, state, mask)
        return self.squash(y), state

    # -- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_scaled(self, signals: Sequence[np.ndarray], label_hop: float | None = None,
                          with_aux: bool = False) -> list[np.ndarray]:
        if self.net is None:
            raise ModelError("the model is not trained")
        self.net.eval()
        device = next(self.net.parameters()).device
        hop = label_hop or self.label_hop
        sr = self.sample_rate
        chunk = int(round(float(self.config["segment_length"]) * sr))
        chunk = max(self.net.hop, chunk - chunk % self.net.hop)
        out = []
        for x in signals:
            x = np.asarray(x, np.float32)
            # conv features chunk by chunk (bounded memory; the convolutions are local), then the
            # label-rate sequence through the LSTM in one pass
            feats = []
            for s in range(0, max(len(x), 1), chunk):
                piece = x[s:s + chunk]
                if len(piece) < self.net.hop:
                    piece = np.pad(piece, (0, self.net.hop - len(piece)))
                feats.append(self.net.features(torch.from_numpy(piece)[None].to(device)))
            fr = torch.cat(feats, dim=1)
            n_l = self.n_labels(len(x), hop)
            h = frames_to_labels(fr, n_l, self.net.hop / sr, hop)
            y, _ = self.net.sequence(h)
            y = self.squash(y)[0].cpu().numpy()
            out.append(y if with_aux else y[:, :2])
        return out

    def predict_curves(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None, *,
                       label_hop: float | None = None, with_aux: bool = False) -> list[np.ndarray]:
        """Time-continuous ``(n_labels, 2)`` (valence, arousal) per signal, label ``k`` at
        ``k * label_hop`` seconds (default: the training label rate; another rate is linearly
        interpolated from the curve at the training rate, since the LSTM runs at that rate).
        ``with_aux`` adds the context output and the gender logit as further columns."""
        sig = [scale_waveform(x, self.config["normalise"]) for x in signals]
        own = self.predict_scaled(sig, None, with_aux)
        if label_hop is None or abs(float(label_hop) - self.label_hop) < 1e-9:
            return own
        # the LSTM runs at the training label rate: other rates are interpolated from its curve
        out = []
        for x, c in zip(sig, own):
            t_own = np.arange(len(c)) * self.label_hop
            t = self.curve_times(len(x), label_hop)
            out.append(np.stack([np.interp(t, t_own, c[:, j]) for j in range(c.shape[1])], axis=1).astype(c.dtype))
        return out

    def curve_times(self, n_samples: int, label_hop: float | None = None) -> np.ndarray:
        hop = label_hop or self.label_hop
        return np.arange(self.n_labels(n_samples, hop)) * hop

    def predict_dimensions(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray:
        """Per-signal mean (valence, arousal) of the curve, clipped to [-1, 1]; ``(n, 2)``."""
        curves = self.predict_curves(signals, speakers)
        return np.clip(np.array([c.mean(axis=0) for c in curves], dtype=np.float64).reshape(-1, 2), -1, 1)

    def predict_proba(self, signals, speakers=None):
        """Category probabilities *derived* from the predicted (valence, arousal): a softmax of the
        negative squared distance to each label's circumplex point (``CIRCUMPLEX``, temperature
        ``circumplex_temperature``). A convenience so the regressor plugs into the call pipeline
        (which asks every model for probabilities); it is not a trained classifier."""
        labels = list(self.labels)
        if any(lab not in CIRCUMPLEX for lab in labels):
            raise ModelError(f"labels {labels} are not all on the circumplex; use predict_dimensions or predict_curves")
        d = self.predict_dimensions(signals, speakers)
        pts = np.array([CIRCUMPLEX[lab] for lab in labels], dtype=np.float64)
        tau = float(self.config.get("circumplex_temperature", 0.1))
        z = -((d[:, None, :] - pts[None]) ** 2).sum(-1) / tau
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    # -- persistence --------------------------------------------------------------------------------
    def _save(self, directory: Path) -> dict[str, Any]:
        if self.net is None:
            raise ModelError("cannot save an untrained model")
        save_state(self.net, directory / "weights.pt")
        return {"outputs": self.outputs, "history": self.history, "label_hop": self.label_hop,
                "task": "continuous valence/arousal (paper 000)"}

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> RawCNNLSTMModel:
        m = cls(card.get("config") or {})
        m.net = m.build_net()
        load_state(m.net, directory / "weights.pt", m.device())
        m.net.to(m.device()).eval()
        m.history = card.get("history") or {}
        return m


__all__ = ["DEFAULTS", "RawCNNLSTM", "RawCNNLSTMModel", "frames_to_labels", "instance_norm", "label_alignment",
           "scale_waveform"]
