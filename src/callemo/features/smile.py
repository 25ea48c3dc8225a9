"""eGeMAPSv02 and ComParE_2016 functionals through openSMILE (an optional extra).

openSMILE is licensed for research and non-commercial use only; install it with
``pip install callemo[opensmile]``. Without it these extractors raise a clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import FeatureError, FeatureExtractor, register_extractor

_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}


def _opensmile():
    try:
        import opensmile
    except ImportError:
        raise FeatureError(
            "the eGeMAPS / ComParE features need openSMILE, which is not installed: "
            "pip install 'callemo[opensmile]' (research / non-commercial licence), "
            "or use the 'prosody' features, which need no openSMILE"
        ) from None
    return opensmile


class _SmileExtractor(FeatureExtractor):
    feature_set: str = ""

    def __init__(self, sample_rate: int = 16000):
        super().__init__(sample_rate)
        self._smile = None
        self._names: list[str] | None = None

    def params(self) -> dict[str, Any]:
        p = super().params()
        p["feature_set"] = _SETS[self.name]
        return p

    def _get(self):
        if self._smile is None:
            osm = _opensmile()
            self._smile = osm.Smile(feature_set=getattr(osm.FeatureSet, _SETS[self.name]),
                                    feature_level=osm.FeatureLevel.Functionals)
        return self._smile

    def __getstate__(self):  # the Smile object is rebuilt in worker processes
        d = dict(self.__dict__)
        d["_smile"] = None
        return d

    @property
    def feature_names(self) -> list[str]:
        if self._names is None:
            self._names = list(self._get().feature_names)
        return list(self._names)

    def _process(self, x: np.ndarray) -> np.ndarray:
        min_len = int(0.1 * self.sample_rate)
        if len(x) < min_len:
            x = np.pad(x, (0, min_len - len(x)))
        v = self._get().process_signal(x, self.sample_rate)
        return v.to_numpy(dtype=np.float32).reshape(-1)


@register_extractor("egemaps")
class EGeMAPSExtractor(_SmileExtractor):
    """The 88 eGeMAPSv02 functionals (openSMILE)."""


@register_extractor("compare")
class ComParEExtractor(_SmileExtractor):
    """The 6373 ComParE_2016 functionals (openSMILE)."""
