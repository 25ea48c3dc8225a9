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

Uploaded calls are analysed one at a time by a background worker thread that loads the model
once; calls left queued or running by a previous process are analysed again at start-up.

With ``api_token`` set (``callemo serve --token`` or ``$CALLEMO_API_TOKEN``) every ``/api/`` route
and the stream need it, as ``Authorization: Bearer TOKEN``, ``X-API-Key: TOKEN`` or ``?token=TOKEN``
(for links and the WebSocket); without it they answer 401 (the stream closes with 1008).
``/api/health`` stays open for load balancers but then says only ``{"status": "ok"}``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import shutil
import tempfile
import threading
import traceback
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Optional

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..errors import CallemoError
from .storage import DEFAULT_DB, STATUSES, Store

log = logging.getLogger("callemo.service")

#: extensions accepted for upload (what callemo.io reads)
UPLOAD_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au", ".sph")
DEFAULT_MAX_UPLOAD_MB = 200.0
MAX_STREAM_FRAME = 1 << 20  # bytes of one WebSocket audio frame


class ModelHolder:
    """Loads the emotion model once (lazily, thread-safe) and remembers why it failed."""

    def __init__(self, model_dir: str | os.PathLike | None = None, model: Any = None):
        self.model_dir = None if model_dir is None else str(model_dir)
        self._model = model
        self.error: str | None = None
        self._lock = threading.Lock()

    def get(self):
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                from ..models.base import load_model

                try:
                    self._model = load_model(self.model_dir)
                    self.error = None
                except CallemoError as e:
                    self.error = str(e)
                    raise
                except Exception as e:  # noqa: BLE001
                    self.error = f"{type(e).__name__}: {e}"
                    raise CallemoError(f"the emotion model cannot be loaded ({self.error})") from e
        return self._model

    def info(self) -> dict[str, Any]:
        m = self._model
        if m is None:
            return {"loaded": False, "path": self.model_dir or "default", "error": self.error}
        card = getattr(m, "card", {}) or {}
        return {"loaded": True, "path": self.model_dir or "default", "type": getattr(m, "model_type", card.get("type")),
                "labels": [str(x) for x in m.labels], "sample_rate": int(m.sample_rate), "error": None}


class AnalysisWorker:
    """One background thread analysing queued calls in order with one model."""

    def __init__(self, store: Store, models: ModelHolder, *, audio_embed_max: float = 1800.0):
        self.store = store
        self.models = models
        self.audio_embed_max = audio_embed_max
        self.queue: "queue.Queue[str | None]" = queue.Queue()
        self.current: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="callemo-analysis", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        t = self._thread
        if t is not None and t.is_alive():
            self.queue.put(None)
            t.join(timeout)
        self._thread = None

    def submit(self, call_id: str) -> None:
        self.start()
        self.queue.put(call_id)

    @property
    def pending(self) -> int:
        return self.queue.qsize()

    def _run(self) -> None:
        while True:
            call_id = self.queue.get()
            if call_id is None:
                return
            self.current = call_id
            try:
                self.process(call_id)
            except Exception:  # noqa: BLE001 - the worker never dies
                log.exception("analysis of %s crashed", call_id)
            finally:
                self.current = None

    def process(self, call_id: str) -> None:
        call = self.store.get(call_id)
        if call is None or call["status"] != "queued" and call["status"] != "running":
            return
        audio = self.store.audio_path(call_id)
        if audio is None:
            self.store.update(call_id, status="failed", error="the uploaded recording is missing from storage",
                              finished_at=_utcnow())
            return
        self.store.update(call_id, status="running", started_at=_utcnow(), error=None)
        opts = call.get("options") or {}
        try:
            from ..analyze.batch import write_outputs
            from ..analyze.pipeline import analyze_file

            model = self.models.get()
            result = analyze_file(audio, model=model, channels=opts.get("channels"),
                                  speakers=opts.get("speakers", 2), first_speaker=opts.get("first_speaker", "agent"))
            if self.store.get(call_id) is None:  # deleted while running
                return
            # the report embeds the audio (read from the stored file, which keeps the uploaded name)
            mode = "embed" if result.duration <= self.audio_embed_max else "none"
            write_outputs(result, self.store.results_dir, call_id, audio=mode)
            doc = self.store.result(call_id) or result.to_dict()
            doc["file"] = call["file_name"]  # the name the user knows, not the storage path
            (self.store.result_path(call_id, "json")).write_text(json.dumps(doc, indent=1, allow_nan=False),
                                                                 encoding="utf-8")
            s = doc["summary"]
            try:
                self.store.update(call_id, status="done", duration=doc["duration"], summary=s,
                                  needs_review=bool(s.get("needs_review")),
                                  review_reason="; ".join(s.get("review_reasons") or []) or None,
                                  finished_at=_utcnow())
                self.store.set_segments(call_id, doc["segments"])
            except Exception as e:  # noqa: BLE001 - deleted while it was analysed: leave nothing behind
                if self.store.get(call_id) is None:
                    self.store.delete_files(call_id)
                    return
                raise e
        except CallemoError as e:
            self._fail(call_id, str(e).replace(str(audio), call["file_name"]))
        except Exception as e:  # noqa: BLE001
            log.error("analysis of %s failed:\n%s", call_id, traceback.format_exc())
            self._fail(call_id, f"{type(e).__name__}: {e}")

    def _fail(self, call_id: str, message: str) -> None:
        if self.store.get(call_id) is not None:
            self.store.update(call_id, status="failed", error=message, finished_at=_utcnow())


