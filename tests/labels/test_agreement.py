"""Agreement: ICC(3,1) on Shrout & Fleiss (1979), kappas vs scikit-learn / statsmodels, alpha vs
the krippendorff package, per-recording reports and the ICC filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callemo.labels.agreement import (
    agreement_table,
    categorical_agreement,
    cohen_kappa,
    continuous_agreement,
    filter_reliable,
    fleiss_kappa,
    icc,
    krippendorff_alpha,
    mean_pairwise_pearson,
    quantise,
    reliable_files,
    report_to_json,
)
from helpers.annotations import annotated_pair

# Shrout & Fleiss (1979), Table 2: six targets rated by four judges
SHROUT_FLEISS = np.array([
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
], dtype=float)


def _icc31_by_hand(x):
    """ICC(3,1) = (BMS - EMS) / (BMS + (k-1) EMS), two-way ANOVA (Shrout & Fleiss 1979)."""
    n, k = x.shape
    grand = x.mean()
    bms = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    jms = n * ((x.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    ss_total = ((x - grand) ** 2).sum()
    ems = (ss_total - bms * (n - 1) - jms * (k - 1)) / ((n - 1) * (k - 1))
    return (bms - ems) / (bms + (k - 1) * ems)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*inplace.*")
def test_icc31_shrout_fleiss_is_0715_and_matches_pingouin():
    import pingouin as pg

    value, (lo, hi) = icc(SHROUT_FLEISS, ci=True)
    assert round(value, 3) == 0.715  # Shrout & Fleiss print .71
    assert value == pytest.approx(_icc31_by_hand(SHROUT_FLEISS), abs=1e-12)
    long = pd.DataFrame([(i, j, SHROUT_FLEISS[i, j]) for i in range(6) for j in range(4)],
                        columns=["target", "judge", "rating"])
    table = pg.intraclass_corr(data=long, targets="target", raters="judge", ratings="rating").set_index("Type")
    row = "ICC3" if "ICC3" in table.index else "ICC(C,1)"
    assert value == pytest.approx(float(table.loc[row, "ICC"]), abs=1e-12)
    assert lo < value < hi
    # the other forms of the same paper: ICC(1,1) = .17, ICC(2,1) = .29
    assert round(icc(SHROUT_FLEISS, kind="ICC1"), 2) == 0.17
    assert round(icc(SHROUT_FLEISS, kind="ICC2"), 2) == 0.29


def test_icc_degenerate_cases_are_nan():
    assert np.isnan(icc(np.ones((5, 2))))
    assert np.isnan(icc(np.arange(5.0)[:, None]))  # one rater
    x = SHROUT_FLEISS.copy()
    x[0, 0] = np.nan  # targets with a missing rating are left out
    assert icc(x) == pytest.approx(icc(SHROUT_FLEISS[1:]))


def test_mean_pairwise_pearson():
    rs = [np.corrcoef(SHROUT_FLEISS[:, i], SHROUT_FLEISS[:, j])[0, 1] for i in range(4) for j in range(i + 1, 4)]
    assert mean_pairwise_pearson(SHROUT_FLEISS) == pytest.approx(np.mean(rs))


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    labels = np.array(["neutral", "angry", "happy", "sad"])
    a = labels[rng.integers(0, 4, 200)]
    b = np.where(rng.random(200) < 0.7, a, labels[rng.integers(0, 4, 200)])
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    res = categorical_agreement(pd.DataFrame({"x": a, "y": b}))
    assert res["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert res["raw_agreement"] == pytest.approx(np.mean(a == b))
    # missing labels are left out of the pair
    b2 = b.astype(object)
    b2[:10] = None
    assert cohen_kappa(a, b2) == pytest.approx(cohen_kappa_score(a[10:], b[10:]), abs=1e-12)


def test_fleiss_kappa_matches_statsmodels_and_a_hand_value():
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    w = pd.DataFrame({"a": ["n", "n", "e", "e", "n"], "b": ["n", "e", "e", "e", "n"], "c": ["n", "n", "e", "n", "n"]})
    codes = (w == "e").astype(int).to_numpy()
    assert fleiss_kappa(w) == pytest.approx(sm_fleiss(aggregate_raters(codes)[0]), abs=1e-12)
    # by hand: P_i = (1, 1/3, 1, 1/3, 1) -> P_bar = 11/15; p_e = (9/15)^2 + (6/15)^2 = 117/225
    p_bar, p_e = 11 / 15, 117 / 225
    assert fleiss_kappa(w) == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-12)
    assert fleiss_kappa(w) == pytest.approx(4 / 9, abs=1e-12)


def test_krippendorff_alpha_matches_the_package():
    import krippendorff

    # the krippendorff package's own example (Krippendorff 2011): 3 coders x 15 units, NaN = missing
    rel = np.array([
        [np.nan, np.nan, np.nan, np.nan, np.nan, 3, 4, 1, 2, 1, 1, 3, 3, np.nan, 3],
        [1, np.nan, 2, 1, 3, 3, 4, 3, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
        [np.nan, np.nan, 2, 1, 3, 4, 4, np.nan, 2, 1, 1, 3, 3, np.nan, 4],
    ])
    assert krippendorff_alpha(rel.T, "nominal") == pytest.approx(0.691358, abs=1e-6)
    assert krippendorff_alpha(rel.T, "interval") == pytest.approx(0.810845, abs=1e-6)
    assert krippendorff_alpha(rel.T, "interval") == pytest.approx(
        krippendorff.alpha(reliability_data=rel, level_of_measurement="interval"), abs=1e-12)
    # continuous traces: alpha on the quantised values is the package's alpha on those values
    rng = np.random.default_rng(3)
    (v1, _), (v2, _) = annotated_pair(rng, 80, agree=0.7)
    q = quantise(np.c_[v1, v2], 21)
    assert set(np.round(np.unique(q) * 10, 6)) <= set(np.arange(-10, 11))
    rep = continuous_agreement(pd.DataFrame({"file": "c", "time": np.r_[np.arange(80), np.arange(80)] / 2.0,
                                             "annotator": ["a"] * 80 + ["b"] * 80,
                                             "valence": np.r_[v1, v2], "arousal": np.r_[v2, v1]}))
    assert rep["c"]["valence"]["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=q.T, level_of_measurement="interval"), abs=1e-12)
    # string labels (nominal) are coded consistently
    labs = pd.DataFrame({"a": ["x", "y", "x", None], "b": ["x", "y", "y", "y"]})
    coded = pd.DataFrame({"a": [0, 1, 0, np.nan], "b": [0, 1, 1, 1]}, dtype=float)
    assert krippendorff_alpha(labs, "nominal") == pytest.approx(
        krippendorff.alpha(reliability_data=coded.to_numpy().T, level_of_measurement="nominal"))


def _two_recordings():
    rng = np.random.default_rng(7)
    rows = []
    for name, agree in (("good", 0.95), ("bad", 0.0)):
        pair = annotated_pair(rng, 100, agree=agree)
        for k, (v, a) in enumerate(pair):
            rows.append(pd.DataFrame({"file": name, "time": np.arange(100) / 2.0, "annotator": f"ann{k}",
                                      "valence": v, "arousal": a}))
    return pd.concat(rows, ignore_index=True)


def test_continuous_agreement_report_and_icc_filter():
    df = _two_recordings()
    rep = continuous_agreement(df)
    assert set(rep) == {"good", "bad"} and set(rep["good"]) == {"valence", "arousal"}
    for key in ("icc", "pearson", "alpha"):
        assert rep["good"]["valence"][key] > 0.8
        assert rep["bad"]["valence"][key] < 0.5
    wide = df[df.file == "good"].pivot(index="time", columns="annotator", values="valence")
    assert rep["good"]["valence"]["icc"] == pytest.approx(icc(wide.to_numpy()))
    assert rep["good"]["valence"]["pearson"] == pytest.approx(np.corrcoef(wide.to_numpy().T)[0, 1])
    assert reliable_files(rep, 0.7) == ["good"]
    assert reliable_files(rep, 0.7, ["valence", "arousal"]) == ["good"]
    kept = filter_reliable(df, 0.7, "valence")
    assert set(kept["file"]) == {"good"}
    table = agreement_table(rep)
    assert len(table) == 4 and {"icc", "pearson", "alpha", "icc_low", "icc_high"} <= set(table.columns)
    only_v = continuous_agreement(df, dimensions=["valence"])
    assert set(only_v["good"]) == {"valence"}
    js = report_to_json({"x": {"valence": {"icc": float("nan"), "n": np.int64(3)}}})
    assert js == {"x": {"valence": {"icc": None, "n": 3}}}


def test_continuous_agreement_resamples_unaligned_traces():
    df = _two_recordings()
    df.loc[df.annotator == "ann1", "time"] += 0.2  # the annotators' tools sampled at other times
    rep = continuous_agreement(df)
    assert rep["good"]["valence"]["icc"] > 0.8 and rep["good"]["valence"]["n"] >= 95
