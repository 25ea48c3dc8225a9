"""Speaker-independent folds: no speaker on both sides, each speaker tested once."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from callemo.evaluate.folds import FoldError, group_folds, is_stratified, leave_one_group_out


def manifest(n_speakers=10, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        n = int(rng.integers(8, 30))  # unequal speakers
        rows.extend({"speaker": f"spk{s:02d}", "emotion": ["neutral", "happy", "sad", "angry"][int(rng.integers(0, 4))]}
                    for _ in range(n))
    return pd.DataFrame(rows)


def assert_speaker_independent(df, folds):
    tested = []
    for tr, te in folds:
        assert set(df.speaker.iloc[tr]).isdisjoint(df.speaker.iloc[te])
        assert len(np.intersect1d(tr, te)) == 0
        assert len(tr) + len(te) == len(df)
        tested += sorted(set(df.speaker.iloc[te]))
    assert sorted(tested) == sorted(df.speaker.unique())  # each speaker tested exactly once
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(df)))


def test_group_folds_are_speaker_independent_and_stratified():
    df = manifest()
    folds = group_folds(df, "speaker", k=5, seed=0)
    assert len(folds) == 5
    assert_speaker_independent(df, folds)
    assert is_stratified(df, folds) < 0.25
    again = group_folds(df, "speaker", k=5, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))  # reproducible


def test_more_folds_than_speakers_warns_and_uses_one_per_speaker():
    df = manifest(3)
    with pytest.warns(UserWarning, match="only 3 groups"):
        folds = group_folds(df, "speaker", k=5)
    assert len(folds) == 3
    assert all(df.speaker.iloc[te].nunique() == 1 for _, te in folds)
    assert_speaker_independent(df, folds)


def test_falls_back_to_group_kfold_when_stratification_impossible():
    # every class has 2 items, fewer than k=3: StratifiedGroupKFold refuses
    df = pd.DataFrame({"speaker": ["a", "b", "c", "d"], "emotion": ["x", "x", "y", "y"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        folds = group_folds(df, "speaker", k=3)
    assert len(folds) == 3
    assert_speaker_independent(df, folds)


def test_leave_one_group_out_and_errors():
    df = manifest(4)
    folds = leave_one_group_out(df, "speaker")
    assert [sorted(set(df.speaker.iloc[te])) for _, te in folds] == [["spk00"], ["spk01"], ["spk02"], ["spk03"]]
    assert_speaker_independent(df, folds)
    with pytest.raises(FoldError, match="at least 2"):
        group_folds(df.assign(speaker="one"), "speaker")
    with pytest.raises(FoldError, match="no column 'call'"):
        group_folds(df, "call")
