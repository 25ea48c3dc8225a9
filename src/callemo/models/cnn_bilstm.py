"""Temporal CNN-BiLSTM emotion classifier (paper 002, Deschamps-Berger, Lamel & Devillers 2021).

Pipeline, as in the paper (deviations are configuration and are listed in ``docs/neural.md``); this
module holds the network and the predictor, steps 5 and 6 are the training task
(:func:`callemo.train.neural.fit_cnn_bilstm`):

1. log-mel spectrogram (25 ms Hanning window, 10 ms hop) with deltas and delta-deltas
   (``callemo.features.get_extractor("logmel")``, cached on disk), standardised per speaker (each
   speaker's own segments give the statistics) or globally;
2. each segment cut into 3 s sub-segments with 1 s overlap (hop 2 s); the last one is zero-padded and
   the padding is masked: convolution outputs are zeroed beyond each sequence's length and the BiLSTM
   runs on packed sequences, so a sequence's prediction does not depend on the padding;
3. temporal convolutions (kernels spanning the whole feature axis, sliding along time) with ReLU, He
   initialisation and max-pooling in time;
4. a BiLSTM of 60 units per direction, dropout 0.5 on its outputs; a dense layer applied to every
   time step, then masked mean pooling over time; softmax outputs for emotion and (multitask) gender,
   loss = CE(emotion) + CE(gender);
5. Adam with exponential decay x0.9 every 1000 steps, gradient clipping, class balancing (the
   majority class down-sampled keeping at least one segment per speaker, the others over-sampled;
   resampled every epoch), early stopping on the UA of a speaker-disjoint validation split;
6. a segment's decision from its sub-segments' posteriors by majority vote, mean or max, whichever
   gives the best validation UA.

About 200 k trainable parameters with the default configuration (40 mels -> 120 inputs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..features.base import get_extractor
from ..features.cache import extract
from .base import EmotionModel, ModelError, register_model
from .torch_common import (
    conv_out_length,
    count_parameters,
    he_init,
    iterate_minibatches,
    lengths_to_mask,
    load_state,
    pad_sequences,
    read_state,
    save_state,
    select_device,
    set_threads,
)

log = logging.getLogger(__name__)

WEIGHTS = "cnn_bilstm.pt"

DEFAULTS: dict[str, Any] = {
    "type": "cnn_bilstm",
    "sample_rate": 16000,
    "features": {"name": "logmel", "n_mels": 40},
    "normalisation": "speaker",      # speaker | global | none
    "subsegment": 3.0,               # seconds
    "overlap": 1.0,                  # seconds (hop = subsegment - overlap)
    "min_new": 0.25,                 # a further sub-segment needs this many new seconds
    "conv_channels": [96, 96],
    "kernels": [5, 5],
    "pools": [2, 2],
    "batchnorm": True,
    "lstm_hidden": 60,
    "dense": 64,
    "dropout": 0.5,
    "multitask_gender": True,        # used only when gender labels are given to fit
    "gender_weight": 1.0,
    "lr": 1e-3,                      # paper: 1e-4 (GPU, many epochs); CPU budget: 1e-3
    "lr_decay": 0.9,
    "lr_decay_steps": 1000,
    "weight_decay": 0.0,
    "clip": 1.0,
    "clip_mode": "value",            # paper: clip gradients to [-1, 1]
    "batch_size": 32,
    "epochs": 30,
    "patience": 8,
    "min_epochs": 3,
    "max_seconds": None,             # wall-clock budget of one fit
    "balance": "paper",              # paper | down | over | none
    "validation_fraction": 0.2,
    "validation_min_speakers": 1,    # at least this many speakers in the validation split
    "select_after": 0,               # epochs before this one are never kept as the best
    "aggregation": "auto",           # auto (chosen on validation) | vote | mean | max
    "augment": {"time_shift": 0.0, "freq_mask": 0, "time_mask": 0},
    "device": "cpu",
    "threads": None,
    "seed": 0,
    "jobs": 1,                       # feature extraction processes
    "cache": True,                   # feature cache on disk
}

AGGREGATIONS = ("vote", "mean", "max")


def _merge(defaults: dict, config: dict) -> dict:
    out = dict(defaults)
    for k, v in (config or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------

class TemporalCNNBiLSTM(nn.Module):
    """``(N, T, F)`` features + lengths -> emotion logits (and gender logits when ``n_genders``)."""

    def __init__(self, n_features: int, n_classes: int, *, n_genders: int = 0, conv_channels=(96, 96),
                 kernels=(5, 5), pools=(2, 2), batchnorm: bool = True, lstm_hidden: int = 60, dense: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        if not (len(conv_channels) == len(kernels) == len(pools)):
            raise ModelError("conv_channels, kernels and pools need the same length")
        self.kernels = [int(k) for k in kernels]
        self.pools = [int(p) for p in pools]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = int(n_features)
        for c, k in zip(conv_channels, self.kernels):
            self.convs.append(nn.Conv1d(c_in, int(c), k, padding=k // 2, bias=not batchnorm))
            self.norms.append(nn.BatchNorm1d(int(c)) if batchnorm else nn.Identity())
            c_in = int(c)
        self.lstm = nn.LSTM(c_in, int(lstm_hidden), batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(float(dropout))
        self.dense = nn.Linear(2 * int(lstm_hidden), int(dense))
        self.emotion = nn.Linear(int(dense), int(n_classes))
        self.gender = nn.Linear(int(dense), int(n_genders)) if n_genders else None
        he_init(self)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        L = lengths
        for k, p in zip(self.kernels, self.pools):
            L = conv_out_length(L, k, 1, k // 2)
            if p > 1:
                L = conv_out_length(L, p, p)
        return L.clamp(min=1)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step dense outputs ``(N, T', dense)`` and the mask ``(N, T')``."""
        h = x.transpose(1, 2)  # (N, F, T)
        L = lengths
        for conv, norm, k, p in zip(self.convs, self.norms, self.kernels, self.pools):
            h = torch.relu(norm(conv(h)))
            L = conv_out_length(L, k, 1, k // 2)
            h = h * lengths_to_mask(L.clamp(min=0), h.shape[-1]).unsqueeze(1).to(h.dtype)
            if p > 1:
                h = nn.functional.max_pool1d(h, p, p)
                L = conv_out_length(L, p, p)
                # a pooled step straddling the end holds a valid frame the unpadded sequence drops
                h = h * lengths_to_mask(L.clamp(min=0), h.shape[-1]).unsqueeze(1).to(h.dtype)
        L = L.clamp(min=1, max=h.shape[-1])
        h = h.transpose(1, 2)  # (N, T', C)
        packed = pack_padded_sequence(h, L.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        out = self.drop(out)
        d = self.drop(torch.relu(self.dense(out)))
        mask = lengths_to_mask(L, d.shape[1])
        return d, mask

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        d, mask = self.embed(x, lengths)
        m = mask.unsqueeze(-1).to(d.dtype)
        pooled = (d * m).sum(1) / m.sum(1).clamp(min=1.0)
        emo = self.emotion(pooled)
        gen = self.gender(pooled) if self.gender is not None else None
        return emo, gen


# --------------------------------------------------------------------------------------------
# features, sub-segments, aggregation
# --------------------------------------------------------------------------------------------

def make_extractor(spec: dict[str, Any], sample_rate: int):
    """The ``callemo.features`` extractor named by ``spec`` (``{name: logmel, n_mels: 40}``)."""
    spec = dict(spec or {})
    return get_extractor(spec.pop("name", "logmel"), sample_rate=sample_rate, **spec)


def compute_features(extractor, signals: Sequence[np.ndarray], *, jobs: int = 1,
                     cache: bool = True) -> list[np.ndarray]:
    """Frame features of every signal (through the disk cache when ``cache``)."""
    return [np.asarray(f, dtype=np.float32) for f in extract(extractor, list(signals), jobs=jobs, cache=cache)]


def subsegment_starts(n_frames: int, size: int, hop: int, min_new: int) -> list[int]:
    """Start frames of the sub-segments of a ``n_frames`` sequence (3 s windows, hop 2 s): the first
    at 0, then every ``hop`` while the window still brings at least ``min_new`` unseen frames."""
    starts = [0]
    s = hop
    while s < n_frames and n_frames - (s + (size - hop)) >= max(1, min_new):
        starts.append(s)
        s += hop
    return starts


def aggregate(post: np.ndarray, owner: np.ndarray, n_items: int, how: str) -> np.ndarray:
    """Segment posteriors from sub-segment posteriors ``post`` (rows owned by ``owner``)."""
    k = post.shape[1]
    out = np.zeros((n_items, k))
    for i in range(n_items):
        p = post[owner == i]
        if len(p) == 0:
            out[i] = 1.0 / k
        elif how == "mean":
            out[i] = p.mean(0)
        elif how == "max":
            m = p.max(0)
            out[i] = m / m.sum()
        elif how == "vote":
            votes = np.bincount(p.argmax(1), minlength=k).astype(float)
            # ties broken by the mean posterior; output stays a distribution
            out[i] = votes / votes.sum() * 0.999 + 0.001 * p.mean(0)
        else:
            raise ModelError(f"unknown aggregation {how!r} (vote, mean, max)")
    return out / out.sum(1, keepdims=True)


# --------------------------------------------------------------------------------------------
# the model family
# --------------------------------------------------------------------------------------------

@register_model("cnn_bilstm")
class CNNBiLSTMModel(EmotionModel):
    """Registered as ``type: cnn_bilstm``; see the module docstring and ``configs/cnn_bilstm*.yaml``."""

    defaults = DEFAULTS

    def __init__(self, config: dict[str, Any] | None = None):
        cfg = _merge(DEFAULTS, config or {})
        super().__init__(cfg)
        self.sample_rate = int(cfg["sample_rate"])
        self.labels: list[str] = []
        self.genders: list[str] = []
        self.net: TemporalCNNBiLSTM | None = None
        self.global_mean: np.ndarray | None = None
        self.global_std: np.ndarray | None = None
        self.agg: str = "mean" if cfg["aggregation"] == "auto" else str(cfg["aggregation"])
        self.history: dict[str, Any] = {}
        self._extractor = None

    # -- helpers --------------------------------------------------------------------------
    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = make_extractor(self.config.get("features") or {}, self.sample_rate)
        return self._extractor

    @property
    def device(self) -> torch.device:
        return select_device(self.config.get("device"))

    def frames(self, seconds: float) -> int:
        return int(round(seconds * 100))  # 10 ms hop

    def build_net(self, n_features: int) -> TemporalCNNBiLSTM:
        c = self.config
        return TemporalCNNBiLSTM(n_features, len(self.labels), n_genders=len(self.genders),
                                 conv_channels=c["conv_channels"], kernels=c["kernels"], pools=c["pools"],
                                 batchnorm=c["batchnorm"], lstm_hidden=c["lstm_hidden"], dense=c["dense"],
                                 dropout=c["dropout"])

    def normalise(self, feats: list[np.ndarray], speakers: Sequence[Any] | np.ndarray | None) -> list[np.ndarray]:
        mode = self.config.get("normalisation", "speaker")
        if mode == "none":
            return feats
        if mode == "speaker" and speakers is not None:
            spk = np.asarray([str(s) for s in speakers])
            out: list[np.ndarray | None] = [None] * len(feats)
            for s in np.unique(spk):
                idx = np.flatnonzero(spk == s)
                allf = np.concatenate([feats[i] for i in idx], 0)
                mu, sd = allf.mean(0), allf.std(0) + 1e-5
                for i in idx:
                    out[i] = ((feats[i] - mu) / sd).astype(np.float32)
            return out  # type: ignore[return-value]
        if self.global_mean is None:
            raise ModelError("model not fitted (no normalisation statistics)")
        return [((f - self.global_mean) / self.global_std).astype(np.float32) for f in feats]

    def subsegments(self, feats: list[np.ndarray]) -> tuple[list[tuple[int, int]], np.ndarray]:
        size = self.frames(self.config["subsegment"])
        hop = max(1, size - self.frames(self.config["overlap"]))
        min_new = self.frames(self.config["min_new"])
        items, owner = [], []
        for i, f in enumerate(feats):
            for s in subsegment_starts(len(f), size, hop, min_new):
                items.append((i, s))
                owner.append(i)
        return items, np.asarray(owner, dtype=int)

    def batch(self, feats, items, idx, starts: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded sub-segments ``(x, lengths)`` of ``items[idx]``; ``starts`` (one start frame per
        index) overrides the items' own starts (training draws shifted windows)."""
        size = self.frames(self.config["subsegment"])
        seqs = []
        for k, j in enumerate(idx):
            i, s = items[j]
            if starts is not None:
                s = int(starts[k])
            f = feats[i]
            seq = f[s:s + size]
            if len(seq) == 0:
                seq = f[-1:]
            seqs.append(seq)
        x, lens = pad_sequences(seqs)
        return torch.from_numpy(x), torch.from_numpy(lens)

    def posteriors(self, feats, items, batch_size: int = 64) -> np.ndarray:
        assert self.net is not None
        self.net.eval()
        dev = self.device
        out = []
        # sort by length so batches pad little (results do not depend on it: padding is masked)
        sub = self.frames(self.config["subsegment"])
        order = np.argsort([-min(len(feats[i]) - s, sub) for i, s in items], kind="stable")
        with torch.no_grad():
            for b in iterate_minibatches(len(items), batch_size, order=order):
                x, lens = self.batch(feats, items, b)
                logits, _ = self.net(x.to(dev), lens.to(dev))
                out.append((b, torch.softmax(logits, -1).cpu().numpy()))
        post = np.zeros((len(items), len(self.labels)))
        for b, p in out:
            post[b] = p
        return post

    # -- EmotionModel API (training: callemo.train.neural.fit_cnn_bilstm) ------------------
    def predict_proba(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray:
        if self.net is None:
            raise ModelError("cnn_bilstm model is not fitted")
        if len(signals) == 0:
            return np.zeros((0, len(self.labels)))
        set_threads(self.config.get("threads"))
        self.net.to(self.device)
        feats = compute_features(self.extractor, signals, jobs=int(self.config.get("jobs") or 1),
                                 cache=self.config.get("cache", True))
        feats = self.normalise(feats, speakers)
        items, owner = self.subsegments(feats)
        post = self.posteriors(feats, items)
        return aggregate(post, owner, len(signals), self.agg)

    def n_parameters(self) -> int:
        return count_parameters(self.net) if self.net is not None else 0

    # -- persistence ----------------------------------------------------------------------
    def _save(self, directory: Path) -> dict[str, Any]:
        if self.net is None or self.global_mean is None:
            raise ModelError("cannot save an unfitted cnn_bilstm model")
        save_state(self.net, directory / WEIGHTS, global_mean=self.global_mean, global_std=self.global_std,
                   n_features=int(self.global_mean.shape[0]))
        return {"weights": WEIGHTS, "genders": list(self.genders), "aggregation": self.agg,
                "features": {**dict(self.config.get("features") or {}), "sample_rate": self.sample_rate},
                "normalisation": self.config.get("normalisation", "speaker"),
                "parameters": self.n_parameters()}

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> CNNBiLSTMModel:
        cfg = dict(card.get("config") or {})
        cfg.setdefault("type", "cnn_bilstm")
        m = cls(cfg)
        m.labels = list(card["labels"])
        m.genders = list(card.get("genders") or [])
        m.agg = str(card.get("aggregation", m.agg))
        wpath = directory / card.get("weights", WEIGHTS)
        if not wpath.exists():
            raise ModelError(f"{directory}: weights file {wpath.name} not found")
        blob = read_state(wpath)
        m.net = m.build_net(int(blob["n_features"]))
        load_state(m.net, wpath)
        m.global_mean = np.asarray(blob["global_mean"], dtype=np.float32)
        m.global_std = np.asarray(blob["global_std"], dtype=np.float32)
        m.net.eval()
        return m
