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


# --- calibration: ECE (10 equal-width bins, top label) and the multiclass Brier score -------------
CAL_LABELS = ["a", "b", "c"]
CAL_TRUE = ["a", "b", "c", "a"]
CAL_PROBA = [
    [0.90, 0.05, 0.05],  # top a (0.90), right  -> bin (0.8, 0.9]
    [0.30, 0.60, 0.10],  # top b (0.60), right  -> bin (0.5, 0.6]
    [0.50, 0.20, 0.30],  # top a (0.50), wrong  -> bin (0.4, 0.5]
    [0.20, 0.25, 0.55],  # top c (0.55), wrong  -> bin (0.5, 0.6]
]


def test_ece_matches_hand_computation():
    from callemo.evaluate.metrics import expected_calibration_error, reliability_table

    # bin (0.4,0.5]: 1 item, acc 0, conf 0.50        -> |0 - 0.5| * 1/4 = 0.125
    # bin (0.5,0.6]: 2 items, acc 1/2, conf 0.575     -> |0.5 - 0.575| * 2/4 = 0.0375
    # bin (0.8,0.9]: 1 item, acc 1, conf 0.90         -> |1 - 0.9| * 1/4 = 0.025
    # ECE = 0.1875
    assert expected_calibration_error(CAL_TRUE, CAL_PROBA, CAL_LABELS) == pytest.approx(0.1875)
    table = reliability_table(CAL_TRUE, CAL_PROBA, CAL_LABELS)
    assert table["count"] == [0, 0, 0, 0, 1, 2, 0, 0, 1, 0]
    assert table["accuracy"][5] == pytest.approx(0.5) and table["confidence"][5] == pytest.approx(0.575)
    assert table["accuracy"][0] is None
    # one bin: |accuracy - mean confidence| = |2/4 - (0.9+0.6+0.5+0.55)/4| = |0.5 - 0.6375|
    assert expected_calibration_error(CAL_TRUE, CAL_PROBA, CAL_LABELS, n_bins=1) == pytest.approx(0.1375)


def test_ece_bin_edges_are_right_closed():
    from callemo.evaluate.metrics import expected_calibration_error, reliability_table

    # a confidence of exactly 0.3 belongs to (0.2, 0.3] (0.3 * 10 is 3.0000000000000004 in floats)
    # and shares that bin with 0.25; 0.7 goes to (0.6, 0.7]
    proba = [[0.3, 0.3, 0.3], [0.25, 0.25, 0.25], [0.7, 0.2, 0.1]]
    table = reliability_table(["a", "b", "a"], proba, CAL_LABELS)
    assert table["count"] == [0, 0, 2, 0, 0, 0, 1, 0, 0, 0]
    # bin (0.2,0.3]: acc 1/2 (first right, second wrong: argmax takes "a"), conf 0.275 -> 0.225 * 2/3
    # bin (0.6,0.7]: acc 1, conf 0.7 -> 0.3 * 1/3
    e = expected_calibration_error(["a", "b", "a"], proba, CAL_LABELS)
    assert e == pytest.approx(0.225 * 2 / 3 + 0.3 / 3)
    # confident and right everywhere -> 0
    assert expected_calibration_error(["b", "c"], [[0, 1, 0], [0, 0, 1]], CAL_LABELS) == 0.0


def test_brier_matches_hand_computation():
    from callemo.evaluate.metrics import brier_score

    # item 1: (0.1)^2 + 0.05^2 + 0.05^2 = 0.015
    # item 2: 0.3^2 + 0.4^2 + 0.1^2   = 0.26
    # item 3: 0.5^2 + 0.2^2 + 0.7^2   = 0.78
    # item 4: 0.8^2 + 0.25^2 + 0.55^2 = 1.0050
    # mean = 2.06 / 4 = 0.515
    assert brier_score(CAL_TRUE, CAL_PROBA, CAL_LABELS) == pytest.approx(0.515)
    assert brier_score(["a"], [[0, 1, 0]], CAL_LABELS) == pytest.approx(2.0)
    # the column order follows `labels`
    assert brier_score(["a"], [[0, 1, 0]], ["b", "a", "c"]) == pytest.approx(0.0)


def test_calibration_metrics_reject_bad_input():
    from callemo.evaluate.metrics import brier_score, expected_calibration_error

    with pytest.raises(ValueError, match="not among"):
        brier_score(["z"], [[1, 0, 0]], CAL_LABELS)
    with pytest.raises(ValueError, match="shape"):
        expected_calibration_error(["a"], [[1, 0]], CAL_LABELS)
    with pytest.raises(ValueError, match="finite"):
        expected_calibration_error(["a"], [[np.nan, 0, 0]], CAL_LABELS)
