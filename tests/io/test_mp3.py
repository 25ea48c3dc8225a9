"""MP3 decodes gaplessly: times are not shifted by the encoder delay (issue 10 item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from callemo.io import LAME_DELAY, audio_info, load_audio, mp3_leading_samples

SR = 8000
ONSET = 0.5  # s


def _burst(seconds: float = 2.0) -> np.ndarray:
    """Silence, then a 440 Hz tone switched on at exactly ONSET s."""
    x = np.zeros(int(seconds * SR), np.float32)
    t = np.arange(len(x) - int(ONSET * SR)) / SR
    x[int(ONSET * SR) :] = 0.5 * np.sin(2 * np.pi * 440 * t)
    return x


def _onset(y: np.ndarray) -> float:
    return int(np.argmax(np.abs(y) > 0.25)) / SR


def _lame_16kbps(path, x):
    # libsndfile encodes with LAME; at 8 kHz compression 0.8 is 16 kbps constant bit rate, whose
    # 144-byte frames leave no room for the Xing/Info gapless header
    sf.write(path, x, SR, format="MP3", subtype="MPEG_LAYER_III", bitrate_mode="CONSTANT", compression_level=0.8)
    data = path.read_bytes()
    assert abs(len(data) * 8 / (len(x) / SR) / 1000 - 16) < 1.5  # really ~16 kbps
    assert b"Info" not in data[:200] and b"Xing" not in data[:200]


def test_low_bitrate_mp3_is_not_late(tmp_path):
    p = tmp_path / "call.mp3"
    _lame_16kbps(p, _burst())
    raw, _ = sf.read(p, dtype="float32")
    assert _onset(raw) - ONSET > 0.13  # what libsndfile alone gives: 1105 samples (0.138 s) late
    assert mp3_leading_samples(p) == LAME_DELAY
    y, sr = load_audio(p)
    assert sr == SR
    assert abs(_onset(y) - ONSET) < 0.005
    assert abs(audio_info(p).duration - 2.0) < 0.05
    # a segment is cut at the right place too
    seg, _ = load_audio(p, start=0.3, end=1.0)
    assert abs(_onset(seg) - (ONSET - 0.3)) < 0.005
    # and resampled to 16 kHz
    y16, _ = load_audio(p, 16000)
    assert abs(int(np.argmax(np.abs(y16) > 0.25)) / 16000 - ONSET) < 0.005


def test_call_that_starts_with_line_noise_is_not_late(tmp_path):
    # a real line is never silent: LAME then has no spare bits in which to write its name, and the
    # delay must still be found (the loco calls were all 0.138 s late before)
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal((2, 4 * SR))).astype(np.float32)
    x = _burst(4.0) + noise[0]
    later = np.concatenate([np.zeros(SR, np.float32), _burst(3.0)]) + noise[1]  # the tone 1 s later
    stereo = np.stack([x, later], axis=1)
    for name, audio in (("mono.mp3", x), ("stereo.mp3", stereo)):
        p = tmp_path / name
        _lame_16kbps(p, audio)
        if audio.ndim == 1:
            assert b"LAME" not in p.read_bytes()[:4096]  # what the old detection needed
        assert mp3_leading_samples(p) == LAME_DELAY
        y, _ = load_audio(p, mono=False) if audio.ndim == 2 else load_audio(p)
        first = y[0] if y.ndim == 2 else y
        assert abs(_onset(first) - ONSET) < 0.005, name
        if y.ndim == 2:
            assert abs(_onset(y[1]) - (ONSET + 1.0)) < 0.005


def test_mp3_with_gapless_header_is_not_trimmed_twice(tmp_path):
    av = pytest.importorskip("av")  # PyAV comes with faster-whisper; it writes the Xing/LAME header
    p = tmp_path / "tagged.mp3"
    x = _burst()
    with av.open(str(p), "w", format="mp3") as out:
        st = out.add_stream("libmp3lame", rate=SR, layout="mono")
        st.bit_rate = 32000
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = SR
        frame.pts = 0
        for pkt in [*st.encode(frame), *st.encode(None)]:
            out.mux(pkt)
    assert b"Info" in p.read_bytes()[:400]
    assert mp3_leading_samples(p) == 0
    y, _ = load_audio(p)
    assert abs(_onset(y) - ONSET) < 0.005


def test_other_formats_have_no_leading_samples(tmp_path):
    p = tmp_path / "x.wav"
    sf.write(p, _burst(), SR)
    assert mp3_leading_samples(p) == 0
    assert abs(_onset(load_audio(p)[0]) - ONSET) < 0.001
