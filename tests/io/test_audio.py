"""Audio I/O: formats, rates, channels, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from callemo.io import AudioError, audio_info, load_audio, load_segment, resample, save_audio, split_channels, to_mono


def _tone(sr: int, dur: float = 1.0, f: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * dur)) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spec.argmax()])


@pytest.mark.parametrize(
    "ext,subtype",
    [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")],
)
def test_formats_roundtrip_keep_content(tmp_path, ext, subtype):
    sr = 16000
    x = _tone(sr)
    p = tmp_path / f"tone{ext}"
    sf.write(p, x, sr, subtype=subtype)
    y, out_sr = load_audio(p)
    assert out_sr == sr
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x)) < 0.06 * sr  # codecs may pad a few frames
    assert abs(_dominant_freq(y, sr) - 440) < 5


@pytest.mark.parametrize("file_sr,target", [(8000, 16000), (44100, 16000), (48000, 8000), (16000, 16000)])
def test_resampling_keeps_pitch_and_length(tmp_path, file_sr, target):
    p = save_audio(tmp_path / "x.wav", _tone(file_sr, 2.0), file_sr)
    y, sr = load_audio(p, target)
    assert sr == target
    assert abs(len(y) - 2 * target) <= 2
    assert abs(_dominant_freq(y, sr) - 440) < 3


def test_channels_mix_split_and_pick(tmp_path):
    sr = 8000
    left, right = _tone(sr, f=300), _tone(sr, f=1000) * 0.5
    p = save_audio(tmp_path / "st.wav", np.stack([left, right]), sr)
    assert audio_info(p).channels == 2
    both, _ = load_audio(p, mono=False)
    assert both.shape == (2, sr)
    np.testing.assert_allclose(to_mono(both), (both[0] + both[1]) / 2, atol=1e-6)
    chans = split_channels(both)
    assert len(chans) == 2 and abs(_dominant_freq(chans[1], sr) - 1000) < 5
    c1, _ = load_audio(p, channel=1)
    assert abs(_dominant_freq(c1, sr) - 1000) < 5
    with pytest.raises(AudioError, match="channel 2"):
        load_audio(p, channel=2)


def test_segment_reading(tmp_path):
    sr = 16000
    x = np.concatenate([np.zeros(sr, np.float32), _tone(sr)])
    p = save_audio(tmp_path / "seg.wav", x, sr)
    seg = load_segment(p, 1.0, 2.0, 8000)
    assert len(seg) == 8000 and np.abs(seg).max() > 0.4
    whole = load_segment(p, float("nan"), float("nan"), sr)
    assert len(whole) == 2 * sr


def test_bad_files_name_the_file_and_problem(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"nope\.wav: file not found"):
        load_audio(missing)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: file is empty"):
        load_audio(empty)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(AudioError, match=r"corrupt\.wav: cannot decode"):
        load_audio(corrupt)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), 8000)
    with pytest.raises(AudioError, match=r"zero\.wav: no audio samples"):
        load_audio(zero)
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path)


def test_resample_multichannel_shape():
    x = np.stack([_tone(48000), _tone(48000)])
    y = resample(x, 48000, 8000)
    assert y.shape == (2, 8000)
