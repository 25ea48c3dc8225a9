"""``callemo serve``: the web service (API, live streaming, dashboard)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, friendly_errors


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (0.0.0.0 = every interface)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port"),
    db: str = typer.Option("sqlite:///callemo.db", "--db",
                           help="SQLAlchemy database URL: sqlite:///FILE, or postgresql+psycopg://USER@HOST/DB for "
                                "several service processes sharing one database (schema created/upgraded at start)"),
    model: Path | None = typer.Option(None, "--model", "-m",
                                      help="model directory (default: the model shipped with callemo)"),
    storage: Path = typer.Option(Path("callemo-storage"), "--storage",
                                 help="folder for uploaded recordings and results (created 0700)"),
    max_upload_mb: float = typer.Option(200.0, "--max-upload-mb", min=1.0, help="largest accepted upload, MB"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level"),
    token: str | None = typer.Option(None, "--token", envvar="CALLEMO_API_TOKEN", show_default=False,
                                     help="API token every /api/ call and the stream must present "
                                          "(Authorization: Bearer TOKEN; open the dashboard once as /?token=TOKEN); "
                                          "default $CALLEMO_API_TOKEN"),
    allowed_host: list[str] = typer.Option([], "--allowed-host", show_default=False,
                                           help="a host name clients use to reach the service (repeatable; "
                                                "'*.example.com' patterns work). localhost, 127.0.0.1, ::1 and "
                                                "--host are always allowed; other Host headers get 400"),
    scheduler: str | None = typer.Option(None, "--scheduler", show_default=False,
                                         help="analyse uploads on a Dask cluster: tcp://HOST:PORT (a running "
                                              "scheduler; its workers must see --storage at the same path) or local:N "
                                              "(a local cluster of N workers); default: one thread in this process"),
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
    from ..service.security import allowed_hosts

    if token is not None and len(token) < 8:
        raise CallemoError("--token: use at least 8 characters "
                           "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning:[/] listening on {host} without --token: anyone who reaches this port can "
                      "read and delete calls (set --token or $CALLEMO_API_TOKEN)", highlight=False)
    hosts = allowed_hosts(allowed_host, bind_host=host)
    if host in ("0.0.0.0", "::") and not allowed_host:
        console.print(f"[yellow]note:[/] listening on every interface, but only the host names {', '.join(hosts)} are "
                      "answered: add the names clients use with --allowed-host", highlight=False)
    if scheduler is not None:
        from ..analyze.cluster import parse_scheduler

        parse_scheduler(scheduler)  # a malformed --scheduler is reported now; an unreachable one at start-up
        storage = storage.resolve()  # the cluster's workers open the uploads by their absolute path
    application = create_app(db, storage, model, max_upload_mb=max_upload_mb, api_token=token, allowed_hosts=hosts,
                             scheduler=scheduler)
    try:
        import websockets  # noqa: F401
    except ImportError:
        try:
            import wsproto  # noqa: F401
        except ImportError:
            console.print("[yellow]warning:[/] neither 'websockets' nor 'wsproto' is installed: uvicorn cannot "
                          "serve the live stream (/api/stream); pip install websockets", highlight=False)
    from sqlalchemy.engine import make_url

    shown_db = make_url(db).render_as_string(hide_password=True)  # no database password on the console
    console.print(f"callemo service on http://{host}:{port}/ (API docs at /docs), database {shown_db}, "
                  f"storage {storage}"
                  + (f", analyses on the Dask cluster {scheduler}" if scheduler else "")
                  + (", API token required" if token else ""), highlight=False)
    uvicorn.run(application, host=host, port=port, log_level=log_level)
