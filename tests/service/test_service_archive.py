"""The service's archive view and transcript search over its database: the same aggregate page as
`callemo report`, read from the calls and segments tables; `/api/search` finds calls by the words a
role said with an emotion; the dashboard shows both, checked in headless Chromium. On SQLite and
PostgreSQL (the ``new_db`` fixture of conftest.py)."""

from __future__ import annotations

import re
import subprocess

import pytest
from _svc import LiveServer, local_client, saved_model

from callemo.analyze.pipeline import analyze_prepared
from callemo.io import save_audio
from callemo.service.aggregate import archive_frames, search_segments
from callemo.service.app import create_app
from helpers.browser import chromium
from helpers.calls import make_call, table, tm

ROWS = [(0.5, 4.5, "S0", "agent", 0), (5.0, 9.0, "S1", "client", 1), (10.0, 13.0, "S0", "agent", 0)]
#: (file name, the client's voice, what the client says)
CALLS = [("angry-cancel.wav", "angry", "I want to CANCEL this now"),
         ("calm.wav", "neutral", "thanks, that is all"),
         ("sad-cancel.wav", "sad", "maybe I should cancel 100% of it")]


@pytest.fixture(scope="module")
def app(tmp_path_factory, new_db):
    d = tmp_path_factory.mktemp("archive-service")
    app = create_app(new_db(), d / "storage", saved_model(d / "model"), start_worker=False)
    store = app.state.store
    model = tm.train()
    ids = {}
    for k, (name, kind, said) in enumerate(CALLS):
        turns = [(0.5, 4.5, "neutral", 0), (5.0, 9.0, kind, 1), (10.0, 13.0, "neutral", 0)]
        audio, sr = make_call(turns, 14, stereo=True, seed=k)
        wav = save_audio(d / name, audio, sr)
        doc = analyze_prepared(table(ROWS, file=str(wav)), audio, sr, file=str(wav), model=model).to_dict()
        c = store.add(name, status="done", duration=doc["duration"])
        s = doc["summary"]
        store.update(c["id"], summary=s, needs_review=s["needs_review"], review_reason="; ".join(s["review_reasons"]))
        store.set_segments(c["id"], [{**g, "text": said if g["role"] == "client" else "how can I help"}
                                     for g in doc["segments"]])
        ids[name] = (c["id"], doc)
    store.add("still-queued.wav")  # not analysed yet: not in the archive
    app.state.ids = ids
    return app


def test_frames_from_the_database(app):
    calls, segments = archive_frames(app.state.store)
    assert sorted(calls["name"]) == sorted(n for n, _, _ in CALLS)
    for cid, doc in app.state.ids.values():
        row = calls.set_index("call_id").loc[cid]
        s = doc["summary"]
        assert bool(row["needs_review"]) == s["needs_review"] and row["review_reasons"] == s["review_reasons"]
        assert row["client_trend"] == s["client_trend"]["direction"]
        assert row["report"] == f"api/calls/{cid}/report"
        assert len(segments[segments["call_id"] == cid]) == len(doc["segments"])
    angry = app.state.ids["angry-cancel.wav"][1]
    assert angry["summary"]["needs_review"] and any(g["emotion"] == "angry" for g in angry["segments"])


def test_search_by_words_role_and_emotion(app):
    store = app.state.store
    cid = app.state.ids["angry-cancel.wav"][0]
    hits = search_segments(store, "cancel", role="client", emotion="angry")
    assert [(h["call_id"], h["file_name"], h["text"]) for h in hits] == [(cid, "angry-cancel.wav",
                                                                          "I want to CANCEL this now")]
    assert {h["file_name"] for h in search_segments(store, "Cancel")} == {"angry-cancel.wav", "sad-cancel.wav"}
    assert [h["file_name"] for h in search_segments(store, "100%")] == ["sad-cancel.wav"]  # % is a character
    assert search_segments(store, "1_0") == [] and search_segments(store, "cancel", role="agent") == []
    with local_client(app) as client:
        r = client.get("/api/search", params={"q": "cancel", "role": "client", "emotion": "angry"})
        assert r.status_code == 200 and [h["call_id"] for h in r.json()] == [cid]
        assert client.get("/api/search", params={"limit": 0}).status_code == 422


def test_archive_page_and_fragment(app):
    with local_client(app) as client:
        page = client.get("/api/archive")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'data-calls="3"' in page.text and "still-queued" not in page.text
        for cid, _ in app.state.ids.values():  # links relative to /api/archive
            assert f'href="calls/{cid}/report"' in page.text
        assert 'id="search-data"' in page.text  # the transcripts are searchable on the page
        frag = client.get("/api/archive", params={"fragment": "true"}).text
        assert frag.lstrip().startswith('<div class="callemo-archive"') and "<script" not in frag
        cid = app.state.ids["angry-cancel.wav"][0]
        assert f'href="api/calls/{cid}/report"' in frag
        assert client.get(f"/api/calls/{cid}/report").status_code in (200, 404)  # the link's route exists


def test_dashboard_in_headless_chromium(app, backend, tmp_path):
    if backend != "sqlite":
        pytest.skip("the page does not depend on the database: rendered once, on SQLite")
    exe = chromium()
    with LiveServer(app) as srv:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
               "--virtual-time-budget=15000", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", srv.url + "/"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    view = re.search(r'<div id="archive-view"[^>]*>(.*?)<section id="|<div id="archive-view"[^>]*>(.*)', res.stdout,
                     re.S)
    assert view, res.stdout[-3000:]
    body = view.group(0)
    assert 'class="callemo-archive"' in body and 'data-calls="3"' in body
    assert "angry-cancel.wav" in body and body.count('src="data:image/png;base64,') >= 4


def test_archive_and_search_need_the_token(tmp_path, backend, new_db):
    if backend != "sqlite":
        pytest.skip("the token check does not depend on the database: checked once, on SQLite")
    app = create_app(new_db(), tmp_path / "storage", saved_model(tmp_path / "model"), start_worker=False,
                     api_token="s3cret-token-for-tests")
    with local_client(app) as client:
        for url in ("/api/archive", "/api/search?q=cancel"):
            assert client.get(url).status_code == 401
            assert client.get(url, headers={"X-API-Key": "s3cret-token-for-tests"}).status_code == 200
