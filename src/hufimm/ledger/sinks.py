"""Writing one batch's rows in one round of bulk statements, per backend.

The writer builds plain tuples (ids assigned; amounts as ints, or as decimal text where SQLite's
64-bit integers cannot hold them, which both backends store exactly in their exact-integer
columns) and hands them to a sink that talks to the DBAPI connection underneath the SQLAlchemy
transaction: SQLite gets multi-row ``INSERT`` (and upsert) statements, PostgreSQL gets ``COPY``
for the append-only tables and one array ``INSERT ... ON CONFLICT`` per read-model table.  No
SQLAlchemy statement is compiled on this path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Protocol

from sqlalchemy import Connection, Table

from hufimm.ledger.tables import balances, entries, journals, locks, share_entries

Row = tuple[Any, ...]


@dataclass(slots=True)
class BatchRows:
    """Everything one batch writes; balances and locks hold final values (last write wins)."""

    journals: list[Row] = field(default_factory=list)
    entries: list[Row] = field(default_factory=list)
    share_entries: list[Row] = field(default_factory=list)
    balances: list[Row] = field(default_factory=list)
    locks: list[Row] = field(default_factory=list)


class Sink(Protocol):
    def write(self, conn: Connection, rows: BatchRows) -> None: ...


def _columns(table: Table) -> str:
    return ", ".join(c.name for c in table.columns)


def _insert(table: Table, marker: str, rows: int = 1) -> str:
    marks = ", ".join(marker for _ in table.columns)
    values = ", ".join(f"({marks})" for _ in range(rows))
    return f"INSERT INTO {table.name} ({_columns(table)}) VALUES {values}"


def _upsert(table: Table, marker: str, keys: tuple[str, ...], rows: int = 1) -> str:
    updates = ", ".join(
        f"{c.name} = excluded.{c.name}" for c in table.columns if c.name not in keys
    )
    insert = _insert(table, marker, rows)
    return f"{insert} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"


_BALANCE_KEY = ("owner", "asset_id")
_LOCK_KEY = ("order_id", "asset_id")


#: Rows per multi-row ``INSERT`` on SQLite (13 columns x 64 rows stays far below its 32,766
#: parameters).  One statement per block costs SQLite a fraction of a statement per row, and the
#: writer thread gives up and retakes the GIL once per block instead of once per row.
SQLITE_BLOCK = 64


class _SqliteRows:
    """Writes rows to one table: blocks of :data:`SQLITE_BLOCK` rows per statement, the rest
    through ``executemany`` (both statements stay in sqlite3's statement cache).  With ``keys``
    a row whose key exists replaces that row's other columns (the read model)."""

    def __init__(self, table: Table, keys: tuple[str, ...] = ()) -> None:
        if keys:
            self._block = _upsert(table, "?", keys, SQLITE_BLOCK)
            self._single = _upsert(table, "?", keys)
        else:
            self._block = _insert(table, "?", SQLITE_BLOCK)
            self._single = _insert(table, "?")

    def write(self, cursor: Any, rows: list[Row]) -> None:
        block = SQLITE_BLOCK
        whole = len(rows) - len(rows) % block
        for start in range(0, whole, block):
            cursor.execute(self._block, list(chain.from_iterable(rows[start : start + block])))
        if whole < len(rows):
            cursor.executemany(self._single, rows[whole:])


class SqliteSink:
    """Multi-row statements through the raw sqlite3 cursor."""

    _TABLES = (
        ("journals", _SqliteRows(journals)),
        ("entries", _SqliteRows(entries)),
        ("share_entries", _SqliteRows(share_entries)),
        ("balances", _SqliteRows(balances, _BALANCE_KEY)),
        ("locks", _SqliteRows(locks, _LOCK_KEY)),
    )

    def write(self, conn: Connection, rows: BatchRows) -> None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for name, writer in self._TABLES:
                table_rows = getattr(rows, name)
                if table_rows:
                    writer.write(cursor, table_rows)
        finally:
            cursor.close()


def _array_upsert(table: Table, keys: tuple[str, ...], numeric: set[str]) -> str:
    """``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT``: one statement for all rows."""
    arrays = ", ".join(f"%s::{'numeric' if c.name in numeric else 'text'}[]" for c in table.columns)
    updates = ", ".join(
        f"{c.name} = excluded.{c.name}" for c in table.columns if c.name not in keys
    )
    return (
        f"INSERT INTO {table.name} ({_columns(table)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


class PostgresSink:
    """COPY for appends, array upserts for the read model: a handful of round trips a batch."""

    _JOURNALS = f"COPY {journals.name} ({_columns(journals)}) FROM STDIN"
    _ENTRIES = f"COPY {entries.name} ({_columns(entries)}) FROM STDIN"
    _SHARES = f"COPY {share_entries.name} ({_columns(share_entries)}) FROM STDIN"
    _BALANCES = _array_upsert(balances, _BALANCE_KEY, {"available", "locked"})
    _LOCKS = _array_upsert(locks, _LOCK_KEY, {"amount"})

    def write(self, conn: Connection, rows: BatchRows) -> None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for statement, table_rows in (
                (self._JOURNALS, rows.journals),
                (self._ENTRIES, rows.entries),
                (self._SHARES, rows.share_entries),
            ):
                if table_rows:
                    with cursor.copy(statement) as copy:
                        for row in table_rows:
                            copy.write_row(row)
            for statement, table_rows in (
                (self._BALANCES, rows.balances),
                (self._LOCKS, rows.locks),
            ):
                if table_rows:
                    columns = [list(column) for column in zip(*table_rows, strict=True)]
                    cursor.execute(statement, columns)
        finally:
            cursor.close()


def sink_for(dialect_name: str) -> Sink:
    return SqliteSink() if dialect_name == "sqlite" else PostgresSink()
