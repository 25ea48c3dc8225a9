"""Voice activity detection with silero-vad (weights ship inside the ``silero-vad`` package).

:func:`speech_regions` returns speech as ``[(start, end), ...]`` in seconds. Audio at any rate
is brought to 16 kHz (silero's batched "sequence" ONNX model runs one call per ~16 s block,
about 0.003 x real time on one core); audio is processed in blocks of ``block_s`` seconds
(10 minutes by default) with the model state carried across blocks, so memory stays bounded
for long calls and block joins leave no seam. Without onnxruntime the TorchScript model
(native 8 / 16 kHz, ~5x slower) is used.

The model is loaded once per process (:func:`get_model`).
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable

import numpy as np

VAD_SR = 16000
FRAME = 512  # samples per silero frame at 16 kHz (32 ms)
CONTEXT = 64


@functools.lru_cache(maxsize=None)
def get_model(kind: str = "auto"):
    """The silero model, loaded once per process: ``("sequence", model)`` or ``("jit", model)``."""
    import torch

    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad  # importing silero sets torch threads to 1

    torch.set_num_threads(threads)
    if kind in ("auto", "sequence"):
        try:
            return "sequence", load_silero_vad(sequence=True)
        except Exception:  # noqa: BLE001 - onnxruntime missing: fall back to TorchScript
            if kind == "sequence":
                raise
    return "jit", load_silero_vad()


def _jit_probs(model, x: np.ndarray, state: dict) -> np.ndarray:
    import torch

    n = len(x) // FRAME
    out = np.empty(n, np.float32)
    with torch.no_grad():
        for i in range(n):
            out[i] = float(model(torch.from_numpy(x[i * FRAME : (i + 1) * FRAME]), VAD_SR))
    return out


def _with_last(it):
    it = iter(it)
    try:
        prev = next(it)
    except StopIteration:
        return
    for b in it:
        yield prev, False
        prev = b
    yield prev, True


def speech_probabilities(
    blocks: Iterable[np.ndarray] | np.ndarray, sr: int, *, block_s: float = 600.0
) -> np.ndarray:
    """Per-frame (32 ms) speech probabilities of audio given whole or as consecutive blocks."""
    kind, model = get_model()
    if isinstance(blocks, np.ndarray):
        x = blocks
        step = int(block_s * sr)
        blocks = (x[i : i + step] for i in range(0, len(x), step))
    probs: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)  # samples not yet making a full frame
    hidden = np.zeros((1, 1, 128), np.float32)
    cell = np.zeros((1, 1, 128), np.float32)
    ctx = np.zeros(CONTEXT, np.float32)
    if kind == "jit":
        model.reset_states()
    stream = None
    if sr != VAD_SR:
        import soxr

        stream = soxr.ResampleStream(sr, VAD_SR, 1, dtype="float32", quality="HQ")
    for b in _with_last(blocks):
        b, last = b
        b = np.asarray(b, np.float32)
        y = stream.resample_chunk(b, last=last) if stream is not None else b
        y = np.concatenate([carry, y])
        n = len(y) // FRAME
        carry = y[n * FRAME :].copy()
        if n == 0:
            continue
        frames = y[: n * FRAME].reshape(n, FRAME)
        if kind == "jit":
            probs.append(_jit_probs(model, frames.reshape(-1), {}))
            continue
        for j in range(0, n, 512):
            f = frames[j : j + 512]
            contexts = np.empty((len(f), CONTEXT), np.float32)
            contexts[0] = ctx
            contexts[1:] = f[:-1, -CONTEXT:]
            ctx = f[-1, -CONTEXT:].copy()
            vals, hidden, cell = model.session.run(
                ["speech_probs", "hn", "cn"], {"input": np.concatenate([contexts, f], 1), "h": hidden, "c": cell}
            )
            probs.append(np.asarray(vals, np.float32).reshape(-1))
    if len(carry) > 0:  # last partial frame, zero-padded
        f = np.zeros(FRAME, np.float32)
        f[: len(carry)] = carry
        if kind == "jit":
            probs.append(_jit_probs(model, f, {}))
        else:
            inp = np.concatenate([ctx, f])[None, :]
            vals, hidden, cell = model.session.run(["speech_probs", "hn", "cn"], {"input": inp, "h": hidden, "c": cell})
            probs.append(np.asarray(vals, np.float32).reshape(-1))
    return np.concatenate(probs) if probs else np.zeros(0, np.float32)


def regions_from_probs(
    probs: np.ndarray,
    *,
    duration: float | None = None,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_speech: float = 0.25,
    min_silence: float = 0.2,
    pad: float = 0.05,
) -> list[tuple[float, float]]:
    """Hysteresis thresholding of frame probabilities into ``(start, end)`` seconds.

    Speech starts where the probability reaches ``threshold`` and ends after ``min_silence``
    seconds below ``neg_threshold`` (default ``threshold - 0.15``); regions shorter than
    ``min_speech`` are dropped; each side is padded by ``pad`` (never across the midpoint of a
    gap, never outside the recording).
    """
    hop = FRAME / VAD_SR
    probs = np.asarray(probs, float)
    if duration is None:
        duration = len(probs) * hop
    neg = max(threshold - 0.15, 0.01) if neg_threshold is None else neg_threshold
    # hysteresis: state on when p >= thr, off when p < neg
    above = probs >= threshold
    below = probs < neg
    # vectorised hysteresis: each frame takes the state of the last decisive frame before it
    ev = np.where(above, 1, np.where(below, -1, 0))
    idx = np.where(ev != 0, np.arange(len(ev)), -1)
    last = np.maximum.accumulate(idx) if len(idx) else idx
    state = np.where(last >= 0, ev[np.maximum(last, 0)] == 1, False)
    # runs of speech frames
    d = np.diff(np.concatenate([[0], state.astype(int), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    regs: list[list[float]] = []
    min_sil_frames = min_silence / hop
    for s, e in zip(starts, ends):
        if regs and s - regs[-1][1] < min_sil_frames:
            regs[-1][1] = e
        else:
            regs.append([s, e])
    out = [(s * hop, e * hop) for s, e in regs if (e - s) * hop >= min_speech]
    padded = []
    for i, (s, e) in enumerate(out):
        lo = 0.0 if i == 0 else (out[i - 1][1] + s) / 2
        hi = duration if i == len(out) - 1 else (e + out[i + 1][0]) / 2
        padded.append((round(float(max(lo, s - pad)), 4), round(float(min(hi, e + pad)), 4)))
    return padded


def speech_regions(
    x: np.ndarray,
    sr: int,
    *,
    threshold: float = 0.5,
    min_speech: float = 0.25,
    min_silence: float = 0.2,
    pad: float = 0.05,
    block_s: float = 600.0,
) -> list[tuple[float, float]]:
    """Speech regions ``[(start, end), ...]`` in seconds of 1-D audio ``x`` at ``sr`` Hz."""
    x = np.asarray(x, np.float32)
    if x.ndim != 1:
        raise ValueError("speech_regions needs 1-D (mono) audio; run it per channel")
    probs = speech_probabilities(x, sr, block_s=block_s)
    return regions_from_probs(probs, duration=len(x) / sr, threshold=threshold, min_speech=min_speech,
                              min_silence=min_silence, pad=pad)


def speech_regions_file(path, *, channel: int | None = None, block_s: float = 600.0, **kw) -> list[tuple[float, float]]:
    """Speech regions of a file read block by block (bounded memory whatever its length)."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        sr = f.samplerate
        duration = f.frames / sr

        def blocks():
            for b in f.blocks(blocksize=int(block_s * sr), dtype="float32", always_2d=True):
                yield b[:, channel] if channel is not None else b.mean(axis=1)

        probs = speech_probabilities(blocks(), sr)
    return regions_from_probs(probs, duration=duration, **kw)


def total_speech(regions: Iterable[tuple[float, float]]) -> float:
    return float(sum(e - s for s, e in regions))


SpeechRegionsFn = Callable[..., list[tuple[float, float]]]
