"""One entry point that trains any model: :func:`fit_model`.

Models whose fitting is a library call (the SVM family, ``ssl_svm``: feature extraction plus a
scikit-learn estimator) implement :meth:`EmotionModel.fit` themselves. Neural networks are trained
by a *task* here in :mod:`callemo.train` (pyannote's Model/Task split: the model is the network
and its predictor, the task owns the data, the loss, the optimiser and early stopping):

=================  ==================================================
``cnn_bilstm``     :func:`callemo.train.neural.fit_cnn_bilstm`
``ssl_head``       :func:`callemo.train.neural.fit_ssl_head`
``raw_cnn_lstm``   :func:`callemo.train.continuous.fit_continuous`
=================  ==================================================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..models.base import EmotionModel


def trainer(model_type: str) -> Callable[..., EmotionModel] | None:
    """The training task of a model type, or ``None`` when the model fits itself."""
    if model_type == "cnn_bilstm":
        from .neural import fit_cnn_bilstm

        return fit_cnn_bilstm
    if model_type == "ssl_head":
        from .neural import fit_ssl_head

        return fit_ssl_head
    if model_type == "raw_cnn_lstm":
        from .continuous import fit_continuous

        return fit_continuous
    return None


def _accepted(fn: Callable[..., Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The optional inputs ``fn`` names explicitly and that are available (not ``None``)."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in extra.items() if v is not None and k in params}


def fit_model(model: EmotionModel, signals: Sequence[np.ndarray], y: Sequence[Any],
              speakers: Sequence[str] | None = None, **extra: Any) -> EmotionModel:
    """Train ``model`` on ``signals`` with targets ``y`` (labels, or ``(n, 2)`` traces for the
    continuous regressor) and optional ``speakers``; returns the trained model.

    ``extra`` holds the optional inputs of some families (``gender`` for the multitask
    CNN-BiLSTM; ``context``, ``gender``, ``valid`` for the regressor; ``log_fn`` / ``log``); each
    is passed on only where the family's trainer takes it, so callers can offer what they have.
    """
    task = trainer(model.model_type)
    if task is None:
        return model.fit(signals, y, speakers, **_accepted(model.fit, extra))
    return task(model, signals, y, speakers, **_accepted(task, extra))
