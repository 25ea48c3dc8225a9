"""``callemo serve --scheduler``: the service hands its analyses to a Dask cluster (here a
``LocalCluster`` of one worker process) and stores what comes back as it stores its own."""

from __future__ import annotations

import importlib

from _svc import local_client, saved_model, stereo_call, turns, wait_done

from callemo.analyze.schema import CallJSON
from callemo.io import save_audio
from callemo.service.app import create_app


def test_uploads_are_analysed_on_the_dask_cluster(tmp_path):
    st, sr = stereo_call()
    stereo = save_audio(tmp_path / "stereo call.wav", st[:, : 14 * sr], sr)  # the first two turns
    app = create_app(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "storage", saved_model(tmp_path / "model"),
                     scheduler="local:1")
    with local_client(app) as c:
        worker = app.state.worker
        assert worker.client is not None and len(worker.client.nthreads()) == 1
        # the test's model type lives in the test helpers: the cluster's worker imports them
        worker.client.run(importlib.import_module, "_svc")
        with open(stereo, "rb") as f:
            r = c.post("/api/calls", files={"file": ("stereo call.wav", f)}, data={"channels": "agent,client"})
        call = wait_done(c, r.json()["id"], timeout=180)
        assert call["status"] == "done", call["error"]
        doc = call["result"]
        CallJSON.model_validate(doc)
        assert doc["file"] == "stereo call.wav" and call["duration"] == doc["duration"]
        for s0, e0, role in turns()[:2]:
            hit = [s for s in doc["segments"] if s["start"] <= (s0 + e0) / 2 <= s["end"]]
            assert hit and hit[0]["role"] == role
        segs = c.get(f"/api/calls/{call['id']}/segments").json()
        assert [s["start"] for s in segs] == [s["start"] for s in doc["segments"]]
        report = c.get(f"/api/calls/{call['id']}/report")
        assert report.status_code == 200 and "stereo call.wav" in report.text and "data:audio/" in report.text
        assert c.get("/api/health").json()["model"]["loaded"] is False  # the service itself loaded no model
        assert worker.analysed == [call["id"]]
    assert worker.client is None  # closed with the service, and the local cluster with it


def test_serve_takes_a_scheduler_and_a_postgresql_url(tmp_path, monkeypatch, pg_url):
    """``callemo serve --db postgresql+psycopg://... --scheduler local:2`` builds the service on that
    database (its schema made at start) for that cluster; a malformed --scheduler is refused."""
    import uvicorn
    from typer.testing import CliRunner

    from callemo.cli import _load_commands, app
    from callemo.service import migrations

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: seen.update(app=application, **kw))
    monkeypatch.chdir(tmp_path)
    _load_commands()
    model = saved_model(tmp_path / "model")
    r = CliRunner().invoke(app, ["serve", "--db", pg_url, "--storage", "qa", "--model", str(model),
                                 "--scheduler", "local:2"])
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "analyses on the Dask cluster local:2" in said and "database postgresql+psycopg://postgres:***@/" in said
    state = seen["app"].state
    assert state.worker.scheduler == "local:2" and state.store.storage_dir == tmp_path / "qa"
    with state.store.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
    state.store.close()
    r = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--scheduler", "local:many"])
    assert r.exit_code == 2 and "--scheduler 'local:many': not a Dask scheduler address" in " ".join(r.output.split())
