"""Global and per-speaker standardisation, as a transform usable inside models.

Per-speaker standardisation removes each speaker's own mean and scale from every feature: in
training each training speaker's segments give the statistics, at test time each test speaker's
(unlabelled) segments do, as in a call where a speaker's own turns are available. Speakers with
few segments are shrunk toward the training prior (the mean of speaker means and the pooled
within-speaker variance) with a pseudo-count ``shrink``, so one or two segments fall back
gracefully to global statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_EPS = 1e-8


def _groups(speakers: Sequence | None, n: int) -> np.ndarray:
    if speakers is None:
        return np.zeros(n, dtype=object)  # the whole batch is one group
    s = np.asarray([str(v) for v in speakers], dtype=object)
    if len(s) != n:
        raise ValueError(f"{len(s)} speaker ids for {n} feature rows")
    return s


class SpeakerStandardizer:
    """Feature standardisation: ``mode`` = ``"global"``, ``"speaker"`` or ``"none"``.

    ``speaker`` mode: per-speaker z-scores (shrunk toward the prior for small speakers), then a
    global standardisation of the result fitted on the training data. ``transform(X, speakers)``
    takes the speaker id of each row; ``speakers=None`` treats the batch as one speaker.

    The object is pickled inside model weights: an option added later needs a class-level default
    (below), so that a standardizer saved before the option existed loads with the old behaviour.
    """

    #: defaults for standardizers pickled before these options existed
    balance_classes: bool = False
    robust: bool = False
    speaker_scale: float = 1.0

    def __init__(self, mode: str = "speaker", shrink: float = 3.0, min_std: float = 1e-3, balance_classes: bool = False,
                 robust: bool = False, speaker_scale: float = 1.0):
        if mode not in ("global", "speaker", "none"):
            raise ValueError(f"normalisation must be global, speaker or none, not {mode!r}")
        self.mode = mode
        self.shrink = float(shrink)
        self.min_std = float(min_std)
        #: in training, weight each speaker's segments so that every class counts equally in the
        #: speaker's statistics (acted corpora differ in their class mix per speaker)
        self.balance_classes = bool(balance_classes)
        #: speaker statistics by median and inter-quartile range (IQR / 1.349 as the scale) instead of
        #: mean and standard deviation: a few emotional turns among neutral ones move them less
        self.robust = bool(robust)
        #: how much of each speaker's own spread scales it: 1 = its own (shrunk) spread, 0 = the
        #: pooled within-speaker spread (location only), between = their geometric blend. A call's
        #: mostly neutral speaker spreads far less than an acted speaker's class-balanced items, so
        #: its own scale blows its turns up
        self.speaker_scale = float(speaker_scale)
        if not 0.0 <= self.speaker_scale <= 1.0:
            raise ValueError(f"speaker_scale must be in [0, 1], not {speaker_scale}")

    # ------------------------------------------------------------------------------------
    def _speaker_stats(self, X: np.ndarray, g: np.ndarray, y: np.ndarray | None = None):
        means, vars_, counts, keys = [], [], [], []
        for k in dict.fromkeys(g.tolist()):
            m = g == k
            Xi = X[m]
            keys.append(k)
            counts.append(int(m.sum()))
            if self.robust:
                q1, med, q3 = np.percentile(Xi, [25, 50, 75], axis=0)
                means.append(med)
                vars_.append(((q3 - q1) / 1.349) ** 2)
            elif y is None:
                means.append(Xi.mean(axis=0))
                vars_.append(Xi.var(axis=0))
            else:
                yi = y[m]
                _, inv, cnt = np.unique(yi, return_inverse=True, return_counts=True)
                w = 1.0 / cnt[inv]
                w = w / w.sum()
                mu = w @ Xi
                means.append(mu)
                vars_.append(w @ (Xi - mu) ** 2)
        return keys, np.asarray(counts, float), np.vstack(means), np.vstack(vars_)

    def _per_speaker(self, X: np.ndarray, g: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        keys, n, mu, var = self._speaker_stats(X, g, y)
        k = self.shrink
        out = np.empty_like(X)
        for j, key in enumerate(keys):
            m = g == key
            w = n[j] / (n[j] + k)
            mean = w * mu[j] + (1 - w) * self.prior_mean_
            # shrink the variance toward the pooled within-speaker variance
            v = (n[j] * var[j] + k * self.prior_var_) / (n[j] + k)
            if self.speaker_scale < 1.0:
                a = self.speaker_scale
                v = np.maximum(v, self.prior_floor_) ** a * self.prior_var_ ** (1.0 - a)
            out[m] = (X[m] - mean) / np.sqrt(np.maximum(v, self.prior_floor_))
        return out

    def fit(self, X: np.ndarray, speakers: Sequence | None = None, y: Sequence | None = None) -> SpeakerStandardizer:
        """Fit on training features; ``y`` (labels) is used only with ``balance_classes``."""
        self._fit(X, speakers, y)
        return self

    def _fit(self, X, speakers, y) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        yb = np.asarray([str(v) for v in y], dtype=object) if (self.balance_classes and y is not None) else None
        if self.mode == "speaker":
            g = _groups(speakers, len(X))
            _, n, mu, var = self._speaker_stats(X, g, yb)
            self.prior_mean_ = mu.mean(axis=0)
            self.prior_var_ = (n[:, None] * var).sum(axis=0) / n.sum()
            self.prior_floor_ = np.maximum((self.min_std * np.sqrt(X.var(axis=0) + _EPS)) ** 2, _EPS)
            Z = self._per_speaker(X, g, yb)
        else:
            Z = X
        if self.mode == "none":
            self.mean_ = np.zeros(X.shape[1])
            self.scale_ = np.ones(X.shape[1])
        else:
            self.mean_ = Z.mean(axis=0)
            s = Z.std(axis=0)
            self.scale_ = np.where(s > _EPS, s, 1.0)
        return Z

    def transform(self, X: np.ndarray, speakers: Sequence | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {X.shape[1]}")
        if self.mode == "speaker" and len(X):
            X = self._per_speaker(X, _groups(speakers, len(X)))
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, X: np.ndarray, speakers: Sequence | None = None, y: Sequence | None = None) -> np.ndarray:
        Z = self._fit(X, speakers, y)
        return ((Z - self.mean_) / self.scale_).astype(np.float32)


def standardize_by_speaker(X: np.ndarray, speakers: Sequence | None, shrink: float = 0.0) -> np.ndarray:
    """Per-speaker z-scores of ``X`` using each speaker's own rows (no training prior)."""
    X = np.asarray(X, dtype=np.float64)
    g = _groups(speakers, len(X))
    out = np.empty_like(X)
    for k in dict.fromkeys(g.tolist()):
        m = g == k
        mu = X[m].mean(axis=0)
        sd = X[m].std(axis=0)
        out[m] = (X[m] - mu) / np.where(sd > _EPS, sd, 1.0)
    return out.astype(np.float32)
