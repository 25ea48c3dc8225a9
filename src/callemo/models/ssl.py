"""Self-supervised speech encoders with emotion heads (paper 001, Martín-Doñas et al. 2024).

An encoder (wav2vec2 / XLS-R, WavLM, HuBERT) is loaded with ``transformers`` from a **local**
checkpoint directory (``AutoModel.from_pretrained(path, local_files_only=True)``; nothing is ever
downloaded) and kept frozen. Its hidden layers feed one of two model families:

``type: ssl_head``
    a learnable softmax-weighted sum of the hidden layers, then a downstream DNN:

    - ``head: sp`` (DNN-SP): linear reduction, masked mean + standard-deviation pooling over time,
      an embedding layer and a softmax classifier trained with cross-entropy;
    - ``head: attcp`` (DNN-AttCP): linear reduction, channel dropout, multi-head attentive
      correlation pooling (the heads' attention logits aggregated by LogSumExp before the softmax
      over time; the pooled vector is the upper triangle of the attention-weighted channel
      correlation matrix), an embedding layer and a classifier trained with label-smoothed
      cross-entropy.

    Training (:func:`callemo.train.neural.fit_ssl_head`): balanced down-sampling of the training
    set at every epoch, Adam (3e-4), early stopping on the UA of a speaker-disjoint 80/20
    development split.

``type: ssl_svm``
    time-pooled (mean, or mean+std) embeddings of chosen hidden layers, standardised, RBF SVM with
    balanced class weights (one-vs-rest decision, probabilities by Platt scaling).

Configuration keys: ``encoder`` (local path, required), ``layers`` (``all`` or a list of indices into
the hidden states, 0 = the CNN/projection output), ``max_chunk`` (seconds per encoder call; longer
audio is processed in chunks and the hidden states concatenated), ``normalize_input``
(``auto`` reads ``preprocessor_config.json``), ``copy_encoder`` (save the encoder into the model
directory so it is self-contained).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .base import EmotionModel, ModelError, register_model
from .card import dump_sklearn, load_sklearn
from .torch_common import (
    count_parameters,
    iterate_minibatches,
    lengths_to_mask,
    load_state,
    read_state,
    save_state,
    seed_everything,
    select_device,
    set_threads,
)

log = logging.getLogger(__name__)

HEAD_WEIGHTS = "ssl_head.pt"
SVM_FILE = "ssl_svm.joblib"
ENCODER_DIR = "encoder"


# --------------------------------------------------------------------------------------------
# the encoder
# --------------------------------------------------------------------------------------------

def _check_encoder_path(path: str | os.PathLike | None) -> Path:
    if not path:
        raise ModelError("SSL model configuration needs 'encoder': a local directory holding a transformers "
                         "checkpoint (config.json + weights); nothing is downloaded")
    raw = os.path.expandvars(os.path.expanduser(str(path)))
    if "$" in raw:
        raise ModelError(f"SSL encoder path {path!r} names an unset environment variable (e.g. export "
                         f"CALLEMO_SSL_ENCODER=/path/to/a/local/wavlm-or-wav2vec2-checkpoint)")
    p = Path(raw)
    if not p.is_dir():
        raise ModelError(f"{p}: SSL encoder directory not found (give a local transformers checkpoint, e.g. "
                         f"one saved with save_pretrained; callemo never downloads weights)")
    if not (p / "config.json").exists():
        raise ModelError(f"{p}: not a transformers checkpoint (no config.json)")
    return p


class SSLEncoder:
    """A frozen transformers speech encoder returning all hidden states of a 16 kHz signal."""

    sample_rate = 16000

    def __init__(self, path: str | os.PathLike | None, *, device: str | None = "cpu",
                 normalize_input: str | bool = "auto", max_chunk: float = 20.0):
        self.path = _check_encoder_path(path)
        try:
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging
        except ImportError as e:  # pragma: no cover - optional dependency
            raise ModelError("SSL models need the 'transformers' package (pip install callemo[ssl])") from e
        hf_logging.disable_progress_bar()
        self.device = select_device(device)
        try:
            self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True)
        except Exception as e:
            raise ModelError(f"{self.path}: cannot load the SSL encoder ({type(e).__name__}: {e})") from None
        self.model.eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        if normalize_input == "auto":
            normalize_input = True
            pp = self.path / "preprocessor_config.json"
            if pp.exists():
                with contextlib.suppress(OSError, ValueError):
                    normalize_input = bool(json.loads(pp.read_text()).get("do_normalize", True))
        self.normalize_input = bool(normalize_input)
        self.max_chunk = float(max_chunk)
        cfg = self.model.config
        self.hidden_size = int(cfg.hidden_size)
        self.n_states = int(cfg.num_hidden_layers) + 1

    @torch.no_grad()
    def hidden_states(self, x: np.ndarray) -> np.ndarray:
        """``(n_states, frames, hidden)`` float32 for one mono 16 kHz signal."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        min_len = 400  # the convolutional front end needs at least one 25 ms receptive field
        if len(x) < min_len:
            x = np.pad(x, (0, min_len - len(x)))
        step = max(min_len, int(self.max_chunk * self.sample_rate))
        outs: list[np.ndarray] = []
        for s in range(0, len(x), step):
            c = x[s:s + step]
            if len(c) < min_len:
                if outs:
                    break
                c = np.pad(c, (0, min_len - len(c)))
            if self.normalize_input:
                c = (c - c.mean()) / np.sqrt(c.var() + 1e-7)
            t = torch.from_numpy(np.ascontiguousarray(c))[None].to(self.device)
            hs = self.model(t, output_hidden_states=True).hidden_states
            outs.append(torch.stack([h[0] for h in hs]).float().cpu().numpy())
        return np.concatenate(outs, axis=1)


