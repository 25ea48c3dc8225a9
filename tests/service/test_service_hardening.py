"""Service hardening (issue 10 items 8-11): validated stream settings, no audio lost when a stream
drops, hosts / origins / headers / token redaction / file modes, bounded query parameters, clean
start-up after a crash, and the emotions switch of uploads and streams."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import time

import pytest
from _svc import LiveServer, local_client, pcm_bytes, saved_model, stereo_call, stereo_file, wait_done
from starlette.websockets import WebSocketDisconnect

from callemo.service.app import create_app
from callemo.service.security import RedactTokens

TOKEN = "hardening-token-0123"


def strict_json(text: str):
    """JSON as a browser parses it: bare NaN / Infinity are errors."""
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_hardening")
    return {"dir": d, "model": saved_model(d / "model"), "stereo": stereo_file(d / "stereo call.wav")}


@pytest.fixture(scope="module")
def idle(env):
    """A service without the worker (uploads stay queued)."""
    app = create_app(f"sqlite:///{env['dir'] / 'idle.db'}", env["dir"] / "idle", env["model"], start_worker=False)
    with local_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def analysed(env):
    """A service with its worker and token: the stereo call uploaded twice (emotions client / all)."""
    app = create_app(f"sqlite:///{env['dir'] / 'work.db'}", env["dir"] / "work", env["model"], api_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with local_client(app) as c:
        ids = {}
        for emotions in ("client", "all"):
            with open(env["stereo"], "rb") as f:
                r = c.post("/api/calls", files={"file": ("stereo call.wav", f, "audio/wav")}, headers=auth,
                           data={"channels": "agent,client", **({"emotions": emotions} if emotions == "all" else {})})
            assert r.status_code == 202, r.text
            ids[emotions] = r.json()["id"]
        calls = {k: wait_done(c, v, headers=auth) for k, v in ids.items()}
        yield c, calls, auth


# -- item 8: live-stream settings -------------------------------------------------------------------
@pytest.mark.parametrize("config, words", [
    ('{"settings": {"max_segment": 3600}}', "settings.max_segment"),
    ('{"settings": {"max_segment": 1e9}}', "settings.max_segment"),
    ('{"settings": {"max_segment": Infinity}}', "Infinity"),
    ('{"alerts": {"valence_threshold": NaN}}', "NaN"),
    ('{"channels": true}', "channels"),
    ('{"alerts": "x"}', "alerts"),
    ('{"settings": {"threshold": "high"}}', "settings.threshold"),
    ('{"sample_rate": 8000.5}', "sample_rate"),
    ('{"store": "yes"}', "store"),
    ('{"name": ""}', "name"),
    ('{"settings": {"context_segments": 1e300}}', "context_segments"),
], ids=["max-segment-3600", "max-segment-1e9", "infinity", "nan", "channels-true", "alerts-string",
        "threshold-string", "rate-fraction", "store-string", "empty-name", "huge-context"])
def test_bad_stream_settings_get_the_error_event_and_1008(idle, caplog, config, words):
    caplog.set_level(logging.DEBUG)
    with idle.websocket_connect("/api/stream") as ws:
        ws.send_text(config)
        raw = ws.receive_text()
        ev = strict_json(raw)  # never bare NaN
        assert ev["type"] == "error" and words in ev["message"], ev
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_text()
        assert e.value.code == 1008
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_good_stream_settings_are_echoed_as_strict_json(idle):
    with idle.websocket_connect("/api/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 8000, "channels": 2,
                                 "settings": {"max_segment": 60, "end_silence": 0.3},
                                 "alerts": {"valence_threshold": -0.25}, "emotions": "all"}))
        ready = strict_json(ws.receive_text())
    assert ready["type"] == "ready" and ready["settings"]["max_segment"] == 60.0
    assert ready["settings"]["min_silence"] == 0.3 and ready["alerts"]["negative_valence"] == -0.25
    assert ready["emotions"] == "all" and ready["channels"] == ["agent", "client"]


def test_a_dropped_stream_keeps_all_the_audio_it_sent(env, tmp_path):
    """A client that sends 29.5 s as fast as it can and goes away without "end": the server
    analyses every frame it received and stores the whole call (it kept 18 s before)."""
    import httpx
    from websockets.sync.client import connect

    app = create_app(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "storage", env["model"], start_worker=False)
    st, sr = stereo_call()
    pcm = pcm_bytes(st[:, : int(29.5 * sr)])
    with LiveServer(app) as srv:
        with connect(srv.ws_url + "/api/stream") as ws:
            ws.send(json.dumps({"sample_rate": sr, "channels": ["agent", "client"], "store": True, "name": "dropped"}))
            assert json.loads(ws.recv())["type"] == "ready"
            step = int(0.1 * sr) * 4
            for i in range(0, len(pcm), step):
                ws.send(pcm[i:i + step])
        items = []
        t0 = time.monotonic()
        while not items and time.monotonic() - t0 < 60:
            items = httpx.get(srv.url + "/api/calls").json()["items"]
            time.sleep(0.2)
        assert items, "the dropped stream was not stored"
        call = httpx.get(f"{srv.url}/api/calls/{items[0]['id']}").json()
    assert call["file_name"] == "dropped" and call["duration"] == pytest.approx(29.5, abs=0.01)
    assert call["result"]["segments"] and call["result"]["segments"][-1]["end"] > 25.0


# -- item 9: exposure -------------------------------------------------------------------------------
def test_only_allowed_hosts_are_served(env, tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "storage", env["model"], start_worker=False)
    with local_client(app) as c:
        assert c.get("/api/calls").status_code == 200
        assert c.get("/api/calls", headers={"host": "localhost:8000"}).status_code == 200
        assert c.get("/api/calls", headers={"host": "[::1]:8000"}).status_code == 200
        # DNS rebinding: a page on attacker.example resolving to 127.0.0.1 sends its own name
        assert c.get("/api/calls", headers={"host": "attacker.example"}).status_code == 400
        assert c.delete("/api/calls/x", headers={"host": "attacker.example:8000"}).status_code == 400
    app = create_app(f"sqlite:///{tmp_path / 'db2.sqlite'}", tmp_path / "storage2", env["model"], start_worker=False,
                     allowed_hosts=["calls.example.org"])
    with local_client(app) as c:
        assert c.get("/api/calls", headers={"host": "calls.example.org"}).status_code == 200
        assert c.get("/api/calls", headers={"host": "other.example.org"}).status_code == 400


def test_cross_origin_requests_and_streams_are_refused(idle):
    with idle.websocket_connect("/api/stream", headers={"origin": "http://attacker.example"}) as ws:
        ev = ws.receive_json()
        assert ev["type"] == "error" and "cross-origin" in ev["message"]
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 1008
    with idle.websocket_connect("/api/stream", headers={"origin": "http://127.0.0.1:8000"}) as ws:
        ws.send_text(json.dumps({"sample_rate": 8000}))
        assert ws.receive_json()["type"] == "ready"
    r = idle.post("/api/calls", files={"file": ("a.wav", io.BytesIO(b"RIFF"), "audio/wav")},
                  headers={"origin": "http://attacker.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    assert idle.delete("/api/calls/abc", headers={"origin": "https://attacker.example"}).status_code == 403
    assert idle.delete("/api/calls/abc", headers={"origin": "http://localhost:8000"}).status_code == 404


def test_security_headers(idle):
    for path in ("/", "/api/calls", "/api/health", "/api/calls/nope"):
        r = idle.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, path
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"


def test_token_is_redacted_from_the_logs(env, tmp_path):
    """uvicorn's access log writes the full URL: ?token= must not reach it in clear."""
    import httpx
    from websockets.sync.client import connect

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    app = create_app(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "storage", env["model"], start_worker=False,
                     api_token=TOKEN)
    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error")]
    try:
        with LiveServer(app, log_level="info", access_log=True) as srv:
            for lg in loggers:
                lg.addHandler(handler)
            assert httpx.get(f"{srv.url}/api/calls?token={TOKEN}").status_code == 200
            assert httpx.get(f"{srv.url}/api/calls?limit=5&token={TOKEN}&offset=0").status_code == 200
            with connect(f"{srv.ws_url}/api/stream?token={TOKEN}") as ws:
                ws.send(json.dumps({"sample_rate": 8000}))
                assert json.loads(ws.recv())["type"] == "ready"
            time.sleep(0.3)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    text = "\n".join(records)
    assert "/api/calls?token=[redacted]" in text and "token=[redacted]&offset=0" in text
    assert TOKEN not in text


