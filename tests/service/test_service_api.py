"""The web service through FastAPI's TestClient: uploads analysed in the background, browsing,
reports, bad uploads, the dashboard, and the live stream over the WebSocket; on SQLite and on
PostgreSQL (``new_db``, tests/service/conftest.py)."""

from __future__ import annotations

import importlib.util
import io
import json

import pytest
from _svc import EXAMPLE, ROOT, local_client, pcm_bytes, saved_model, stereo_call, stereo_file, turns, wait_done

from callemo.analyze.schema import CallJSON
from callemo.service.app import create_app


@pytest.fixture(scope="module")
def env(tmp_path_factory, new_db):
    d = tmp_path_factory.mktemp("service")
    model = saved_model(d / "model")
    stereo = stereo_file(d / "stereo call.wav")
    return {"dir": d, "model": model, "stereo": stereo, "db": new_db()}


@pytest.fixture(scope="module")
def client(env):
    app = create_app(env["db"], env["dir"] / "storage", env["model"], max_upload_mb=5)
    with local_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def analysed(client, env):
    """A generated two-speaker stereo call uploaded twice and analysed: multipart with form options,
    and a raw body with query options."""
    with open(env["stereo"], "rb") as f:
        r = client.post("/api/calls", files={"file": ("stereo call.wav", f, "audio/wav")},
                        data={"channels": "agent,client"})
    assert r.status_code == 202, r.text
    stereo = r.json()
    assert stereo["status"] == "queued" and stereo["file_name"] == "stereo call.wav"
    assert r.headers["location"] == f"/api/calls/{stereo['id']}"
    # the same call as a raw body, options in the query: channels flipped
    r = client.post("/api/calls?filename=flipped.wav&channels=client,agent", content=env["stereo"].read_bytes(),
                    headers={"content-type": "audio/wav"})
    assert r.status_code == 202, r.text
    flipped = r.json()
    assert flipped["options"]["channels"] == ["client", "agent"]
    return {"stereo": wait_done(client, stereo["id"]), "flipped": wait_done(client, flipped["id"])}


def test_upload_analyse_fetch(client, analysed):
    st = analysed["stereo"]
    assert st["status"] == "done", st["error"]
    doc = st["result"]
    CallJSON.model_validate(doc)
    assert doc["file"] == "stereo call.wav" and doc["channels"] == 2
    assert st["duration"] == pytest.approx(59.0, abs=0.1) and st["needs_review"] is False
    # the roles come from the channels: every truth turn is found with its role
    for s0, e0, role in turns():
        mid = (s0 + e0) / 2
        hit = [s for s in doc["segments"] if s["start"] <= mid <= s["end"]]
        assert hit and hit[0]["role"] == role, (s0, e0, role)
    segs = client.get(f"/api/calls/{st['id']}/segments").json()
    assert len(segs) == len(doc["segments"]) and segs[0]["start"] == doc["segments"][0]["start"]
    rep = client.get(f"/api/calls/{st['id']}/report")
    assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")
    assert "stereo call.wav" in rep.text and "data:image/png;base64," in rep.text and "<table" in rep.text
    audio = client.get(f"/api/calls/{st['id']}/audio")
    assert audio.status_code == 200 and audio.content == analysed_bytes(client, st)
    fl = analysed["flipped"]
    assert fl["status"] == "done", fl["error"]
    assert fl["file_name"] == "flipped.wav" and fl["result"]["file"] == "flipped.wav"
    for s0, e0, role in turns():
        mid = (s0 + e0) / 2
        hit = [s for s in fl["result"]["segments"] if s["start"] <= mid <= s["end"]]
        assert hit and hit[0]["role"] == ("client" if role == "agent" else "agent")


def analysed_bytes(client, call):
    return client.app.state.store.audio_path(call["id"]).read_bytes()


