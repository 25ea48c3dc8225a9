"""Classification metrics with bootstrap confidence intervals, and the CCC for dimensions.

- **UA** (unweighted average recall, = balanced accuracy): the mean over classes present in
  ``y_true`` of each class's recall. Chance level is ``1 / n_classes`` whatever the class balance.
- **WA** (weighted accuracy, = plain accuracy): correct / total.
- **macro-F1**: the mean F1 over the classes present in ``y_true`` or ``y_pred`` (sklearn's
  ``f1_score(average="macro")``; a class never predicted counts with F1 = 0).

Confidence intervals are 95 % percentile bootstrap intervals. With ``groups`` (speakers) the
bootstrap draws *speakers* with replacement and takes all of their items, which respects the
dependence between a speaker's utterances (an item bootstrap would give intervals that are too
narrow for a speaker-independent claim). Without groups, items are drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np

#: labels / groups / values: a sequence or a 1-D array
Items: TypeAlias = Sequence[Any] | np.ndarray


def _labels_and_codes(y_true, y_pred, labels=None):
    yt = np.asarray([str(x) for x in y_true], dtype=object)
    yp = np.asarray([str(x) for x in y_pred], dtype=object)
    if len(yt) != len(yp):
        raise ValueError(f"y_true has {len(yt)} items, y_pred {len(yp)}")
    if labels is None:
        labels = sorted(set(yt) | set(yp))
    else:
        labels = [str(x) for x in labels]
        extra = sorted((set(yt) | set(yp)) - set(labels))
        labels = labels + extra  # predictions/labels outside the list still count (as errors)
    index = {lab: i for i, lab in enumerate(labels)}
    t = np.fromiter((index[x] for x in yt), dtype=np.int64, count=len(yt))
    p = np.fromiter((index[x] for x in yp), dtype=np.int64, count=len(yp))
    return labels, t, p


def confusion_counts(t: np.ndarray, p: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Confusion matrix (rows = true, columns = predicted) from integer codes."""
    counts = np.bincount(t * n_classes + p, weights=weights, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def scores_from_confusion(cm: np.ndarray) -> tuple[float, float, float]:
    """(UA, WA, macro-F1) of a confusion matrix (counts or weights)."""
    cm = np.asarray(cm, dtype=float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    total = cm.sum()
    if total <= 0:
        return float("nan"), float("nan"), float("nan")
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    ua = float(recall[present].mean())
    wa = float(tp.sum() / total)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    used = present | (predicted > 0)
    macro_f1 = float(f1[used].mean())
    return ua, wa, macro_f1


def unweighted_average_recall(y_true, y_pred, labels=None) -> float:
    labels, t, p = _labels_and_codes(y_true, y_pred, labels)
    return scores_from_confusion(confusion_counts(t, p, len(labels)))[0]


def weighted_accuracy(y_true, y_pred) -> float:
    _, t, p = _labels_and_codes(y_true, y_pred)
    return float(np.mean(t == p)) if len(t) else float("nan")


def macro_f1(y_true, y_pred, labels=None) -> float:
    labels, t, p = _labels_and_codes(y_true, y_pred, labels)
    return scores_from_confusion(confusion_counts(t, p, len(labels)))[2]


ua = unweighted_average_recall
wa = weighted_accuracy


def _bootstrap_weights(groups: np.ndarray | None, n: int, n_boot: int, rng: np.random.Generator):
    """Yield per-item weights for each bootstrap replicate (group counts from a multinomial draw)."""
    if groups is None:
        codes, n_units = np.arange(n), n
    else:
        _, codes = np.unique(np.asarray([str(g) for g in groups], dtype=object), return_inverse=True)
        n_units = int(codes.max()) + 1 if n else 0
    for _ in range(n_boot):
        counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units))
        yield counts[codes].astype(float)


