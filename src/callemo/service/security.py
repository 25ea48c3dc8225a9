"""What the service lets in and what it gives away: allowed hosts and origins, security headers,
and the redaction of tokens from the logs.

* **Hosts**: only requests whose ``Host`` is an allowed host are served (Starlette's
  ``TrustedHostMiddleware``; default ``localhost``, ``127.0.0.1``, ``::1``), which stops DNS
  rebinding: a web page whose name resolves to 127.0.0.1 still sends its own name as the host.
* **Origins**: a browser's cross-site ``POST``/``DELETE`` and WebSocket carry an ``Origin`` header;
  one whose host is not allowed is refused (403, or the stream's error event and code 1008).
  Clients that send no ``Origin`` (curl, scripts) are not browsers and pass.
* **Headers** on every answer: a Content-Security-Policy (own resources only, no framing),
  ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``.
* **Logs**: ``token=...`` in a logged URL is replaced by ``token=[redacted]``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1")
#: the pages and answers of the service use their own resources only (inline script and style
#: of the one-file dashboard and reports, data: images and audio)
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; media-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: FastAPI's /docs and /redoc load Swagger UI / ReDoc from a CDN
CSP_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def allowed_hosts(extra: Iterable[str] = (), bind_host: str | None = None) -> list[str]:
    """The default local names, the host the service binds to (unless a wildcard address) and
    ``extra`` (``--allowed-host``; ``*.example.com`` patterns and ``*`` work as in Starlette)."""
    hosts = list(DEFAULT_ALLOWED_HOSTS)
    if bind_host and bind_host not in ("0.0.0.0", "::", ""):
        hosts.append(bind_host)
    hosts += [h.strip() for h in extra if h and h.strip()]
    out: list[str] = []
    for h in hosts:
        h = h.lower()
        for form in (h, f"[{h}]") if ":" in h and not h.startswith("[") else (h,):
            if form not in out:
                out.append(form)
    return out


def host_allowed(host: str | None, patterns: Sequence[str]) -> bool:
    """Whether ``host`` (a bare host name, no port) matches one of ``patterns`` (as Starlette does)."""
    if not host:
        return False
    host = host.lower()
    return any(p in ("*", host) or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)


def origin_allowed(origin: str | None, patterns: Sequence[str]) -> bool:
    """A request without ``Origin`` (not a browser) passes; a browser's must come from an allowed host."""
    if origin is None:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    return host is not None and (host_allowed(host, patterns) or host_allowed(f"[{host}]", patterns))


class SecurityMiddleware:
    """Refuses cross-origin unsafe HTTP requests and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str]):
        self.app = app
        self.hosts = list(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        csp = CSP_DOCS if scope.get("path") in DOCS_PATHS else CSP
        extra = [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                 (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
        if scope.get("method") in UNSAFE_METHODS and not origin_allowed(origin, self.hosts):
            body = json.dumps({"detail": "cross-origin request refused: the page that sent it is not served "
                                         "from an allowed host (callemo serve --allowed-host)"}).encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), *extra]})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [(k, v) for k, v in extra if k not in have]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- logs -------------------------------------------------------------------------------------------
_TOKEN_RE = re.compile(r"(?i)((?:^|[?&;\s])(?:token|api_key|access_token)=)[^&\s\"']*")


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``[redacted]``."""
    return _TOKEN_RE.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """A logging filter that redacts ``token=`` from a record's message and arguments (uvicorn's
    access log writes the full URL, query string included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


#: loggers that may write a request's URL: uvicorn's access log, and its error log (WebSocket lines)
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "callemo.service")


def install_log_redaction() -> None:
    """Add :class:`RedactTokens` to the loggers that may see a URL (idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
