"""Training tasks of the neural classifiers: the Temporal CNN-BiLSTM (paper 002) and the SSL heads.

The networks and predictors are in :mod:`callemo.models.cnn_bilstm` and :mod:`callemo.models.ssl`;
a task owns the rest of training: labels to indices, the speaker-disjoint validation split, class
balancing (resampled every epoch), augmentation, the loss, the optimiser, early stopping on the
validation UA and, for the CNN-BiLSTM, the choice of the segment decision rule. Call them through
:func:`callemo.train.tasks.fit_model`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..evaluate.metrics import unweighted_average_recall
from ..models.base import ModelError
from ..models.cnn_bilstm import AGGREGATIONS, CNNBiLSTMModel, aggregate, compute_features
from ..models.ssl import SSLHeadModel
from ..models.torch_common import count_parameters, iterate_minibatches, seed_everything, select_device, set_threads
from .loop import balanced_indices, make_optimizer, speaker_validation_split, train_loop

log = logging.getLogger(__name__)


def _class_indices(y: Sequence[str], n_signals: int) -> tuple[list[str], np.ndarray]:
    ys = np.asarray([str(v) for v in y])
    if len(ys) != n_signals:
        raise ModelError(f"fit: {n_signals} signals but {len(ys)} labels")
    labels = sorted(set(ys.tolist()))
    if len(labels) < 2:
        raise ModelError("fit needs at least two emotion classes")
    return labels, np.array([labels.index(v) for v in ys])


def _ua(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return unweighted_average_recall(y_true, y_pred) if len(y_true) else float("nan")


def _genders(gender: Sequence[Any] | None) -> tuple[list[str], np.ndarray | None]:
    """Known gender classes and per-item codes (-100 = unknown, ignored by the loss)."""
    if gender is None:
        return [], None
    g = np.asarray(["" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v).lower() for v in gender])
    known = sorted(set(g.tolist()) - {"", "nan", "none", "unknown"})
    if len(known) < 2:
        return [], None
    return known, np.array([known.index(v) if v in known else -100 for v in g])


def _augment(model: CNNBiLSTMModel, x: torch.Tensor, lens: torch.Tensor, rng: np.random.Generator) -> None:
    """SpecAugment-style masks in place: ``freq_mask`` mel bands (the same bands in the log-mel,
    delta and delta-delta blocks) and ``time_mask`` frames, widths drawn up to the configured sizes."""
    aug = model.config.get("augment") or {}
    fm, tm = int(aug.get("freq_mask") or 0), int(aug.get("time_mask") or 0)
    if not (fm or tm):
        return
    feats = model.config.get("features")
    nm = int(feats.get("n_mels", x.shape[2] // 3)) if isinstance(feats, dict) else x.shape[2] // 3
    for b in range(len(x)):
        if fm:
            w = int(rng.integers(0, fm + 1))
            f0 = int(rng.integers(0, max(1, nm - w)))
            for blk in range(x.shape[2] // nm):
                x[b, :, blk * nm + f0: blk * nm + f0 + w] = 0.0
        if tm and lens[b] > tm:
            w = int(rng.integers(0, tm + 1))
            t0 = int(rng.integers(0, int(lens[b]) - w))
            x[b, t0:t0 + w] = 0.0


def fit_cnn_bilstm(model: CNNBiLSTMModel, signals: Sequence[np.ndarray], y: Sequence[str],
                   speakers: Sequence[str] | None = None, *, gender: Sequence[str] | None = None,
                   log_fn: Callable[[str], None] | None = None) -> CNNBiLSTMModel:
    """Train a :class:`CNNBiLSTMModel` (paper 002's recipe, see the model's module doc).

    Multitask (emotion + gender) when ``gender`` holds at least two known values and the config's
    ``multitask_gender`` is on; the segment aggregation rule is chosen on validation UA when the
    config says ``aggregation: auto``.
    """
    c = model.config
    set_threads(c.get("threads"))
    rng = seed_everything(int(c.get("seed", 0)))
    dev = model.device
    model.labels, yi = _class_indices(y, len(signals))
    spk = np.asarray([str(s) for s in speakers]) if speakers is not None else None
    model.genders, gi = _genders(gender) if c.get("multitask_gender", True) else ([], None)

    feats = compute_features(model.extractor, signals, jobs=int(c.get("jobs") or 1), cache=c.get("cache", True))
    allf = np.concatenate(feats, 0)
    model.global_mean = allf.mean(0).astype(np.float32)
    model.global_std = (allf.std(0) + 1e-5).astype(np.float32)
    del allf
    feats = model.normalise(feats, spk)

    tr, va = speaker_validation_split(yi, spk, float(c.get("validation_fraction", 0.2)), seed=int(c.get("seed", 0)),
                                      min_speakers=int(c.get("validation_min_speakers", 1)))
    torch.manual_seed(int(c.get("seed", 0)))
    net = model.build_net(feats[0].shape[1]).to(dev)
    model.net = net
    items, owner = model.subsegments(feats)
    by_item: list[list[int]] = [[] for _ in range(len(feats))]
    for j, o in enumerate(owner):
        by_item[o].append(j)
    bs = int(c["batch_size"])
    gw = float(c.get("gender_weight", 1.0))
    shift = model.frames(float((c.get("augment") or {}).get("time_shift") or 0.0))

    def batches(epoch):
        sel = tr[balanced_indices(yi[tr], None if spk is None else spk[tr], rng=rng, mode=c.get("balance", "paper"))]
        sub = np.array([j for i in sel for j in by_item[i]], dtype=int)
        rng.shuffle(sub)
        for b in iterate_minibatches(len(sub), bs, order=sub):
            starts = None
            if shift:
                starts = [int(np.clip(items[j][1] + rng.integers(-shift, shift + 1), 0,
                                      max(0, len(feats[items[j][0]]) - 1)))
                          for j in b]
            x, lens = model.batch(feats, items, b, starts=starts)
            _augment(model, x, lens, rng)
            ye = torch.from_numpy(yi[owner[b]])
            yg = torch.from_numpy(gi[owner[b]]) if gi is not None else None
            yield x, lens, ye, yg

    ce = nn.CrossEntropyLoss()
    ceg = nn.CrossEntropyLoss(ignore_index=-100)

    def loss_fn(net, batch):
        x, lens, ye, yg = batch
        emo, gen = net(x.to(dev), lens.to(dev))
        loss = ce(emo, ye.to(dev))
        if gen is not None and yg is not None and bool((yg != -100).any()):
            loss = loss + gw * ceg(gen, yg.to(dev))
        return loss

    va_set = set(va.tolist())
    va_items = [(i, s) for (i, s) in items if i in va_set]
    va_owner_map = {i: k for k, i in enumerate(va.tolist())}
    va_owner = np.array([va_owner_map[i] for i, _ in va_items], dtype=int)

    def validate():
        post = model.posteriors(feats, va_items)
        return _ua(yi[va], aggregate(post, va_owner, len(va), "mean").argmax(1))

    opt, sched = make_optimizer(net, lr=float(c["lr"]), decay_rate=float(c["lr_decay"]),
                                decay_steps=int(c["lr_decay_steps"]), weight_decay=float(c.get("weight_decay") or 0))
    res = train_loop(net, opt, batches, loss_fn, scheduler=sched, epochs=int(c["epochs"]),
                     validate=validate if len(va) else None, patience=c.get("patience"),
                     clip=c.get("clip"), clip_mode=c.get("clip_mode", "value"), min_epochs=int(c.get("min_epochs", 1)),
                     log=log_fn or log.info, max_seconds=c.get("max_seconds"),
                     select_after=int(c.get("select_after") or 0))
    # the segment decision rule, chosen on validation data
    scores: dict[str, float] = {}
    if len(va):
        post = model.posteriors(feats, va_items)
        for how in AGGREGATIONS:
            scores[how] = _ua(yi[va], aggregate(post, va_owner, len(va), how).argmax(1))
    if c.get("aggregation", "auto") == "auto":
        model.agg = max(AGGREGATIONS, key=lambda h: (scores.get(h, -1), h == "mean")) if scores else "mean"
    else:
        model.agg = str(c["aggregation"])
    model.history = {**res.as_dict(), "aggregation_scores": scores, "aggregation": model.agg,
                     "n_train": len(tr), "n_validation": len(va), "n_subsegments": len(items),
                     "parameters": count_parameters(net), "device": str(dev)}
    model.card.update({"training": model.history, "normalisation": c.get("normalisation", "speaker")})
    return model


def fit_ssl_head(model: SSLHeadModel, signals: Sequence[np.ndarray], y: Sequence[str],
                 speakers: Sequence[str] | None = None, *,
                 log_fn: Callable[[str], None] | None = None) -> SSLHeadModel:
    """Train the head of an :class:`SSLHeadModel` on the frozen encoder's hidden states (paper 001)."""
    c = model.config
    set_threads(c.get("threads"))
    rng = seed_everything(int(c.get("seed", 0)))
    dev = select_device(c.get("device"))
    model.labels, yi = _class_indices(y, len(signals))
    spk = np.asarray([str(s) for s in speakers]) if speakers is not None else None
    states = model.states(signals)
    tr, va = speaker_validation_split(yi, spk, float(c.get("validation_fraction", 0.2)), seed=int(c.get("seed", 0)))
    torch.manual_seed(int(c.get("seed", 0)))
    net = model.build_net(states[0].shape[0], states[0].shape[2]).to(dev)
    model.net = net
    ls = c.get("label_smoothing")
    if ls is None:
        ls = 0.1 if c["head"] == "attcp" else 0.0
    ce = nn.CrossEntropyLoss(label_smoothing=float(ls))
    bs = int(c["batch_size"])

    def batches(epoch):
        sel = tr[balanced_indices(yi[tr], None if spk is None else spk[tr], rng=rng, mode=c.get("balance", "down"))]
        for b in iterate_minibatches(len(sel), bs, order=sel):
            x, lens = model.batch(states, b, rng=rng)
            yield x, lens, torch.from_numpy(yi[b])

    def loss_fn(net, batch):
        x, lens, t = batch
        return ce(net(x.to(dev), lens.to(dev)), t.to(dev))

    def validate():
        p = model.proba_states([states[i] for i in va])
        return _ua(yi[va], p.argmax(1))

    opt, sched = make_optimizer(net, lr=float(c["lr"]), decay_rate=float(c.get("lr_decay", 1.0)),
                                decay_steps=int(c.get("lr_decay_steps", 1000)))
    res = train_loop(net, opt, batches, loss_fn, scheduler=sched, epochs=int(c["epochs"]),
                     validate=validate if len(va) else None, patience=c.get("patience"), clip=c.get("clip"),
                     min_epochs=int(c.get("min_epochs", 1)), log=log_fn or log.info, max_seconds=c.get("max_seconds"))
    model.history = {**res.as_dict(), "layer_weights": net.layers.weights(), "parameters": count_parameters(net),
                     "n_train": len(tr), "n_validation": len(va)}
    model.card.update({"training": model.history})
    return model
