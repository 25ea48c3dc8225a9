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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import yaml

from ..errors import CallemoError
from ..utils import plain
from .confidence import ConfidenceMap, top_confidence

MODEL_CARD = "model.yaml"
_REGISTRY: dict[str, type[EmotionModel]] = {}
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


def model_class(name: str) -> type[EmotionModel]:
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
    #: the family's configuration keys with their defaults; ``None`` = not declared (then
    #: :func:`callemo.train.config.validate_config` cannot catch a misspelt key)
    defaults: ClassVar[dict[str, Any] | None] = None
    labels: list[str]
    sample_rate: int = 16000
    min_duration: float = 0.5
    #: a prediction whose top probability is below this is ``unknown`` (model card key
    #: ``unknown_below``; 0 = always the top label). Meaningful for calibrated models.
    unknown_below: float = 0.0
    #: the reported confidence: a map fitted on unseen calls (model card key ``confidence_map``,
    #: :mod:`callemo.models.confidence`), or ``None`` = the top probability
    confidence_map: ConfidenceMap | None = None

    def __init__(self, config: dict[str, Any] | None = None):
        self.config: dict[str, Any] = dict(config or {})
        self.card: dict[str, Any] = {}

    @property
    def per_speaker_normalisation(self) -> bool:
        """Whether the model standardises its features per speaker (``normalisation: speaker``).

        Such a model must see all of a speaker's segments in one ``predict_proba`` call, with
        ``speakers`` given: the statistics come from them. Composite models (an ensemble) override
        this to be true when any member is.
        """
        return str(self.config.get("normalisation", "none")).lower() == "speaker"

    # -- training / inference -------------------------------------------------------------
    def fit(self, signals: Sequence[np.ndarray], y: Sequence[str], speakers: Sequence[str] | None = None,
            **kw: Any) -> EmotionModel:
        """Fit in place (families whose fitting is a library call); neural networks are trained by
        their task in :mod:`callemo.train` instead: use :func:`callemo.train.fit_model` for any model."""
        raise ModelError(f"{self.model_type} models are trained by a task: use callemo.train.fit_model(model, ...)")

    def predict_proba(self, signals: Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> np.ndarray:
        raise NotImplementedError

    def predict(self, data: pd.DataFrame | Sequence[np.ndarray], speakers: Sequence[str] | None = None) -> pd.DataFrame:
        """Predictions as columns on the input's index: ``emotion``, ``confidence`` and one
        ``p_<label>`` per label (audinterface's ``process_index``).

        ``data`` is either a segment table indexed by ``(file, start, end)`` (seconds): each row's
        audio is read from ``file`` at the model's rate (one channel where the table has a
        ``channel`` column, else the mix) and its ``speaker`` column gives the speakers; or a
        sequence of mono signals already at :attr:`sample_rate` (index ``0..n-1``; ``speakers``
        optional). Segments shorter than :attr:`min_duration` are not judged (emotion ``unknown``,
        confidence 0, NaN probabilities); judged ones whose top probability is below
        :attr:`unknown_below` are ``unknown`` too but keep their probabilities. ``confidence`` is
        :meth:`confidence` (the model's confidence map, else the top probability).
        """
        from ..segments import add_probabilities  # (pyannote.core: kept out of `import callemo.models`)

        if isinstance(data, pd.DataFrame):
            signals = segment_signals(data, self.sample_rate)
            index: pd.Index = data.index
            if speakers is None and "speaker" in data.columns:
                speakers = data["speaker"].astype(str).tolist()
        else:
            signals = [np.asarray(x, dtype=np.float32) for x in data]
            index = pd.RangeIndex(len(signals))
        if speakers is not None and len(speakers) != len(signals):
            raise ModelError(f"{len(speakers)} speakers for {len(signals)} segments")
        short = np.array([len(x) < self.min_duration * self.sample_rate - 1 for x in signals], dtype=bool)
        proba = np.zeros((len(signals), len(self.labels)))
        judged = np.flatnonzero(~short).tolist()
        if judged:
            proba[judged] = self.predict_proba([signals[i] for i in judged],
                                               None if speakers is None else [speakers[i] for i in judged])
        out = add_probabilities(pd.DataFrame(index=index), proba, list(self.labels), unknown_mask=short)
        unsure = ~short & (proba.max(axis=1, initial=0.0) < float(self.unknown_below))
        if self.confidence_map is not None and judged:
            out.loc[~short, "confidence"] = self.confidence(proba[judged])
        out["emotion"] = out["emotion"].astype(object).where(~unsure, "unknown")  # as add_probabilities does
        return out

    def confidence(self, proba: np.ndarray) -> np.ndarray:
        """The reported confidence of each row's top label (:attr:`confidence_map`'s estimate of
        the chance that it is right, or the top probability); ``unknown`` still follows the top
        probability and :attr:`unknown_below`."""
        return top_confidence(proba, self.confidence_map)

    def predict_dimensions(self, signals: Sequence[np.ndarray],
                           speakers: Sequence[str] | None = None) -> np.ndarray | None:
        """(valence, arousal) per signal when the model regresses them; ``None`` otherwise."""
        return None

    # -- persistence ----------------------------------------------------------------------
    def _save(self, directory: Path) -> dict[str, Any]:
        """Write weights into ``directory``; return extra keys for ``model.yaml``."""
        raise NotImplementedError

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> EmotionModel:
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
        if self.confidence_map is not None:
            card["confidence_map"] = self.confidence_map.to_card()
        card.update(card_extra)
        card.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        # NaN stays NaN in the card: YAML writes it
        (d / MODEL_CARD).write_text(yaml.safe_dump(plain(card, nan_to_none=False), sort_keys=False, allow_unicode=True))
        self.card = card
        return d


def segment_signals(table: pd.DataFrame, sample_rate: int) -> list[np.ndarray]:
    """The audio of every row of a segment table (index ``file, start, end``) at ``sample_rate``:
    each file is read once; a ``channel`` column picks that channel (NaN = the mix)."""
    from ..io import load_audio
    from ..segments import INDEX

    if list(table.index.names) != INDEX:
        raise ModelError(f"a segment table is indexed by {INDEX}, not {list(table.index.names)}")
    files = table.index.get_level_values("file").astype(str)
    starts = table.index.get_level_values("start").to_numpy(float)
    ends = table.index.get_level_values("end").to_numpy(float)
    chans = table["channel"].to_numpy() if "channel" in table.columns else np.full(len(table), np.nan)
    audio: dict[tuple[str, int | None], np.ndarray] = {}
    out = []
    for f, a, b, c in zip(files, starts, ends, chans):
        ch = None if c is None or (isinstance(c, float) and np.isnan(c)) else int(c)
        if (f, ch) not in audio:
            audio[(f, ch)] = load_audio(f, sample_rate, channel=ch)[0]
        x = audio[(f, ch)]
        out.append(x[int(round(a * sample_rate)): int(round(b * sample_rate))])
    return out


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
    model.unknown_below = float(card.get("unknown_below", 0.0))
    if card.get("confidence_map") is not None:
        try:
            model.confidence_map = ConfidenceMap.from_card(card["confidence_map"], model.labels)
        except ValueError as e:
            raise ModelError(f"{d / MODEL_CARD}: {e}") from None
    return model


def build_model(config: dict[str, Any]) -> EmotionModel:
    """A fresh, untrained model from a configuration dict (its ``type`` picks the family)."""
    if "type" not in config:
        raise ModelError(f"model configuration needs a 'type' (one of {sorted(set(_REGISTRY) | set(_TYPE_MODULES))})")
    return model_class(config["type"])(config)
