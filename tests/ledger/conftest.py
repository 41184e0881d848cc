"""Ledger test fixtures: a ledger driven from synchronous tests on a virtual-time loop."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import new_virtual_loop
from hufimm.ledger import Command, Ledger, Outcome, verify
from hufimm.store.db import Database, normalize_database_url
from hufimm.store.migrate import upgrade
from tests.conftest import pg_dsn

T = TypeVar("T")
_counter = itertools.count()


class SimulatedCrash(BaseException):
    """The process dying at a point: not an Exception, so nothing in the writer handles it."""


class Harness:
    """A :class:`Ledger` on a virtual-time loop that survives between synchronous calls.

    ``crash_next_commit`` makes the next batch die just before its commit (as if the process
    were killed there); ``fail_next_commit`` makes it raise an ordinary error instead (the writer
    retries).  ``reopen`` abandons the current writer without draining and starts a fresh one on
    the same database, with empty caches — a restart.
    """

    def __init__(self, db: Database, time_source: VirtualTimeSource, **kwargs: Any) -> None:
        self.db = db
        self.time = time_source
        self.loop = new_virtual_loop(time_source)
        self._kwargs = kwargs
        self._fault: BaseException | None = None
        self.ledger = self._open()

    def _before_commit(self) -> None:
        fault, self._fault = self._fault, None
        if fault is not None:
            raise fault

    def _open(self) -> Ledger:
        ledger = Ledger(self.db, self.time, before_commit=self._before_commit, **self._kwargs)
        self.run(ledger.start())
        return ledger

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def submit(self, cmd: Command) -> Outcome:
        return self.run(self.ledger.submit(cmd))

    def submit_all(self, commands: Sequence[Command]) -> list[Outcome | BaseException]:
        """Submit concurrently (they share one batch); exceptions are returned, not raised."""

        async def together() -> list[Outcome | BaseException]:
            return await asyncio.gather(
                *(self.ledger.submit(c) for c in commands), return_exceptions=True
            )

        return self.run(together())

    def crash_next_commit(self) -> None:
        self._fault = SimulatedCrash()

    def fail_next_commit(self, error: Exception) -> None:
        self._fault = error

    def reopen(self) -> None:
        self.run(self.ledger.stop(drain=False))
        self._fault = None
        self.ledger = self._open()

    def close(self) -> None:
        try:
            self.run(self.ledger.stop())
        finally:
            self.loop.close()

    def check(self) -> None:
        report = verify(self.db)
        assert report.ok, report.violations


@pytest.fixture
def harness(db: Database, time_source: VirtualTimeSource) -> Iterator[Harness]:
    h = Harness(db, time_source)
    try:
        yield h
    finally:
        h.close()


DbFactory = Callable[[], Database]


@pytest.fixture
def fresh_db(db_url: str, tmp_path: Path) -> Iterator[DbFactory]:
    """Makes a new, migrated database on the test's backend for every call (hypothesis examples
    each need an empty ledger: the tables are append-only, they cannot be wiped)."""
    made: list[Database] = []
    schemas: list[str] = []
    dsn = pg_dsn() if not db_url.startswith("sqlite") else None
    libpq = None if dsn is None else dsn.replace("postgresql+psycopg://", "postgresql://")

    def make() -> Database:
        n = next(_counter)
        if dsn is None or libpq is None:
            url = f"sqlite:///{tmp_path / f'example-{n}.db'}"
        else:
            digest = hashlib.sha256(f"{db_url}/{n}".encode()).hexdigest()[:8]
            schema = f"lx_{os.getpid()}_{n}_{digest}"
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            schemas.append(schema)
            base = normalize_database_url(dsn)
            url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False
            )
        database = Database(url)
        upgrade(database)
        made.append(database)
        return database

    try:
        yield make
    finally:
        for database in made:
            database.dispose()
        if libpq is not None and schemas:
            with psycopg.connect(libpq, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
