"""Queries on the ledger's tables, shared by the writer (bulk loads) and the read API.

Statements are built once here; lists go through expanding bind parameters in chunks small
enough for every backend's parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, func, select

from hufimm.ledger.accounts import Bucket
from hufimm.ledger.outcomes import (
    Applied,
    Balance,
    Entry,
    Rejected,
    RejectReason,
    ShareEntry,
    ShareKind,
)
from hufimm.ledger.state import AccountKey, OrderState, Outstanding
from hufimm.ledger.tables import balances, entries, journals, locks, share_entries

T = TypeVar("T")

#: Values per IN list: far below SQLite's and PostgreSQL's parameter limits.
CHUNK = 500

_LOCKS_BY_ORDER = select(locks.c.order_id, locks.c.asset_id, locks.c.owner, locks.c.amount).where(
    locks.c.order_id.in_(bindparam("orders", expanding=True))
)
_SHARES_BY_ORDER = (
    select(share_entries)
    .where(share_entries.c.order_id.in_(bindparam("orders", expanding=True)))
    .order_by(share_entries.c.share_entry_id)
)
_JOURNALS_BY_KEY = select(
    journals.c.journal_id,
    journals.c.idempotency_key,
    journals.c.payload_hash,
    journals.c.status,
    journals.c.reason,
    journals.c.detail,
    journals.c.first_entry_id,
    journals.c.entry_count,
).where(journals.c.idempotency_key.in_(bindparam("keys", expanding=True)))
_AFTER_BY_ID = select(
    entries.c.journal_id,
    entries.c.owner,
    entries.c.asset_id,
    entries.c.available_after,
    entries.c.locked_after,
).where(entries.c.entry_id.in_(bindparam("ids", expanding=True)))
_SHARES_BY_JOURNAL = select(
    share_entries.c.journal_id, share_entries.c.kind, share_entries.c.shares
).where(share_entries.c.journal_id.in_(bindparam("ids", expanding=True)))
_MAX_IDS = (
    select(func.max(journals.c.journal_id)).scalar_subquery(),
    select(func.max(entries.c.entry_id)).scalar_subquery(),
    select(func.max(share_entries.c.share_entry_id)).scalar_subquery(),
)
_MAX_IDS_STMT = select(*_MAX_IDS)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_orders(conn: Connection, order_ids: Sequence[str]) -> dict[str, OrderState]:
    """The orders among ``order_ids`` that ever locked funds, with locks and outstanding shares."""
    found: dict[str, OrderState] = {}
    for part in chunks(sorted(set(order_ids))):
        for row in conn.execute(_LOCKS_BY_ORDER, {"orders": list(part)}):
            order = found.setdefault(row.order_id, OrderState(row.owner))
            order.locks[row.asset_id] = row.amount
        for share in conn.execute(_SHARES_BY_ORDER, {"orders": list(part)}):
            owner = found.get(share.order_id)
            if owner is None:  # impossible for data the writer wrote; verify reports it
                continue
            if share.kind == ShareKind.MINT:
                owner.shares = Outstanding(share.shares, share.pool_id, Decimal(share.price))
            else:
                owner.shares = None
    return found


class _RawIn:
    """``SELECT <columns> FROM <table> WHERE <column> IN (<values>)`` on the raw DBAPI cursor.

    The writer's per-batch probes (which keys exist, which accounts) skip SQLAlchemy's statement
    machinery: the SQL text is built once per backend (and, on SQLite, per chunk size).
    """

    def __init__(self, columns: str, table: str, column: str) -> None:
        self._head = f"SELECT {columns} FROM {table} WHERE {column}"
        self._postgresql = f"{self._head} = ANY(%s)"
        self._sqlite: dict[int, str] = {}

    def rows(self, conn: Connection, values: Sequence[str]) -> list[tuple[Any, ...]]:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if conn.dialect.name == "postgresql":
                cursor.execute(self._postgresql, (list(values),))
                return list(cursor.fetchall())
            found: list[tuple[Any, ...]] = []
            for part in chunks(values):
                sql = self._sqlite.get(len(part))
                if sql is None:
                    sql = f"{self._head} IN ({', '.join('?' * len(part))})"
                    self._sqlite[len(part)] = sql
                cursor.execute(sql, part)
                found.extend(cursor.fetchall())
            return found
        finally:
            cursor.close()


_KEYS = _RawIn("idempotency_key", journals.name, "idempotency_key")
_ACCOUNTS = _RawIn("owner, asset_id, available, locked", balances.name, "owner")


def recorded_keys(conn: Connection, keys: Sequence[str]) -> list[str]:
    """Which of ``keys`` already have a journal (fresh keys, the common case, find nothing)."""
    return [row[0] for row in _KEYS.rows(conn, keys)]


def load_accounts(conn: Connection, keys: Iterable[AccountKey]) -> dict[AccountKey, list[int]]:
    """``[available, locked]`` of the accounts among ``keys`` that exist."""
    wanted = set(keys)
    found: dict[AccountKey, list[int]] = {}
    for owner, asset_id, available, locked in _ACCOUNTS.rows(conn, sorted({o for o, _ in wanted})):
        if (owner, asset_id) in wanted:
            # Decimal from PostgreSQL's NUMERIC, text from SQLite: both exact.
            found[(owner, asset_id)] = [int(available), int(locked)]
    return found


def load_outcomes(
    conn: Connection, keys: Sequence[str]
) -> dict[str, tuple[str, Applied | Rejected]]:
    """Recorded outcomes by idempotency key: ``{key: (payload_hash, outcome)}``."""
    found: dict[str, tuple[str, Applied | Rejected]] = {}
    applied: dict[int, tuple[str, str]] = {}
    entry_ids: list[int] = []
    for part in chunks(sorted(set(keys))):
        for journal in conn.execute(_JOURNALS_BY_KEY, {"keys": list(part)}):
            if journal.status == "rejected":
                rejected = Rejected(RejectReason(journal.reason), journal.detail or "")
                found[journal.idempotency_key] = (journal.payload_hash, rejected)
                continue
            applied[journal.journal_id] = (journal.idempotency_key, journal.payload_hash)
            if journal.entry_count:
                first = journal.first_entry_id
                entry_ids.extend(range(first, first + journal.entry_count))
    if not applied:
        return found
    after: dict[int, dict[AccountKey, Balance]] = {jid: {} for jid in applied}
    minted: dict[int, int] = {}
    burned: dict[int, int] = {}
    for ids_part in chunks(entry_ids):
        for entry in conn.execute(_AFTER_BY_ID, {"ids": list(ids_part)}):
            after[entry.journal_id][(entry.owner, entry.asset_id)] = Balance(
                entry.owner, entry.asset_id, entry.available_after, entry.locked_after
            )
    for id_part in chunks(sorted(applied)):
        for share in conn.execute(_SHARES_BY_JOURNAL, {"ids": list(id_part)}):
            target = minted if share.kind == ShareKind.MINT else burned
            target[share.journal_id] = share.shares
    for jid, (key, payload_hash) in applied.items():
        touched = tuple(b for _, b in sorted(after[jid].items()))
        outcome = Applied(jid, touched, minted.get(jid, 0), burned.get(jid, 0))
        found[key] = (payload_hash, outcome)
    return found


def max_ids(conn: Connection) -> tuple[int, int, int]:
    """The largest journal, entry and share entry ids written so far (0 when none)."""
    row = conn.execute(_MAX_IDS_STMT).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


#: Entries with their journal's key, reference and time (stored once, on the journal).
ENTRY_COLUMNS = (
    *entries.c,
    journals.c.idempotency_key,
    journals.c.ref_type,
    journals.c.ref_id,
    journals.c.created_at,
)
ENTRIES_WITH_JOURNAL = entries.join(journals, journals.c.journal_id == entries.c.journal_id)


def row_to_entry(row: Any) -> Entry:
    """An entry from a row of :data:`ENTRY_COLUMNS`."""
    return Entry(
        entry_id=row.entry_id,
        journal_id=row.journal_id,
        owner=row.owner,
        asset_id=row.asset_id,
        bucket=Bucket.AVAILABLE.value if row.order_id is None else Bucket.LOCKED.value,
        order_id=row.order_id,
        amount=row.amount,
        type=row.type,
        ref_type=row.ref_type,
        ref_id=row.ref_id,
        created_at=row.created_at,
        idempotency_key=row.idempotency_key,
        available_after=row.available_after,
        locked_after=row.locked_after,
    )


def row_to_share(row: Any) -> ShareEntry:
    return ShareEntry(
        share_entry_id=row.share_entry_id,
        journal_id=row.journal_id,
        order_id=row.order_id,
        owner=row.owner,
        pool_id=row.pool_id,
        kind=ShareKind(row.kind),
        shares=row.shares,
        price=None if row.price is None else Decimal(row.price),
        created_at=row.created_at,
    )
