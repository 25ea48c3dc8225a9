"""Shared helpers of the analysis tests: the tiny model, generated calls, and tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callemo.segments import to_table
from helpers import tinymodel as tm

SR = 8000


def make_call(turns, duration, sr=SR, stereo=False, seed=0):
    """Audio with ``turns = [(start, end, kind, channel)]`` (kind: neutral/angry/sad).

    Mono: everything mixed; stereo: channel 0/1 as given. Returns ``(audio, sr)``.
    """
    n = int(duration * sr)
    a = np.zeros((2, n) if stereo else n, np.float32)
    for k, (s, e, kind, ch) in enumerate(turns):
        v = tm.voice(e - s, sr=sr, kind=kind, seed=seed + k)
        i0 = int(s * sr)
        if stereo:
            a[ch, i0:i0 + len(v)] += v
        else:
            a[i0:i0 + len(v)] += v
    a += (1e-4 * np.random.default_rng(seed).standard_normal(a.shape)).astype(np.float32)
    return a, sr


def table(rows, file="call.wav"):
    """A segment table from ``(start, end, speaker, role[, channel])`` tuples."""
    recs = []
    for r in rows:
        d = dict(file=file, start=r[0], end=r[1], speaker=r[2], role=r[3])
        if len(r) > 4:
            d["channel"] = r[4]
        recs.append(d)
    return to_table(recs)


# -- real speech: the example call (espeak-ng, committed in examples/) ------------------------
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "call.wav"
EXAMPLE_TRUTH = ROOT / "examples" / "call_truth.csv"


def example_turns():
    """The example call's turns: list of (start, end, role)."""
    import pandas as pd

    t = pd.read_csv(EXAMPLE_TRUTH)
    return [(float(r.start), float(r.end), str(r.role)) for r in t.itertuples()]


def example_audio():
    from callemo.io import load_audio

    return load_audio(EXAMPLE)


def role_at(segments, t):
    """Role of the output segment covering time t (None if none)."""
    flat = segments.reset_index()
    hit = flat[(flat["start"] <= t) & (flat["end"] >= t)]
    return None if hit.empty else str(hit["role"].iloc[0])


def slow_prepare(path, *args, **kw):
    """:func:`helpers.tinymodel.simple_prepare` after a pause of ``CALLEMO_TEST_PREPARE_DELAY``
    seconds (default 2): keeps batch workers busy while a test signals or kills the batch."""
    import os
    import time

    time.sleep(float(os.environ.get("CALLEMO_TEST_PREPARE_DELAY", "2")))
    return tm.simple_prepare(path, *args, **kw)
