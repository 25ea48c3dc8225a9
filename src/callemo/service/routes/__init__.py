"""The service's routes, one router per concern: ``calls`` (upload, browse, delete), ``stream``
(the live WebSocket), ``dashboard`` (the page and the health check)."""

from __future__ import annotations

from . import calls, dashboard, stream

__all__ = ["calls", "dashboard", "stream"]
