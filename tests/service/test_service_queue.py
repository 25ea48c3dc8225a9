"""Several service processes on one database: each queued call is claimed by one worker
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a compare-and-set ``UPDATE`` on both), a
claim is kept alive by its lease, a lapsed one is taken again, a live one never; on SQLite and
PostgreSQL. Two "processes" here are two stores with their own engines (connection pools) and
workers, in threads of the test."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid

import pytest
from _svc import local_client, saved_model, stereo_call, train_model, wait_done
from sqlalchemy import select, text

from callemo.io import save_audio
from callemo.service.app import create_app
from callemo.service.storage import CallRow, Store
from callemo.service.worker import AnalysisWorker, ModelHolder, owner_is_dead

N_CALLS = 20


@pytest.fixture(scope="module")
def short_call(tmp_path_factory):
    """Eight seconds of the generated stereo call (agent on channel 0, client on channel 1)."""
    st, sr = stereo_call()
    return save_audio(tmp_path_factory.mktemp("calls") / "short.wav", st[:, : 8 * sr], sr)


@pytest.fixture(scope="module")
def model():
    return train_model()


def queue_call(store: Store, wav, name: str) -> str:
    """A call queued the way an upload queues it: the recording in place, then the row."""
    cid = uuid.uuid4().hex
    store.recording_path(cid, ".wav").write_bytes(wav.read_bytes())
    store.add(name, call_id=cid, duration=8.0, options={"channels": ["agent", "client"]})
    return cid


class CountingWorker(AnalysisWorker):
    """A worker that notes every call it starts analysing."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.started: list[str] = []

    def process(self, call):
        self.started.append(call["id"])
        super().process(call)


def test_two_processes_analyse_every_call_exactly_once(tmp_path, new_db, short_call, model):
    url, storage = new_db(), tmp_path / "storage"
    stores = [Store(url, storage), Store(url, storage)]
    ids = [queue_call(stores[0], short_call, f"call {i}.wav") for i in range(N_CALLS)]
    workers = [CountingWorker(s, ModelHolder(model=model), poll_s=0.05, name=f"process-{i}", audio_embed_max=0)
               for i, s in enumerate(stores)]
    try:
        for w in workers:
            w.start()
        t0 = time.monotonic()
        while stores[1].list(status="done", limit=0)[1] + stores[1].list(status="failed", limit=0)[1] < N_CALLS:
            assert time.monotonic() - t0 < 120, stores[1].list(limit=N_CALLS)
            time.sleep(0.1)
    finally:
        for w in workers:
            w.stop()
    started = workers[0].started + workers[1].started
    assert sorted(started) == sorted(ids)  # every call analysed, none twice
    assert workers[0].started and workers[1].started  # both processes took calls
    for w in workers:
        assert w.analysed == w.started
    with stores[0].engine.connect() as conn:
        rows = conn.execute(select(CallRow.id, CallRow.status, CallRow.claimed_by, CallRow.lease_until)).all()
    owner = {cid: w.name for w in workers for cid in w.started}
    assert {r.id: (r.status, r.claimed_by, r.lease_until) for r in rows} == {
        cid: ("done", owner[cid], None) for cid in ids}
    for cid in ids[:3]:
        segs = stores[1].segments(cid)
        assert {s["role"] for s in segs} == {"agent", "client"} and stores[1].result(cid)["file"].startswith("call ")
    for s in stores:
        s.close()


