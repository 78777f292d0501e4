"""Alembic environment: runs monitor's migrations on the connection monitor hands it.

`monitor db upgrade` passes its open connection in config.attributes; the plain `alembic`
command (developers) builds one from sqlalchemy.url, or from monitor's own configuration.
"""

from __future__ import annotations

from alembic import context

from monitor.models import Base

target_metadata = Base.metadata


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    from monitor.config import load_settings
    from monitor.database import make_engine

    url = context.config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = make_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `monitor db upgrade`")
main()