def test_list_filter_paging_delete(client, analysed, env):
    store = client.app.state.store
    # one call needing review, made directly in the store
    flagged = store.add("angry.wav", status="done")
    store.update(flagged["id"], needs_review=True, review_reason="strong anger",
                 summary={"client_trend": {"direction": "worsening"}})
    r = client.get("/api/calls?needs_review=true").json()
    assert [c["id"] for c in r["items"]] == [flagged["id"]] and r["total"] == 1
    assert r["items"][0]["client_trend"] == "worsening" and r["items"][0]["review_reason"] == "strong anger"
    r = client.get("/api/calls?needs_review=false").json()
    assert {c["id"] for c in r["items"]} == {analysed["stereo"]["id"], analysed["flipped"]["id"]}
    page1 = client.get("/api/calls?limit=2&offset=0").json()
    page2 = client.get("/api/calls?limit=2&offset=2").json()
    assert page1["total"] == 3 and len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert page1["items"][0]["id"] == flagged["id"]  # newest first
    assert client.get("/api/calls?needs_review=maybe").status_code == 422
    assert client.get("/api/calls?status=lost").status_code == 422
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["model"]["loaded"] and h["calls"]["done"] == 3
    assert client.delete(f"/api/calls/{flagged['id']}").status_code == 204
    assert client.get(f"/api/calls/{flagged['id']}").status_code == 404
    assert client.delete(f"/api/calls/{flagged['id']}").status_code == 404


@pytest.mark.parametrize("name, content, form, status, words", [
    ("empty.wav", b"", {}, 400, "empty"),
    ("notes.wav", b"this is not audio at all" * 10, {}, 415, "not a readable audio file"),
    ("notes.txt", b"hello", {}, 415, "unsupported file type '.txt'"),
    ("big.wav", b"\x00" * 6_000_000, {}, 413, "too large"),
    ("call.wav", None, {"speakers": "many"}, 422, "speakers: must be a number"),
    ("call.wav", None, {"speakers": "11"}, 422, "speakers: must be a number from 1 to 10 or 'auto'"),
    ("call.wav", None, {"channels": "left,right"}, 422, "channels: must be 'agent,client', 'client,agent' or 'mono'"),
    ("call.wav", None, {"first_speaker": "boss"}, 422, "first_speaker"),
    ("call.wav", None, {"emotions": "agent"}, 422, "emotions"),
    ("x" * 296 + ".wav", None, {}, 400, "file name is too long (300 characters"),
], ids=["empty", "not-audio", "txt", "too-large", "bad-speakers", "too-many-speakers", "bad-channels",
        "bad-first-speaker", "bad-emotions", "name-too-long"])
def test_bad_uploads(client, name, content, form, status, words):
    content = EXAMPLE.read_bytes() if content is None else content
    before = client.get("/api/calls").json()["total"]
    r = client.post("/api/calls", files={"file": (name, io.BytesIO(content), "application/octet-stream")}, data=form)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert client.get("/api/calls").json()["total"] == before  # nothing stored
    assert not list((client.app.state.store.storage_dir / "tmp").glob("*"))  # no temporary file left


def test_upload_without_file_field(client):
    r = client.post("/api/calls", files={"other": ("x.wav", io.BytesIO(b"abc"), "audio/wav")})
    assert r.status_code == 400 and "form field 'file'" in r.json()["detail"]


def test_report_of_unfinished_call_and_resume(env, tmp_path, new_db):
    """Without a worker a call stays queued (report: 409); a new service on the same database
    analyses it at start-up."""
    db, storage = new_db(), tmp_path / "storage"
    app = create_app(db, storage, env["model"], start_worker=False)
    with local_client(app) as c:
        with open(env["stereo"], "rb") as f:
            cid = c.post("/api/calls", files={"file": ("s.wav", f)}, data={"channels": "agent,client"}).json()["id"]
        r = c.get(f"/api/calls/{cid}/report")
        assert r.status_code == 409 and "queued" in r.json()["detail"]
        assert c.get(f"/api/calls/{cid}").json()["result"] is None
        assert c.get("/api/calls/nope").status_code == 404
    with local_client(create_app(db, storage, env["model"])) as c:
        assert wait_done(c, cid)["status"] == "done"


def test_dashboard_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and "callemo" in r.text
    for needle in ("api/calls", "api/stream", "<form", "needs review", "type=\"file\""):
        assert needle in r.text
    assert "src=\"http" not in r.text and "href=\"http" not in r.text  # no CDN
    assert client.get("/openapi.json").json()["paths"]["/api/calls"]["post"]["requestBody"]


