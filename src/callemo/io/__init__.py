"""Audio input/output: loading, resampling, channels, telephone simulation."""

from .audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioInfo,
    audio_info,
    is_audio_file,
    load_audio,
    load_segment,
    resample,
    save_audio,
    split_channels,
    to_mono,
)
from .telephone import TELEPHONE_SR, TelephoneAugment, telephone

__all__ = [
    "AUDIO_EXTENSIONS", "AudioError", "AudioInfo", "audio_info", "is_audio_file", "load_audio",
    "load_segment", "resample", "save_audio", "split_channels", "to_mono", "TELEPHONE_SR",
    "TelephoneAugment", "telephone",
]
