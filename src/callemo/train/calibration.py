"""Fitting a model family's probability calibration on held-out corpora (the task side of
:mod:`callemo.models.calibration`, which holds the :class:`Calibrator` itself and the ``unknown``
threshold): call-like groups of held-out items, and a calibrator fitted on the predictions of
models trained without each corpus."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..evaluate.metrics import expected_calibration_error
from ..models.base import build_model
from ..models.calibration import Calibrator, confidence_auroc
from .tasks import fit_model


def call_groups(y: Sequence[str], speakers: Sequence[str], n_neutral: int = 4, n_emotional: int = 2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Call-like groups of one speaker's items: every emotional item once, ``n_emotional`` per
    group, with ``n_neutral`` neutral items of the same speaker drawn at random (with replacement
    only when the speaker has fewer). Returns ``(rows, group_ids)``: positions into ``y`` (neutral
    items recur across groups) and a group id per row, to pass as the ``speakers`` of
    ``predict_proba`` so each group is standardised on its own, as a call's turns are."""
    lab = np.asarray([str(v) for v in y], dtype=object)
    spk = np.asarray([str(v) for v in speakers], dtype=object)
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    gids: list[str] = []
    for s in dict.fromkeys(spk.tolist()):
        own = np.flatnonzero(spk == s)
        neu = own[lab[own] == "neutral"]
        emo = rng.permutation(own[lab[own] != "neutral"])
        if len(neu) == 0:
            continue
        for j in range(0, len(emo), n_emotional):
            extra = rng.choice(neu, size=n_neutral, replace=len(neu) < n_neutral)
            grp = np.concatenate([emo[j:j + n_emotional], extra])
            rows.append(grp)
            gids += [f"{s}#call{j // n_emotional}"] * len(grp)
    return np.concatenate(rows), np.asarray(gids, dtype=object)


def heldout_calibration(config: dict[str, Any], signals: Sequence[np.ndarray], y: Sequence[str],
                        speakers: Sequence[str], corpora: Sequence[str], method: str = "temperature",
                        seed: int = 0) -> tuple[Calibrator, dict[str, Any]]:
    """A :class:`Calibrator` for models of ``config`` fitted on held-out corpora only.

    For each corpus, a model of ``config`` trained on the other corpora predicts it in call-like
    groups (:func:`call_groups`: four neutral + two emotional items per speaker, each group
    standardised on its own, as a call's turns are); the calibrator is fitted on all these pooled
    held-out predictions. Returns it with a summary for the model card (what it was fitted on, and
    the in-sample ECE / AUROC before and after). Needs at least two corpora.
    """
    yy = np.asarray([str(v) for v in y], dtype=object)
    spk = np.asarray([str(v) for v in speakers], dtype=object)
    corp = np.asarray([str(v) for v in corpora], dtype=object)
    names = list(dict.fromkeys(corp.tolist()))
    if len(names) < 2:
        raise ValueError(f"held-out calibration needs at least two corpora, got {names}")
    P: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    labels: list[str] = []
    for c in names:
        tr, te = np.flatnonzero(corp != c), np.flatnonzero(corp == c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = fit_model(build_model(config), [signals[int(i)] for i in tr], list(yy[tr]), list(spk[tr]))
        labels = list(m.labels)
        rows, g = call_groups(yy[te].tolist(), spk[te].tolist(), seed=seed)
        P.append(m.predict_proba([signals[int(te[i])] for i in rows], list(g)))
        Y.append(yy[te][rows])
    p, yt = np.vstack(P), np.concatenate(Y)
    # "vector_balanced": vector scaling with every class weighted equally (the neutral-heavy mix of
    # the call groups is not learnt as a prior)
    yt_list = [str(v) for v in yt]
    cal = Calibrator(method.removesuffix("_balanced"), labels).fit(p, yt_list, balanced=method.endswith("_balanced"))
    q = cal.transform(p)
    summary = {
        "fitted_on": f"held-out predictions of {', '.join(names)} (each by a model of this configuration trained "
                     "on the other corpora), each held-out speaker's items in groups of 4 neutral + 2 emotional "
                     f"standardised per group (callemo.train.calibration.call_groups, seed {seed})",
        "n": int(len(yt)),
        "in_sample": {"ece_before": round(expected_calibration_error(yt_list, p, labels), 4),
                      "ece_after": round(expected_calibration_error(yt_list, q, labels), 4),
                      "auroc_before": round(confidence_auroc(yt_list, p, labels), 4),
                      "auroc_after": round(confidence_auroc(yt_list, q, labels), 4)},
    }
    return cal, summary


__all__ = ["call_groups", "heldout_calibration"]
