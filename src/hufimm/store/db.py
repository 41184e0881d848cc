"""Database engines for SQLite (the default) and PostgreSQL (production and the test suite).

SQLite runs in WAL mode with foreign keys on, a busy timeout and ``synchronous=FULL`` (a
committed batch survives power loss).  Its write transactions start with ``BEGIN IMMEDIATE`` so
two writers queue on the busy timeout instead of failing on a lock upgrade; read-only work uses
:meth:`Database.read`, which starts a deferred transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from hufimm.core.errors import ConfigError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000
_TXN = "hufimm.txn"


class _Txn:
    """What :meth:`Database.begin` keeps for one transaction."""

    __slots__ = ("callbacks", "state")

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []
        self.state: dict[object, Any] = {}


def normalize_database_url(raw: str) -> URL:
    """Parse and check a database URL; ``postgresql://`` means psycopg 3."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "database_url",
            f"malformed DSN {raw!r} (expected sqlite:///path.db or postgresql://user@host/db)",
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url
    if backend == "postgresql":
        if not url.database:
            raise ConfigError("database_url", f"no database name in {url.render_as_string()!r}")
        return url.set(drivername="postgresql+psycopg")
    raise ConfigError(
        "database_url", f"unsupported backend {backend!r}: use sqlite:/// or postgresql://"
    )


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # the persistent reader: every statement is its own read transaction
        conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'IMMEDIATE')}")


class Database:
    """One engine plus the few ways hufimm opens transactions on it."""

    def __init__(self, url: str | URL, *, sqlite_synchronous: str = "FULL", echo: bool = False):
        self.url = normalize_database_url(url) if isinstance(url, str) else url
        self.backend = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        self._local = threading.local()
        self._readers: list[Connection] = []
        self._readers_lock = threading.Lock()
        self._memory = self.backend == "sqlite" and self.url.database in (None, "", ":memory:")
        if self.backend == "sqlite":
            if self._memory:
                kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
            self.engine = create_engine(self.url, **kwargs)
            _configure_sqlite(self.engine, sqlite_synchronous.upper())
        else:
            kwargs["pool_pre_ping"] = True
            self.engine = create_engine(self.url, **kwargs)

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on an exception.

        Callbacks registered with :meth:`after_commit` run once the commit succeeded (and never
        after a rollback): in-memory copies of rows are updated only with what is durable.
        """
        txn = _Txn()
        with self.engine.begin() as conn:
            conn.info[_TXN] = txn
            try:
                yield conn
            finally:
                conn.info.pop(_TXN, None)
        for callback in txn.callbacks:
            callback()

    @staticmethod
    def transaction_state(conn: Connection) -> dict[object, Any] | None:
        """A dict that lives as long as ``conn``'s transaction (``None`` when ``conn`` was not
        opened by :meth:`begin`)."""
        txn: _Txn | None = conn.info.get(_TXN)
        return None if txn is None else txn.state

    @staticmethod
    def after_commit(conn: Connection, callback: Callable[[], None]) -> bool:
        """Run ``callback`` after ``conn``'s transaction commits; ``False`` (nothing queued)
        when ``conn`` was not opened by :meth:`begin`, whose commit cannot be observed."""
        txn: _Txn | None = conn.info.get(_TXN)
        if txn is None:
            return False
        txn.callbacks.append(callback)
        return True

    @contextmanager
    def read(self, *, consistent: bool = False) -> Iterator[Connection]:
        """Read-only work.

        By default it runs on this thread's persistent reader: a connection of its own,
        read-only at the database level and in autocommit mode, so each statement sees the
        latest committed data.  That costs a fraction of a pooled connection with a transaction
        per read, which matters for the engine's many small reads per tick.  Work that needs
        one snapshot across several statements passes ``consistent=True`` (a deferred read
        transaction on SQLite, so it takes no write lock).
        """
        if consistent or self._memory:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="DEFERRED")
                try:
                    yield conn
                finally:
                    conn.rollback()
            return
        reader: Connection | None = getattr(self._local, "reader", None)
        if reader is None or reader.closed or reader.invalidated:
            reader = self._open_reader()
        yield reader

    def _open_reader(self) -> Connection:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.detach()  # never back to the pool: its session settings stay ours
        if self.is_sqlite:
            conn.exec_driver_sql("PRAGMA query_only = ON")
        else:
            conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        self._local.reader = conn
        with self._readers_lock:
            self._readers.append(conn)
        return conn

    def transact(self, fn: Callable[[Connection], T]) -> T:
        with self.begin() as conn:
            return fn(conn)

    def dispose(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()
        self._local = threading.local()
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for logs and reports."""
        return self.url.render_as_string(hide_password=True)
