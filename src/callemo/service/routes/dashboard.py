"""``/``: the dashboard page (and its token login), and ``/api/health``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..auth import TOKEN_COOKIE, token_ok
from ..deps import ServiceConfig, get_config, get_models, get_store, get_worker
from ..schemas import Health
from ..storage import STATUSES, Store
from ..worker import AnalysisWorker, ModelHolder

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
