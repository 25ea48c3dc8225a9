"""Pickled scikit-learn objects in a model directory, pinned to the scikit-learn that wrote them.

A joblib file holds scikit-learn's private object state, which changes between releases: an
``SVC`` pickled by one version can unpickle in another and predict differently, with only a
warning. So whoever saves a scikit-learn object records the version in the model card
(``sklearn_version``), and loading refuses, with a message that says what to do, when the running
scikit-learn differs in its major.minor version (patch releases keep the state format). Cards
without the key (written before it existed) are refused too: their state cannot be trusted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .base import ModelError

SKLEARN_KEY = "sklearn_version"


def sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def check_sklearn_version(card: dict[str, Any], where: str | os.PathLike) -> None:
    """Raise :class:`ModelError` unless ``card`` records the running scikit-learn's major.minor."""
    saved = card.get(SKLEARN_KEY)
    running = sklearn_version()
    if saved is None:
        raise ModelError(
            f"{where}: the model card does not record the scikit-learn version its weights were saved with "
            f"({SKLEARN_KEY}); scikit-learn {running} cannot load them safely. Retrain the model (callemo train).")
    if _major_minor(str(saved)) != _major_minor(running):
        raise ModelError(
            f"{where}: the model was saved with scikit-learn {saved}, but scikit-learn {running} is installed; "
            f"pickled scikit-learn models only load in the same major.minor release. Install scikit-learn=="
            f"{saved} or retrain the model (callemo train).")


def dump_sklearn(obj: Any, path: str | os.PathLike, *, compress: int = 3) -> dict[str, Any]:
    """Write ``obj`` with joblib; returns the card keys to record (``{sklearn_version: ...}``)."""
    import joblib

    joblib.dump(obj, Path(path), compress=compress)
    return {SKLEARN_KEY: sklearn_version()}


def load_sklearn(path: str | os.PathLike, card: dict[str, Any]) -> Any:
    """Read what :func:`dump_sklearn` wrote, after checking the card's scikit-learn version."""
    import joblib

    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: weights file not found")
    check_sklearn_version(card, p.parent / "model.yaml")
    try:
        return joblib.load(p)
    except Exception as e:
        raise ModelError(f"{p}: cannot load the model weights ({e})") from None
