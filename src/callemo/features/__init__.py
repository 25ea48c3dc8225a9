"""Feature extraction: one interface (:class:`FeatureExtractor`), cached parallel :func:`extract`.

Extractors: ``prosody`` (the project's own prosodic + spectral functionals, no openSMILE),
``egemaps`` and ``compare`` (openSMILE functionals, optional), ``logmel`` (frame-level log-mel +
deltas + delta-deltas). Normalisation transforms (global / per-speaker standardisation) are in
:mod:`callemo.features.normalise`.
"""

from .base import FeatureError, FeatureExtractor, extractor_names, get_extractor, register_extractor
from .cache import cache_root, extract
from .normalise import SpeakerStandardizer, standardize_by_speaker

__all__ = [
    "FeatureError",
    "FeatureExtractor",
    "SpeakerStandardizer",
    "cache_root",
    "extract",
    "extractor_names",
    "get_extractor",
    "register_extractor",
    "standardize_by_speaker",
]
