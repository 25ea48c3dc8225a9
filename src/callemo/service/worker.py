"""The service's analysis worker: one background thread taking queued calls from the database and
analysing them with one model (loaded once, lazily), or handing them to a Dask cluster; and the
start-up recovery of calls a crash left behind.

The queue is the ``calls`` table: the worker claims the oldest queued call
(:meth:`Store.claim <callemo.service.storage.Store.claim>`, safe between processes), keeps the
claim's lease alive with a heartbeat while it analyses, and stores the outcome only while it
still holds the claim. So several service processes can share one database without analysing a
call twice, and a call whose process died is taken again once its lease lapses. An upload
submits its call as a wake-up hint; without one the worker looks at the table every ``poll_s``
seconds (calls uploaded through another process)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ..analyze.options import OptionsError, parse_options
from ..errors import CallemoError
from .storage import Store

log = logging.getLogger("callemo.service")

#: reports of calls up to this long embed the audio; longer ones have no player
AUDIO_EMBED_MAX = 1800.0
#: how long a claim holds without a heartbeat (s); the heartbeat renews it every third of that
LEASE_S = 60.0
#: how often an idle worker looks for calls queued by other processes (s)
POLL_S = 2.0


def embed_mode(duration: float, limit: float) -> str:
    """The report's audio player: the recording embedded up to ``limit`` seconds, none beyond."""
    return "embed" if duration <= limit else "none"


