"""Chance baselines and significance tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from callemo.evaluate.baselines import majority_baseline, majority_class, random_baseline
from callemo.evaluate.significance import paired_bootstrap, permutation_test, wilcoxon


def test_random_baseline_is_at_chance():
    y = ["a"] * 100 + ["b"] * 300 + ["c"] * 50 + ["d"] * 50  # unbalanced
    r = random_baseline(y, ["a", "b", "c", "d"], n_draws=300, seed=0)
    assert r["expected_ua"] == 0.25 and r["expected_wa"] == 0.25
    assert r["ua"] == pytest.approx(0.25, abs=0.01)  # mean of 300 draws of 500 items
    assert r["wa"] == pytest.approx(0.25, abs=0.01)
    assert r["ua_ci"][0] < 0.25 < r["ua_ci"][1]
    assert 0.2 < r["macro_f1"] < 0.25  # no closed form; below chance UA on unbalanced data


def test_majority_baseline_uses_training_majority():
    y_train = ["a", "a", "b"]
    y_test = ["a", "b", "b", "c"]
    r = majority_baseline(y_train, y_test, ["a", "b", "c"], n_boot=100)
    # always "a": recall a = 1, b = 0, c = 0 -> UA = 1/3; WA = 1/4 (one "a" among 4)
    assert r["class"] == "a"
    assert r["ua"] == pytest.approx(1 / 3) and r["wa"] == pytest.approx(1 / 4)
    assert majority_class(["b", "a", "b", "a"]) == "a"  # ties broken by name


def test_wilcoxon():
    a = [0.61, 0.64, 0.58, 0.66, 0.70, 0.63, 0.59, 0.65, 0.62, 0.68]
    b = [x - d for x, d in zip(a, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10])]
    r = wilcoxon(a, b)
    # all 10 differences positive: exact two-sided p = 2 / 2**10
    assert r["p_value"] == pytest.approx(2 / 2**10)
    assert r["p_value"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert r["wins"] == 10 and r["mean_diff"] == pytest.approx(0.055)
    same = wilcoxon(a, a)
    assert same["p_value"] == 1.0


def _systems(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(["a", "b", "c"], 300)
    good = np.where(rng.random(300) < 0.8, y, rng.choice(["a", "b", "c"], 300))
    bad = rng.choice(["a", "b", "c"], 300)
    groups = np.repeat([f"s{i}" for i in range(15)], 20)
    return y, good, bad, groups


def test_paired_bootstrap_and_permutation_detect_a_real_difference():
    y, good, bad, groups = _systems()
    pb = paired_bootstrap(y, good, bad, groups=groups, n_boot=300)
    assert pb["diff"] > 0.4 and pb["ci"][0] > 0 and pb["p_value"] < 0.01
    pt = permutation_test(y, good, bad, groups=groups, n_perm=300)
    assert pt["diff"] == pytest.approx(pb["diff"]) and pt["p_value"] < 0.01


def test_no_difference_is_not_significant():
    y, good, _, _groups = _systems()
    assert permutation_test(y, good, good, n_perm=100)["p_value"] == 1.0
    r = paired_bootstrap(y, good, good, n_boot=100)
    assert r["diff"] == 0 and r["p_value"] == 1.0
