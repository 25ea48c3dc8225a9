"""Property-based tests (hypothesis): loading audio and preparing a call from random input.

Whatever the lengths, rates, channels, sample formats, NaN/inf, DC offsets, truncations and
garbage bytes, the result is either clean audio / a prepared call, or the project's clear error
(:class:`callemo.errors.CallemoError`) naming the file: never another exception.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callemo.errors import CallemoError
from callemo.io import AudioError, AudioWarning, load_audio

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (format, subtype, extension) that libsndfile writes
FORMATS = [
    ("WAV", "PCM_16", ".wav"), ("WAV", "PCM_24", ".wav"), ("WAV", "PCM_32", ".wav"), ("WAV", "PCM_U8", ".wav"),
    ("WAV", "FLOAT", ".wav"), ("WAV", "DOUBLE", ".wav"), ("WAV", "ULAW", ".wav"), ("WAV", "ALAW", ".wav"),
    ("FLAC", "PCM_16", ".flac"), ("FLAC", "PCM_24", ".flac"), ("OGG", "VORBIS", ".ogg"),
    ("MP3", "MPEG_LAYER_III", ".mp3"),
]
RATES = st.one_of(st.sampled_from([8000, 16000, 44100, 48000, 11025, 22050]), st.integers(200, 96000))


@st.composite
def signals(draw, max_seconds: float = 1.5):
    """A (channels, n) float64 signal: noise or tone, a DC offset, a scale (up to int16-like values),
    maybe NaN / inf samples."""
    sr = draw(RATES)
    channels = draw(st.integers(1, 4))
    n = draw(st.integers(0, int(max_seconds * sr)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "tone", "zeros"]))
    if kind == "noise":
        x = rng.standard_normal((channels, n)) * 0.1
    elif kind == "tone":
        x = np.tile(0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / sr), (channels, 1))
    else:
        x = np.zeros((channels, n))
    x = x * draw(st.sampled_from([1.0, 1e-6, 3.0, 32767.0])) + draw(st.sampled_from([0.0, 0.2, -0.7, 5.0]))
    bad = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf]))
    if bad is not None and n:
        x[rng.integers(channels), rng.integers(n)] = bad
    return x, sr


def _check_loaded(p: Path, y: np.ndarray, out_sr: int, file_sr: int, frames: int, target: int | None, mono: bool):
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert out_sr == (target or file_sr)
    if mono:
        assert y.ndim == 1
    n = y.shape[-1]
    assert n > 0
    expected = frames * out_sr / file_sr
    assert abs(n - expected) <= max(2, 0.01 * expected) or p.suffix in (".mp3", ".ogg")


@PROFILE
@given(sig=signals(), fmt=st.sampled_from(FORMATS), target=st.sampled_from([None, 8000, 16000]),
       mono=st.booleans(), cut=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_load_audio_returns_clean_audio_or_a_clear_error(sig, fmt, target, mono, cut):
    x, sr = sig
    container, subtype, ext = fmt
    if subtype not in ("FLOAT", "DOUBLE"):
        # integer / companded files can only hold [-1, 1] (and libsndfile's mu-law / A-law writers
        # crash on values beyond it): what such a file holds is the clipped signal
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1, 1)
    if container in ("OGG", "MP3"):
        # the lossy encoders abort the process on NaN / odd rates (libvorbis, LAME assertions): give
        # them what a real encoder would have been given; the files are still cut at random below
        assume(x.shape[0] <= 2 and sr in (8000, 11025, 16000, 22050, 44100, 48000))
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1, 1)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"random{ext}"
        try:
            sf.write(p, x.T, sr, format=container, subtype=subtype)
        except Exception:
            assume(False)
        if cut is not None:  # a truncated file, as a crashed recorder leaves it
            data = p.read_bytes()
            p.write_bytes(data[: int(len(data) * cut)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AudioWarning)
            try:
                y, out_sr = load_audio(p, target, mono=mono)
            except AudioError as e:
                assert str(p) in str(e) and e.problem
                return
        info = sf.info(str(p))
        _check_loaded(p, y, out_sr, info.samplerate, info.frames, target, mono)
        if not mono and x.shape[0] > 1:
            assert y.shape[0] == x.shape[0]


@PROFILE
@given(data=st.binary(min_size=0, max_size=2000), ext=st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ".au"]),
       header=st.sampled_from([b"", b"RIFF", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"ID3", b"\xff\xfb", b"OggS"]))
def test_garbage_bytes_give_a_clear_error(data, ext, header):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"garbage{ext}"
        p.write_bytes(header + data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                y, _ = load_audio(p)
            except AudioError as e:
                assert str(p) in str(e)
                return
        # some byte strings are valid audio after all (e.g. headerless-tolerant decoders)
        assert y.dtype == np.float32 and np.all(np.isfinite(y))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sig=signals(max_seconds=2.5), dtype=st.sampled_from(["float32", "float64", "int16", "int32", "uint8"]),
       as_file=st.booleans())
def test_prepare_call_gives_a_call_or_a_clear_error(sig, dtype, as_file):
    from callemo.prep.call import PreparedCall, prepare_call

    x, sr = sig
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        x = np.clip(np.nan_to_num(x * info.max, nan=0, posinf=info.max, neginf=info.min), info.min, info.max)
    arr = x.astype(dtype)
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = arr if arr.shape[0] > 1 else arr[0]
        if as_file:
            p = Path(d) / "call.wav"
            try:
                sf.write(p, np.atleast_2d(x).T.astype(np.float32), sr, subtype="FLOAT")
            except Exception:
                assume(False)
            source = p
        try:
            call = prepare_call(source, None if as_file else sr, file="call.wav")
        except CallemoError as e:
            assert "call.wav" in str(e) or "array" in str(e)
            return
    assert isinstance(call, PreparedCall)
    assert call.duration > 0 and np.all(np.isfinite(call.audio))
    seg = call.segments.reset_index()
    assert ((seg["start"] >= 0) & (seg["end"] <= call.duration + 1e-6) & (seg["end"] > seg["start"])).all()


def test_profiles_are_small():
    # keeps the whole property suite near a minute on one core
    assert PROFILE.max_examples <= 60


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
