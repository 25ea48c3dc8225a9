"""Categorical annotations: long / wide reading, gold-label rules, harmonisation, manifest output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callemo.labels.categorical import (
    gold_label,
    gold_labels,
    harmonise,
    items_wide,
    read_categorical,
    to_binary,
)
from callemo.labels.continuous import AnnotationError

LONG = """file,start,end,role,annotator,label,gender
c1.wav,0,3,client,a,Neutral,f
c1.wav,0,3,client,b,Annoyed,f
c1.wav,3,6,agent,a,neutral,m
c1.wav,3,6,agent,b,neutral,m
c2.wav,0,4,client,a,happy,m
c2.wav,0,4,client,b,angry,m
c2.wav,4,8,client,a,nervous,m
c2.wav,4,8,client,b,Nervous,m
"""

WIDE = """file,start,end,speaker,label_a,label_b,label_c
c1.wav,0,3,s1,neutral,angry,neutral
c1.wav,3,6,s1,sad,sad,
c2.wav,0,4,s2,happy,angry,neutral
"""


def test_read_long_and_wide(tmp_path):
    (tmp_path / "long.csv").write_text(LONG)
    d = read_categorical(tmp_path / "long.csv")
    assert len(d) == 8 and set(d["annotator"]) == {"a", "b"}
    assert d["file"].iloc[0] == str(tmp_path / "c1.wav")  # relative to the CSV's folder
    assert d["speaker"].tolist()[:3] == ["c1_client", "c1_client", "c1_agent"]  # recording_role
    assert d["gender"].iloc[0] == "f" and d["line"].tolist()[:2] == [2, 3]
    (tmp_path / "wide.csv").write_text(WIDE)
    w = read_categorical(tmp_path / "wide.csv")
    assert len(w) == 8  # c's blank cell = not labelled
    table = items_wide(w)
    assert table.shape == (3, 3) and pd.isna(table.loc[(str(tmp_path / "c1.wav"), 3.0, 6.0, ""), "c"])


@pytest.mark.parametrize("content, line, words", [
    ("file,start,end,annotator,label\nc.wav,0,2,a,neutral\nc.wav,2,4,a,\n", 3, "missing value"),
    ("file,start,end,annotator,label\nc.wav,0,2,a,neutral\nc.wav,x,4,a,sad\n", 3, "'x' is not a number"),
    ("file,start,end,annotator,label\nc.wav,0,2,a,neutral\nc.wav,3,2,a,sad\n", 3, "not after start"),
    ("file,start,end,annotator,label\nc.wav,0,2,a,neutral\nc.wav,0,2,a,sad\n", 3, "twice"),
    ("file,start,end,label\nc.wav,0,2,neutral\n", 1, "missing column 'annotator'"),
    ("start,end,annotator,label\n0,2,a,neutral\n", 1, "missing column 'file'"),
])
def test_errors_name_file_and_line(tmp_path, content, line, words):
    p = tmp_path / "ann.csv"
    p.write_text(content)
    with pytest.raises(AnnotationError) as ei:
        read_categorical(p)
    assert str(p) in str(ei.value) and f"line {line}" in str(ei.value) and words in str(ei.value)


def test_gold_label_rules():
    # majority
    assert gold_label(["angry", "angry", "neutral"]) == "angry"
    assert gold_label(["neutral", "angry"]) is None  # tie -> discard
    assert gold_label(["neutral", "angry"], tie="emotional-wins") == "angry"
    assert gold_label(["sad", "angry"], tie="emotional-wins") is None
    assert gold_label(["sad", "angry"], tie="first") == "sad"
    # paper 001: Neutral vs Emotional becomes the Emotional label
    assert gold_label(["neutral", "angry"], "emotional-wins") == "angry"
    assert gold_label(["angry", "neutral"], "emotional-wins") == "angry"
    assert gold_label(["sad", "angry"], "emotional-wins") is None
    assert gold_label(["sad", "sad", "angry", "neutral"], "emotional-wins") == "sad"
    assert gold_label(["neutral", "neutral"], "emotional-wins") == "neutral"
    assert gold_label(["neutral", "calm", "calm"], "emotional-wins") == "calm"
    # discard: unanimous only
    assert gold_label(["sad", "sad"], "discard") == "sad"
    assert gold_label(["sad", "sad", "angry"], "discard") is None
    assert gold_label([None, "", "sad"]) == "sad"
    with pytest.raises(ValueError):
        gold_label(["a", "b"], "vote")


def test_gold_labels_table_carries_columns(tmp_path):
    (tmp_path / "long.csv").write_text(LONG)
    d = read_categorical(tmp_path / "long.csv")
    g = gold_labels(d, "majority")
    assert len(g) == 1  # only c1 3-6 is unanimous as written (case differs elsewhere)
    g = gold_labels(d, "discard", keep_discarded=True)
    assert len(g) == 4 and (g["emotion"] == "").sum() == 3
    assert {"label_a", "label_b", "agreement", "n_annotators", "gender"} <= set(g.columns)


def test_harmonise_merge_min_count_binary(tmp_path):
    (tmp_path / "long.csv").write_text(LONG)
    d = read_categorical(tmp_path / "long.csv")
    # canonical names ('Neutral' == 'neutral', 'anger' -> 'angry'); 'annoyed' stays until merged
    r = harmonise(d, rule="majority")
    assert sorted(r.items["emotion"]) == ["nervous", "neutral"]
    r = harmonise(d, rule="emotional-wins")
    assert sorted(r.items["emotion"]) == ["annoyed", "nervous", "neutral"]
    assert r.agreement["n_items"] == 4 and r.agreement["raw_agreement"] == pytest.approx(0.5)
    r = harmonise(d, rule="emotional-wins", merge=["annoyed=angry"])  # paper 001 merged Annoyed into Angry
    assert sorted(r.items["emotion"]) == ["angry", "nervous", "neutral"]
    r = harmonise(d, rule="majority", merge=["happy=angry"])
    assert sorted(r.items["emotion"]) == ["angry", "nervous", "neutral"]
    r = harmonise(d, rule="emotional-wins", merge={"happy": "angry", "annoyed": "angry"}, min_count=2)
    assert r.items["emotion"].tolist() == ["angry", "angry"] and r.dropped_classes == ["nervous", "neutral"]
    r = harmonise(d, rule="emotional-wins", binary=True)
    assert sorted(r.items["emotion"]) == ["emotional", "emotional", "neutral"]
    assert [s for s, _ in r.steps][-1] == "binary neutral/emotional"
    assert to_binary(pd.DataFrame({"emotion": ["calm", "satisfied", "neutral"]}))["emotion"].tolist() == \
        ["neutral", "emotional", "neutral"]


def test_write_gold_manifest_is_read_by_read_manifest(tmp_path):
    import soundfile as sf

    from callemo.train.manifest import read_manifest, write_gold_manifest

    for name in ("c1.wav", "c2.wav"):
        sf.write(tmp_path / name, np.zeros(8 * 16000, np.float32), 16000)
    (tmp_path / "long.csv").write_text(LONG)
    r = harmonise(read_categorical(tmp_path / "long.csv"), rule="emotional-wins", merge=["annoyed=angry"])
    out = write_gold_manifest(r.items, tmp_path / "out" / "manifest.csv")
    assert out.read_text().splitlines()[1].startswith("../c1.wav,")  # relative to the manifest
    m = read_manifest(out)
    assert len(m) == 3 and m["path"].iloc[0] == str(tmp_path / "c1.wav")
    assert set(m["emotion"]) == {"angry", "nervous", "neutral"} and "label_a" in m.columns
