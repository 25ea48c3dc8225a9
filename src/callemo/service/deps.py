"""The service's shared objects, for routes as FastAPI dependencies (``Depends(get_store)``).

:func:`create_app <callemo.service.app.create_app>` puts them on ``app.state``; the routes get them
from the request, so a router has no globals and any number of apps can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from .storage import Store
from .worker import AnalysisWorker, ModelHolder


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of one service instance."""

    max_upload_bytes: int
    api_token: str | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    start_worker: bool = True


def get_store(conn: HTTPConnection) -> Store:
    return conn.app.state.store


def get_worker(conn: HTTPConnection) -> AnalysisWorker:
    return conn.app.state.worker


def get_models(conn: HTTPConnection) -> ModelHolder:
    return conn.app.state.models


def get_config(conn: HTTPConnection) -> ServiceConfig:
    return conn.app.state.config


def call_or_404(store: Store, call_id: str) -> dict:
    c = store.get(call_id)
    if c is None:
        raise HTTPException(404, f"no call with id {call_id!r}")
    return c
