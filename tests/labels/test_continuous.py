"""Continuous annotations: DARMA / long CSV reading, errors with file and line, resampling, gold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callemo.errors import CallemoError
from callemo.labels.continuous import (
    COLUMNS,
    AnnotationError,
    attach_gold,
    gold_standard,
    read_continuous,
    read_gold,
    register_gold_rule,
    resample_traces,
    write_continuous,
)
from helpers.annotations import annotated_pair, write_darma


@pytest.fixture
def darma_pair(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(0, 30, 0.5)
    (v1, a1), (v2, a2) = annotated_pair(rng, len(t))
    p1 = write_darma(tmp_path / "call01__ann1.csv", t, v1, a1)
    p2 = write_darma(tmp_path / "call01__ann2.csv", t + 0.2, v2, a2, header=None)  # no header, other times
    return p1, p2, (t, v1, a1, v2, a2)


def test_darma_header_and_no_header_and_scale(darma_pair):
    p1, p2, (t, v1, a1, _v2, _a2) = darma_pair
    df = read_continuous([p1, p2])
    assert list(df.columns) == COLUMNS
    assert set(df["file"]) == {"call01"} and set(df["annotator"]) == {"ann1", "ann2"}
    a = df[df["annotator"] == "ann1"]
    # [-1000, 1000] detected and divided down (values were written rounded to integers)
    np.testing.assert_allclose(a["valence"], np.round(v1 * 1000) / 1000, atol=1e-9)
    np.testing.assert_allclose(a["arousal"], np.round(a1 * 1000) / 1000, atol=1e-9)
    np.testing.assert_allclose(df[df["annotator"] == "ann2"]["time"], np.round(t + 0.2, 2))
    assert df[["valence", "arousal"]].abs().max().max() <= 1.0


def test_darma_preamble_names_from_arguments_and_explicit_scale(tmp_path):
    t = np.arange(0, 5, 0.5)
    p = write_darma(tmp_path / "export.csv", t, 0.05 * np.ones_like(t), -0.05 * np.ones_like(t),
                    preamble=["DARMA export", "Media: call7.wav"], header="second,x,y")
    # values 50 / -50: beyond 1, so [-1000, 1000]
    df = read_continuous(p, file="call7", annotator="rater9")
    assert set(df["file"]) == {"call7"} and set(df["annotator"]) == {"rater9"}
    np.testing.assert_allclose(df["valence"], 0.05)
    df100 = read_continuous(p, file="call7", annotator="r", scale=100)
    np.testing.assert_allclose(df100["valence"], 0.5)
    # one name per path, or single underscore naming
    p2 = write_darma(tmp_path / "callB_ann2.csv", t, 0.1 * np.ones_like(t), 0 * t, scale=1)
    df2 = read_continuous([p2])
    assert df2["file"].iloc[0] == "callB" and df2["annotator"].iloc[0] == "ann2"
    np.testing.assert_allclose(df2["valence"], 0.1)  # values within [-1, 1]: kept as they are


def test_long_csv_roundtrip(tmp_path, darma_pair):
    p1, p2, _ = darma_pair
    df = read_continuous([p1, p2])
    out = write_continuous(df, tmp_path / "long.csv")
    back = read_continuous(out)
    pd.testing.assert_frame_equal(back[COLUMNS], df[COLUMNS], check_dtype=False, atol=1e-6)
    # semicolons and aliases (rater, t, x, y)
    (tmp_path / "semi.csv").write_text("file;t;rater;x;y\nc1;0;a;0.1;0.2\nc1;0.5;a;0.2;0.3\n")
    s = read_continuous(tmp_path / "semi.csv")
    assert s["annotator"].tolist() == ["a", "a"] and s["arousal"].tolist() == [0.2, 0.3]


@pytest.mark.parametrize("content, line, words", [
    ("file,time,annotator,valence,arousal\nc,0,a,0.1,0.2\nc,0.5,a,abc,0.2\n", 3, "'abc' is not a number"),
    ("file,time,annotator,valence,arousal\nc,0,a,0.1,0.2\nc,0.5,a,0.2,\n", 3, "missing value"),
    ("file,time,annotator,valence,arousal\nc,0,a,0.1,0.2\nc,1,a,0.1,0.2\nc,1,a,0.1,0.2\n", 4, "does not increase"),
    ("file,time,annotator,valence,arousal\nc,0,a,0.1,0.2\nc,0.5,a,1500,0.2\n", 3, "out of range"),
    ("file,time,valence,arousal\nc,0,0.1,0.2\n", 1, "missing column 'annotator'"),
    ("file,annotator,valence,arousal\nc,a,0.1,0.2\n", 1, "missing column 'time'"),
    ("Second,X,Y\n0,10,20\n0.5,20\n", 3, "expected 3 values"),
    ("0,10,20\n0.5,20,x\n", 2, "'x' is not a number"),
    ("0,10,20\n-0.5,20,30\n", 2, "negative time"),
    ("Second,X,Y\nzero,10,20\n0.5,20,30\n", 2, "'zero' is not a number"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, line, words):
    p = tmp_path / "bad__ann.csv"
    p.write_text(content)
    with pytest.raises(AnnotationError) as ei:
        read_continuous(p)
    msg = str(ei.value)
    assert str(p) in msg and f"line {line}" in msg and words in msg
    assert isinstance(ei.value, CallemoError) and ei.value.line == line


def test_missing_file_and_duplicate_trace(tmp_path, darma_pair):
    with pytest.raises(AnnotationError, match="file not found"):
        read_continuous(tmp_path / "nope.csv")
    p1, _, _ = darma_pair
    with pytest.raises(AnnotationError, match="also in"):
        copy = tmp_path / "copy.csv"
        copy.write_text(p1.read_text())
        read_continuous([p1, copy], file=["call01", "call01"], annotator="ann1")


def test_cubic_resampling_is_exact_on_a_cubic_and_uses_the_common_span():
    # a cubic polynomial is reproduced exactly by a not-a-knot cubic spline
    f = lambda t: 0.001 * (t - 3) ** 3 - 0.01 * t  # noqa: E731
    t1, t2 = np.arange(0.0, 10.01, 0.5), np.arange(0.3, 9.5, 0.7)
    df = pd.DataFrame({"file": "c", "time": np.r_[t1, t2], "annotator": ["a"] * len(t1) + ["b"] * len(t2),
                       "valence": np.r_[f(t1), f(t2)], "arousal": np.r_[f(t1), f(t2)] / 2})
    r = resample_traces(df, 2.0)
    for ann in ("a", "b"):
        g = r[r["annotator"] == ann]
        assert g["time"].iloc[0] == 0.5 and g["time"].iloc[-1] == pytest.approx(9.0)  # ceil(0.3*2)/2 .. shared end
        np.testing.assert_allclose(g["valence"], f(g["time"]), atol=1e-9)
    lin = resample_traces(df, 4.0, method="linear")
    assert len(lin[lin["annotator"] == "a"]) == len(np.arange(0.5, 9.25 + 1e-9, 0.25))  # shared end 9.4 s
    with pytest.raises(ValueError):
        resample_traces(df, 2.0, method="quintic")


def test_gold_standard_rules(darma_pair):
    p1, p2, _ = darma_pair
    df = read_continuous([p1, p2])
    with pytest.raises(AnnotationError, match="resample"):
        gold_standard(df)  # the two annotators sampled at different times
    res = resample_traces(df, 2.0)
    g = gold_standard(res)
    wide = res.pivot_table(index="time", columns="annotator", values="valence")
    np.testing.assert_allclose(g["valence"], wide.mean(axis=1))
    assert list(g.columns) == ["file", "time", "valence", "arousal", "n_annotators"]
    assert (g["n_annotators"] == 2).all()
    np.testing.assert_allclose(gold_standard(df, rate_hz=2.0, rule="median")["valence"], wide.median(axis=1))
    mx = gold_standard(res, rule=lambda w: w.max(axis=1).to_numpy())
    np.testing.assert_allclose(mx["valence"], wide.max(axis=1))
    register_gold_rule("first", lambda w: w.iloc[:, 0].to_numpy())
    np.testing.assert_allclose(gold_standard(res, rule="first")["valence"], wide["ann1"])
    ewe = gold_standard(res, rule="ewe")  # two annotators: the mean
    np.testing.assert_allclose(ewe["valence"], g["valence"])
    with pytest.raises(ValueError, match="unknown gold-standard rule"):
        gold_standard(res, rule="mode")


def test_attach_gold_and_read_gold(tmp_path):
    gold = pd.DataFrame({"file": "call01", "time": np.arange(0, 10, 0.5), "valence": np.linspace(-1, 1, 20),
                         "arousal": 0.5})
    write_continuous(gold, tmp_path / "gold.csv")
    g = read_gold(tmp_path / "gold.csv")
    items = pd.DataFrame({"path": ["/x/calls/call01.wav", "/x/calls/call01.wav", "/x/other.wav"],
                          "start": [0.0, 5.0, 0.0], "end": [2.0, np.nan, 1.0]})
    out = attach_gold(items, g)
    t = gold["time"].to_numpy()
    assert out["valence"].iloc[0] == pytest.approx(gold["valence"][(t >= 0) & (t <= 2)].mean())
    assert out["valence"].iloc[1] == pytest.approx(gold["valence"][t >= 5].mean())
    assert np.isnan(out["valence"].iloc[2]) and out["arousal"].iloc[0] == 0.5
    assert len(attach_gold(items, g, drop_missing=True)) == 2


def test_a_folder_of_exports(tmp_path, darma_pair):
    df = read_continuous(tmp_path)  # the two exports of the fixture
    assert set(df["annotator"]) == {"ann1", "ann2"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AnnotationError, match=r"no \.csv"):
        read_continuous(empty)


def test_semicolon_files_with_decimal_commas(tmp_path):
    p = tmp_path / "call9__ann1.csv"
    p.write_text("Second;X;Y\n0,0;-120;300\n0,5;-100,5;310\n1,0;-90;320\n")
    df = read_continuous(p)
    np.testing.assert_allclose(df["time"], [0, 0.5, 1.0])
    np.testing.assert_allclose(df["valence"], [-0.12, -0.1005, -0.09])
