"""File analysis and the live stream find the same speech in the same audio (one VAD core)."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.prep.call import prepare_call
from callemo.segments import merge_intervals
from callemo.service.streaming import StreamAnalyzer
from helpers import tinymodel as tm
from helpers.voices import speechlike

SR = 8000
#: (start, end, channel): alternating turns, one long turn (cut into several stream segments), a
#: quiet one, and an overlap
TURNS = [(0.8, 3.6, 0), (4.1, 6.0, 1), (6.6, 14.8, 0), (15.3, 17.0, 1), (16.6, 18.4, 0), (19.5, 22.0, 1)]


def _stereo_call() -> np.ndarray:
    """16-bit samples (what a WAV file and the stream's PCM both carry)."""
    rng = np.random.default_rng(5)
    x = (1e-3 * rng.standard_normal((2, 24 * SR))).astype(np.float32)
    for k, (s, e, ch) in enumerate(TURNS):
        v = speechlike(e - s, sr=SR, f0=(105, 190)[ch], tract=(0.95, 1.15)[ch], seed=10 + k,
                       level=0.05 if k == 3 else 0.3)
        x[ch, int(s * SR): int(s * SR) + len(v)] += v
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def _stream_speech(x: np.ndarray, chunk: float) -> list[list[tuple[float, float]]]:
    sa = StreamAnalyzer(tm.train(), sr=SR, channels=["agent", "client"])
    pcm = np.ascontiguousarray(x.T).astype("<i2")
    step = int(chunk * SR)
    events = [e for i in range(0, len(pcm), step) for e in sa.push(pcm[i: i + step].tobytes())] + sa.close()
    segs = [e for e in events if e["type"] == "segment"]
    return [merge_intervals([(e["start"], e["end"]) for e in segs if e["channel"] == ch]) for ch in range(2)]


@pytest.mark.parametrize("chunk", [0.02, 0.5])
def test_file_and_stream_find_the_same_turns(chunk):
    x = _stereo_call()
    pc = prepare_call(x, SR, channels="agent,client")
    stream = _stream_speech(x, chunk)
    for ch in range(2):
        file_turns = pc.channel_speech[ch]
        assert len(stream[ch]) == len(file_turns), (ch, stream[ch], file_turns)
        # the same conditioning, VAD, settings and hysteresis: the same turns, to the frame (the
        # stream's last turn may end at the last sample instead of the last frame)
        assert np.allclose(np.array(stream[ch]), np.array(file_turns), atol=0.033)
        # and they are where the speech is
        truth = [(s, e) for s, e, c in TURNS if c == ch]
        assert len(file_turns) == len(truth)
        assert np.allclose(np.array(file_turns), np.array(truth), atol=0.2)
