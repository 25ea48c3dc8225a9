"""The training task of the raw-waveform CNN-LSTM regressor (paper 000): time-continuous valence
and arousal (and, multitask, a context target and gender) from gold traces.

The network and the predictor are :class:`callemo.models.raw_cnn_lstm.RawCNNLSTMModel`; this task
owns the data (recordings cut into ``segment_length`` pieces at a random offset every epoch,
batches bounded by ``batch_duration`` seconds of audio, ``burn_in`` masking), the multitask loss
(:class:`callemo.models.losses.MultitaskLoss`), Adam with gradient-norm clipping, and the choice of
the best epoch on the validation recordings (mean of CCC(V) and CCC(A), scored by
:func:`callemo.evaluate.continuous.score_curves`)::

    model = RawCNNLSTMModel(config)
    fit_continuous(model, signals, traces, context=..., gender=..., valid={"signals": ..., "traces": ...})
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..evaluate.continuous import score_curves
from ..models.base import ModelError
from ..models.losses import MultitaskLoss
from ..models.raw_cnn_lstm import RawCNNLSTMModel, scale_waveform
from ..models.torch_common import count_parameters, he_init, seed_everything, set_threads
from .loop import train_loop


class ContinuousTarget:
    """One training recording: signal, gold traces at the label rate and context."""

    def __init__(self, signal: np.ndarray, valence: np.ndarray, arousal: np.ndarray,
                 context: float | None = None, gender: int | None = None):
        self.signal = signal
        self.valence = np.asarray(valence, np.float32)
        self.arousal = np.asarray(arousal, np.float32)
        self.context = np.nan if context is None else float(context)
        self.gender = -1 if gender is None else int(gender)


def gender_code(g) -> int:
    """1 = female, 0 = male, -1 = unknown."""
    s = str(g).strip().lower()
    if s in ("f", "female", "w", "woman", "1"):
        return 1
    if s in ("m", "male", "man", "0"):
        return 0
    return -1


class ContinuousTask:
    """Training of one :class:`RawCNNLSTMModel` (its config holds the task's settings too)."""

    def __init__(self, model: RawCNNLSTMModel):
        self.model = model

    def loss(self) -> MultitaskLoss:
        c = self.model.config
        outputs = self.model.outputs
        return MultitaskLoss(alpha=float(c["alpha"]) if c["context"] else 0.0,
                             beta=float(c["beta"]) if c["gender"] else 0.0, level=c["ccc_level"],
                             context_index=outputs.index("context") if "context" in outputs else None,
                             gender_index=outputs.index("gender") if "gender" in outputs else None)

    def segments(self, data: Sequence[ContinuousTarget], rng: np.random.Generator):
        """Cut every recording into segments of ``segment_length`` at a random offset."""
        L = float(self.model.config["segment_length"])
        hop = self.model.label_hop
        sr = self.model.sample_rate
        min_seg = float(self.model.config["min_segment"])
        segs = []
        for r, d in enumerate(data):
            dur = len(d.signal) / sr
            n_lab = len(d.valence)
            if dur <= L:
                bounds = [0.0, dur]
            else:
                off = float(rng.integers(0, max(1, int(L / hop)))) * hop
                bounds = [0.0] + [b for b in np.arange(off, dur, L) if b > 0] + [dur]
            for a, b in itertools.pairwise(bounds):
                if b - a < min(min_seg, dur):
                    continue
                k0 = int(round(a / hop))
                k1 = min(n_lab, math.ceil(b / hop - 1e-9))
                if k1 - k0 < 2:
                    continue
                segs.append((r, a, b, k0, k1))
        return segs

    def batch(self, data, segs, device):
        L = float(self.model.config["segment_length"])
        sr = self.model.sample_rate
        hop = self.model.label_hop
        burn = round(float(self.model.config.get("burn_in") or 0.0) / hop)
        longest = max(b - a for _, a, b, _, _ in segs)
        Ls = min(L, longest)
        n_s = int(round(Ls * sr))
        n_l = max(k1 - k0 for *_, k0, k1 in segs)
        B = len(segs)
        x = np.zeros((B, n_s), np.float32)
        v = np.zeros((B, n_l), np.float32)
        a_ = np.zeros((B, n_l), np.float32)
        m = np.zeros((B, n_l), np.float32)
        am = np.zeros((B, n_l), np.float32)
        ctx = np.full((B, n_l), np.nan, np.float32)
        g = np.full(B, -1.0, np.float32)
        for i, (r, a, _b, k0, k1) in enumerate(segs):
            d = data[r]
            s0 = int(round(a * sr))
            piece = d.signal[s0: s0 + n_s]
            x[i, : len(piece)] = piece
            n = k1 - k0
            # labels whose time lies inside the audio of this segment
            n = min(n, math.ceil(len(piece) / sr / hop - 1e-9))
            v[i, :n] = d.valence[k0:k0 + n]
            a_[i, :n] = d.arousal[k0:k0 + n]
            m[i, :n] = 1
            am[i, :n] = 1
            if a > 0 and burn:
                # a segment cut from inside a recording: its first labels reflect audio before the
                # cut (annotation lag, smoothing); the LSTM warms up on them without a loss
                m[i, : min(n, burn)] = 0
            ctx[i, :n] = d.context
            g[i] = d.gender
        t = lambda z: torch.from_numpy(z).to(device)  # noqa: E731
        return t(x), {"valence": t(v), "arousal": t(a_), "context": t(ctx), "gender": t(g)}, t(m), n_l, t(am)

    def prepare(self, signals: Sequence[np.ndarray], traces: Sequence[np.ndarray],
                context: Sequence[float] | None = None, gender: Sequence[Any] | None = None) -> list[ContinuousTarget]:
        """Normalise signals and pair them with their ``(n_labels, 2)`` traces at ``label_hop``."""
        if len(signals) != len(traces):
            raise ModelError(f"{len(signals)} signals but {len(traces)} traces")
        out = []
        for i, (x, tr) in enumerate(zip(signals, traces)):
            tr = np.asarray(tr, np.float32)
            if tr.ndim != 2 or tr.shape[1] < 2:
                raise ModelError(f"trace {i}: expected an (n, 2) array of (valence, arousal), got {tr.shape}")
            out.append(ContinuousTarget(scale_waveform(x, self.model.config["normalise"]), tr[:, 0], tr[:, 1],
                                        None if context is None else context[i],
                                        None if gender is None else gender_code(gender[i])))
        return out

    def fit(self, signals: Sequence[np.ndarray], traces: Sequence[np.ndarray] | None, *,
            context: Sequence[float] | None = None, gender: Sequence[Any] | None = None,
            valid: dict[str, Any] | None = None, log: Callable[[str], None] | None = None) -> RawCNNLSTMModel:
        """Train on ``signals`` (mono float32 at ``sample_rate``) and ``traces`` (``(n_labels, 2)``
        valence/arousal arrays at ``label_hop``, label ``k`` at time ``k * label_hop``).
        ``context``: one value per signal (scaled to about [-1, 1]; NaN = unknown); ``gender``:
        ``m``/``f`` per signal. ``valid``: a dict with the same keys (``signals``, ``traces``,
        ``context``, ``gender``) to pick the best epoch.
        """
        if traces is None:
            raise ModelError("the raw_cnn_lstm regressor needs continuous traces (traces=[(n, 2) arrays])")
        c = self.model.config
        set_threads(c.get("threads"))
        rng = seed_everything(int(c["seed"]))
        device = self.model.device()
        data = self.prepare(signals, traces, context, gender)
        vdata = None
        if valid:
            vdata = self.prepare(valid["signals"], valid["traces"], valid.get("context"), valid.get("gender"))
        self.model.net = self.model.build_net()
        he_init(self.model.net)
        self.model.net.to(device)
        opt = torch.optim.Adam(self.model.net.parameters(), lr=float(c["lr"]))
        loss_fn_ = self.loss()
        bs = max(1, int(float(c["batch_duration"]) // float(c["segment_length"])))
        audio_seconds = [0.0]

        def batches(epoch):
            segs = self.segments(data, rng)
            order = rng.permutation(len(segs))
            for i in range(0, len(order), bs):
                chunk = [segs[j] for j in order[i:i + bs]]
                audio_seconds[0] += sum(b - a for _, a, b, _, _ in chunk)
                yield self.batch(data, chunk, device)

        bf16 = str(c.get("precision", "fp32")).lower() in ("bf16", "bfloat16")

        def loss_fn(model, batch):
            x, tgt, mask, n_l, audio_mask = batch
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                pred, _ = self.model.forward_labels(x, n_l, mask=audio_mask)
            loss, _parts = loss_fn_(pred.float(), tgt, mask)
            return loss

        validate = None
        if vdata:
            def validate():
                s = self.score(vdata)
                return 0.5 * (s["ccc_valence"] + s["ccc_arousal"])

        t0 = time.perf_counter()
        c0 = time.process_time()
        res = train_loop(self.model.net, opt, batches, loss_fn, epochs=int(c["epochs"]), validate=validate,
                         patience=c.get("patience"), clip=c.get("clip"), log=log,
                         max_seconds=c.get("max_seconds"), ema=c.get("ema"))
        secs = time.perf_counter() - t0
        cpu = time.process_time() - c0
        self.model.history = res.as_dict()
        self.model.history.update({
            "parameters": count_parameters(self.model.net),
            "train_audio_seconds": round(sum(len(d.signal) for d in data) / self.model.sample_rate, 2),
            "audio_seconds_processed": round(audio_seconds[0], 1),
            "train_wall_seconds": round(secs, 2),
            "audio_seconds_per_second": round(audio_seconds[0] / secs, 2) if secs > 0 else None,
            "train_cpu_seconds": round(cpu, 2),
            # per CPU second of this process: the throughput of one dedicated core (validation included)
            "audio_seconds_per_cpu_second": round(audio_seconds[0] / cpu, 2) if cpu > 0 else None,
            "device": str(device), "threads": torch.get_num_threads(),
        })
        self.model.net.eval()
        return self.model

    def score(self, data: Sequence[ContinuousTarget]) -> dict[str, float]:
        preds = self.model.predict_scaled([d.signal for d in data])
        return score_curves(preds, [np.stack([d.valence, d.arousal], 1) for d in data])


def fit_continuous(model: RawCNNLSTMModel, signals: Sequence[np.ndarray], traces: Sequence[np.ndarray] | None = None,
                   speakers: Sequence[str] | None = None, *, context: Sequence[float] | None = None,
                   gender: Sequence[Any] | None = None, valid: dict[str, Any] | None = None,
                   log: Callable[[str], None] | None = None) -> RawCNNLSTMModel:
    """Train ``model`` on ``signals`` and their ``(n_labels, 2)`` traces; see :meth:`ContinuousTask.fit`."""
    return ContinuousTask(model).fit(signals, traces, context=context, gender=gender, valid=valid, log=log)
