"""Migrations and exact integers on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select

from hufimm.store.db import Database
from hufimm.store.migrate import alembic_config, current_heads, migration_locations, upgrade
from hufimm.store.types import ExactInteger

amounts = sa.Table(
    "t_amounts",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("units", ExactInteger(), nullable=False),
)


def test_migrations_apply_every_branch_and_are_idempotent(db_url: str) -> None:
    database = Database(db_url)
    try:
        assert current_heads(database) == []
        heads = upgrade(database)
        assert heads
        with database.read() as conn:
            script = ScriptDirectory.from_config(alembic_config(conn))
        # A module branch that depends on store_0001 hides it from the heads; what matters is
        # that every revision of every module's branch is applied.
        applied = {rev.revision for rev in script.iterate_revisions(heads, "base")}
        assert applied == {rev.revision for rev in script.walk_revisions()}
        assert "store_0001" in applied
        branches = {label for rev in script.walk_revisions() for label in rev.branch_labels}
        assert len(branches) == len(migration_locations())  # one branch per module
        assert upgrade(database) == heads
        with database.read() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert {"outbox_events", "consumer_receipts", "leases"} <= tables
    finally:
        database.dispose()


def test_exact_integers_survive_beyond_int64(db: Database) -> None:
    values = [10**30, -(10**30) - 1, 2**63, 2**64 + 1, 0, -1, 10**24 * 7 + 3]
    with db.begin() as conn:
        amounts.create(conn)
        conn.execute(insert(amounts), [{"id": i, "units": v} for i, v in enumerate(values)])
    with db.read() as conn:
        got = [row.units for row in conn.execute(select(amounts).order_by(amounts.c.id))]
    assert got == values
    assert all(type(v) is int for v in got)
    if not db.is_sqlite:
        with db.read() as conn:
            total = conn.execute(select(sa.func.sum(amounts.c.units))).scalar_one()
        assert total == sum(values)


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    try:
        with database.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    finally:
        database.dispose()
