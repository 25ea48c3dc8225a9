"""The service's error answers: always JSON ``{"detail": "<one line naming the problem>"}``.

* A request that breaks its route's schema (422) gets one line naming each bad parameter, not
  FastAPI's list of error objects (and never the offending value: it may be huge).
* A method a path does not have (405) lists, in ``Allow``, every method the path has.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

#: what a parameter with a pattern accepts, for the 422 message
PATTERN_HELP = {
    "channels": "'agent,client', 'client,agent' or 'mono'",
    "speakers": "a number from 1 to 10 or 'auto'",
}


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path", "header", "cookie")]
        name = ".".join(loc)
        if err.get("type") == "string_pattern_mismatch" and loc and loc[-1] in PATTERN_HELP:
            msg = f"must be {PATTERN_HELP[loc[-1]]}"
        else:
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{name}: {msg}" if name else msg)
    return "invalid request: " + "; ".join(dict.fromkeys(parts))


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_message(exc)}, status_code=422)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    path = request.url.path
    methods = sorted({m for r in request.app.routes if isinstance(r, Route) and r.methods and r.path_regex.match(path)
                      for m in r.methods})
    return JSONResponse({"detail": f"method {request.method} not allowed here; allowed: {', '.join(methods)}"},
                        status_code=405, headers={"Allow": ", ".join(methods)})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
