"""``/``: the dashboard page (and its token login), ``/api/health``, the archive view
``/api/archive`` (the page of :mod:`callemo.report.archive` over the database) and the transcript
search ``/api/search``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from ..auth import TOKEN_COOKIE, token_ok
from ..deps import ServiceConfig, get_config, get_models, get_store, get_worker
from ..schemas import Health
from ..storage import STATUSES, Store
from ..worker import AnalysisWorker, ModelHolder
from .calls import ERRORS

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, config: ServiceConfig = Depends(get_config)) -> Response:
    """The page. ``/?token=TOKEN`` (a service with a token) sets the token as an HttpOnly,
    SameSite=Strict cookie and redirects to ``/``, so the token leaves the address bar and no
    link or log line carries it."""
    token = request.query_params.get("token")
    if token is not None:
        resp = RedirectResponse(request.url.path, status_code=303)
        if config.api_token and token_ok(config.api_token, token):
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return resp
    return HTMLResponse(render_dashboard(max_upload_mb=config.max_upload_bytes / 1e6,
                                         token_required=bool(config.api_token)))


@router.get("/api/health", tags=["service"], response_model=Health, response_model_exclude_none=True,
            summary="Service, model and queue status")
def health(request: Request, store: Store = Depends(get_store), models: ModelHolder = Depends(get_models),
           worker: AnalysisWorker = Depends(get_worker)) -> dict[str, Any]:
    if not request.scope.get("state", {}).get("authorised", True):
        return {"status": "ok"}
    counts = {s: store.list(status=s, limit=0)[1] for s in STATUSES}
    return {"status": "ok", "version": version(), "model": models.info(), "queue": worker.pending,
            "analysing": worker.current, "calls": counts}


class SearchHit(BaseModel):
    call_id: str
    file_name: str
    uploaded_at: str | None = None
    start: float
    end: float
    role: str | None = None
    emotion: str | None = None
    confidence: float | None = None
    valence: float | None = None
    text: str | None = None


@router.get("/api/archive", tags=["calls"], response_class=HTMLResponse, summary="The archive view (HTML)",
            responses={200: {"content": {"text/html": {}}, "description": "the archive page, self-contained"},
                       401: ERRORS[401], 422: ERRORS[422]})
def archive(store: Store = Depends(get_store),
            fragment: bool = Query(False, description="only the page's body, for the dashboard")) -> Response:
    """All finished calls at a glance: calls over time, the share needing review and why, client
    trends, client valence at the end, emotions by role, the calls to look at first (linked to
    their reports) and, on the full page, a search over the transcripts it holds."""
    from ...report.archive import render_archive
    from ..aggregate import archive_frames

    # the links are relative: from /api/archive to /api/calls/..., from the dashboard (/) to api/calls/...
    calls, segments = archive_frames(store, report_prefix="api/" if fragment else "")
    return HTMLResponse(render_archive(calls, segments, title="Call archive", fragment=fragment,
                                       source="callemo service database"))


@router.get("/api/search", tags=["calls"], response_model=list[SearchHit], summary="Search the transcripts",
            responses={401: ERRORS[401], 422: ERRORS[422]})
def search(store: Store = Depends(get_store),
           q: str | None = Query(None, max_length=200, description="words the segment's transcript contains "
                                                                   "(case-insensitive)"),
           role: str | None = Query(None, max_length=32, description="agent | client | unknown"),
           emotion: str | None = Query(None, max_length=32, description="e.g. angry"),
           limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    """Segments of finished calls by words of their transcript (``--transcribe``), role and emotion;
    newest calls first, e.g. ``?q=cancel&role=client&emotion=angry``."""
    from ..aggregate import search_segments

    return search_segments(store, q, role=role, emotion=emotion, limit=limit)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("callemo")
    except PackageNotFoundError:
        return "0"


def render_dashboard(**context: Any) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parents[1] / "templates")),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    return env.get_template("dashboard.html.j2").render(**context)
