"""``WS /api/stream``: live analysis over a WebSocket (protocol in docs/service.md).

The socket side of :class:`~callemo.service.streaming.StreamAnalyzer`: origin and token checks,
the validated configuration (:class:`~callemo.service.stream_config.StreamConfig`), PCM frames in,
JSON events out, and the end of the call. Whatever way a stream ends (``{"type": "end"}``, the
client closing or dropping, a frame too large) every audio frame the server received is analysed,
and the call is stored when asked; once the client is gone events are no longer sent, but the
frames it sent before are still read and processed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ...analyze.options import OptionsError
from ...errors import CallemoError
from ..auth import TOKEN_HINT, connection_token, token_ok
from ..deps import ServiceConfig, get_config, get_models, get_store
from ..security import origin_allowed
from ..storage import Store
from ..stream_config import StreamConfig, StreamError
from ..streaming import StreamAnalyzer
from ..worker import ModelHolder, utcnow

log = logging.getLogger("callemo.service")
router = APIRouter()

MAX_STREAM_FRAME = 1 << 20  # bytes of one WebSocket audio frame
CONTROL_HINT = 'after the configuration send binary 16-bit PCM frames, or {"type": "end"} to finish'


class EventSender:
    """Sends JSON events (never bare NaN) until the client is gone, then drops them quietly."""

    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.gone = False

    async def send(self, event: dict[str, Any]) -> None:
        if self.gone:
            return
        text = json.dumps(event, allow_nan=False)
        try:
            await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.gone = True

    async def send_all(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            await self.send(ev)

    async def close(self, code: int = 1000) -> None:
        if self.gone or self.ws.application_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.close(code=code)
        self.gone = True

    async def error(self, message: str, code: int) -> None:
        await self.send({"type": "error", "message": message})
        await self.close(code)


def _is_end(text: str) -> bool:
    try:
        ctl = json.loads(text)
    except ValueError:
        ctl = {"type": text.strip()}
    return isinstance(ctl, dict) and ctl.get("type") in ("end", "stop", "close")


@router.websocket("/api/stream")
async def stream(ws: WebSocket, store: Store = Depends(get_store), models: ModelHolder = Depends(get_models),
                 config: ServiceConfig = Depends(get_config)) -> None:
    await ws.accept()
    out = EventSender(ws)
    if not origin_allowed(ws.headers.get("origin"), config.allowed_hosts):
        await out.error("cross-origin stream refused: the page is not served from an allowed host "
                        "(callemo serve --allowed-host)", 1008)
        return
    if not token_ok(config.api_token, connection_token(ws)):
        await out.error(f"missing or wrong API token: {TOKEN_HINT}", 1008)
        return
    first = await ws.receive()
    if first["type"] == "websocket.disconnect":
        return
    try:
        cfg = StreamConfig.parse(first.get("text"))
    except StreamError as e:
        await out.error(str(e), 1008)
        return
    try:
        model = await run_in_threadpool(models.get)
    except CallemoError as e:
        await out.error(str(e), 1011)
        return
    try:
        sa = await run_in_threadpool(lambda: StreamAnalyzer.from_config(model, cfg))
    except (StreamError, OptionsError) as e:
        await out.error(str(e), 1008)
        return
    await out.send({"type": "ready", "sample_rate": sa.sr, "channels": sa.names, "labels": sa.labels,
                    "emotions": sa.options.emotions, "alerts": sa.alerts.model_dump(mode="json"),
                    "settings": sa.settings.model_dump(mode="json"), "model": models.info()})
    close_code, problem = 1000, None
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            data = msg.get("bytes")
            if data is not None:
                if len(data) > MAX_STREAM_FRAME:
                    close_code, problem = 1009, (f"audio frame of {len(data)} bytes is larger than "
                                                 f"{MAX_STREAM_FRAME}; send smaller chunks")
                    break
                await out.send_all(await run_in_threadpool(sa.push, data))
            elif _is_end(msg.get("text") or ""):
                break
            else:
                await out.send({"type": "error", "message": CONTROL_HINT})
    except Exception:
        log.exception("live stream failed")
        await out.error("internal error while analysing the stream", 1011)
        return
    # the end, however it came: analyse what is left of the received audio, then keep the call
    await out.send_all(await run_in_threadpool(sa.close))
    if cfg.store:
        cid = await run_in_threadpool(store_stream, store, sa, cfg.name)
        await out.send({"type": "stored", "id": cid})
    if problem:
        await out.error(problem, close_code)
    else:
        await out.close(close_code)


def store_stream(store: Store, sa: StreamAnalyzer, name: str) -> str:
    """Keep a finished live call: a ``stream`` call with its segments and summary JSON."""
    summary_ev = sa.summary()
    s = summary_ev["summary"]
    cid = uuid.uuid4().hex
    keys = ("start", "end", "speaker", "role", "channel", "emotion", "confidence", "probabilities", "valence",
            "arousal", "text")  # text: with transcripts
    segs: list[dict[str, Any]] = [{k: r[k] for k in keys if k in r} for r in sa.records]
    doc = {"file": name, "source": "stream", "duration": summary_ev["duration"], "sample_rate": sa.sr,
           "channels": len(sa.names), "segments": segs, "summary": s, "n_alerts": sa.n_alerts,
           "settings": sa.options.settings()}
    store.write_result(cid, doc)
    store.add(name, call_id=cid, source="stream", status="done", duration=summary_ev["duration"])
    store.set_segments(cid, segs)
    store.update(cid, summary=s, needs_review=bool(s.get("needs_review")),
                 review_reason="; ".join(s.get("review_reasons") or []) or None, finished_at=utcnow())
    return cid