def test_a_lapsed_claim_is_taken_again_and_a_live_one_is_not(tmp_path, new_db):
    url = new_db()
    p1, p2 = Store(url, tmp_path / "files"), Store(url, tmp_path / "files")
    a, b = p1.add("a.wav")["id"], p1.add("b.wav")["id"]
    assert p1.claim("p1", lease_s=60)["id"] == a
    got = p2.claim("p2", lease_s=60)
    assert got["id"] == b and got["status"] == "running"  # the next one: a is taken
    assert p2.claim("p2", lease_s=60) is None  # live claims are never taken
    assert p1.renew(a, "p1", lease_s=60) and not p2.renew(a, "p2", lease_s=60)
    assert p1.claimable_ids() == []
    assert p1.renew(a, "p1", lease_s=-1)  # p1 stops beating (it died): its lease lapses
    assert p2.claimable_ids() == [a]
    assert p2.claim("p2", lease_s=60)["id"] == a
    # p1 comes back too late: it can neither renew nor store its outcome
    assert not p1.renew(a, "p1", lease_s=60) and not p1.finish(a, "p1", status="done")
    assert p2.finish(a, "p2", segments=[{"start": 0.0, "end": 1.0, "role": "client", "text": "hello"}],
                     status="done", duration=1.0)
    assert p1.get(a)["status"] == "done" and p1.segments(a)[0]["text"] == "hello"
    assert not p2.finish(a, "p2", status="failed")  # finished calls stay finished
    assert p1.release("p1") == 0 and p2.release("p2") == 1  # b goes back to the queue
    assert p1.get(b)["status"] == "queued" and p1.claim("p1", lease_s=60)["id"] == b
    p1.close()
    p2.close()


def test_start_up_takes_dead_processes_calls_but_not_live_ones(tmp_path, new_db, short_call):
    url, storage = new_db(), tmp_path / "storage"
    other = Store(url, storage)
    live = queue_call(other, short_call, "live.wav")
    dead = queue_call(other, short_call, "dead.wav")
    crashed = queue_call(other, short_call, "crashed.wav")
    assert other.claim("live process", lease_s=120)["id"] == live
    assert other.claim("dead process", lease_s=120)["id"] == dead
    # a process of this machine that crashed a moment ago: its lease still runs, but its pid is gone
    gone = subprocess.Popen(["true"])
    gone.wait()
    owner = f"{socket.gethostname()}:{gone.pid}:0badc0de"
    assert other.claim(owner, lease_s=120)["id"] == crashed
    assert other.renew(dead, "dead process", lease_s=-1)  # this one died an hour ago: its lease lapsed
    assert owner_is_dead(owner) and not owner_is_dead(f"{socket.gethostname()}:{os.getpid()}:x")
    assert not owner_is_dead("live process") and not owner_is_dead(f"elsewhere:{gone.pid}:x")
    app = create_app(url, storage, saved_model(tmp_path / "model"))
    with local_client(app) as c:
        assert wait_done(c, dead)["status"] == "done" and wait_done(c, crashed)["status"] == "done"
        time.sleep(0.5)
        assert c.get(f"/api/calls/{live}").json()["status"] == "running"
        assert sorted(app.state.worker.analysed) == sorted([dead, crashed])
    assert other.renew(live, "live process", lease_s=120)  # still its call
    other.close()


def test_postgresql_claims_skip_locked_rows(tmp_path, pg_url):
    """While another transaction holds the oldest queued call's row (a process in the middle of
    claiming it), a claim takes the next call at once instead of waiting."""
    store = Store(pg_url, tmp_path / "files")
    first, second = store.add("first.wav")["id"], store.add("second.wav")["id"]
    with store.engine.connect() as conn:
        locked = conn.execute(text("SELECT id FROM calls WHERE id = :id FOR UPDATE"), {"id": first}).scalar()
        assert locked == first
        t0 = time.monotonic()
        assert store.claim("p2", lease_s=60)["id"] == second
        assert time.monotonic() - t0 < 2.0
        assert store.claim("p2", lease_s=60) is None  # the locked one is skipped, not waited for
        conn.rollback()
    assert store.claim("p2", lease_s=60)["id"] == first
    store.close()


def test_the_heartbeat_keeps_a_short_lease_alive(tmp_path, new_db):
    """While a worker analyses, its heartbeat renews the claim every third of the lease: another
    process cannot take the call, however long the analysis; once it stops, the lease lapses."""
    url = new_db()
    mine, other = Store(url, tmp_path / "files"), Store(url, tmp_path / "files")
    cid = mine.add("long call.wav")["id"]
    worker = AnalysisWorker(mine, ModelHolder(), lease_s=0.9, name="busy process")
    assert mine.claim(worker.name, worker.lease_s)["id"] == cid
    with worker._heartbeat(cid):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:  # almost three leases long
            assert other.claim("thief", lease_s=60) is None
            time.sleep(0.1)
    time.sleep(1.0)  # no heartbeat any more: the lease lapses
    assert other.claim("thief", lease_s=60)["id"] == cid
    mine.close()
    other.close()