def owner_is_dead(owner: str) -> bool:
    """Whether a worker name (``host:pid:random``) names a process of this machine that no longer runs."""
    host_pid, _, _random = owner.rpartition(":")
    host, _, pid = host_pid.rpartition(":")
    if not pid.isdigit() or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


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
    """One background thread analysing queued calls, oldest first, one at a time.

    ``scheduler``: None analyses in this process with ``models``; ``"tcp://HOST:PORT"`` (a Dask
    scheduler) or ``"local:N"`` (a Dask ``LocalCluster`` of N workers) hands each analysis to the
    cluster (:mod:`callemo.analyze.cluster`; its workers must see the storage folder at the same
    path) and stores the JSON document it returns. ``name`` identifies this worker in the
    database's ``claimed_by`` (default ``host:pid:random``)."""

    def __init__(self, store: Store, models: ModelHolder, *, audio_embed_max: float = AUDIO_EMBED_MAX,
                 scheduler: str | None = None, lease_s: float = LEASE_S, poll_s: float = POLL_S,
                 name: str | None = None):
        self.store = store
        self.models = models
        self.audio_embed_max = audio_embed_max
        self.scheduler = scheduler
        self.lease_s = float(lease_s)
        self.poll_s = float(poll_s)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.current: str | None = None
        #: the calls this worker analysed and stored, in order
        self.analysed: list[str] = []
        self.client: Any = None  # the Dask client, with a scheduler
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self.scheduler is not None and self.client is None:
                from ..analyze.cluster import cluster_client

                self.client = cluster_client(self.scheduler)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="callemo-analysis", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking calls; a call still being analysed after ``timeout`` goes back to the queue."""
        t = self._thread
        self._stop.set()
        self._wake.set()
        if t is not None and t.is_alive():
            t.join(timeout)
            if t.is_alive():
                n = self.store.release(self.name)
                if n:
                    log.info("stopping: %d call(s) still being analysed went back to the queue", n)
        self._thread = None
        if self.client is not None:
            self.client.close()
            self.client = None

    def submit(self, call_id: str) -> None:
        """A call was queued: wake the worker (the call itself is read from the database)."""
        self.start()
        self._wake.set()

    @property
    def pending(self) -> int:
        """Calls waiting in the database (for every process sharing it)."""
        return self.store.list(status="queued", limit=0)[1]

    def recover(self) -> dict[str, int]:
        """At start-up: calls waiting (queued, or running with a lapsed claim: their process died)
        are analysed by the worker loop; those whose recording was never stored are failed. The
        claims of processes of this machine that no longer run lapse now (a restart takes their
        calls at once); calls another live process is analysing keep their claim."""
        counts = {"requeued": 0, "failed": 0}
        for cid, owner in self.store.claims():
            if owner_is_dead(owner):
                self.store.renew(cid, owner, lease_s=0)
        for cid in self.store.claimable_ids():
            if self.store.audio_path(cid) is None:
                self.store.update(cid, status="failed", finished_at=utcnow(),
                                  error="the uploaded recording was not stored (the service stopped during the upload)")
                counts["failed"] += 1
            else:
                counts["requeued"] += 1
        if counts["requeued"]:
            self._wake.set()
        return counts

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                call = self.store.claim(self.name, self.lease_s)
            except Exception:
                log.exception("cannot take a call from the database")
                call = None
                self._stop.wait(self.poll_s)
            if call is None:
                self._wake.wait(self.poll_s)
                continue
            call_id = call["id"]
            self.current = call_id
            try:
                self.process(call)
            except Exception:
                log.exception("analysis of call %s crashed", call_id)
                self._fail(call_id, "internal error while analysing this call (see the service log)")
            finally:
                self.current = None

    @contextmanager
    def _heartbeat(self, call_id: str) -> Iterator[None]:
        """Renew the claim on ``call_id`` every third of the lease while the body runs."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_s / 3):
                try:
                    if not self.store.renew(call_id, self.name, self.lease_s):
                        log.warning("lost the claim on call %s (deleted, or taken by another process)", call_id)
                        return
                except Exception:
                    log.exception("cannot renew the claim on call %s", call_id)

        t = threading.Thread(target=beat, name=f"callemo-lease-{call_id[:8]}", daemon=True)
        t.start()
        try:
            yield
        finally:
            done.set()
            t.join()

    def process(self, call: dict[str, Any]) -> None:
        """Analyse a call this worker has claimed and store the outcome."""
        call_id = call["id"]
        audio = self.store.audio_path(call_id)
        if audio is None:
            self._fail(call_id, "the uploaded recording is missing from storage (service processes sharing a "
                                "database must share one storage folder)")
            return
        name = call["file_name"]
        try:
            options = parse_options(call.get("options") or {})
            with self._heartbeat(call_id):
                doc = self._analyse(call_id, audio, name, options)
            if doc is None:  # deleted while running
                return
            s = doc["summary"]
            stored = self.store.finish(call_id, self.name, segments=doc["segments"], status="done",
                                       duration=doc["duration"], summary=s, needs_review=bool(s.get("needs_review")),
                                       review_reason="; ".join(s.get("review_reasons") or []) or None,
                                       finished_at=utcnow())
            if stored:
                self.analysed.append(call_id)
            elif self.store.get(call_id) is None:  # deleted while it was analysed: leave nothing behind
                self.store.delete_files(call_id)
            else:
                log.warning("call %s: the claim lapsed during the analysis; its new owner stores the result", call_id)
        except (CallemoError, OptionsError) as e:
            self._fail(call_id, str(e).replace(str(audio), name).replace(str(self.store.storage_dir), "<storage>"))
        except Exception as e:
            log.exception("analysis of call %s failed", call_id)
            self._fail(call_id, f"{type(e).__name__} while analysing this call (see the service log)")

    def _analyse(self, call_id: str, audio: Path, name: str, options: Any) -> dict[str, Any] | None:
        """The call's JSON document, its result files written (None: the call was deleted meanwhile)."""
        if self.client is not None:  # the cluster's worker writes the outputs into the shared storage folder
            from ..analyze.cluster import analyze_remote

            future = analyze_remote(self.client, audio, options, self.models.model_dir, file=name,
                                    out_dir=self.store.results_dir, rel=call_id,
                                    write_kw={"audio": partial(embed_mode, limit=self.audio_embed_max),
                                              "audio_path": str(audio)}, mute_source=True)
            written: dict[str, Any] = future.result()
            self.store.protect(*self.store.results_dir.glob(f"{call_id}.*"))
            return None if self.store.get(call_id) is None else written
        from ..analyze.outputs import write_outputs
        from ..analyze.pipeline import analyze_file

        model = self.models.get()
        # named by the uploaded name: neither the JSON nor the report shows the storage path
        result = analyze_file(audio, model=model, options=options, file=name)
        if self.store.get(call_id) is None:
            return None
        if result.muted:  # --redact-audio: the stored recording keeps nothing that was redacted
            from ..text.transcribe import mute_file

            mute_file(audio, result.muted)
        files = write_outputs(result, self.store.results_dir, call_id,
                              audio=embed_mode(result.duration, self.audio_embed_max), audio_path=audio)
        self.store.protect(*files.values())
        doc = self.store.result(call_id)
        if doc is None:
            raise CallemoError("the analysis JSON was not written")
        return doc

    def _fail(self, call_id: str, message: str) -> None:
        if not self.store.finish(call_id, self.name, status="failed", error=message, finished_at=utcnow()):
            log.info("call %s: not marked failed (no longer claimed by this worker)", call_id)
