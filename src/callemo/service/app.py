"""The callemo web service: upload calls, analyse them in the background, browse the results,
stream live calls, and a dashboard.

``create_app(db_url, storage_dir, model_dir=None)`` returns a FastAPI application::

    GET    /                       the dashboard (HTML)
    GET    /api/health             service, model and queue status
    POST   /api/calls              upload a recording (multipart field "file", or a raw audio body)
    GET    /api/calls              list calls (?needs_review=true|false&status=...&limit=&offset=)
    GET    /api/calls/{id}         a call: its record and, once done, the analysis JSON ("result")
    GET    /api/calls/{id}/segments   its segments (from the database)
    GET    /api/calls/{id}/report  the HTML report (callemo.report)
    GET    /api/calls/{id}/audio   the uploaded recording
    DELETE /api/calls/{id}         remove a call, its rows and files
    WS     /api/stream             live analysis (protocol in callemo.service.streaming, docs/service.md)

The parts: routes in :mod:`callemo.service.routes` (``calls``, ``stream``, ``dashboard``), shared
objects as dependencies (:mod:`~callemo.service.deps`), the token (:mod:`~callemo.service.auth`),
hosts, origins, headers and log redaction (:mod:`~callemo.service.security`), uploads
(:mod:`~callemo.service.uploads`), the background analysis (:mod:`~callemo.service.worker`) and
storage (:mod:`~callemo.service.storage`).

At start-up partial uploads are removed and calls a previous process left ``queued`` or
``running`` (its claim lapsed) are analysed again (or failed when their recording was never
stored). Several service processes may share one database and storage folder: the queue is the
``calls`` table, each call is claimed by one process (:mod:`callemo.service.worker`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .auth import TokenMiddleware
from .deps import ServiceConfig
from .errors import install_error_handlers
from .routes import calls, dashboard, stream
from .routes.dashboard import version
from .security import SecurityMiddleware, install_log_redaction
from .security import allowed_hosts as default_hosts
from .storage import DEFAULT_DB, Store
from .uploads import DEFAULT_MAX_UPLOAD_MB
from .worker import AnalysisWorker, ModelHolder

log = logging.getLogger("callemo.service")

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "create_app"]


def create_app(
    db_url: str = DEFAULT_DB,
    storage_dir: str | os.PathLike[str] = "callemo-storage",
    model_dir: str | os.PathLike[str] | None = None,
    *,
    model: Any = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    start_worker: bool = True,
    api_token: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    scheduler: str | None = None,
) -> FastAPI:
    """The FastAPI application. ``model``: an already loaded ``EmotionModel`` (overrides
    ``model_dir``); ``max_upload_mb``: the largest accepted upload; ``start_worker=False`` leaves
    uploads queued (for tests and read-only front ends); ``api_token``: the token every API call
    and the stream must present (None: open, for a service bound to localhost);
    ``allowed_hosts``: the host names the service answers to (default: ``localhost``,
    ``127.0.0.1`` and ``::1``; see :func:`callemo.service.security.allowed_hosts`); ``scheduler``:
    analyse uploads on a Dask cluster (``tcp://HOST:PORT`` or ``local:N``) instead of in this
    process (see :class:`~callemo.service.worker.AnalysisWorker`)."""
    if scheduler is not None and model is not None:
        raise ValueError("create_app: with a scheduler the cluster's workers load the model themselves: "
                         "give model_dir, not a model object")
    store = Store(db_url, storage_dir)
    models = ModelHolder(model_dir, model)
    worker = AnalysisWorker(store, models, scheduler=scheduler)
    hosts = list(allowed_hosts) if allowed_hosts is not None else default_hosts()
    config = ServiceConfig(max_upload_bytes=int(max_upload_mb * 1e6), api_token=api_token or None,
                           allowed_hosts=hosts, start_worker=start_worker)
    install_log_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cleaned = store.clean_start()
        if any(cleaned.values()):
            log.info("start-up clean-up: %d partial upload(s), %d orphan file(s) removed",
                     cleaned["partial_uploads"], cleaned["orphans"])
        if start_worker:
            worker.start()
            worker.recover()
        yield
        worker.stop(timeout=5.0)
        store.close()  # its pooled connections (the store still works: a new pool opens on use)

    app = FastAPI(
        title="callemo service",
        description="Emotional timelines for call-center recordings: upload calls, get per-segment emotions, "
                    "valence/arousal curves, summaries and reports; stream live calls for real-time alerts.",
        version=version(),
        lifespan=lifespan,
    )
    app.state.store, app.state.models, app.state.worker, app.state.config = store, models, worker, config
    for router in (dashboard.router, calls.upload_router, calls.router, stream.router):
        app.include_router(router)
    install_error_handlers(app)
    # outermost last: the host check first, then the headers / origin check, then the token
    app.add_middleware(TokenMiddleware, token=config.api_token)
    app.add_middleware(SecurityMiddleware, hosts=hosts)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    return app
