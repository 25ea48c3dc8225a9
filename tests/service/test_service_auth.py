"""The service's API token: every /api/ route and the stream need it when it is set; the dashboard
and a reduced health answer stay open; bearer header, X-API-Key and ?token= are accepted."""

from __future__ import annotations

import json

import pytest
from _svc import local_client, pcm_bytes, saved_model, stereo_call, stereo_file
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from callemo.service.app import create_app

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_auth")
    return {"dir": d, "model": saved_model(d / "model"), "stereo": stereo_file(d / "call.wav"),
            "db": f"sqlite:///{d / 'callemo.db'}"}


@pytest.fixture(scope="module")
def client(env):
    app = create_app(env["db"], env["dir"] / "storage", env["model"], start_worker=False, api_token=TOKEN)
    with local_client(app) as c:
        yield c


def test_api_refuses_requests_without_the_token(client, env):
    for method, url in [("get", "/api/calls"), ("get", "/api/calls/abc"), ("delete", "/api/calls/abc"),
                        ("get", "/api/calls/abc/report"), ("get", "/api/calls/abc/audio")]:
        r = getattr(client, method)(url)
        assert r.status_code == 401, url
        assert "API token" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    with open(env["stereo"], "rb") as f:
        r = client.post("/api/calls", files={"file": ("call.wav", f, "audio/wav")})
    assert r.status_code == 401
    assert client.get("/api/calls", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/api/calls", params={"token": TOKEN[:-1]}).status_code == 401


def test_every_way_of_presenting_the_token_works(client, env):
    with open(env["stereo"], "rb") as f:
        r = client.post("/api/calls", files={"file": ("call.wav", f, "audio/wav")},
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202
    cid = r.json()["id"]
    for kw in ({"headers": {"Authorization": f"Bearer {TOKEN}"}}, {"headers": {"X-API-Key": TOKEN}},
               {"params": {"token": TOKEN}}):
        r = client.get("/api/calls", **kw)
        assert r.status_code == 200 and r.json()["total"] == 1
        assert client.get(f"/api/calls/{cid}", **kw).json()["status"] == "queued"
    assert client.get(f"/api/calls/{cid}/audio", params={"token": TOKEN}).status_code == 200
    assert client.delete(f"/api/calls/{cid}", headers={"X-API-Key": TOKEN}).status_code == 204


def test_health_and_dashboard_stay_open_but_health_says_little(client):
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    full = client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert full["status"] == "ok" and "calls" in full and "model" in full
    page = client.get("/")
    assert page.status_code == 200 and "/?token=YOUR_TOKEN" in page.text  # the page says how to log in


def test_stream_needs_the_token(client):
    with client.websocket_connect("/api/stream") as ws:
        ev = ws.receive_json()
        assert ev["type"] == "error" and "API token" in ev["message"]
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 1008
    st, sr = stereo_call()
    with client.websocket_connect(f"/api/stream?token={TOKEN}") as ws:
        ws.send_text(json.dumps({"sample_rate": sr, "channels": ["agent", "client"]}))
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(pcm_bytes(st[:, : 4 * sr]))
        ws.send_text(json.dumps({"type": "end"}))
        types = []
        while True:
            ev = ws.receive_json()
            types.append(ev["type"])
            if ev["type"] == "summary":
                break
        assert "summary" in types


def test_without_a_token_the_service_is_open(env, tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'open.db'}", tmp_path / "storage", env["model"], start_worker=False)
    with local_client(app) as c:
        assert c.get("/api/calls").status_code == 200
        assert "calls" in c.get("/api/health").json()


def test_serve_refuses_a_short_token(monkeypatch):
    pytest.importorskip("uvicorn")
    from callemo.cli import _load_commands, app

    _load_commands()
    r = CliRunner().invoke(app, ["serve", "--token", "short"])
    assert r.exit_code == 2 and "at least 8 characters" in r.output