def test_redaction_filter_keeps_other_parameters():
    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:5", "GET", "/api/calls?status=done&token=abc%20def&limit=2", "1.1", 200), None)
    RedactTokens().filter(rec)
    assert rec.getMessage() == '127.0.0.1:5 - "GET /api/calls?status=done&token=[redacted]&limit=2 HTTP/1.1" 200'


def test_dashboard_logs_in_with_a_cookie_not_links(env, tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "storage", env["model"], start_worker=False,
                     api_token=TOKEN)
    with local_client(app, follow_redirects=False) as c:
        r = c.get(f"/?token={TOKEN}")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"].lower()
        assert "callemo_token=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/api/calls").status_code == 200  # the cookie is the token now
        page = c.get("/").text
        assert "token=" not in page.replace("/?token=", "")  # the page never puts the token in a URL
        c.cookies.clear()
        assert c.get("/api/calls").status_code == 401
        assert "set-cookie" not in c.get("/?token=wrong-token-123").headers


def test_storage_is_private_and_reports_hide_the_storage_path(analysed, env):
    c, calls, auth = analysed
    store = c.app.state.store
    call = calls["client"]
    assert call["status"] == "done", call["error"]
    for d in (store.storage_dir, store.audio_dir, store.results_dir, store.tmp_dir, store.audio_dir / call["id"]):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    files = [store.audio_path(call["id"]), env["dir"] / "work.db", *store.results_dir.glob(f"{call['id']}.*")]
    assert len(files) >= 5
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    report = c.get(f"/api/calls/{call['id']}/report", headers=auth).text
    doc = c.get(f"/api/calls/{call['id']}", headers=auth).json()["result"]
    for where in (str(store.storage_dir.resolve()), str(env["dir"])):
        assert where not in report and where not in json.dumps(doc)
    assert "stereo call.wav" in report and doc["file"] == "stereo call.wav"
    assert "data:audio/" in report  # the player still has the recording


