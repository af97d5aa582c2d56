"""Alembic environment: the target metadata is every model of every capability."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from identity.db import create_db_engine
from identity.models import metadata

config = context.config


def _url() -> str:
    # Set by identity.schema; absent when a developer runs the ``alembic`` command directly.
    has_ini = config.file_config.has_section(config.config_ini_section)
    url = config.get_main_option("sqlalchemy.url") if has_ini else None
    if url:
        return url
    from identity.settings import Settings

    return Settings.load().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(_url(), pool=False)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
