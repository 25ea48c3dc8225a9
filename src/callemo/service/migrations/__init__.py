"""The service database's schema, versioned with Alembic: :func:`upgrade` brings any database the
service opens (SQLite or PostgreSQL) to the newest revision.

Revisions live in ``versions/`` (written by hand, one file per change, ``down_revision`` chaining
them); ``env.py`` runs them on the connection :func:`upgrade` hands over. A database made by a
callemo from before the migrations (tables created directly, no ``alembic_version`` table) holds
the schema of the first revision: it is stamped with it, then upgraded. Several service processes
starting together upgrade one at a time (a PostgreSQL advisory lock; on SQLite the write lock of
``BEGIN IMMEDIATE``), and the whole upgrade is one transaction on both.

To change the schema: edit the models in :mod:`callemo.service.storage`, add a revision file in
``versions/`` (``rNNNN_what.py``, ``down_revision`` = the previous head) and let
``tests/service/test_service_migrations.py`` check that the upgraded database matches the models.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
#: the revision whose schema databases created before the migrations have
BASELINE = "0001"
#: key of the PostgreSQL advisory lock held while a process upgrades the schema
LOCK_KEY = 0x63616C6C656D6F  # "callemo"


def alembic_config(connection: Connection | None = None):  # -> alembic.config.Config
    """The Alembic configuration of the service's migrations (``connection``: run them on it)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def current(connection: Connection) -> str | None:
    """The revision a database is at (None: not versioned)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the database to ``revision`` (default: the newest) in one transaction, one process at
    a time; a pre-migration database is stamped :data:`BASELINE` first. Returns the revision."""
    from alembic import command

    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the database's write lock until the commit
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        cfg = alembic_config(conn)
        tables = set(inspect(conn).get_table_names())
        if "calls" in tables and "alembic_version" not in tables:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
        rev = current(conn)
        conn.commit()
    return rev