# --------------------------------------------------------------------------------------------
# heads
# --------------------------------------------------------------------------------------------

class WeightedLayerSum(nn.Module):
    """Softmax-normalised learnable weights over the encoder's hidden states."""

    def __init__(self, n_states: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_states))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (N, S, T, H) -> (N, T, H)
        w = torch.softmax(self.logits, 0)
        return (h * w[None, :, None, None]).sum(1)

    def weights(self) -> list[float]:
        return torch.softmax(self.logits.detach(), 0).cpu().tolist()


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    n = m.sum(1).clamp(min=1.0)
    mu = (x * m).sum(1) / n
    var = (((x - mu[:, None]) ** 2) * m).sum(1) / n
    return torch.cat([mu, torch.sqrt(var + 1e-6)], -1)


class AttentiveCorrelationPooling(nn.Module):
    """Multi-head attentive channel-correlation pooling.

    Each head scores every frame; the heads' scores are aggregated with LogSumExp before the
    softmax over (valid) time; the pooled representation is the upper triangle (without the
    diagonal) of the attention-weighted correlation matrix of the channels.
    """

    iu0: torch.Tensor  # buffers: row and column indices of the upper triangle
    iu1: torch.Tensor

    def __init__(self, channels: int, heads: int = 4, att_dim: int = 64):
        super().__init__()
        self.key = nn.Linear(channels, att_dim)
        self.queries = nn.Parameter(torch.randn(heads, att_dim) / att_dim ** 0.5)
        self.scale = att_dim ** -0.5
        iu = torch.triu_indices(channels, channels, offset=1)
        self.register_buffer("iu0", iu[0], persistent=False)
        self.register_buffer("iu1", iu[1], persistent=False)
        self.out_dim = channels * (channels - 1) // 2

    def attention(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k = torch.tanh(self.key(x))                           # (N, T, A)
        s = torch.einsum("nta,ha->nht", k, self.queries) * self.scale
        s = torch.logsumexp(s, dim=1)                         # (N, T): heads aggregated
        s = s.masked_fill(~mask, float("-inf"))
        return torch.softmax(s, dim=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.attention(x, mask).unsqueeze(-1)             # (N, T, 1)
        mu = (a * x).sum(1, keepdim=True)
        xc = x - mu
        cov = torch.einsum("ntc,ntd->ncd", a * xc, xc)
        sd = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2).clamp(min=1e-6))
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        return corr[:, self.iu0, self.iu1]


