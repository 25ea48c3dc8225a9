"""The service's API token: how a request presents it, and the middleware that requires it.

With a token set (``callemo serve --token`` or ``$CALLEMO_API_TOKEN``) every ``/api/`` route and
the stream need it, as ``Authorization: Bearer TOKEN``, ``X-API-Key: TOKEN``, the ``callemo_token``
cookie (set by the dashboard: open ``/?token=TOKEN`` once and the page redirects to ``/`` with an
HttpOnly, SameSite=Strict cookie, so no link carries the token) or ``?token=TOKEN`` (scripts; it is
redacted from the access log). ``/api/health`` stays open but then says only ``{"status": "ok"}``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_COOKIE = "callemo_token"
TOKEN_HINT = ("send it as 'Authorization: Bearer TOKEN' or 'X-API-Key: TOKEN' (or open the dashboard once as "
              "/?token=TOKEN)")
#: paths under /api/ that answer without the token
OPEN_PATHS = ("/api/health",)


def presented_token(headers: Mapping[str, str], query: Mapping[str, str],
                    cookies: Mapping[str, str] | None = None) -> str | None:
    """The token a request (or WebSocket handshake) carries: bearer header, X-API-Key, the
    dashboard's cookie, or ``?token=``."""
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key") or (cookies or {}).get(TOKEN_COOKIE) or query.get("token")


def token_ok(expected: str | None, presented: str | None) -> bool:
    """Whether ``presented`` is the expected token (always true without one); constant time."""
    if not expected:
        return True
    return presented is not None and secrets.compare_digest(presented.encode(), expected.encode())


def connection_token(conn: Any) -> str | None:
    """The token of a Starlette ``Request`` or ``WebSocket``."""
    return presented_token(conn.headers, conn.query_params, conn.cookies)


class TokenMiddleware:
    """Answers 401 to ``/api/`` HTTP requests without the token before anything reads their body;
    records ``scope["state"]["authorised"]`` for the routes (the stream checks its own)."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self.token = token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import HTTPConnection

        ok = token_ok(self.token, connection_token(HTTPConnection(scope)))
        scope.setdefault("state", {})["authorised"] = ok
        path = scope.get("path", "")
        if ok or not path.startswith("/api/") or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": f"missing or wrong API token: {TOKEN_HINT}"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
