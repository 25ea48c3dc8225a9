"""Alembic's entry point for the service's migrations: runs them on the connection
:func:`callemo.service.migrations.upgrade` hands over (``config.attributes["connection"]``), or
on ``sqlalchemy.url`` of an ``alembic.ini`` when Alembic's own command line runs them."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("the callemo service's migrations run online only (give sqlalchemy.url)")
run()
