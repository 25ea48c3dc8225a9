"""Label settings: full, 4class, polarity, binary; merges; rare classes; circumplex coordinates."""

from __future__ import annotations

import pandas as pd
import pytest

from callemo.labels.schemes import (
    CANONICAL,
    CIRCUMPLEX,
    LabelError,
    LabelSetting,
    apply_setting,
    canonical_label,
    drop_rare,
    merge_labels,
)

ALL = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


@pytest.fixture
def df():
    # one row per canonical label, plus two extra "angry" rows; keep an id to follow rows
    labels = [*ALL, "angry", "angry"]
    return pd.DataFrame({"emotion": labels, "speaker": ["s"] * len(labels), "id": range(len(labels))})


def test_full_keeps_everything_and_maps_synonyms():
    d = pd.DataFrame({"emotion": ["anger", "Happiness", "fear", "surprise", "sadness", "neutral"]})
    out = apply_setting(d, "full")
    assert out["emotion"].tolist() == ["angry", "happy", "fearful", "surprised", "sad", "neutral"]
    assert canonical_label(" Disgusted ") == "disgust"


def test_4class_drops_other_labels_and_keeps_index(df):
    out = apply_setting(df, "4class")
    assert out["emotion"].tolist() == ["neutral", "happy", "sad", "angry", "angry", "angry"]
    assert out["id"].tolist() == [0, 2, 3, 4, 8, 9]  # calm (1) is dropped, not merged
    assert list(out.index) == [0, 2, 3, 4, 8, 9]


def test_polarity_mapping(df):
    out = apply_setting(df, "polarity")
    got = dict(zip(df["emotion"], out["emotion"]))
    assert got == {
        "neutral": "neutral", "calm": "neutral", "happy": "positive", "surprised": "positive",
        "sad": "negative", "angry": "negative", "fearful": "negative", "disgust": "negative",
    }
    assert len(out) == len(df)


def test_binary_counts_calm_as_neutral(df):
    out = apply_setting(df, "binary")
    assert out["emotion"].value_counts().to_dict() == {"emotional": 8, "neutral": 2}


def test_merge_labels(df):
    out = merge_labels(df, {"calm": "neutral", "surprised": "happy"})
    assert out["emotion"].value_counts()["neutral"] == 2
    assert out["emotion"].value_counts()["happy"] == 2
    assert "calm" not in set(out["emotion"]) and len(out) == len(df)


def test_drop_rare_threshold(df):
    # angry has 3 rows, every other label 1
    assert drop_rare(df, 3)["emotion"].tolist() == ["angry"] * 3
    assert len(drop_rare(df, 2)) == 3
    assert len(drop_rare(df, 1)) == len(df) and len(drop_rare(df, 0)) == len(df)


def test_label_setting_from_config(df):
    s = LabelSetting.from_config({"setting": "4class", "merge": {"calm": "neutral"}, "min_count": 2})
    out = s.apply(df)
    # calm -> neutral gives neutral 2 rows; happy and sad (1 row each) fall under min_count 2
    assert out["emotion"].value_counts().to_dict() == {"angry": 3, "neutral": 2}
    assert s.to_dict() == {"setting": "4class", "merge": {"calm": "neutral"}, "drop": [], "min_count": 2}
    assert s.labels() == ["neutral", "happy", "sad", "angry"]
    assert s.labels(df) == ["neutral", "angry"]
    assert LabelSetting.from_config("polarity").setting == "polarity"
    assert apply_setting(df, s).equals(out)
    dropped = LabelSetting(setting="full", drop=["calm", "surprised"]).apply(df)
    assert set(dropped["emotion"]) == set(ALL) - {"calm", "surprised"}


def test_unknown_setting_and_keys_raise():
    with pytest.raises(LabelError, match="unknown label setting 'five'"):
        LabelSetting(setting="five")
    with pytest.raises(LabelError, match="unknown key"):
        LabelSetting.from_config({"setting": "full", "merges": {}})


def test_circumplex_covers_every_label_within_unit_square():
    for lab in [*CANONICAL, "emotional", "negative", "positive"]:
        v, a = CIRCUMPLEX[lab]
        assert -1 <= v <= 1 and -1 <= a <= 1, lab
    assert CIRCUMPLEX["neutral"] == (0.0, 0.0)
    # quadrants of Russell's circumplex
    assert CIRCUMPLEX["happy"][0] > 0 and CIRCUMPLEX["happy"][1] > 0
    assert CIRCUMPLEX["angry"][0] < 0 and CIRCUMPLEX["angry"][1] > 0
    assert CIRCUMPLEX["sad"][0] < 0 and CIRCUMPLEX["sad"][1] < 0
    assert CIRCUMPLEX["calm"][0] > 0 and CIRCUMPLEX["calm"][1] < 0
    # coarse labels are means of their members: negative = mean(angry, sad, fearful, disgust)
    assert CIRCUMPLEX["negative"][0] == pytest.approx((-0.7 - 0.7 - 0.6 - 0.7) / 4, abs=0.01)  # rounded to 2 decimals
    assert CIRCUMPLEX["positive"] == pytest.approx(((0.8 + 0.2) / 2, (0.4 + 0.8) / 2))


def test_binary_counts_any_other_label_as_emotional_and_drops_non_labels():
    d = pd.DataFrame({"emotion": ["frustrated", "neutral", "unknown", "xxx", "positive", "calm"]})
    out = apply_setting(d, "binary")
    assert out["emotion"].tolist() == ["emotional", "neutral", "emotional", "neutral"]
    # the other settings drop labels they do not know
    assert apply_setting(d, "4class")["emotion"].tolist() == ["neutral"]
    assert apply_setting(d, "polarity")["emotion"].tolist() == ["neutral", "positive", "neutral"]
