"""The model interface and the model-directory format.

A model is a directory holding its weights and ``model.yaml``::

    type: svm                 # key in the model-type registry
    labels: [angry, happy, neutral, sad]
    sample_rate: 8000         # the rate audio is resampled to before features
    min_duration: 0.5         # shorter segments are not judged (emotion "unknown")
    features: {...}           # the feature pipeline, serialised
    normalisation: speaker    # none | global | speaker
    training_data: {...}      # manifests / corpora, sizes, telephone or wideband
    metrics: {...}            # with their protocol
    license: ...              # of the training data
    created: ...

Every model family subclasses :class:`EmotionModel`, registers itself with
:func:`register_model`, and implements ``fit``/``predict_proba``/``_save``/``_load``.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import yaml

from ..errors import CallemoError
from ..utils import plain

MODEL_CARD = "model.yaml"
_REGISTRY: dict[str, type["EmotionModel"]] = {}
#: modules imported on demand to find a model type (keeps CLI start-up light)
_TYPE_MODULES = {
    "svm": "callemo.models.svm",
    "ensemble": "callemo.models.svm",
    "cnn_bilstm": "callemo.models.cnn_bilstm",
    "raw_cnn_lstm": "callemo.models.raw_cnn_lstm",
    "ssl_head": "callemo.models.ssl",
    "ssl_svm": "callemo.models.ssl",
}


class ModelError(CallemoError, ValueError):
    """A model directory cannot be loaded or used."""


def register_model(name: str):
    """Class decorator: make a model family loadable by its ``type`` name."""

    def deco(cls):
        cls.model_type = name
        _REGISTRY[name] = cls
        return cls

    return deco


def model_class(name: str) -> type["EmotionModel"]:
    if name not in _REGISTRY and name in _TYPE_MODULES:
        importlib.import_module(_TYPE_MODULES[name])
    if name not in _REGISTRY:
        raise ModelError(f"unknown model type {name!r}; known: {sorted(set(_REGISTRY) | set(_TYPE_MODULES))}")
    return _REGISTRY[name]


class EmotionModel:
    """Base class of every emotion model.

    ``predict_proba`` takes mono float32 signals already at ``self.sample_rate`` and returns an
    ``(n, len(labels))`` probability matrix. ``speakers`` (one id per signal) lets models that
    normalise per speaker do so (in a call, each speaker's own segments give the statistics).
    Models that also regress dimensions implement ``predict_dimensions`` returning an ``(n, 2)``
    array of (valence, arousal) in [-1, 1].
    """

    model_type: ClassVar[str] = "base"
    labels: list[str]
    sample_rate: int = 16000
    min_duration: float = 0.5

    def __init__(self, config: dict[str, Any] | None = None):
        self.config: dict[str, Any] = dict(config or {})
        self.card: dict[str, Any] = {}

    # -- training / inference -------------------------------------------------------------
    def fit(self, signals: Sequence[np.ndarray], y: Sequence[str], speakers: Sequence[str] | None = None, **kw) -> "EmotionModel":
        raise NotImplementedError

    def predict_proba(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray:
        raise NotImplementedError

    def predict(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> list[str]:
        p = self.predict_proba(signals, speakers)
        return [self.labels[i] for i in p.argmax(axis=1)]

    def predict_dimensions(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray | None:
        """(valence, arousal) per signal when the model regresses them; ``None`` otherwise."""
        return None

    # -- persistence ----------------------------------------------------------------------
    def _save(self, directory: Path) -> dict[str, Any]:
        """Write weights into ``directory``; return extra keys for ``model.yaml``."""
        raise NotImplementedError

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> "EmotionModel":
        raise NotImplementedError

    def save(self, directory: str | os.PathLike, **card_extra: Any) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        card = {
            "type": self.model_type,
            "labels": list(self.labels),
            "sample_rate": int(self.sample_rate),
            "min_duration": float(self.min_duration),
            "config": self.config,
        }
        card.update(self.card)
        card.update(self._save(d) or {})
        card.update(card_extra)
        card.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        (d / MODEL_CARD).write_text(yaml.safe_dump(_plain(card), sort_keys=False, allow_unicode=True))
        self.card = card
        return d


def _plain(obj: Any) -> Any:
    """Make numpy scalars/arrays YAML-safe (NaN stays NaN: YAML writes it)."""
    return plain(obj, nan_to_none=False)


def default_model_dir() -> Path:
    """The model shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "default_model"


def read_card(directory: str | os.PathLike) -> dict[str, Any]:
    d = Path(directory)
    f = d / MODEL_CARD
    if not d.is_dir():
        raise ModelError(f"{d}: model directory not found")
    if not f.exists():
        raise ModelError(f"{d}: not a model directory (no {MODEL_CARD})")
    try:
        card = yaml.safe_load(f.read_text()) or {}
    except yaml.YAMLError as e:
        raise ModelError(f"{f}: invalid YAML ({e})") from None
    if "type" not in card or "labels" not in card:
        raise ModelError(f"{f}: model card needs 'type' and 'labels'")
    return card


def load_model(directory: str | os.PathLike | None = None) -> EmotionModel:
    """Load a model directory; ``None`` loads the default model shipped with callemo."""
    d = Path(directory) if directory is not None else default_model_dir()
    card = read_card(d)
    cls = model_class(card["type"])
    model = cls._load(d, card)
    model.card = card
    model.labels = list(card["labels"])
    model.sample_rate = int(card.get("sample_rate", model.sample_rate))
    model.min_duration = float(card.get("min_duration", model.min_duration))
    return model


def fit_kwargs(model: EmotionModel, **candidates: Any) -> dict[str, Any]:
    """The optional training inputs (e.g. ``gender`` for multitask models) that ``model.fit``
    names explicitly and that are available (not ``None``)."""
    import inspect

    params = inspect.signature(model.fit).parameters
    return {k: v for k, v in candidates.items() if v is not None and k in params}


def build_model(config: dict[str, Any]) -> EmotionModel:
    """A fresh, untrained model from a configuration dict (its ``type`` picks the family)."""
    if "type" not in config:
        raise ModelError(f"model configuration needs a 'type' (one of {sorted(set(_REGISTRY) | set(_TYPE_MODULES))})")
    return model_class(config["type"])(config)