# -- item 10: server errors -------------------------------------------------------------------------
def test_long_names_and_huge_offsets_are_4xx(idle, env):
    before = idle.get("/api/calls").json()["total"]
    long = "y" * 296 + ".wav"
    r = idle.post(f"/api/calls?filename={long}", content=env["stereo"].read_bytes(),
                  headers={"content-type": "audio/wav"})
    assert r.status_code == 422 and "filename: String should have at most 255 characters" in r.text
    with open(env["stereo"], "rb") as f:
        r = idle.post("/api/calls", files={"file": (long, f, "audio/wav")})
    assert r.status_code == 400 and "file name is too long (300 characters" in r.json()["detail"]
    assert idle.get("/api/calls").json()["total"] == before  # nothing queued
    assert idle.get("/api/calls", params={"status": "queued"}).json()["total"] == 0
    for q in ({"offset": 2**63}, {"offset": -1}, {"limit": 10**20}, {"limit": 0}, {"needs_review": "maybe"}):
        r = idle.get("/api/calls", params=q)
        assert r.status_code == 422, (q, r.text)
    assert idle.get("/api/calls", params={"offset": 10**9}).json()["items"] == []


def test_start_up_cleans_partial_uploads_and_recovers_stuck_calls(env, tmp_path):
    from callemo.service.storage import Store

    db, storage = f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "storage"
    store = Store(db, storage)
    (store.tmp_dir / ".upload-abc123").write_bytes(b"half an upload")
    (store.tmp_dir / ".upload-def456.wav").write_bytes(b"RIFF")
    running = store.add("was running.wav", status="running", options={"channels": ["agent", "client"]})
    rec = store.recording_path(running["id"], ".wav")
    rec.write_bytes(env["stereo"].read_bytes())
    lost = store.add("never stored.wav", status="queued")  # crashed before its recording was moved in
    orphan = store.recording_path("f" * 32, ".wav")
    orphan.write_bytes(b"RIFF")
    fresh = store.tmp_dir / ".upload-live.wav"  # another process sharing the storage is receiving this one
    fresh.write_bytes(b"RIFF")
    for p in [*store.tmp_dir.iterdir(), orphan, orphan.parent]:  # the crash's leftovers are hours old
        if p != fresh:
            os.utime(p, (time.time() - 7200, time.time() - 7200))
    store.close()
    with local_client(create_app(db, storage, env["model"])) as c:
        assert list((storage / "tmp").iterdir()) == [fresh] and not orphan.exists()
        assert wait_done(c, running["id"])["status"] == "done"
        failed = c.get(f"/api/calls/{lost['id']}").json()
        assert failed["status"] == "failed" and "not stored" in failed["error"]


