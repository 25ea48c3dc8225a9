"""Significance tests for comparing two systems.

- :func:`wilcoxon`: Wilcoxon signed-rank test on paired scores (e.g. UA of two configurations over
  the same folds or seeds); scipy's exact distribution for small n.
- :func:`paired_bootstrap`: bootstrap (over speakers when ``groups`` given) of the UA difference
  of two systems' predictions on the same items; CI of the difference and a two-sided p-value.
- :func:`permutation_test`: approximate randomisation: swap the two systems' predictions per item
  (or per speaker) at random; p = share of swaps with a difference at least as large as observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import _bootstrap_weights, _labels_and_codes, confusion_counts, percentile_ci, scores_from_confusion

_METRIC = {"ua": 0, "wa": 1, "macro_f1": 2}


def wilcoxon(a: Sequence[float], b: Sequence[float], *, alternative: str = "two-sided") -> dict[str, Any]:
    """Wilcoxon signed-rank test of paired scores ``a`` vs ``b`` (``alternative`` about a - b)."""
    from scipy import stats

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired scores need equal lengths ({x.size} vs {y.size})")
    d = x - y
    res: dict[str, Any] = {
        "n": int(d.size),
        "mean_a": float(x.mean()) if x.size else float("nan"),
        "mean_b": float(y.mean()) if y.size else float("nan"),
        "mean_diff": float(d.mean()) if d.size else float("nan"),
        "median_diff": float(np.median(d)) if d.size else float("nan"),
        "wins": int((d > 0).sum()),
        "losses": int((d < 0).sum()),
        "ties": int((d == 0).sum()),
        "alternative": alternative,
        "method": "Wilcoxon signed-rank (scipy.stats.wilcoxon)",
    }
    if d.size == 0 or np.all(d == 0):
        res.update(statistic=float("nan"), p_value=1.0, note="all differences are zero")
        return res
    r = stats.wilcoxon(x, y, alternative=alternative)
    res.update(statistic=float(r.statistic), p_value=float(r.pvalue))
    if d.size < 6:
        res["note"] = f"only {d.size} pairs: the smallest attainable two-sided p is {2 / 2 ** d.size:.3f}"
    return res


def _paired_codes(y_true, pred_a, pred_b, labels):
    """Integer codes of the truth and of both systems' predictions on one common label list,
    and that list's length."""
    labs, t, pa = _labels_and_codes(y_true, pred_a, labels)
    labs2, _, pb = _labels_and_codes(y_true, pred_b, labs)
    if labs2 != labs:  # b predicted labels a never did: recode a with the full list
        _, t, pa = _labels_and_codes(y_true, pred_a, labs2)
    return t, pa, pb, len(labs2)


def _score_diff(t, x, y, c, j, weights=None) -> float:
    """Score ``j`` (index into UA, WA, macro-F1) of predictions ``x`` minus that of ``y``."""
    a = scores_from_confusion(confusion_counts(t, x, c, weights))[j]
    return a - scores_from_confusion(confusion_counts(t, y, c, weights))[j]


def paired_bootstrap(
    y_true: Sequence[str],
    pred_a: Sequence[str],
    pred_b: Sequence[str],
    labels: Sequence[str] | None = None,
    *,
    groups: Sequence[str] | None = None,
    metric: str = "ua",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap of ``metric(a) - metric(b)`` on the same resampled items/speakers."""
    j = _METRIC[metric]
    t, pa, pb, c = _paired_codes(y_true, pred_a, pred_b, labels)
    obs = _score_diff(t, pa, pb, c, j)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for b, w in enumerate(_bootstrap_weights(None if groups is None else np.asarray(groups), len(t), n_boot, rng)):
        diffs[b] = _score_diff(t, pa, pb, c, j, w)
    diffs = diffs[np.isfinite(diffs)]
    p = min(1.0, 2 * float(min(np.mean(diffs <= 0), np.mean(diffs >= 0)))) if diffs.size else float("nan")
    return {
        "metric": metric,
        "diff": float(obs),
        "ci": percentile_ci(diffs),
        "p_value": float(p),
        "n_boot": int(n_boot),
        "resampled": "groups" if groups is not None else "items",
        "method": "paired percentile bootstrap of the difference; p = 2 * min(P(d<=0), P(d>=0))",
    }


def permutation_test(
    y_true: Sequence[str],
    pred_a: Sequence[str],
    pred_b: Sequence[str],
    labels: Sequence[str] | None = None,
    *,
    groups: Sequence[str] | None = None,
    metric: str = "ua",
    n_perm: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Approximate randomisation test of ``metric(a) - metric(b)`` (two-sided)."""
    j = _METRIC[metric]
    t, pa, pb, c = _paired_codes(y_true, pred_a, pred_b, labels)
    obs = _score_diff(t, pa, pb, c, j)
    if groups is None:
        codes, n_units = np.arange(len(t)), len(t)
    else:
        _, codes = np.unique(np.asarray([str(g) for g in groups], dtype=object), return_inverse=True)
        n_units = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        swap = rng.random(n_units) < 0.5
        s = swap[codes]
        x = np.where(s, pb, pa)
        y = np.where(s, pa, pb)
        if abs(_score_diff(t, x, y, c, j)) >= abs(obs) - 1e-12:
            hits += 1
    return {
        "metric": metric,
        "diff": float(obs),
        "p_value": (hits + 1) / (n_perm + 1),
        "n_perm": int(n_perm),
        "resampled": "groups" if groups is not None else "items",
        "method": "approximate randomisation (swap predictions per unit), p = (hits + 1) / (n_perm + 1)",
    }


__all__ = ["paired_bootstrap", "permutation_test", "wilcoxon"]
