"""Per-call speaker models: a GMM of the call's own cepstra, MAP-adapted to each speaker.

resemblyzer's d-vectors were trained on wideband English read speech; at 8 kHz, two voices of the
same gender sit close together and an emotional phase moves one voice further than the distance to
the other. A model fitted inside the call sees only these two voices on this line: a diagonal
GMM of all speech frames of the call (the call's "background" model, sklearn
``GaussianMixture``) is MAP-adapted (means, relevance factor ``relevance``) to the frames of each
speaker, and every window is scored by the mean per-frame log-likelihood under each speaker's
model. The cepstra are computed from the telephone band only (mel bands 300-3400 Hz) and
normalised over the whole call (not per turn), so the channel is removed while the difference
between the two voices is kept.

The same GMM gives each unit (turn) a mean supervector (the MAP-adapted means minus the call
model's, scaled by ``sqrt(weight) / sigma``, the KL-divergence kernel): an i-vector-like
description of a turn that is fused with the d-vector when the turns are clustered.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.fft import dct
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

#: mel bands (of resemblyzer's 40-band, 16 kHz mel filterbank) whose centres lie in 300-3400 Hz
TELEPHONE_BANDS = slice(4, 29)


def cepstra(mel_power: np.ndarray, n_cep: int = 16) -> np.ndarray:
    """Cepstra ``c1..c{n_cep}`` of the telephone-band mel power frames ``(frames, 40)``."""
    logmel = np.log(mel_power[:, TELEPHONE_BANDS].astype(np.float64) + 1e-8)
    return dct(logmel, type=2, norm="ortho", axis=1)[:, 1 : n_cep + 1].astype(np.float32)


def add_deltas(c: np.ndarray, width: int = 2) -> np.ndarray:
    """Append regression deltas over +-``width`` frames (edges repeated)."""
    if len(c) == 0:
        return np.zeros((0, 2 * c.shape[1]), c.dtype)
    p = np.pad(c, ((width, width), (0, 0)), mode="edge")
    n = len(c)
    num = sum(k * (p[width + k : width + k + n] - p[width - k : width - k + n]) for k in range(1, width + 1))
    return np.hstack([c, num / (2 * sum(k * k for k in range(1, width + 1)))]).astype(np.float32)


@dataclass
class CallGMM:
    """A diagonal GMM of one call's frames, MAP-adapted to speakers and turns."""

    n_components: int = 16
    relevance: float = 16.0
    max_frames: int = 30000
    seed: int = 0
    gmm: GaussianMixture | None = None

    def fit(self, frames: np.ndarray) -> CallGMM:
        """Fit on (at most ``max_frames``, evenly spread) speech frames of the call."""
        X = np.asarray(frames, np.float64)
        if len(X) > self.max_frames:
            X = X[np.linspace(0, len(X) - 1, self.max_frames).astype(int)]
        k = max(1, min(self.n_components, len(X) // 20))
        self.gmm = GaussianMixture(k, covariance_type="diag", reg_covar=1e-3, max_iter=50, random_state=self.seed)
        # the call's background model only needs to cover its frames, not to converge: 50 EM steps are
        # the chosen budget (speed), so sklearn's "did not converge" says nothing a user can act on
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gmm.fit(X)
        return self

    @property
    def fitted(self) -> GaussianMixture:
        """The call's GMM (after :meth:`fit`)."""
        if self.gmm is None:
            raise RuntimeError("CallGMM.fit() must run first")
        return self.gmm

    def _component_loglik(self, X: np.ndarray, means: np.ndarray) -> np.ndarray:
        """``log w_c + log N(x | means_c, sigma_c)`` of each frame and component, ``(n, C)``."""
        g = self.fitted
        var = g.covariances_
        const = np.log(g.weights_) - 0.5 * (np.log(2 * np.pi * var).sum(1))
        prec = 1.0 / var
        # sum_d (x - m)^2 / v = x^2 . p - 2 x . (m p) + m^2 . p
        q = (X**2) @ prec.T - 2 * X @ (means * prec).T + ((means**2) * prec).sum(1)
        return const - 0.5 * q

    def posteriors(self, X: np.ndarray, chunk: int = 50000) -> np.ndarray:
        """Component posteriors of each frame, ``(n, C)`` float32 (computed in chunks: a one-hour
        call has 360 000 frames)."""
        out = np.zeros((len(X), self.fitted.means_.shape[0]), np.float32)
        for a in range(0, len(X), chunk):
            lc = self._component_loglik(np.asarray(X[a : a + chunk], np.float64), self.fitted.means_)
            p = np.exp(lc - lc.max(1, keepdims=True))
            out[a : a + chunk] = p / p.sum(1, keepdims=True)
        return out

    def adapt(self, X: np.ndarray, post: np.ndarray | None = None) -> np.ndarray:
        """MAP-adapted means for frames ``X`` (``post``: their component posteriors, if known; a
        frame with all-zero posteriors does not count, which selects frames without copying ``X``)."""
        if post is None:
            post = self.posteriors(X)
        n = post.sum(0, dtype=np.float64)
        first = (post.T @ X).astype(np.float64)
        alpha = (n / (n + self.relevance))[:, None]
        ex = first / np.maximum(n, 1e-9)[:, None]
        return alpha * ex + (1 - alpha) * self.fitted.means_

    def frame_loglik(self, X: np.ndarray, means: np.ndarray, chunk: int = 50000) -> np.ndarray:
        """Per-frame log-likelihood under the call model with ``means`` (``(n,)``)."""
        out = np.zeros(len(X))
        for a in range(0, len(X), chunk):
            lc = self._component_loglik(np.asarray(X[a : a + chunk], np.float64), means)
            m = lc.max(1)
            out[a : a + chunk] = m + np.log(np.exp(lc - m[:, None]).sum(1))
        return out

    def supervector(self, means: np.ndarray) -> np.ndarray:
        """KL-kernel mean supervector of adapted ``means`` (relative to the call model)."""
        g = self.fitted
        return ((means - g.means_) * np.sqrt(g.weights_)[:, None] / np.sqrt(g.covariances_)).ravel()


def window_means(values: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Mean of ``values (N, ...)`` over each frame span ``[a, b)`` of ``spans (n, 2)``."""
    cs = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    a, b = spans[:, 0], np.maximum(spans[:, 1], spans[:, 0] + 1)
    return (cs[b] - cs[a]) / (b - a).reshape((-1,) + (1,) * (values.ndim - 1))


def fit_nuisance(emb: np.ndarray, speakers: np.ndarray, k: int = 2) -> np.ndarray:
    """The ``k`` directions along which embeddings of one speaker vary most (emotion, channel),
    ``(k, d)`` orthonormal: top eigenvectors of the within-speaker scatter, every speaker weighted
    equally. Projecting them out (nuisance attribute projection) keeps what tells speakers apart."""
    X = np.asarray(emb, np.float64)
    spk = np.asarray(speakers)
    S = np.zeros((X.shape[1], X.shape[1]))
    for s in np.unique(spk):
        D = X[spk == s] - X[spk == s].mean(0)
        S += D.T @ D / max(1, len(D))
    vals, vecs = np.linalg.eigh(S)
    return vecs[:, np.argsort(vals)[::-1][:k]].T.astype(np.float32)