class UploadError(ValueError):
    """A bad upload; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"upload too large: more than {max_bytes / 1e6:.0f} MB "
                              f"(the limit of this server, --max-upload-mb)")


def _upload_route(max_bytes: int) -> type[APIRoute]:
    """The upload route: refuses a body over ``max_bytes`` (plus form overhead) before FastAPI
    parses the form, by its Content-Length or, for a chunked body, as soon as it passes the limit;
    an url-encoded body (curl --data-binary without a Content-Type) is refused with a clear 415."""
    limit = max_bytes + 64 * 1024

    class UploadRoute(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise HTTPException(413, f"upload too large: {int(declared) / 1e6:.1f} MB, more than the "
                                             f"{max_bytes / 1e6:.0f} MB this server accepts (--max-upload-mb)")
                if request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
                    raise HTTPException(415, "send the recording as multipart/form-data (field 'file') or as the "
                                             "raw body with an audio Content-Type (e.g. audio/wav), not url-encoded")
                received = 0

                async def receive():
                    nonlocal received
                    message = await request.receive()
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _too_large(max_bytes)
                    return message

                return await handler(Request(request.scope, receive))

            return limited

    return UploadRoute


async def _spool(chunks: AsyncIterator[bytes], directory: Path, max_bytes: int) -> tuple[Path, int]:
    """Write the chunks to a temporary file in ``directory``; 413 as soon as they pass ``max_bytes``."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=directory)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                f.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), size


async def _file_chunks(file: UploadFile, size: int = 1 << 20) -> AsyncIterator[bytes]:
    while chunk := await file.read(size):
        yield chunk