# -- item 11: emotions switch, nothing private in the logs -----------------------------------------
def test_uploads_choose_whose_emotions_are_inferred(analysed):
    c, calls, auth = analysed
    default, everyone = calls["client"]["result"], calls["all"]["result"]
    assert calls["client"]["options"]["emotions"] == "client" and calls["all"]["options"]["emotions"] == "all"
    agent = [s for s in default["segments"] if s["role"] == "agent"]
    assert agent and all(s["emotion"] is None and s["probabilities"] is None for s in agent)
    assert all(s["emotion"] is not None for s in default["segments"] if s["role"] == "client")
    assert all(s["emotion"] is not None for s in everyone["segments"])
    assert default["settings"]["emotions"] == "client" and everyone["settings"]["emotions"] == "all"
    segs = c.get(f"/api/calls/{calls['client']['id']}/segments", headers=auth).json()
    assert all(s["emotion"] is None for s in segs if s["role"] == "agent")


def test_stream_emotions_switch(idle):
    st, sr = stereo_call()
    for emotions, agent_judged in (("client", False), ("all", True)):
        with idle.websocket_connect("/api/stream") as ws:
            ws.send_text(json.dumps({"sample_rate": sr, "channels": 2, "emotions": emotions}))
            assert ws.receive_json()["emotions"] == emotions
            ws.send_bytes(pcm_bytes(st[:, : 12 * sr]))
            ws.send_text('{"type": "end"}')
            events = []
            while (ev := strict_json(ws.receive_text()))["type"] != "summary":
                events.append(ev)
        agent = [e for e in events if e["type"] == "segment" and e["role"] == "agent"]
        assert agent and all((e["emotion"] is not None) == agent_judged for e in agent)


def test_no_token_or_audio_in_the_logs(analysed, caplog):
    c, _calls, _auth = analysed
    caplog.set_level(logging.DEBUG)
    st, sr = stereo_call()
    with c.websocket_connect(f"/api/stream?token={TOKEN}") as ws:
        ws.send_text(json.dumps({"sample_rate": sr, "channels": 2, "settings": {"max_segment": 1e9}}))
        assert ws.receive_json()["type"] == "error"
    with c.websocket_connect(f"/api/stream?token={TOKEN}") as ws:
        ws.send_text(json.dumps({"sample_rate": sr, "channels": 2}))
        ws.receive_json()
        ws.send_bytes(pcm_bytes(st[:, : 3 * sr]))
        ws.send_text("what now")  # a bad control message: answered, not logged
        assert ws.receive_json()["type"] == "error"
    text = caplog.text
    assert TOKEN not in text and "Traceback" not in text


def test_serve_allows_the_configured_hosts(env, tmp_path, monkeypatch):
    """callemo serve --allowed-host: the names clients use are answered, others get 400."""
    uvicorn = pytest.importorskip("uvicorn")
    from typer.testing import CliRunner

    from callemo.cli import _load_commands, app

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: seen.update(app=application, **kw))
    _load_commands()
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--allowed-host", "qa.example.org",
                                 "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--storage", str(tmp_path / "s"),
                                 "--model", str(env["model"])])
    assert r.exit_code == 0, r.output
    hosts = seen["app"].state.config.allowed_hosts
    assert {"localhost", "127.0.0.1", "::1", "qa.example.org"} <= set(hosts) and "0.0.0.0" not in hosts
    with local_client(seen["app"]) as c:
        assert c.get("/api/health", headers={"host": "qa.example.org:8000"}).status_code == 200
        assert c.get("/api/health", headers={"host": "evil.example.org"}).status_code == 400
