"""The callemo service: HTTP API with storage, live streaming analysis, and a dashboard.

``create_app(db_url, storage_dir, model_dir=None)`` (in :mod:`callemo.service.app`) builds the
FastAPI application; :class:`~callemo.service.streaming.StreamAnalyzer` is the socket-free core of
live analysis; :class:`~callemo.service.storage.Store` keeps calls and segments in SQL. FastAPI and
SQLAlchemy are imported on first use.
"""

from __future__ import annotations

__all__ = ["AlertRules", "Store", "StreamAnalyzer", "create_app"]


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Store":
        from .storage import Store

        return Store
    if name in ("StreamAnalyzer", "AlertRules"):
        from . import streaming

        return getattr(streaming, name)
    raise AttributeError(name)