def _utcnow():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# -- option parsing ------------------------------------------------------------------------------
def parse_options(channels: Optional[str], speakers: Optional[str], first_speaker: Optional[str]) -> dict[str, Any]:
    """Check upload options; raise ValueError with a clear message."""
    opts: dict[str, Any] = {"channels": None, "speakers": 2, "first_speaker": "agent"}
    if channels:
        c = channels.strip().lower()
        if c == "mono":
            opts["channels"] = "mono"
        else:
            names = [x.strip() for x in c.split(",") if x.strip()]
            if not names or any(n not in ("agent", "client") for n in names) or len(set(names)) != len(names):
                raise ValueError(f"channels names the stereo channels in order with agent/client, e.g. "
                                 f"'agent,client', or is 'mono' (got {channels!r})")
            opts["channels"] = names
    if speakers not in (None, ""):
        s = str(speakers).strip().lower()
        if s == "auto":
            opts["speakers"] = "auto"
        else:
            try:
                n = int(s)
            except ValueError:
                raise ValueError(f"speakers must be a number or 'auto', not {speakers!r}") from None
            if not 1 <= n <= 10:
                raise ValueError(f"speakers must be between 1 and 10, not {n}")
            opts["speakers"] = n
    if first_speaker not in (None, ""):
        if first_speaker not in ("agent", "client"):
            raise ValueError(f"first_speaker must be 'agent' or 'client', not {first_speaker!r}")
        opts["first_speaker"] = first_speaker
    return opts


def _bool_param(v: Optional[str], name: str) -> Optional[bool]:
    if v is None or v == "":
        return None
    s = v.strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {v!r}")


# -- access token ---------------------------------------------------------------------------------
TOKEN_HINT = "send it as 'Authorization: Bearer TOKEN', 'X-API-Key: TOKEN' or '?token=TOKEN'"


def presented_token(headers: Any, query: Any) -> Optional[str]:
    """The token a request (or WebSocket handshake) carries: bearer header, X-API-Key, or ?token=."""
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key") or query.get("token")


def token_ok(expected: Optional[str], headers: Any, query: Any) -> bool:
    if not expected:
        return True
    got = presented_token(headers, query)
    return got is not None and secrets.compare_digest(got.encode(), expected.encode())


