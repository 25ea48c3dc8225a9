"""A confidence that estimates the chance that a prediction is right, fitted on unseen calls.

A model's top probability carries little information about whether it is right on a corpus it
never saw (issue 9, leave-one-corpus-out call benchmark: AUROC 0.69 for the RBF SVM the default
model had, whose softmax of one-vs-rest decision values was 0.65-0.72 for almost every segment;
0.63 for today's logistic head). Which class was predicted says much more: on calls from a corpus
the model never saw, a ``neutral`` call is right 80-99 % of the time and an ``angry``, ``happy``
or ``sad`` call 10-60 %.

:class:`ConfidenceMap` is a logistic regression of "the prediction is right" on the predicted
class (one-hot) and the log ratio of the two largest probabilities, fitted on the held-out
predictions of the leave-one-corpus-out call benchmark (``benchmarks/calls.py
--fit-confidence``). Its parameters are plain numbers stored in the model card
(``confidence_map``); a model with a map reports ``confidence`` = the map's estimate, a model
without one its top probability (:func:`top_confidence`). The map never changes the predicted
label or the probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ConfidenceMap", "top_confidence"]

_EPS = 1e-9


class ConfidenceMap:
    """``P(right) = sigmoid(w[argmax] + v * log(p_top / p_second) + b)`` (see the module docstring)."""

    def __init__(self, labels: Sequence[str], class_weights: Sequence[float], margin_weight: float,
                 intercept: float, fitted_on: str = ""):
        self.labels = [str(v) for v in labels]
        self.class_weights = np.asarray(class_weights, dtype=float)
        if self.class_weights.shape != (len(self.labels),):
            raise ValueError(f"a confidence map needs one class weight per label ({len(self.labels)}), "
                             f"not {self.class_weights.shape}")
        self.margin_weight = float(margin_weight)
        self.intercept = float(intercept)
        self.fitted_on = str(fitted_on)

    @staticmethod
    def features(proba: np.ndarray) -> np.ndarray:
        """``(n, k + 1)``: the predicted class one-hot, then ``log(p_top / p_second)``."""
        p = np.asarray(proba, dtype=float)
        if p.ndim != 2 or p.shape[1] < 2:
            raise ValueError(f"a confidence map needs a probability matrix (n, >= 2 labels), not {p.shape}")
        top2 = np.sort(p, axis=1)[:, -2:]
        margin = np.log(np.clip(top2[:, 1], _EPS, None) / np.clip(top2[:, 0], _EPS, None))
        return np.column_stack([np.eye(p.shape[1])[p.argmax(axis=1)], margin])

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        """The estimated chance that each row's top label is right, in (0, 1)."""
        p = np.asarray(proba, dtype=float)
        if p.shape[1:] != (len(self.labels),):
            raise ValueError(f"probabilities of shape {p.shape} for a confidence map of {len(self.labels)} labels")
        if len(p) == 0:
            return np.zeros(0)
        x = self.features(p)
        z = x[:, :-1] @ self.class_weights + self.margin_weight * x[:, -1] + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def fit(cls, proba: np.ndarray, y_true: Sequence[str], labels: Sequence[str], fitted_on: str = "",
            c: float = 1.0) -> ConfidenceMap:
        """Fit on held-out probabilities ``(n, k)`` (columns in the order of ``labels``) and the true
        labels (L2-regularised logistic regression, ``C = c``)."""
        from sklearn.linear_model import LogisticRegression

        labels = [str(v) for v in labels]
        p = np.asarray(proba, dtype=float)
        y = np.asarray([str(v) for v in y_true])
        if p.ndim != 2 or p.shape != (len(y), len(labels)):
            raise ValueError(f"probabilities of shape {p.shape} for {len(y)} labels x {len(labels)} classes")
        right = (np.asarray(labels)[p.argmax(axis=1)] == y).astype(int)
        if right.min(initial=1) == right.max(initial=0):
            raise ValueError("fitting a confidence map needs both right and wrong predictions")
        lr = LogisticRegression(C=c, max_iter=1000).fit(cls.features(p), right)
        w = lr.coef_[0]
        return cls(labels, w[:-1], w[-1], lr.intercept_[0], fitted_on)

    def to_card(self) -> dict[str, Any]:
        """Plain numbers for the model card (``confidence_map``)."""
        return {"method": "logistic: predicted class + log(p_top / p_second)",
                "labels": self.labels,
                "class_weights": [round(float(v), 6) for v in self.class_weights],
                "margin_weight": round(self.margin_weight, 6), "intercept": round(self.intercept, 6),
                "fitted_on": self.fitted_on}

    @classmethod
    def from_card(cls, card: dict[str, Any], labels: Sequence[str]) -> ConfidenceMap:
        """The map of a model card's ``confidence_map`` (its labels must be the model's)."""
        try:
            m = cls(card["labels"], card["class_weights"], card["margin_weight"], card["intercept"],
                    card.get("fitted_on", ""))
        except (KeyError, TypeError) as e:
            raise ValueError(f"confidence_map needs labels, class_weights, margin_weight and intercept ({e})") from None
        if m.labels != [str(v) for v in labels]:
            raise ValueError(f"confidence_map labels {m.labels} are not the model's {list(labels)}")
        return m


def top_confidence(proba: np.ndarray, confidence_map: ConfidenceMap | None = None) -> np.ndarray:
    """The confidence of each row's top label: the map's estimate, or the top probability."""
    p = np.asarray(proba, dtype=float)
    if confidence_map is None:
        return p.max(axis=1) if len(p) else np.zeros(0)
    return confidence_map(p)
