"""``callemo serve``: the web service (API, live streaming, dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, console, friendly_errors


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (0.0.0.0 = every interface)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port"),
    db: str = typer.Option("sqlite:///callemo.db", "--db", help="SQLAlchemy database URL"),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="model directory (default: the model shipped with callemo)"),
    storage: Path = typer.Option(Path("callemo-storage"), "--storage", help="folder for uploaded recordings and results"),
    max_upload_mb: float = typer.Option(200.0, "--max-upload-mb", min=1.0, help="largest accepted upload, MB"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level"),
    token: Optional[str] = typer.Option(None, "--token", envvar="CALLEMO_API_TOKEN", show_default=False,
                                        help="API token every /api/ call and the stream must present "
                                             "(Authorization: Bearer TOKEN; the dashboard takes it as /?token=TOKEN); "
                                             "default $CALLEMO_API_TOKEN"),
) -> None:
    """Run the web service: upload and browse analysed calls, live call streaming with alerts, and a
    dashboard at http://HOST:PORT/ (API docs at /docs)."""
    from ..errors import CallemoError

    try:
        import uvicorn
    except ImportError as e:
        raise CallemoError(f"callemo serve needs the service extras: pip install 'callemo[service]' ({e})") from None
    if model is not None:
        from ..models.base import read_card

        read_card(model)  # a bad --model is reported now, not at the first call
    from ..service.app import create_app

    if token is not None and len(token) < 8:
        raise CallemoError("--token: use at least 8 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning:[/] listening on {host} without --token: anyone who reaches this port can "
                      "read and delete calls (set --token or $CALLEMO_API_TOKEN)", highlight=False)
    application = create_app(db, storage, model, max_upload_mb=max_upload_mb, api_token=token)
    try:
        import websockets  # noqa: F401
    except ImportError:
        try:
            import wsproto  # noqa: F401
        except ImportError:
            console.print("[yellow]warning:[/] neither 'websockets' nor 'wsproto' is installed: uvicorn cannot "
                          "serve the live stream (/api/stream); pip install websockets", highlight=False)
    console.print(f"callemo service on http://{host}:{port}/ (API docs at /docs), database {db}, storage {storage}"
                  + (", API token required" if token else ""), highlight=False)
    uvicorn.run(application, host=host, port=port, log_level=log_level)