# -- the application -----------------------------------------------------------------------------
def create_app(
    db_url: str = DEFAULT_DB,
    storage_dir: str | os.PathLike = "callemo-storage",
    model_dir: str | os.PathLike | None = None,
    *,
    model: Any = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    start_worker: bool = True,
    api_token: Optional[str] = None,
):
    """The FastAPI application. ``model``: an already loaded ``EmotionModel`` (overrides
    ``model_dir``); ``max_upload_mb``: the largest accepted upload; ``start_worker=False`` leaves
    uploads queued (for tests and read-only front ends); ``api_token``: the token every API call
    and the stream must present (None: open, for a service bound to localhost)."""
    from .streaming import StreamAnalyzer, StreamError, parse_config

    store = Store(db_url, storage_dir)
    models = ModelHolder(model_dir, model)
    worker = AnalysisWorker(store, models)
    max_bytes = int(max_upload_mb * 1e6)

    def _resume() -> None:
        for cid in store.ids_with_status(["queued", "running"]):
            store.update(cid, status="queued")
            worker.submit(cid)

    @asynccontextmanager
    async def lifespan(app):
        if start_worker:
            worker.start()
            _resume()
        yield
        worker.stop(timeout=5.0)

    app = FastAPI(
        title="callemo service",
        description="Emotional timelines for call-center recordings: upload calls, get per-segment emotions, "
                    "valence/arousal curves, summaries and reports; stream live calls for real-time alerts.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.store, app.state.models, app.state.worker = store, models, worker
    app.state.start_worker = start_worker
    api_token = api_token or None

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        ok = token_ok(api_token, request.headers, request.query_params)
        request.state.authorised = ok
        if not ok and request.url.path.startswith("/api/") and request.url.path != "/api/health":
            return JSONResponse({"detail": f"missing or wrong API token: {TOKEN_HINT}"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    def _call_or_404(call_id: str) -> dict[str, Any]:
        c = store.get(call_id)
        if c is None:
            raise HTTPException(404, f"no call with id {call_id!r}")
        return c

    # -- health ---------------------------------------------------------------------------------
    @app.get("/api/health", tags=["service"], summary="Service, model and queue status")
    def health(request: Request) -> dict[str, Any]:
        if not getattr(request.state, "authorised", True):
            return {"status": "ok"}
        counts = {s: store.list(status=s, limit=0)[1] for s in STATUSES}
        return {"status": "ok", "version": _version(), "model": models.info(), "queue": worker.pending,
                "analysing": worker.current, "calls": counts}

    # -- upload ---------------------------------------------------------------------------------
    upload_doc = {
        "requestBody": {
            "required": True,
            "content": {
                "audio/*": {"schema": {"type": "string", "format": "binary"},
                            "description": "the recording as the raw body; name and options as query parameters"},
            },
        }
    }

    async def upload(request: Request,
                     file: Optional[UploadFile] = File(None, description="WAV, FLAC or MP3 recording"),
                     form_channels: Optional[str] = Form(None, alias="channels", description="stereo channel roles in order, e.g. 'agent,client' (default: channel 0 = agent), or 'mono'"),
                     form_speakers: Optional[str] = Form(None, alias="speakers", description="speakers in a mono call: a number or 'auto' (default 2)"),
                     form_first_speaker: Optional[str] = Form(None, alias="first_speaker", description="role of whoever talks first in a mono call: agent | client"),
                     filename: Optional[str] = Query(None, description="file name (raw body uploads)"),
                     channels: Optional[str] = Query(None), speakers: Optional[str] = Query(None),
                     first_speaker: Optional[str] = Query(None)) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        tmp_dir = store.storage_dir / "tmp"
        audio_tmp = None
        try:
            try:
                if ctype.lower().startswith("multipart/form-data"):
                    if file is None:
                        raise UploadError(400, "no file in the upload: send the recording in the form field 'file'")
                    audio_tmp, size = await _spool(_file_chunks(file), tmp_dir, max_bytes)
                    name = file.filename or "upload"
                    fields = {k: v for k, v in (("channels", form_channels), ("speakers", form_speakers),
                                                ("first_speaker", form_first_speaker)) if v is not None}
                else:
                    audio_tmp, size = await _spool(request.stream(), tmp_dir, max_bytes)
                    name = filename or "upload"
                    fields = {}
                name = Path(str(name).replace("\\", "/")).name.strip()
                if name in ("", ".", ".."):
                    name = "upload"
                try:
                    opts = parse_options(fields.get("channels", channels), fields.get("speakers", speakers),
                                         fields.get("first_speaker", first_speaker))
                except ValueError as e:
                    raise UploadError(422, str(e)) from None
                if size == 0:
                    raise UploadError(400, f"{name}: the uploaded file is empty (0 bytes)")
                ext = Path(name).suffix.lower()
                if not ext and not ctype.lower().startswith("multipart"):
                    ext = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/flac": ".flac",
                           "audio/x-flac": ".flac", "audio/mpeg": ".mp3", "audio/mp3": ".mp3"}.get(ctype.split(";")[0].strip().lower(), "")
                if ext not in UPLOAD_EXTENSIONS:
                    raise UploadError(415, f"{name}: unsupported file type {ext or '(no extension)'!r}; upload a "
                                           f"WAV, FLAC or MP3 recording ({', '.join(UPLOAD_EXTENSIONS)})")
                info = await run_in_threadpool(_check_audio, audio_tmp, ext, name)
            except UploadError as e:
                raise HTTPException(e.status, e.message) from None
            call = store.add(name, options=opts)
            dest = store.audio_dir / call["id"] / (Path(name).stem + ext if Path(name).suffix.lower() == ext else name + ext)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(audio_tmp), dest)
            audio_tmp = None
            call = store.update(call["id"], duration=round(info.duration, 3))
            if start_worker:
                worker.submit(call["id"])
            return JSONResponse(call, status_code=202, headers={"Location": f"/api/calls/{call['id']}"})
        finally:
            if audio_tmp is not None:
                Path(audio_tmp).unlink(missing_ok=True)

    app.router.add_api_route("/api/calls", upload, methods=["POST"], status_code=202, tags=["calls"],
                             summary="Upload a call recording for analysis", openapi_extra=upload_doc,
                             route_class_override=_upload_route(max_bytes))

    # -- browse ---------------------------------------------------------------------------------
    @app.get("/api/calls", tags=["calls"], summary="List calls, newest first")
    def list_calls(needs_review: Optional[str] = Query(None, description="true | false"),
                   status: Optional[str] = Query(None, description="queued | running | done | failed"),
                   limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        try:
            nr = _bool_param(needs_review, "needs_review")
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        if status is not None and status not in STATUSES:
            raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        items, total = store.list(needs_review=nr, status=status, limit=limit, offset=offset)
        for it in items:
            it["client_trend"] = ((it.get("summary") or {}).get("client_trend") or {}).get("direction")
            it.pop("summary", None)
            it.pop("options", None)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.get("/api/calls/{call_id}", tags=["calls"], summary="A call and (once done) its analysis JSON")
    def get_call(call_id: str) -> dict[str, Any]:
        c = _call_or_404(call_id)
        c["result"] = store.result(call_id) if c["status"] == "done" else None
        return c

    @app.get("/api/calls/{call_id}/segments", tags=["calls"], summary="A call's analysed segments")
    def get_segments(call_id: str) -> list[dict[str, Any]]:
        _call_or_404(call_id)
        return store.segments(call_id)

    @app.get("/api/calls/{call_id}/report", tags=["calls"], response_class=HTMLResponse,
             summary="The call's HTML report (summary, plot, segment table, audio player)")
    def get_report(call_id: str):
        c = _call_or_404(call_id)
        if c["status"] != "done":
            raise HTTPException(409, f"call {call_id} is {c['status']}: the report is ready when its status is done"
                                + (f" ({c['error']})" if c.get("error") else ""))
        p = store.result_path(call_id, "html")
        if not p.exists():
            raise HTTPException(404, f"call {call_id} has no HTML report"
                                + (" (live calls are reported as JSON only)" if c.get("source") == "stream" else ""))
        return HTMLResponse(p.read_text(encoding="utf-8"))

    @app.get("/api/calls/{call_id}/audio", tags=["calls"], summary="The uploaded recording")
    def get_audio(call_id: str):
        c = _call_or_404(call_id)
        p = store.audio_path(call_id)
        if p is None:
            raise HTTPException(404, f"call {call_id} has no stored recording")
        return FileResponse(p, filename=c["file_name"])

    @app.delete("/api/calls/{call_id}", status_code=204, tags=["calls"], summary="Delete a call and its files")
    def delete_call(call_id: str):
        if not store.delete(call_id):
            raise HTTPException(404, f"no call with id {call_id!r}")
        return Response(status_code=204)

    # -- dashboard ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard():
        return HTMLResponse(render_dashboard(max_upload_mb=max_upload_mb))

    # -- live stream ----------------------------------------------------------------------------
    @app.websocket("/api/stream")
    async def stream(ws: WebSocket):
        if not token_ok(api_token, ws.headers, ws.query_params):
            await ws.accept()
            await ws.send_json({"type": "error", "message": f"missing or wrong API token: {TOKEN_HINT}"})
            await ws.close(code=1008)
            return
        await ws.accept()
        sa = None
        cfg: dict[str, Any] = {}
        try:
            first = await ws.receive()
            if first.get("type") == "websocket.disconnect":
                return
            try:
                text = first.get("text")
                if text is None:
                    raise StreamError("send the JSON configuration first, e.g. "
                                      '{"sample_rate": 16000, "channels": ["agent", "client"]}')
                try:
                    raw = json.loads(text)
                except json.JSONDecodeError as e:
                    raise StreamError(f"the configuration is not valid JSON ({e})") from None
                cfg = parse_config(raw)
                model = await run_in_threadpool(models.get)
                sa = StreamAnalyzer(model, cfg["sample_rate"], cfg["channels"], alerts=cfg["alerts"],
                                    settings=cfg["settings"])
            except CallemoError as e:
                await ws.send_json({"type": "error", "message": str(e)})
                await ws.close(code=1008 if isinstance(e, StreamError) else 1011)
                return
            await ws.send_json({"type": "ready", "sample_rate": sa.sr, "channels": sa.names, "labels": sa.labels,
                                "alerts": sa.alerts.to_dict(), "settings": _asdict(sa.settings),
                                "model": models.info()})
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect":
                    break
                data = msg.get("bytes")
                if data is not None:
                    if len(data) > MAX_STREAM_FRAME:
                        await ws.send_json({"type": "error", "message": f"audio frame of {len(data)} bytes is larger "
                                                                         f"than {MAX_STREAM_FRAME}; send smaller chunks"})
                        await ws.close(code=1009)
                        return
                    for ev in await run_in_threadpool(sa.push, data):
                        await ws.send_json(ev)
                    continue
                text = msg.get("text") or ""
                try:
                    ctl = json.loads(text)
                except json.JSONDecodeError:
                    ctl = {"type": text.strip()}
                if isinstance(ctl, dict) and ctl.get("type") in ("end", "stop", "close"):
                    for ev in await run_in_threadpool(sa.close):
                        await ws.send_json(ev)
                    if cfg.get("store"):
                        cid = await run_in_threadpool(_store_stream, store, sa, cfg["name"])
                        await ws.send_json({"type": "stored", "id": cid})
                    await ws.close(code=1000)
                    return
                await ws.send_json({"type": "error", "message": "after the configuration send binary 16-bit PCM "
                                                                "frames, or {\"type\": \"end\"} to finish"})
        except WebSocketDisconnect:
            pass
        # the client went away without "end": keep what was analysed if asked to
        if sa is not None and not sa.closed:
            await run_in_threadpool(sa.close)
            if cfg.get("store") and sa.records:
                await run_in_threadpool(_store_stream, store, sa, cfg["name"])

    return app


def _asdict(obj) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


def _check_audio(path: Path, ext: str, name: str):
    """Audio info of an uploaded file (renamed with its extension so decoders recognise it)."""
    from ..io import AudioError, audio_info

    probe = path.with_name(path.name + ext)
    os.replace(path, probe)
    try:
        try:
            info = audio_info(probe)
        except AudioError as e:
            raise UploadError(415, f"{name}: not a readable audio file ({e.problem.replace(str(probe), name)})") from None
        except Exception as e:  # noqa: BLE001
            raise UploadError(415, f"{name}: not a readable audio file ({type(e).__name__}: {str(e).replace(str(probe), name)})") from None
        if info.frames == 0:
            raise UploadError(400, f"{name}: the recording contains no audio samples")
    finally:
        os.replace(probe, path)
    return info


def _store_stream(store: Store, sa, name: str) -> str:
    """Keep a finished live call: a 'stream' call row with its segments and summary JSON."""
    summary_ev = sa.summary()
    s = summary_ev["summary"]
    call = store.add(name, source="stream", status="done")
    cid = call["id"]
    segs = [{k: r[k] for k in ("start", "end", "speaker", "role", "channel", "emotion", "confidence",
                               "probabilities", "valence", "arousal")} for r in sa.records]
    doc = {"file": name, "source": "stream", "duration": summary_ev["duration"], "sample_rate": sa.sr,
           "channels": len(sa.names), "segments": segs, "summary": s, "n_alerts": sa.n_alerts}
    store.result_path(cid, "json").write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")
    store.set_segments(cid, segs)
    store.update(cid, duration=summary_ev["duration"], summary=s, needs_review=bool(s.get("needs_review")),
                 review_reason="; ".join(s.get("review_reasons") or []) or None, finished_at=_utcnow())
    return cid


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("callemo")
    except Exception:  # noqa: BLE001
        return "0"


def render_dashboard(**context: Any) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    return env.get_template("dashboard.html.j2").render(**context)