def percentile_ci(values: Items, alpha: float = 0.05) -> list[float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [float("nan"), float("nan")]
    return [float(np.quantile(v, alpha / 2)), float(np.quantile(v, 1 - alpha / 2))]


def bootstrap_scores(y_true, y_pred, labels=None, *, groups=None, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_boot, 3)`` bootstrap replicates of (UA, WA, macro-F1)."""
    labels, t, p = _labels_and_codes(y_true, y_pred, labels)
    rng = np.random.default_rng(seed)
    c = len(labels)
    out = np.empty((n_boot, 3))
    for b, w in enumerate(_bootstrap_weights(None if groups is None else np.asarray(groups), len(t), n_boot, rng)):
        out[b] = scores_from_confusion(confusion_counts(t, p, c, w))
    return out


def classification_report(
    y_true: Items,
    y_pred: Items,
    labels: Sequence[str] | None = None,
    *,
    groups: Items | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    group_name: str = "speaker",
) -> dict[str, Any]:
    """UA, WA, macro-F1 with bootstrap CIs, per-class recall and the confusion matrix.

    ``labels`` fixes the order of classes in ``confusion``/``per_class_recall`` (labels seen in
    the data but not listed are appended). ``groups`` (one speaker id per item) makes the bootstrap
    resample speakers. ``n_boot=0`` skips the intervals (they are then ``[nan, nan]``); so does a
    single group (``ci["unavailable"]`` says why; ``group_name`` names the groups there).
    """
    labels, t, p = _labels_and_codes(y_true, y_pred, labels)
    c = len(labels)
    if len(t) == 0:
        raise ValueError("classification_report needs at least one item")
    if groups is not None and len(groups) != len(t):
        raise ValueError(f"groups has {len(groups)} items, y_true {len(t)}")
    cm = confusion_counts(t, p, c).astype(int)
    ua_, wa_, f1_ = scores_from_confusion(cm)
    support = cm.sum(axis=1)
    per_class = {lab: (float(cm[i, i] / support[i]) if support[i] else None) for i, lab in enumerate(labels)}
    n_groups = len(set(map(str, groups))) if groups is not None else None
    # a bootstrap over one speaker only redraws that speaker: it would give [UA, UA], not an interval
    unavailable = f"one {group_name} only: a bootstrap over {group_name}s needs at least 2" if n_groups == 1 else None
    if n_boot and n_boot > 0 and unavailable is None:
        boots = bootstrap_scores(y_true, y_pred, labels, groups=groups, n_boot=n_boot, seed=seed)
        ua_ci, wa_ci, f1_ci = (percentile_ci(boots[:, j], alpha) for j in range(3))
    else:
        ua_ci = wa_ci = f1_ci = [float("nan"), float("nan")]
    return {
        "ua": ua_,
        "wa": wa_,
        "macro_f1": f1_,
        "ua_ci": ua_ci,
        "wa_ci": wa_ci,
        "macro_f1_ci": f1_ci,
        "per_class_recall": per_class,
        "support": {lab: int(support[i]) for i, lab in enumerate(labels)},
        "confusion": cm.tolist(),
        "labels": list(labels),
        "n": len(t),
        "n_groups": n_groups,
        "ci": {
            "method": "percentile bootstrap",
            "level": 1 - alpha,
            "n_boot": int(n_boot or 0),
            "resampled": "groups" if groups is not None else "items",
            "seed": int(seed),
            **({"unavailable": unavailable} if unavailable else {}),
        },
    }


def bootstrap_ci(
    fn: Callable[..., float],
    *arrays: Sequence,
    groups: Sequence | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> list[float]:
    """Percentile CI of any statistic ``fn(*arrays)`` (e.g. :func:`ccc`) by resampling items or groups."""
    arrs = [np.asarray(a) for a in arrays]
    n = len(arrs[0])
    rng = np.random.default_rng(seed)
    if groups is None:
        units = [np.array([i]) for i in range(n)]
    else:
        g = np.asarray([str(x) for x in groups], dtype=object)
        units = [np.flatnonzero(g == u) for u in np.unique(g)]
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(units), len(units))
        idx = np.concatenate([units[i] for i in pick])
        vals.append(fn(*[a[idx] for a in arrs]))
    return percentile_ci(vals, alpha)


def ccc(x: Sequence[float], y: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient: ``2 cov(x,y) / (var x + var y + (mean x - mean y)^2)``
    with population (ddof=0) moments. 1 = perfect agreement; NaN pairs are ignored."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 2:
        return float("nan")
    ma, mb = a.mean(), b.mean()
    cov = np.mean((a - ma) * (b - mb))
    denom = a.var() + b.var() + (ma - mb) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def _proba_and_truth(y_true, proba, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``proba`` ``(n, len(labels))`` and map ``y_true`` to column indices."""
    labs = [str(x) for x in labels]
    if len(set(labs)) != len(labs):
        raise ValueError(f"labels contain duplicates: {labs}")
    p = np.asarray(proba, dtype=float)
    yt = [str(x) for x in y_true]
    if p.ndim != 2 or p.shape[1] != len(labs):
        raise ValueError(f"proba must have shape (n, {len(labs)}) for labels {labs}, got {p.shape}")
    if p.shape[0] != len(yt):
        raise ValueError(f"y_true has {len(yt)} items, proba {p.shape[0]} rows")
    if p.shape[0] == 0:
        raise ValueError("calibration metrics need at least one item")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("proba must hold finite probabilities in [0, 1]")
    index = {lab: i for i, lab in enumerate(labs)}
    unknown = sorted(set(yt) - set(index))
    if unknown:
        raise ValueError(f"y_true has labels not among the probability columns {labs}: {unknown}")
    return p, np.fromiter((index[x] for x in yt), dtype=np.int64, count=len(yt))


def _top_label_bins(y_true, proba, labels, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin index, top-label confidence, 1.0 if the top label is right) per item."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p, t = _proba_and_truth(y_true, proba, labels)
    pred = p.argmax(axis=1)
    conf = p[np.arange(len(p)), pred]
    # rounding first keeps a confidence of exactly 0.3 in (0.2, 0.3] despite 0.3 * 10 = 3.0000000000000004
    bins = np.clip(np.ceil(np.round(conf * n_bins, 9)).astype(np.int64) - 1, 0, n_bins - 1)
    return bins, conf, (pred == t).astype(float)


def expected_calibration_error(y_true: Items, proba: Any, labels: Sequence[str], n_bins: int = 10) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width confidence bins.

    The confidence of an item is its largest probability and its prediction that column's label
    (the first on ties). Bin ``b`` holds confidences in ``(b/n_bins, (b+1)/n_bins]`` (0 goes to the
    first bin). ECE = sum over bins of ``n_b / n * |accuracy_b - mean confidence_b|``; 0 is perfect.
    ``proba`` is ``(n, len(labels))``, columns in the order of ``labels``; every true label must be
    one of ``labels`` (a ``ValueError`` names those that are not).
    """
    bins, conf, correct = _top_label_bins(y_true, proba, labels, n_bins)
    right = np.bincount(bins, weights=correct, minlength=n_bins)
    gap = np.abs(right - np.bincount(bins, weights=conf, minlength=n_bins))
    return float(gap.sum() / len(bins))


def reliability_table(y_true: Items, proba: Any, labels: Sequence[str], n_bins: int = 10) -> dict[str, list]:
    """Per-bin ``count``, ``accuracy`` and ``confidence`` (None for empty bins) of the top-label
    reliability diagram, with the same bins as :func:`expected_calibration_error`."""
    bins, conf, correct = _top_label_bins(y_true, proba, labels, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    acc = np.bincount(bins, weights=correct, minlength=n_bins)
    cs = np.bincount(bins, weights=conf, minlength=n_bins)
    return {
        "edges": [b / n_bins for b in range(n_bins + 1)],
        "count": [int(c) for c in count],
        "accuracy": [float(a / c) if c else None for a, c in zip(acc, count)],
        "confidence": [float(s / c) if c else None for s, c in zip(cs, count)],
    }


def brier_score(y_true: Items, proba: Any, labels: Sequence[str]) -> float:
    """Multiclass Brier score: the mean over items of ``sum_k (p_k - [y == k])^2`` (0 = perfect,
    2 = confidently wrong). Columns of ``proba`` follow ``labels``; see :func:`expected_calibration_error`."""
    p, t = _proba_and_truth(y_true, proba, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(p)), t] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def per_class_recall(y_true, y_pred, labels=None) -> dict[str, float | None]:
    return classification_report(y_true, y_pred, labels, n_boot=0)["per_class_recall"]


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    labels, t, p = _labels_and_codes(y_true, y_pred, labels)
    return confusion_counts(t, p, len(labels)).astype(int)


__all__ = [
    "bootstrap_ci",
    "bootstrap_scores",
    "brier_score",
    "ccc",
    "classification_report",
    "confusion_counts",
    "confusion_matrix",
    "expected_calibration_error",
    "macro_f1",
    "per_class_recall",
    "percentile_ci",
    "reliability_table",
    "scores_from_confusion",
    "ua",
    "unweighted_average_recall",
    "wa",
    "weighted_accuracy",
]
