"""Scores of time-continuous valence/arousal predictions against gold traces (paper 000)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import ccc

DIMENSIONS = ("valence", "arousal")


def score_curves(pred: Sequence[np.ndarray], gold: Sequence[np.ndarray]) -> dict[str, float]:
    """CCC of valence and arousal over all label steps of all recordings pooled (paper 000's
    test-set CCC), plus the mean of per-recording CCCs (``ccc_<dim>_per_recording``; recordings
    with fewer than three steps or a constant gold trace are skipped).

    ``pred`` and ``gold``: one ``(n_labels, >= 2)`` array per recording, columns (valence,
    arousal, ...) on the same label grid; each pair is cut to the shorter of the two.
    """
    pairs = []
    for p, g in zip(pred, gold):
        p, g = np.asarray(p, np.float64), np.asarray(g, np.float64)
        n = min(len(p), len(g))
        pairs.append((p[:n, :2], g[:n, :2]))
    P = np.concatenate([p for p, _ in pairs])
    G = np.concatenate([g for _, g in pairs])
    out: dict[str, float] = {}
    for j, d in enumerate(DIMENSIONS):
        out[f"ccc_{d}"] = ccc(P[:, j].tolist(), G[:, j].tolist())
    for j, d in enumerate(DIMENSIONS):
        per = [ccc(p[:, j].tolist(), g[:, j].tolist()) for p, g in pairs if len(g) > 2 and np.std(g[:, j]) > 0]
        out[f"ccc_{d}_per_recording"] = float(np.mean(per)) if per else float("nan")
    return out
