"""Speaker-embedding features (paper 001's x-vectors): resemblyzer d-vectors of a segment.

The segment is brought to 16 kHz, scaled to -30 dBFS RMS (resemblyzer's own preprocessing level), and
turned into resemblyzer's input (40-band power mel, 25 ms / 10 ms; :func:`callemo.io.voice_encoder.mel_frames`).
The encoder (the same one the diarizer uses, :func:`callemo.io.voice_encoder.get_encoder`) embeds partial
windows of ``win`` seconds (1.6 s, hop ``hop`` = 0.8 s, as resemblyzer's ``embed_utterance``; a shorter
segment is one window); the unit-norm window embeddings are averaged and the mean is scaled to unit norm
again: one 256-d vector per segment (``dvector_0`` ... ``dvector_255``).

A d-vector describes the voice, mostly independent of what is said; paper 001 uses x-vectors as an SER
feature family because the voice's timbre also moves with arousal. Needs the ``resemblyzer`` package
(installed with ``pip install --no-deps resemblyzer``, see the README); a :class:`FeatureError` says so
when it is missing. About 0.035 s CPU per 3 s segment on one core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..io import resample
from ..io.voice_encoder import EMB_SR, get_encoder, mel_frames, normalise_rms
from .base import FeatureError, FeatureExtractor, register_extractor

DIM = 256
HOP_S = 0.01  # mel frame hop of the encoder's input


@register_extractor("dvector")
class DvectorExtractor(FeatureExtractor):
    """Mean of resemblyzer d-vectors over partial windows (see the module docstring)."""

    version = 1

    def __init__(self, sample_rate: int = 16000, win: float = 1.6, hop: float = 0.8):
        super().__init__(sample_rate)
        if not 0.2 <= float(win) <= 10.0 or not 0.05 <= float(hop) <= float(win):
            raise FeatureError(f"dvector: need 0.2 <= win <= 10 s and 0.05 <= hop <= win (got win={win}, hop={hop})")
        self.win = float(win)
        self.hop = float(hop)

    def params(self) -> dict[str, Any]:
        p = super().params()
        p.update(win=self.win, hop=self.hop)
        return p

    @property
    def feature_names(self) -> list[str]:
        return [f"dvector_{k}" for k in range(DIM)]

    def _windows(self, n_frames: int) -> list[tuple[int, int]]:
        w, h = round(self.win / HOP_S), round(self.hop / HOP_S)
        if n_frames <= w:
            return [(0, n_frames)]
        starts = list(range(0, n_frames - w + 1, h))
        if starts[-1] + w < n_frames:  # the tail gets a window too
            starts.append(n_frames - w)
        return [(s, s + w) for s in starts]

    def _process(self, x: np.ndarray) -> np.ndarray:
        import torch

        enc = get_encoder()
        if enc is None:
            raise FeatureError("the 'dvector' features need the resemblyzer package "
                               "(pip install --no-deps resemblyzer==0.1.4)")
        x16 = resample(np.asarray(x, np.float32), self.sample_rate, EMB_SR) if self.sample_rate != EMB_SR else x
        if len(x16) < EMB_SR // 10:  # at least 0.1 s
            x16 = np.pad(x16, (0, EMB_SR // 10 - len(x16)))
        m = mel_frames(normalise_rms(np.asarray(x16, np.float32)))
        batch = torch.from_numpy(np.stack([m[a:b] for a, b in self._windows(len(m))]))
        with torch.inference_mode():
            e = enc(batch).numpy().astype(np.float64)
        v = e.mean(axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)
