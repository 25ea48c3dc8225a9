"""Chance baselines reported beside every model.

- **random**: uniformly random predictions over the label set. Its *expected* UA and WA are both
  exactly ``1 / n_classes`` (each item is right with probability ``1/C`` whatever its class); the
  macro-F1 has no closed form, so all three are averaged over ``n_draws`` random draws, and the
  interval is the 2.5-97.5 % spread of those draws (how far a chance classifier can land).
- **majority**: always the most frequent class of the *training* fold. Its UA is ``1 / C`` (one
  class fully recalled, the others 0); its WA is the share of that class in the test data, which
  is what a plain accuracy figure must be compared with on unbalanced data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .metrics import (
    Items,
    _labels_and_codes,
    classification_report,
    confusion_counts,
    percentile_ci,
    scores_from_confusion,
)


def random_baseline(
    y_true: Items,
    labels: Sequence[str] | None = None,
    *,
    groups: Items | None = None,
    n_draws: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Scores of uniformly random guessing among ``labels`` (default: the labels of ``y_true``).

    ``groups`` is accepted for symmetry with the other reports; the interval is the spread of the
    random draws (where chance lands), not a bootstrap.
    """
    labs = sorted(set(map(str, y_true))) if labels is None else [str(x) for x in labels]
    labs, t, _ = _labels_and_codes(y_true, y_true, labs)
    c = len(labs)
    rng = np.random.default_rng(seed)
    scores = np.empty((n_draws, 3))
    for b in range(n_draws):
        p = rng.integers(0, c, len(t))
        scores[b] = scores_from_confusion(confusion_counts(t, p, c))
    return {
        "ua": float(scores[:, 0].mean()),
        "wa": float(scores[:, 1].mean()),
        "macro_f1": float(scores[:, 2].mean()),
        "ua_ci": percentile_ci(scores[:, 0]),
        "wa_ci": percentile_ci(scores[:, 1]),
        "macro_f1_ci": percentile_ci(scores[:, 2]),
        "expected_ua": 1.0 / c,
        "expected_wa": 1.0 / c,
        "labels": labs,
        "n": int(len(t)),
        "method": f"uniform random predictions over {c} labels, mean and 2.5-97.5% range of {n_draws} draws",
    }


def majority_class(y_train: Items) -> str:
    """The most frequent label (ties broken by name, so it is deterministic)."""
    counts = pd.Series([str(x) for x in y_train]).value_counts()
    top = counts[counts == counts.max()].index
    return sorted(top)[0]


def majority_baseline(
    y_train: Sequence[str],
    y_test: Sequence[str],
    labels: Sequence[str] | None = None,
    *,
    groups: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Predict the training data's most frequent class for every test item; report with CIs."""
    cls = majority_class(y_train)
    pred = [cls] * len(y_test)
    rep = classification_report(y_test, pred, labels, groups=groups, n_boot=n_boot, seed=seed)
    rep["class"] = cls
    rep["method"] = "most frequent class of the training data"
    return rep


def majority_predictions(y: Items, folds) -> list[str]:
    """Per-fold majority predictions (majority of each training fold) for the pooled test items."""
    ya = np.asarray([str(v) for v in y], dtype=object)
    out = np.empty(len(ya), dtype=object)
    for tr, te in folds:
        out[te] = majority_class(ya[tr])
    return out.tolist()


__all__ = ["majority_baseline", "majority_class", "majority_predictions", "random_baseline"]
