"""The service's store: calls and segments in SQLite and PostgreSQL (``new_db``), files beside."""

from __future__ import annotations

import pytest

from callemo.errors import CallemoError
from callemo.service.storage import Store


@pytest.fixture
def store(tmp_path, new_db):
    s = Store(new_db(), tmp_path / "files")
    yield s
    s.close()


def test_add_get_update_list(store):
    a = store.add("a.wav", options={"speakers": 2})
    b = store.add("b.wav")
    assert a["status"] == "queued" and a["options"] == {"speakers": 2} and a["uploaded_at"].endswith("Z")
    assert store.get(a["id"])["file_name"] == "a.wav" and store.get("nope") is None
    store.update(a["id"], status="done", duration=12.5, summary={"needs_review": True, "x": [1, 2]},
                 needs_review=True, review_reason="strong anger")
    got = store.get(a["id"])
    assert got["summary"]["x"] == [1, 2] and got["needs_review"] is True and got["duration"] == 12.5
    store.update(b["id"], status="done", needs_review=False)
    items, total = store.list(needs_review=True)
    assert total == 1 and items[0]["id"] == a["id"]
    items, total = store.list(needs_review=False)
    assert [c["id"] for c in items] == [b["id"]]
    items, total = store.list(limit=1, offset=0)
    assert total == 2 and len(items) == 1 and items[0]["id"] == b["id"]  # newest first
    assert store.list(limit=1, offset=1)[0][0]["id"] == a["id"]
    assert store.list(status="queued")[1] == 0
    with pytest.raises(ValueError, match="status must be"):
        store.update(a["id"], status="weird")
    with pytest.raises(KeyError):
        store.update("missing", status="done")


def test_segments_and_delete(store):
    c = store.add("c.wav")
    n = store.set_segments(c["id"], [
        {"start": 2.0, "end": 3.0, "speaker": "S1", "role": "client", "emotion": "angry", "confidence": 0.9,
         "valence": -0.6, "arousal": 0.7},
        {"start": 0.5, "end": 1.5, "speaker": "S0", "role": "agent", "emotion": "neutral", "confidence": 0.8,
         "valence": 0.0, "arousal": 0.0},
    ])
    assert n == 2
    segs = store.segments(c["id"])
    assert [s["start"] for s in segs] == [0.5, 2.0] and segs[1]["emotion"] == "angry"
    (store.audio_dir / c["id"]).mkdir()
    (store.audio_dir / c["id"] / "c.wav").write_bytes(b"x")
    store.result_path(c["id"]).write_text("{}")
    assert store.audio_path(c["id"]).name == "c.wav"
    assert store.delete(c["id"]) and not store.delete(c["id"])
    assert store.get(c["id"]) is None and store.segments(c["id"]) == []
    assert store.audio_path(c["id"]) is None and not store.result_path(c["id"]).exists()


def test_reopen_keeps_calls(tmp_path, new_db):
    url = new_db()
    s1 = Store(url, tmp_path / "files")
    cid = s1.add("x.wav")["id"]
    s1.close()
    s2 = Store(url, tmp_path / "files")
    assert s2.get(cid)["file_name"] == "x.wav" and s2.ids_with_status(["queued"]) == [cid]
    s2.close()


@pytest.mark.parametrize("url, words", [
    ("postgresql+psycopg://qa:s3cret@127.0.0.1:1/calls", "cannot open the database postgresql+psycopg://qa:***@127.0.0.1:1"),
    ("postgresql+nodriver://qa:s3cret@db/calls", "pip install 'callemo[postgres]'"),
    ("nonsense://x", "database nonsense://x"),
])
def test_a_database_that_cannot_be_opened_is_named_without_its_password(tmp_path, url, words):
    with pytest.raises(CallemoError, match="database") as e:
        Store(url, tmp_path / "files")
    assert words in str(e.value) and "s3cret" not in str(e.value)
