"""Fixtures of the service tests: the database backends.

The storage and API tests run on both backends the service supports: SQLite (a file per test) and
PostgreSQL (one throw-away server per test session, started with ``pgserver`` from the
``test`` extra, and a fresh database per test). They ask for ``new_db``, a function returning the
URL of a new empty database of the module's ``backend``; the test ids end in ``[sqlite]`` or
``[postgresql]`` (``-k sqlite`` / ``-k postgresql`` runs one half). The server starts only when a
PostgreSQL test runs.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[Any]:
    """A PostgreSQL server of this test session (stopped and removed at its end)."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server
    server.cleanup()


def pg_database(server: Any) -> str:
    """A new empty database on ``server``: its SQLAlchemy URL (driver psycopg 3)."""
    import psycopg

    name = f"callemo_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = server.get_uri(database=name)
    assert uri.startswith("postgresql://"), uri
    return "postgresql+psycopg://" + uri.removeprefix("postgresql://")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def new_db(backend, request, tmp_path_factory) -> Callable[[], str]:
    """``new_db() -> URL`` of a new empty database of the module's backend."""
    if backend == "postgresql":
        server = request.getfixturevalue("pg_server")
        return lambda: pg_database(server)
    folder = tmp_path_factory.mktemp("sqlite")
    counter = itertools.count()
    return lambda: f"sqlite:///{folder / f'db{next(counter)}.sqlite'}"


@pytest.fixture
def pg_url(pg_server) -> str:
    """A new empty PostgreSQL database (for the tests of PostgreSQL's own behaviour)."""
    return pg_database(pg_server)
