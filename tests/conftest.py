"""Shared fixtures: virtual time, metrics, and databases on SQLite and PostgreSQL.

PostgreSQL tests run against ``HUFIMM_TEST_PG_DSN`` (or the local server when reachable), each
in a schema of its own that is dropped afterwards.  With ``HUFIMM_TEST_PG_REQUIRED=1`` (CI) an
unreachable server fails the run instead of skipping.  The number of PostgreSQL tests that passed
is printed and written to ``.pytest-pg-count`` so CI can refuse a run where none did.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from hufimm.core.metrics import Metrics
from hufimm.core.timesource import VirtualTimeSource
from hufimm.store.db import Database, normalize_database_url
from hufimm.store.migrate import upgrade

settings.register_profile(
    "hufimm",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hufimm"))

PG_ENV = "HUFIMM_TEST_PG_DSN"
PG_REQUIRED_ENV = "HUFIMM_TEST_PG_REQUIRED"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_COUNT_FILE = Path(__file__).resolve().parent.parent / ".pytest-pg-count"

_pg_dsn_cache: list[str | None] = []
_schema_counter = itertools.count()
_pg_passed = 0


def pg_dsn() -> str | None:
    """The PostgreSQL DSN for tests, or ``None`` when no server is reachable."""
    if not _pg_dsn_cache:
        dsn = os.environ.get(PG_ENV) or DEFAULT_PG_DSN
        try:
            psycopg.connect(_libpq(dsn), connect_timeout=3).close()
        except psycopg.Error as exc:
            if os.environ.get(PG_ENV) or os.environ.get(PG_REQUIRED_ENV) == "1":
                _pg_dsn_cache.append(None)
                pytest.fail(f"PostgreSQL at {dsn} is required but unreachable: {exc}")
            dsn = None
        _pg_dsn_cache.append(dsn)
    return _pg_dsn_cache[0]


def _libpq(dsn: str) -> str:
    return dsn.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database URL whose ``search_path`` is a fresh schema, dropped after the test."""
    dsn = pg_dsn()
    if dsn is None:
        if os.environ.get(PG_REQUIRED_ENV) == "1":
            pytest.fail("PostgreSQL tests are required (HUFIMM_TEST_PG_REQUIRED=1)")
        pytest.skip("no PostgreSQL server reachable (set HUFIMM_TEST_PG_DSN)")
    digest = hashlib.sha256(f"{request.node.nodeid}/{os.getpid()}".encode()).hexdigest()[:10]
    schema = f"t_{os.getpid()}_{next(_schema_counter)}_{digest}"
    with psycopg.connect(_libpq(dsn), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = normalize_database_url(dsn).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(dsn), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hufimm-test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite (file, WAL) and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on each backend."""
    database = Database(db_url)
    upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def time_source() -> VirtualTimeSource:
    return VirtualTimeSource()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


# ---------------------------------------------------------------- PostgreSQL test accounting
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _pg_passed
    if report.when == "call" and report.passed and "pg" in report.keywords:
        _pg_passed += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(f"PostgreSQL tests passed: {_pg_passed}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        PG_COUNT_FILE.write_text(f"{_pg_passed}\n")