def test_websocket_round_trip(client):
    st, sr = stereo_call()
    st = st[:, : 30 * sr]  # the first 30 s
    pcm = pcm_bytes(st)
    with client.websocket_connect("/api/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": sr, "channels": ["agent", "client"], "store": True,
                                 "name": "live test", "alerts": {"valence_threshold": -0.2}}))
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["channels"] == ["agent", "client"]
        assert ready["alerts"]["negative_valence"] == -0.2 and ready["labels"] == ["angry", "neutral", "sad"]
        step = int(0.25 * sr) * 4
        for i in range(0, len(pcm), step):
            ws.send_bytes(pcm[i:i + step])
        ws.send_text(json.dumps({"type": "end"}))
        events = []
        while True:
            ev = ws.receive_json()
            events.append(ev)
            if ev["type"] == "stored":
                break
    segs = [e for e in events if e["type"] == "segment"]
    assert {s["role"] for s in segs} == {"agent", "client"}
    assert segs[0]["start"] == pytest.approx(0.5, abs=0.25) and segs[0]["role"] == "agent"
    summary = next(e for e in events if e["type"] == "summary")
    assert summary["duration"] == pytest.approx(30.0, abs=0.01) and summary["n_segments"] == len(segs)
    stored = client.get(f"/api/calls/{events[-1]['id']}").json()
    assert stored["source"] == "stream" and stored["status"] == "done" and stored["file_name"] == "live test"
    assert len(stored["result"]["segments"]) == len(segs)
    assert client.get(f"/api/calls/{stored['id']}/report").status_code == 404


def test_websocket_errors(client):
    with client.websocket_connect("/api/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 44100}))
        ev = ws.receive_json()
        assert ev["type"] == "error" and "8000 or 16000" in ev["message"]
    with client.websocket_connect("/api/stream") as ws:
        ws.send_bytes(b"\x00\x01")
        ev = ws.receive_json()
        assert ev["type"] == "error" and "JSON configuration first" in ev["message"]


def test_example_stream_client(client, tmp_path):
    """examples/stream_client.py drives the same protocol (here over TestClient's WebSocket)."""
    spec = importlib.util.spec_from_file_location("stream_client", ROOT / "examples" / "stream_client.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from callemo.io import load_audio, save_audio

    x, sr = load_audio(EXAMPLE)
    short = save_audio(tmp_path / "short.wav", x[: 15 * sr], sr)
    seen = []
    with client.websocket_connect("/api/stream") as ws:
        def send(m):
            ws.send_bytes(m) if isinstance(m, bytes) else ws.send_text(m)

        events = mod.run_stream(send, ws.receive_text, str(short), sample_rate=16000, channels=["client"],
                                on_event=seen.append)
    assert events[0]["type"] == "ready" and events[-1]["type"] == "summary" and seen == events
    assert [e for e in events if e["type"] == "segment"]


def test_failed_analysis_is_reported(env, tmp_path, new_db):
    """A service whose model cannot be loaded marks uploads failed with the reason (no traceback)."""
    app = create_app(new_db(), tmp_path / "storage", tmp_path / "no-model")
    with local_client(app) as c:
        with open(env["stereo"], "rb") as f:
            cid = c.post("/api/calls", files={"file": ("s.wav", f)}).json()["id"]
        call = wait_done(c, cid)
        assert call["status"] == "failed" and "model directory not found" in call["error"]
        assert c.get(f"/api/calls/{cid}/report").status_code == 409
        h = c.get("/api/health").json()
        assert h["model"]["loaded"] is False and "not found" in h["model"]["error"]
        with c.websocket_connect("/api/stream") as ws:
            ws.send_text(json.dumps({"sample_rate": 8000}))
            ev = ws.receive_json()
            assert ev["type"] == "error" and "not found" in ev["message"]


def test_streamed_upload_over_the_limit(client):
    """Without a Content-Length (chunked body) the limit is checked while the body arrives."""
    def body():
        for _ in range(12):
            yield b"\x00" * 500_000

    r = client.post("/api/calls?filename=long.wav", content=body(), headers={"content-type": "audio/wav"})
    assert r.status_code == 413 and "more than 5 MB" in r.json()["detail"]
    assert not list((client.app.state.store.storage_dir / "tmp").glob("*"))
