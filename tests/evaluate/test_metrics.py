"""Metrics against hand-computed values; bootstrap CIs; CCC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from callemo.evaluate.metrics import bootstrap_ci, ccc, classification_report, confusion_matrix

Y_TRUE = ["a", "a", "a", "b", "b", "c"]
Y_PRED = ["a", "a", "b", "b", "c", "c"]


def test_scores_match_hand_computation():
    # confusion (rows true a,b,c; columns predicted a,b,c):
    #   a: 2 1 0     recall a = 2/3, precision a = 2/2 = 1
    #   b: 0 1 1     recall b = 1/2, precision b = 1/2
    #   c: 0 0 1     recall c = 1/1, precision c = 1/2
    # UA = (2/3 + 1/2 + 1) / 3 = (4/6 + 3/6 + 6/6) / 3 = 13/18
    # WA = (2 + 1 + 1) / 6 = 2/3
    # F1 a = 2*1*(2/3)/(1 + 2/3) = 4/5; F1 b = 2*(1/2)*(1/2)/1 = 1/2; F1 c = 2*(1/2)*1/(3/2) = 2/3
    # macro-F1 = (4/5 + 1/2 + 2/3) / 3 = (24 + 15 + 20) / 90 = 59/90
    r = classification_report(Y_TRUE, Y_PRED, ["a", "b", "c"], n_boot=0)
    assert r["ua"] == pytest.approx(13 / 18)
    assert r["wa"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx(59 / 90)
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["per_class_recall"] == pytest.approx({"a": 2 / 3, "b": 1 / 2, "c": 1.0})
    assert r["support"] == {"a": 3, "b": 2, "c": 1}
    assert r["labels"] == ["a", "b", "c"] and r["n"] == 6
    # and the same as scikit-learn
    assert r["ua"] == pytest.approx(balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert r["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))


def test_label_order_and_labels_absent_from_truth():
    # "d" is predicted once but never true: UA averages over true classes a, b only;
    # macro-F1 includes d with F1 = 0.
    y_true = ["a", "a", "b", "b"]
    y_pred = ["a", "d", "b", "b"]
    # recall a = 1/2, b = 2/2 -> UA = 3/4; WA = 3/4
    # F1 a = 2*1*(1/2)/(3/2) = 2/3; F1 b = 1; F1 d = 0 -> macro-F1 = (2/3 + 1 + 0)/3 = 5/9
    r = classification_report(y_true, y_pred, ["b", "a"], n_boot=0)
    assert r["labels"] == ["b", "a", "d"]  # given order, unseen extras appended
    assert r["ua"] == pytest.approx(3 / 4) and r["wa"] == pytest.approx(3 / 4)
    assert r["macro_f1"] == pytest.approx(5 / 9)
    assert r["per_class_recall"]["d"] is None
    assert confusion_matrix(y_true, y_pred, ["a", "b", "d"]).tolist() == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]


def _noisy(n_speakers, per_speaker, seed):
    rng = np.random.default_rng(seed)
    labels = ["x", "y", "z"]
    y, p, g = [], [], []
    for s in range(n_speakers):
        acc = rng.uniform(0.4, 0.95)  # speakers differ in how recognisable they are
        for i in range(per_speaker):
            t = labels[i % 3]
            y.append(t)
            p.append(t if rng.random() < acc else labels[(i + 1) % 3])
            g.append(f"s{s}")
    return y, p, g


def test_bootstrap_ci_contains_estimate_and_narrows_with_more_speakers():
    y, p, g = _noisy(8, 30, seed=1)
    small = classification_report(y, p, groups=g, n_boot=500, seed=0)
    y2, p2, g2 = _noisy(128, 30, seed=1)
    big = classification_report(y2, p2, groups=g2, n_boot=500, seed=0)
    for r in (small, big):
        for m in ("ua", "wa", "macro_f1"):
            lo, hi = r[f"{m}_ci"]
            assert lo <= r[m] <= hi, m
    width = lambda r: r["ua_ci"][1] - r["ua_ci"][0]  # noqa: E731
    assert width(big) < 0.5 * width(small)  # 16x the speakers: about 1/4 of the width
    assert small["ci"]["resampled"] == "groups" and small["n_groups"] == 8


def test_speaker_bootstrap_is_wider_than_item_bootstrap_when_speakers_differ():
    # half the speakers are always right, half always wrong: items within a speaker are not
    # independent, so resampling speakers must give a wider interval than resampling items
    y, p, g = [], [], []
    for s in range(10):
        for i in range(20):
            t = "a" if i % 2 else "b"
            y.append(t)
            p.append(t if s < 5 else ("b" if t == "a" else "a"))
            g.append(s)
    by_spk = classification_report(y, p, groups=g, n_boot=400, seed=0)
    by_item = classification_report(y, p, n_boot=400, seed=0)
    assert by_spk["wa"] == pytest.approx(0.5)
    w = lambda r: r["wa_ci"][1] - r["wa_ci"][0]  # noqa: E731
    assert w(by_spk) > 2 * w(by_item)


def test_bootstrap_is_reproducible():
    y, p, g = _noisy(6, 12, seed=3)
    a = classification_report(y, p, groups=g, n_boot=200, seed=7)
    b = classification_report(y, p, groups=g, n_boot=200, seed=7)
    assert a["ua_ci"] == b["ua_ci"]


def test_ccc_hand_computed():
    # x = 1,2,3; y = 2,3,4: means 2 and 3, var x = var y = cov = 2/3 (population)
    # CCC = 2*(2/3) / (2/3 + 2/3 + (2-3)^2) = (4/3)/(7/3) = 4/7 (Pearson would be 1)
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    assert ccc([0.1, -0.5, 0.9], [0.1, -0.5, 0.9]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    lo, hi = bootstrap_ci(ccc, np.arange(50.0), np.arange(50.0) + np.sin(np.arange(50.0)), n_boot=200)
    assert lo <= ccc(np.arange(50.0), np.arange(50.0) + np.sin(np.arange(50.0))) <= hi
