"""Emotion models: one module per family, one interface (:class:`EmotionModel`), one directory format."""

from .base import EmotionModel, ModelError, build_model, default_model_dir, load_model, read_card, register_model

__all__ = ["EmotionModel", "ModelError", "build_model", "default_model_dir", "load_model", "read_card",
           "register_model"]