class SSLHead(nn.Module):
    """Weighted layer sum -> linear reduction -> pooling (SP or AttCP) -> embedding -> classifier."""

    def __init__(self, n_states: int, hidden: int, n_classes: int, *, head: str = "sp", reduce: int = 128,
                 embedding: int = 128, dropout: float = 0.2, channel_dropout: float = 0.25, heads: int = 4,
                 att_dim: int = 64):
        super().__init__()
        head = head.lower()
        if head not in ("sp", "attcp"):
            raise ModelError(f"unknown SSL head {head!r} (sp or attcp)")
        self.head = head
        self.layers = WeightedLayerSum(n_states)
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.reduce = nn.Linear(hidden, reduce)
        self.channel_drop: nn.Dropout1d | None
        self.pool: AttentiveCorrelationPooling | None
        if head == "attcp":
            self.channel_drop = nn.Dropout1d(channel_dropout)
            self.pool = AttentiveCorrelationPooling(reduce, heads=heads, att_dim=att_dim)
            pooled = self.pool.out_dim
        else:
            self.channel_drop = None
            self.pool = None
            pooled = 2 * reduce
        self.embed = nn.Sequential(nn.Linear(pooled, embedding), nn.ReLU(), nn.Dropout(dropout))
        self.classifier = nn.Linear(embedding, n_classes)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.reduce(self.norm(self.layers(h)))            # (N, T, R)
        mask = lengths_to_mask(lengths, x.shape[1])
        if self.head == "attcp":
            assert self.channel_drop is not None and self.pool is not None  # built with head="attcp"
            x = self.channel_drop(x.transpose(1, 2)).transpose(1, 2)
            z = self.pool(x, mask)
        else:
            z = masked_mean_std(x, mask)
        return self.classifier(self.embed(z))


# --------------------------------------------------------------------------------------------
# shared plumbing of both families
# --------------------------------------------------------------------------------------------

class _SSLBase(EmotionModel):
    defaults: ClassVar[dict[str, Any] | None] = {}

    def __init__(self, config: dict[str, Any] | None = None):
        cfg = {**(self.defaults or {}), **(config or {})}
        super().__init__(cfg)
        self.sample_rate = 16000
        self.labels: list[str] = []
        self._encoder: SSLEncoder | None = None
        self._encoder_path: Path | None = None

    @property
    def encoder(self) -> SSLEncoder:
        if self._encoder is None:
            path = self._encoder_path or self.config.get("encoder")
            self._encoder = SSLEncoder(path, device=self.config.get("device", "cpu"),
                                       normalize_input=self.config.get("normalize_input", "auto"),
                                       max_chunk=float(self.config.get("max_chunk", 20.0)))
        return self._encoder

    def _layer_index(self) -> list[int]:
        n = self.encoder.n_states
        sel = self.config.get("layers", "all")
        if sel in (None, "all"):
            return list(range(n))
        idx = [int(i) for i in (sel if isinstance(sel, (list, tuple)) else [sel])]
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise ModelError(f"layers {bad} out of range: the encoder has {n} hidden states (0..{n - 1})")
        return [i % n for i in idx]

    def states(self, signals: Sequence[np.ndarray], dtype=np.float16) -> list[np.ndarray]:
        idx = self._layer_index()
        return [self.encoder.hidden_states(x)[idx].astype(dtype) for x in signals]

    def _save_encoder(self, directory: Path) -> dict[str, Any]:
        if self.config.get("copy_encoder"):
            dst = directory / ENCODER_DIR
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(self.encoder.path, dst)
            return {"encoder_location": ENCODER_DIR}
        return {"encoder_location": str(self.encoder.path)}

    @classmethod
    def _from_card(cls, directory: Path, card: dict[str, Any]):
        """A model of ``cls`` with the card's configuration, labels and encoder path (no weights yet)."""
        m = cls(dict(card.get("config") or {}))
        m.labels = list(card["labels"])
        m._encoder_path = cls._encoder_for(directory, card)
        return m

    @classmethod
    def _encoder_for(cls, directory: Path, card: dict[str, Any]) -> Path:
        loc = card.get("encoder_location") or (card.get("config") or {}).get("encoder")
        p = Path(str(loc))
        if not p.is_absolute():
            p = directory / p
        return _check_encoder_path(p)


