"""The service's analysis worker: one background thread analysing uploaded calls in order with one
model (loaded once, lazily), and the start-up recovery of calls a crash left behind."""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
from typing import Any

from ..analyze.options import OptionsError, parse_options
from ..errors import CallemoError
from .storage import Store

log = logging.getLogger("callemo.service")

#: reports of calls up to this long embed the audio; longer ones have no player
AUDIO_EMBED_MAX = 1800.0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class ModelHolder:
    """Loads the emotion model once (lazily, thread-safe) and remembers why it failed."""

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, model: Any = None):
        self.model_dir = None if model_dir is None else str(model_dir)
        self._model = model
        self.error: str | None = None
        self._lock = threading.Lock()

    def get(self) -> Any:
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
                except Exception as e:
                    self.error = f"{type(e).__name__}: {e}"
                    raise CallemoError(f"the emotion model cannot be loaded ({self.error})") from e
        return self._model

    def info(self) -> dict[str, Any]:
        """What the health route says about the model (never a server path)."""
        m = self._model
        name = "default" if self.model_dir is None else os.path.basename(os.path.normpath(self.model_dir))
        if m is None:
            return {"loaded": False, "path": name, "error": self.error}
        card = getattr(m, "card", {}) or {}
        return {"loaded": True, "path": name, "type": getattr(m, "model_type", card.get("type")),
                "labels": [str(x) for x in m.labels], "sample_rate": int(m.sample_rate), "error": None}


class AnalysisWorker:
    """One background thread analysing queued calls in order with one model."""

    def __init__(self, store: Store, models: ModelHolder, *, audio_embed_max: float = AUDIO_EMBED_MAX):
        self.store = store
        self.models = models
        self.audio_embed_max = audio_embed_max
        self.queue: queue.Queue[str | None] = queue.Queue()
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

    def recover(self, *, requeue: bool = True) -> dict[str, int]:
        """At start-up: calls a previous process left ``queued`` or ``running`` are queued again
        (``requeue``) or marked failed; an upload without its recording is failed."""
        counts = {"requeued": 0, "failed": 0}
        for cid in self.store.ids_with_status(["queued", "running"]):
            if self.store.audio_path(cid) is None:
                self.store.update(cid, status="failed", finished_at=utcnow(),
                                  error="the uploaded recording was not stored (the service stopped during the upload)")
                counts["failed"] += 1
            elif requeue:
                self.store.update(cid, status="queued", started_at=None)
                self.submit(cid)
                counts["requeued"] += 1
            else:
                self.store.update(cid, status="failed", finished_at=utcnow(),
                                  error="the service stopped before this call was analysed; upload it again")
                counts["failed"] += 1
        return counts

    def _run(self) -> None:
        while True:
            call_id = self.queue.get()
            if call_id is None:
                return
            self.current = call_id
            try:
                self.process(call_id)
            except Exception:
                log.exception("analysis of call %s crashed", call_id)
                self._fail(call_id, "internal error while analysing this call (see the service log)")
            finally:
                self.current = None

    def process(self, call_id: str) -> None:
        call = self.store.get(call_id)
        if call is None or call["status"] not in ("queued", "running"):
            return
        audio = self.store.audio_path(call_id)
        if audio is None:
            self._fail(call_id, "the uploaded recording is missing from storage")
            return
        self.store.update(call_id, status="running", started_at=utcnow(), error=None)
        name = call["file_name"]
        try:
            from ..analyze.outputs import write_outputs
            from ..analyze.pipeline import analyze_file

            options = parse_options(call.get("options") or {})
            model = self.models.get()
            # named by the uploaded name: neither the JSON nor the report shows the storage path
            result = analyze_file(audio, model=model, options=options, file=name)
            if self.store.get(call_id) is None:  # deleted while running
                return
            mode = "embed" if result.duration <= self.audio_embed_max else "none"
            written = write_outputs(result, self.store.results_dir, call_id, audio=mode, audio_path=audio)
            self.store.protect(*written.values())
            doc = self.store.result(call_id)
            if doc is None:
                raise CallemoError("the analysis JSON was not written")
            s = doc["summary"]
            try:
                self.store.update(call_id, status="done", duration=doc["duration"], summary=s,
                                  needs_review=bool(s.get("needs_review")),
                                  review_reason="; ".join(s.get("review_reasons") or []) or None,
                                  finished_at=utcnow())
                self.store.set_segments(call_id, doc["segments"])
            except Exception:  # deleted while it was analysed: leave nothing behind
                if self.store.get(call_id) is None:
                    self.store.delete_files(call_id)
                    return
                raise
        except (CallemoError, OptionsError) as e:
            self._fail(call_id, str(e).replace(str(audio), name).replace(str(self.store.storage_dir), "<storage>"))
        except Exception as e:
            log.exception("analysis of call %s failed", call_id)
            self._fail(call_id, f"{type(e).__name__} while analysing this call (see the service log)")

    def _fail(self, call_id: str, message: str) -> None:
        if self.store.get(call_id) is not None:
            self.store.update(call_id, status="failed", error=message, finished_at=utcnow())
