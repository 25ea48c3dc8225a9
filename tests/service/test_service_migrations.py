"""The service's schema through Alembic (callemo.service.migrations): a new database, a database of
the previous release (made before the migrations) and one at an older revision all end at the
newest revision with exactly the schema of the models, their rows kept; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from callemo.service import migrations
from callemo.service.storage import Base, Store

#: the database a callemo from before the migrations created (``Base.metadata.create_all`` then,
#: as SQLite stored it), with a finished call and one of its segments
PREVIOUS_RELEASE = """
CREATE TABLE calls (
    id VARCHAR(32) NOT NULL, file_name VARCHAR(512) NOT NULL, uploaded_at DATETIME NOT NULL,
    status VARCHAR(16) NOT NULL, error TEXT, duration FLOAT, summary TEXT, needs_review BOOLEAN,
    review_reason TEXT, options TEXT, source VARCHAR(16) NOT NULL, started_at DATETIME, finished_at DATETIME,
    PRIMARY KEY (id)
);
CREATE INDEX ix_calls_needs_review ON calls (needs_review);
CREATE INDEX ix_calls_uploaded_at ON calls (uploaded_at);
CREATE INDEX ix_calls_status ON calls (status);
CREATE TABLE segments (
    id INTEGER NOT NULL, call_id VARCHAR(32) NOT NULL, start FLOAT NOT NULL, "end" FLOAT NOT NULL,
    speaker VARCHAR(64), role VARCHAR(32), emotion VARCHAR(32), confidence FLOAT, valence FLOAT, arousal FLOAT,
    PRIMARY KEY (id), FOREIGN KEY(call_id) REFERENCES calls (id) ON DELETE CASCADE
);
CREATE INDEX ix_segments_call_id ON segments (call_id);
INSERT INTO calls (id, file_name, uploaded_at, status, duration, summary, needs_review, review_reason, source)
VALUES ('a0000000000000000000000000000000', 'old call.wav', '2026-01-02 03:04:05.000000', 'done', 59.0,
        '{"needs_review": true}', 1, 'strong anger', 'upload');
INSERT INTO segments (call_id, start, "end", speaker, role, emotion, confidence, valence, arousal)
VALUES ('a0000000000000000000000000000000', 0.5, 2.5, 'S0', 'client', 'angry', 0.9, -0.6, 0.7);
"""
OLD_ID = "a" + "0" * 31


def schema_diff(url: str) -> list:
    """What differs between the database and the models (empty: the same tables, columns, indexes)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return migrations.current(conn)
    finally:
        engine.dispose()


def test_a_new_database_gets_the_newest_schema(tmp_path, new_db):
    url = new_db()
    store = Store(url, tmp_path / "files")
    store.close()
    assert revision(url) == migrations.head() == "0002"
    assert schema_diff(url) == []
    Store(url, tmp_path / "files").close()  # opening it again changes nothing
    assert revision(url) == "0002"


def test_a_database_of_the_previous_release_is_upgraded(tmp_path):
    db = tmp_path / "callemo.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(PREVIOUS_RELEASE)
    url = f"sqlite:///{db}"
    assert revision(url) is None and schema_diff(url) != []  # no version table, no text / lease columns
    store = Store(url, tmp_path / "files")
    try:
        assert revision(url) == migrations.head() and schema_diff(url) == []
        old = store.get(OLD_ID)
        assert old["file_name"] == "old call.wav" and old["needs_review"] is True and old["summary"]["needs_review"]
        assert store.segments(OLD_ID) == [{"start": 0.5, "end": 2.5, "speaker": "S0", "role": "client",
                                           "emotion": "angry", "confidence": 0.9, "valence": -0.6, "arousal": 0.7,
                                           "text": None}]
        store.set_segments(OLD_ID, [{"start": 0.5, "end": 2.5, "role": "client", "text": "I want my money back"}])
        assert store.segments(OLD_ID)[0]["text"] == "I want my money back"
    finally:
        store.close()


def test_an_older_revision_is_upgraded_keeping_its_rows(tmp_path, new_db):
    url = new_db()
    engine = create_engine(url)
    migrations.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO calls (id, file_name, uploaded_at, status, source) "
                          "VALUES (:id, 'q.wav', '2026-01-02 03:04:05', 'queued', 'upload')"), {"id": "b" * 32})
    engine.dispose()
    assert revision(url) == "0001" and schema_diff(url) != []
    store = Store(url, tmp_path / "files")
    try:
        assert revision(url) == "0002" and schema_diff(url) == []
        assert store.get("b" * 32)["status"] == "queued" and store.claimable_ids() == ["b" * 32]
    finally:
        store.close()