# --------------------------------------------------------------------------------------------
# ssl_head
# --------------------------------------------------------------------------------------------

@register_model("ssl_head")
class SSLHeadModel(_SSLBase):
    """``type: ssl_head``: frozen SSL encoder + weighted layer sum + DNN-SP or DNN-AttCP head
    (trained by :func:`callemo.train.neural.fit_ssl_head`)."""

    defaults: ClassVar[dict[str, Any] | None] = {
        "type": "ssl_head", "encoder": None, "head": "sp", "layers": "all", "reduce": 128, "embedding": 128,
        "dropout": 0.2, "channel_dropout": 0.25, "heads": 4, "att_dim": 64, "label_smoothing": None,
        "lr": 3e-4, "lr_decay": 1.0, "lr_decay_steps": 1000, "clip": 5.0, "batch_size": 16, "epochs": 20,
        "patience": 5, "min_epochs": 1, "balance": "down", "validation_fraction": 0.2, "device": "cpu",
        "threads": None, "seed": 0, "max_chunk": 20.0, "max_frames": 1000, "normalize_input": "auto",
        "copy_encoder": False, "max_seconds": None,
    }

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        self.net: SSLHead | None = None
        self.history: dict[str, Any] = {}

    def build_net(self, n_states: int, hidden: int) -> SSLHead:
        c = self.config
        return SSLHead(n_states, hidden, len(self.labels), head=c["head"], reduce=int(c["reduce"]),
                       embedding=int(c["embedding"]), dropout=float(c["dropout"]),
                       channel_dropout=float(c["channel_dropout"]), heads=int(c["heads"]), att_dim=int(c["att_dim"]))

    def batch(self, states: list[np.ndarray], idx, rng=None) -> tuple[torch.Tensor, torch.Tensor]:
        maxf = int(self.config.get("max_frames") or 10**9)
        seqs = []
        for i in idx:
            s = states[i]
            if s.shape[1] > maxf:  # random crop while training, centre crop otherwise
                off = int(rng.integers(0, s.shape[1] - maxf + 1)) if rng is not None else (s.shape[1] - maxf) // 2
                s = s[:, off:off + maxf]
            seqs.append(s)
        T = max(s.shape[1] for s in seqs)
        S, H = seqs[0].shape[0], seqs[0].shape[2]
        x = np.zeros((len(seqs), S, T, H), dtype=np.float32)
        lens = np.zeros(len(seqs), dtype=np.int64)
        for j, s in enumerate(seqs):
            x[j, :, :s.shape[1]] = s
            lens[j] = s.shape[1]
        return torch.from_numpy(x), torch.from_numpy(lens)

    def proba_states(self, states: list[np.ndarray]) -> np.ndarray:
        assert self.net is not None
        self.net.eval()
        dev = select_device(self.config.get("device"))
        out = np.zeros((len(states), len(self.labels)))
        with torch.no_grad():
            for b in iterate_minibatches(len(states), 32):
                x, lens = self.batch(states, b)
                out[b] = torch.softmax(self.net(x.to(dev), lens.to(dev)), -1).cpu().numpy()
        return out

    def predict_proba(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray:
        if self.net is None:
            raise ModelError("ssl_head model is not fitted")
        if len(signals) == 0:
            return np.zeros((0, len(self.labels)))
        set_threads(self.config.get("threads"))
        self.net.to(select_device(self.config.get("device")))
        return self.proba_states(self.states(signals))

    def _save(self, directory: Path) -> dict[str, Any]:
        if self.net is None:
            raise ModelError("cannot save an unfitted ssl_head model")
        save_state(self.net, directory / HEAD_WEIGHTS, n_states=len(self.net.layers.logits),
                   hidden=int(self.net.reduce.in_features))
        return {"weights": HEAD_WEIGHTS, **self._save_encoder(directory), "parameters": count_parameters(self.net)}

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> SSLHeadModel:
        m = cls._from_card(directory, card)
        wpath = directory / card.get("weights", HEAD_WEIGHTS)
        if not wpath.exists():
            raise ModelError(f"{directory}: weights file {wpath.name} not found")
        blob = read_state(wpath)
        m.net = m.build_net(int(blob["n_states"]), int(blob["hidden"]))
        load_state(m.net, wpath)
        m.net.eval()
        return m


# --------------------------------------------------------------------------------------------
# ssl_svm
# --------------------------------------------------------------------------------------------

@register_model("ssl_svm")
class SSLSVMModel(_SSLBase):
    """``type: ssl_svm``: time-pooled SSL layer embeddings + standardisation + RBF SVM (balanced)."""

    defaults: ClassVar[dict[str, Any] | None] = {
        "type": "ssl_svm", "encoder": None, "layers": "all", "pool": "mean", "C": 1.0, "gamma": "scale",
        "device": "cpu", "threads": None, "seed": 0, "max_chunk": 20.0, "normalize_input": "auto",
        "copy_encoder": False}

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        self.pipeline = None

    def embeddings(self, signals: Sequence[np.ndarray]) -> np.ndarray:
        """One vector per signal: the chosen layers, each pooled over time, concatenated."""
        pool = self.config.get("pool", "mean")
        rows = []
        for x in signals:
            h = self.encoder.hidden_states(x)[self._layer_index()]   # (S, T, H)
            parts = [h.mean(1)]
            if pool == "meanstd":
                parts.append(h.std(1))
            elif pool != "mean":
                raise ModelError(f"unknown pool {pool!r} (mean or meanstd)")
            rows.append(np.concatenate(parts, -1).reshape(-1))
        return np.asarray(rows, dtype=np.float32)

    def fit(self, signals: Sequence[np.ndarray], y: Sequence[str], speakers: Sequence[str] | None = None,
            **kw) -> SSLSVMModel:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        set_threads(self.config.get("threads"))
        seed_everything(int(self.config.get("seed", 0)))
        targets = np.asarray([str(v) for v in y])
        self.labels = sorted(set(targets.tolist()))
        if len(self.labels) < 2:
            raise ModelError("fit needs at least two emotion classes")
        X = self.embeddings(signals)
        from sklearn.calibration import CalibratedClassifierCV

        svc = SVC(kernel="rbf", C=float(self.config.get("C", 1.0)), gamma=self.config.get("gamma", "scale"),
                  class_weight="balanced", decision_function_shape="ovr", random_state=int(self.config.get("seed", 0)))
        # probabilities by Platt scaling on internal folds (SVC(probability=True) is deprecated)
        k = int(min(3, np.unique(targets, return_counts=True)[1].min()))
        clf = CalibratedClassifierCV(svc, ensemble=False, cv=k, method="sigmoid") if k >= 2 else svc
        self.pipeline = make_pipeline(StandardScaler(), clf).fit(X, targets)
        return self

    def predict_proba(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray:
        if self.pipeline is None:
            raise ModelError("ssl_svm model is not fitted")
        if len(signals) == 0:
            return np.zeros((0, len(self.labels)))
        p = self.pipeline.predict_proba(self.embeddings(signals))
        order = [list(self.pipeline.classes_).index(lab) for lab in self.labels]
        return p[:, order]

    def _save(self, directory: Path) -> dict[str, Any]:
        if self.pipeline is None:
            raise ModelError("cannot save an unfitted ssl_svm model")
        return {"weights": SVM_FILE, **dump_sklearn(self.pipeline, directory / SVM_FILE),
                **self._save_encoder(directory)}

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> SSLSVMModel:
        m = cls._from_card(directory, card)
        f = directory / card.get("weights", SVM_FILE)
        if not f.exists():
            raise ModelError(f"{directory}: {f.name} not found")
        m.pipeline = load_sklearn(f, card)
        return m
