"""Property-based tests (hypothesis) of manifest parsing: any CSV (random columns, cells, paths,
numbers, quoting, garbage bytes) gives a valid manifest or one clear ManifestError that names the
manifest file (and, for a row's problem, the row and line) — never another exception."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from callemo.train.manifest import ManifestError, read_manifest

COLUMNS = ["path", "speaker", "emotion", "start", "end", "valence", "arousal", "gender", "corpus", "file", "notes"]
PATHS = ["good.wav", "stereo.flac", "missing.wav", "folder", "empty.wav", "bad.wav", "../outside.wav", "", " good.wav "]
NUMBERS = ["0", "0.5", "1.2", "-1", "3", "1e400", "nan", "inf", "-inf", "abc", "", " 0.25 ", "0x10", "1,5"]
TEXT = st.one_of(st.sampled_from(["angry", "Neutral ", "sad", "unknown", "", "spk1", "f", "m", "x,y", 'say "hi"']),
                 st.text(max_size=12))


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        sf.write(root / "good.wav", np.zeros(8000, np.float32), 8000)  # 1.0 s
        sf.write(root / "stereo.flac", np.zeros((16000, 2), np.float32), 16000)  # 1.0 s
        (root / "folder").mkdir()
        (root / "empty.wav").write_bytes(b"")
        (root / "bad.wav").write_bytes(b"RIFF not really a wave file" * 4)
        yield root


def _cell(col: str):
    if col in ("path", "file"):
        return st.sampled_from(PATHS)
    if col in ("start", "end", "valence", "arousal"):
        return st.sampled_from(NUMBERS)
    return TEXT


@st.composite
def manifests(draw):
    likely_valid = draw(st.booleans())
    if likely_valid:  # the required columns with mostly good cells, so that valid manifests come up too
        cols = draw(st.permutations(["path", "speaker", "emotion"]))
        cols += draw(st.lists(st.sampled_from(["start", "end", "gender", "valence", "notes"]), max_size=3, unique=True))
    else:
        cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=7))  # duplicates allowed on purpose
    n = draw(st.integers(0, 6))
    good = {"path": st.sampled_from(["good.wav", "stereo.flac"]), "speaker": st.sampled_from(["s1", "s2 "]),
            "emotion": st.sampled_from(["angry", "Sad"]), "start": st.sampled_from(["", "0", "0.2"]),
            "end": st.sampled_from(["", "0.9", "1.0"]), "valence": st.sampled_from(["", "0.5", "-1"])}
    rows = [[draw(good[c] if likely_valid and c in good and draw(st.integers(0, 9)) else _cell(c)) for c in cols]
            for _ in range(n)]
    buf = io.StringIO()
    w = csv.writer(buf)
    if likely_valid or draw(st.booleans()) or not cols:
        w.writerow(cols)
    w.writerows(rows)
    text = buf.getvalue()
    mangle = None if likely_valid and draw(st.booleans()) else draw(
        st.sampled_from([None, None, None, "truncate", "bytes", "bom", "ragged"]))
    if mangle == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    data = text.encode("utf-8")
    if mangle == "bytes":
        data = draw(st.binary(max_size=200))
    elif mangle == "bom":
        data = b"\xef\xbb\xbf" + data
    elif mangle == "ragged":
        data += b"a,b,c,d,e,f,g,h,i,j,k,l\n"
    return data, n


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=manifests())
def test_any_csv_gives_a_manifest_or_a_clear_error(folder, case):
    data, _ = case
    p = folder / "manifest.csv"
    p.write_bytes(data)
    try:
        df = read_manifest(p)
    except ManifestError as e:
        event("ManifestError")
        msg = str(e)
        assert msg.startswith(str(p)), msg
        assert e.problems and all(isinstance(x, str) and x for x in e.problems)
        for m in re.finditer(r"row (\d+) \(line (\d+)\)", msg):
            assert int(m.group(2)) == int(m.group(1)) + 1  # the header is line 1
        return
    event("valid manifest")
    for c in ("path", "start", "end", "speaker", "emotion"):
        assert c in df.columns
    assert len(df) > 0
    assert df["speaker"].map(lambda s: isinstance(s, str) and s.strip() == s and s != "").all()
    assert df["emotion"].map(lambda s: isinstance(s, str) and s == s.strip().lower() and s != "").all()
    assert all(Path(x).is_absolute() and Path(x).is_file() for x in df["path"])
    for s, e in zip(df["start"], df["end"]):
        assert np.isnan(s) or s >= 0
        assert np.isnan(e) or e > (0 if np.isnan(s) else s)


def test_a_byte_order_mark_is_not_part_of_the_first_column(folder):
    # spreadsheet programs save "CSV UTF-8" with a BOM; the first column must still be `path`
    p = folder / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbfpath,speaker,emotion\ngood.wav,s1,angry\n")
    df = read_manifest(p)
    assert df["emotion"].tolist() == ["angry"] and Path(df["path"][0]).name == "good.wav"
