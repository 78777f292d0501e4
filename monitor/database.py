"""Database connections and schema migrations (SQLite by default, PostgreSQL for scale-out)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import ConfigError, MonitorError, SchemaError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def safe_url(url: str) -> str:
    """The URL with any password masked: the form that may appear in logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (the driver we depend on)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite turn on WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {safe_url(url)} is not a valid SQLAlchemy URL "
                          "(e.g. sqlite:///monitor.db or postgresql://user@host/db)") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        # The schema, its migrations and the tests are SQLite's and PostgreSQL's only.
        raise ConfigError(f"database URL {safe_url(url)} is for {backend}; monitor stores its "
                          "data in SQLite or PostgreSQL (e.g. sqlite:///monitor.db or "
                          "postgresql://user@host/db)")
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            directory = Path(parsed.database).parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create {directory} for the SQLite database "
                                  f"{safe_url(url)}: {exc.strerror or exc}; choose a "
                                  "directory you can write to") from None
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is disabled so that BEGIN IMMEDIATE (below) takes
    # the write lock up front: two writers then queue on busy_timeout instead of failing
    # with "database is locked" when a read transaction tries to upgrade.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine plus a session factory, created once per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def single_instance_lock(self) -> IO[str] | None:
        """On SQLite, hold an exclusive lock for this daemon's lifetime: one writer per file.

        Returns the open lock file (keep a reference) or None on PostgreSQL, where several
        daemons share the work. Raises MonitorError if another daemon holds the lock.
        """
        if self.backend != "sqlite":
            return None
        import fcntl

        database = make_url(self.url).database
        if not database or database == ":memory:":
            return None
        path = Path(database).with_name(Path(database).name + ".lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise MonitorError(f"another `monitor run` already uses {database}: SQLite allows one daemon per "
                               "database; stop the other one, or move to PostgreSQL to run several workers") from None
        return handle

    # -- migrations -------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        with self.engine.begin() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            raise SchemaError(f"cannot reach the database {safe_url(self.url)}: {_short(exc)}") from None

    def check_schema(self) -> None:
        """Raise SchemaError unless the schema is at the newest migration this code knows."""
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        current = self.current_revision()
        if current == head:
            return
        if current is None:
            raise SchemaError(f"database {safe_url(self.url)} has no monitor schema yet: "
                              "run `monitor db upgrade` first")
        scripts = ScriptDirectory.from_config(alembic_config(self.url))
        if scripts.get_revision(current) is None:
            raise SchemaError(f"database {safe_url(self.url)} is at revision {current}, which this "
                              "version of monitor does not know: it was upgraded by a newer monitor")
        raise SchemaError(f"database {safe_url(self.url)} is at revision {current} but this monitor "
                          f"needs {head}: run `monitor db upgrade`")


def migrations_dir() -> Path:
    """The Alembic scripts: the repo's alembic/ in a checkout, the packaged copy in a wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "alembic", package / "_alembic"):
        if (candidate / "env.py").exists():
            return candidate
    raise SchemaError("the Alembic migration scripts are missing from this installation; "
                      "reinstall monitor")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    # '%' is configparser interpolation syntax; URLs with %-escapes must survive it.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _short(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
