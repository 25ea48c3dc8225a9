"""The one interface every feature extractor implements, and the extractor registry.

An extractor turns one mono signal into either a fixed-length vector of *functionals*
(``kind = "functionals"``: shape ``(n_features,)``) or a frame-level matrix
(``kind = "frames"``: shape ``(frames, n_features)``). It serialises its own parameters
(:meth:`FeatureExtractor.params`), which also key the on-disk cache.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import numpy as np

from ..errors import CallemoError
from ..io import resample


class FeatureError(CallemoError, ValueError):
    """A feature extractor cannot be built or cannot run (unknown name, missing optional package)."""


_EXTRACTORS: dict[str, type[FeatureExtractor]] = {}
#: modules imported on demand to find an extractor (keeps imports light)
_EXTRACTOR_MODULES = {
    "prosody": "callemo.features.prosody",
    "egemaps": "callemo.features.smile",
    "compare": "callemo.features.smile",
    "logmel": "callemo.features.logmel",
    "whisper": "callemo.features.whisper",
    "dvector": "callemo.features.dvector",
    "linguistic": "callemo.features.linguistic",
}


def register_extractor(name: str):
    def deco(cls):
        cls.name = name
        _EXTRACTORS[name] = cls
        return cls

    return deco


def extractor_names() -> list[str]:
    return sorted(set(_EXTRACTORS) | set(_EXTRACTOR_MODULES))


def get_extractor(name: str | dict[str, Any], **params: Any) -> FeatureExtractor:
    """An extractor by name (``prosody``, ``egemaps``, ``compare``, ``logmel``) with parameters.

    ``name`` may also be a dict ``{"name": ..., **params}`` (the serialised form in model cards).
    """
    if isinstance(name, dict):
        spec = dict(name)
        name = spec.pop("name")
        spec.update(params)
        params = spec
    if name not in _EXTRACTORS and name in _EXTRACTOR_MODULES:
        importlib.import_module(_EXTRACTOR_MODULES[name])
    if name not in _EXTRACTORS:
        raise FeatureError(f"unknown feature extractor {name!r}; known: {extractor_names()}")
    cls = _EXTRACTORS[name]
    params = dict(params)
    version = params.pop("version", None)
    params.pop("feature_set", None)
    if version is not None and int(version) != cls.version:
        import warnings

        warnings.warn(f"feature extractor {name!r}: parameters were saved with version {version}, this is version "
                      f"{cls.version}; features may differ from the ones the model was trained on", stacklevel=2)
    try:
        return cls(**params)
    except TypeError as e:
        raise FeatureError(f"feature extractor {name!r}: bad parameters {params} ({e})") from None


class FeatureExtractor:
    """Base class: subclasses implement :meth:`_process` on audio already at ``sample_rate``."""

    name: ClassVar[str] = "base"
    kind: ClassVar[str] = "functionals"  # or "frames"
    #: bump when the computation changes, so stale cache entries are not reused
    version: ClassVar[int] = 1

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = int(sample_rate)

    # -- to implement -----------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        raise NotImplementedError

    def _process(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- shared behaviour -------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Everything that changes the output (also the cache key); ``get_extractor(**params())``
        rebuilds an identical extractor."""
        return {"name": self.name, "version": self.version, "sample_rate": self.sample_rate}

    def process_signal(self, x: np.ndarray, sr: int | None = None) -> np.ndarray:
        """Features of one mono signal; resampled to ``sample_rate`` first when ``sr`` differs."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1:
            x = x.mean(axis=0) if x.ndim == 2 and x.shape[0] < x.shape[1] else x.reshape(-1)
        sr = self.sample_rate if sr is None else int(sr)
        if sr != self.sample_rate:
            x = resample(x, sr, self.sample_rate)
        out = np.asarray(self._process(x), dtype=np.float32)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

    def __call__(self, x: np.ndarray, sr: int | None = None) -> np.ndarray:
        return self.process_signal(x, sr)

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def __repr__(self) -> str:
        p = {k: v for k, v in self.params().items() if k not in ("name", "version")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in p.items())})"
