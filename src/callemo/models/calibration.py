"""Post-hoc probability calibration fitted on held-out predictions, and the ``unknown`` threshold.

A classifier trained on acted corpora is over-confident on speech from other corpora (other
speakers, languages, recording conditions): its probabilities must be re-mapped on predictions for
data it was not trained on. :class:`Calibrator` maps a probability matrix through

* ``temperature`` scaling: ``softmax(log p / T)`` (one parameter; keeps the ranking of classes),
* ``vector`` scaling: ``softmax(w * log p + b)`` with one scale and one bias per class,

fitted by minimising the negative log-likelihood of the true labels (L-BFGS, scipy). The fitted
parameters are plain numbers, stored in the model card (``model.yaml``), so a model directory keeps
its calibration beside the weights.

``unknown_below``: after calibration, the confidence (top probability) estimates the chance that
the prediction is right; a prediction whose confidence is below the model's threshold is reported
as ``unknown`` rather than guessed (:func:`apply_threshold`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

UNKNOWN = "unknown"
METHODS = ("temperature", "vector")
_EPS = 1e-6


def _logits(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Calibrator:
    """Temperature or vector scaling of a probability matrix (columns in the order of ``labels``)."""

    def __init__(self, method: str = "temperature", labels: Sequence[str] = ()):
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {list(METHODS)}, not {method!r}")
        self.method = method
        self.labels = [str(v) for v in labels]
        k = len(self.labels)
        self.scale = np.ones(k)
        self.bias = np.zeros(k)

    @property
    def temperature(self) -> float:
        """``1 / scale`` (temperature scaling has one scale shared by all classes)."""
        return float(1.0 / self.scale.mean()) if len(self.scale) else 1.0

    def _z(self, proba: np.ndarray) -> np.ndarray:
        return _logits(proba) * self.scale + self.bias

    def fit(self, proba: np.ndarray, y_true: Sequence[str], balanced: bool = False) -> Calibrator:
        """Fit on held-out ``proba`` (n, k) and their true labels (each one of ``labels``);
        ``balanced`` weighs every class equally (the class mix of the held-out set is not learnt
        as a prior)."""
        from scipy.optimize import minimize

        p = np.asarray(proba, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(self.labels):
            raise ValueError(f"probabilities of shape {p.shape} for {len(self.labels)} labels")
        bad = sorted({str(v) for v in y_true} - set(self.labels))
        if bad:
            raise ValueError(f"true labels {bad} are not among the calibrated labels {self.labels}")
        t = np.array([self.labels.index(str(v)) for v in y_true])
        if len(t) != len(p):
            raise ValueError(f"{len(t)} labels for {len(p)} probability rows")
        z0 = _logits(p)
        k = p.shape[1]
        rows = np.arange(len(t))
        cnt = np.bincount(t, minlength=k).astype(float)
        w = (len(t) / (np.count_nonzero(cnt) * cnt[t])) if balanced else np.ones(len(t))

        def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if self.method == "temperature":
                return np.full(k, np.exp(theta[0])), np.zeros(k)
            return np.exp(theta[:k]), np.concatenate([[0.0], theta[k:]])  # the first bias is fixed at 0

        def nll(theta: np.ndarray) -> float:
            s, b = unpack(theta)
            z = z0 * s + b
            z = z - z.max(axis=1, keepdims=True)
            return float(-(w * (z[rows, t] - np.log(np.exp(z).sum(axis=1)))).mean())

        theta0 = np.zeros(1 if self.method == "temperature" else 2 * k - 1)
        res = minimize(nll, theta0, method="L-BFGS-B")
        self.scale, self.bias = unpack(res.x)
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        p = np.asarray(proba, dtype=np.float64)
        if p.shape[1:] != (len(self.labels),):
            raise ValueError(f"probabilities of shape {p.shape} for {len(self.labels)} labels")
        if len(p) == 0:
            return p.astype(np.float32)
        return _softmax(self._z(p)).astype(np.float32)

    # -- the model card ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "labels": list(self.labels)}
        if self.method == "temperature":
            d["temperature"] = round(self.temperature, 6)
        else:
            d["scale"] = [round(float(v), 6) for v in self.scale]
            d["bias"] = [round(float(v), 6) for v in self.bias]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        c = cls(str(d.get("method", "temperature")), d.get("labels") or [])
        k = len(c.labels)
        if c.method == "temperature":
            t = float(d.get("temperature", 1.0))
            if not t > 0:
                raise ValueError(f"calibration temperature must be > 0, not {t}")
            c.scale = np.full(k, 1.0 / t)
        else:
            c.scale = np.asarray(d.get("scale"), dtype=np.float64)
            c.bias = np.asarray(d.get("bias"), dtype=np.float64)
            if c.scale.shape != (k,) or c.bias.shape != (k,):
                raise ValueError(f"vector calibration needs {k} scales and {k} biases")
        return c


def apply_threshold(proba: np.ndarray, labels: Sequence[str], unknown_below: float) -> list[str]:
    """The top label of each row, or ``unknown`` where its probability is below ``unknown_below``."""
    p = np.asarray(proba, dtype=np.float64)
    if len(p) == 0:
        return []
    best = p.argmax(axis=1)
    conf = p.max(axis=1)
    return [UNKNOWN if c < unknown_below else str(labels[j]) for j, c in zip(best, conf)]


def confidence_auroc(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> float:
    """AUROC of the top probability for "the prediction is right" (0.5 = no information)."""
    from sklearn.metrics import roc_auc_score

    p = np.asarray(proba, dtype=np.float64)
    right = np.asarray([str(labels[j]) for j in p.argmax(axis=1)]) == np.asarray([str(v) for v in y_true])
    if right.all() or not right.any():
        return float("nan")
    return float(roc_auc_score(right, p.max(axis=1)))


__all__ = ["METHODS", "UNKNOWN", "Calibrator", "apply_threshold", "confidence_auroc"]
