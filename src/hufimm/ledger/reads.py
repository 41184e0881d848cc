"""Reading the ledger: balances, locks, history, journals and shares, from any process.

Reads go to the read model and the append-only tables in their own read transaction; they never
touch the writer's cache, so a process without the writer lease (the API, the CLI) sees exactly
what has been committed.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from hufimm.core.errors import InvalidInput
from hufimm.ledger.outcomes import (
    Balance,
    EntryPage,
    Journal,
    LockedFunds,
    ShareEntry,
)
from hufimm.ledger.queries import ENTRIES_WITH_JOURNAL, ENTRY_COLUMNS, row_to_entry, row_to_share
from hufimm.ledger.tables import balances, entries, journals, locks, share_entries
from hufimm.store.db import Database

MAX_PAGE = 1000

_BALANCES_OF = (
    select(balances).where(balances.c.owner == bindparam("owner")).order_by(balances.c.asset_id)
)
_BALANCE = select(balances).where(
    balances.c.owner == bindparam("owner"), balances.c.asset_id == bindparam("asset")
)
_LOCKS_OF = select(locks).where(locks.c.order_id == bindparam("order")).order_by(locks.c.asset_id)
_ENTRIES_OF = (
    select(*ENTRY_COLUMNS)
    .select_from(ENTRIES_WITH_JOURNAL)
    .where(entries.c.owner == bindparam("owner"), entries.c.entry_id < bindparam("before"))
    .order_by(entries.c.entry_id.desc())
    .limit(bindparam("limit"))
)
_JOURNAL = select(journals).where(journals.c.journal_id == bindparam("id"))
_JOURNAL_BY_KEY = select(journals).where(journals.c.idempotency_key == bindparam("key"))
_ENTRIES_OF_JOURNAL = (
    select(*ENTRY_COLUMNS)
    .select_from(ENTRIES_WITH_JOURNAL)
    .where(entries.c.entry_id.between(bindparam("first"), bindparam("last")))
    .order_by(entries.c.entry_id)
)
_SHARES_OF_JOURNAL = (
    select(share_entries)
    .where(share_entries.c.journal_id == bindparam("id"))
    .order_by(share_entries.c.share_entry_id)
)
_SHARES_OF_ORDER = (
    select(share_entries)
    .where(share_entries.c.order_id == bindparam("order"))
    .order_by(share_entries.c.share_entry_id)
)
_SHARES_OF_POOL = (
    select(share_entries)
    .where(
        share_entries.c.pool_id == bindparam("pool"),
        share_entries.c.created_at < bindparam("until"),
    )
    .order_by(share_entries.c.share_entry_id)
)

#: Larger than any entry id: the first page of a history.
_NO_CURSOR = 2**62


def balances_of(db: Database, owner: str) -> list[Balance]:
    """Every asset ``owner`` ever held, including zero balances."""
    with db.read() as conn:
        rows = conn.execute(_BALANCES_OF, {"owner": owner}).all()
    return [Balance(r.owner, r.asset_id, r.available, r.locked) for r in rows]


def balance_of(db: Database, owner: str, asset_id: str) -> Balance:
    """One balance; an account that never existed reads as zero."""
    with db.read() as conn:
        row = conn.execute(_BALANCE, {"owner": owner, "asset": asset_id}).first()
    if row is None:
        return Balance(owner, asset_id, 0, 0)
    return Balance(row.owner, row.asset_id, row.available, row.locked)


def locks_of(db: Database, order_id: str) -> list[LockedFunds]:
    """What a user order has locked now, per asset (assets fully unlocked are left out)."""
    with db.read() as conn:
        rows = conn.execute(_LOCKS_OF, {"order": order_id}).all()
    return [LockedFunds(r.order_id, r.owner, r.asset_id, r.amount) for r in rows if r.amount]


def entries_of(db: Database, owner: str, cursor: int | None = None, limit: int = 100) -> EntryPage:
    """An owner's postings, newest first; pass ``next_cursor`` back for the next page."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be within 1..{MAX_PAGE}")
    before = _NO_CURSOR if cursor is None else cursor
    with db.read() as conn:
        rows = conn.execute(_ENTRIES_OF, {"owner": owner, "before": before, "limit": limit}).all()
    page = tuple(row_to_entry(r) for r in rows)
    next_cursor = page[-1].entry_id if len(page) == limit else None
    return EntryPage(page, next_cursor)


def _journal(db: Database, stmt: object, params: dict[str, object]) -> Journal | None:
    with db.read() as conn:
        row = conn.execute(stmt, params).first()  # type: ignore[call-overload]
        if row is None:
            return None
        first = row.first_entry_id or 0
        posted = conn.execute(
            _ENTRIES_OF_JOURNAL, {"first": first, "last": first + row.entry_count - 1}
        ).all()
        shares = conn.execute(_SHARES_OF_JOURNAL, {"id": row.journal_id}).all()
    return Journal(
        journal_id=row.journal_id,
        idempotency_key=row.idempotency_key,
        type=row.type,
        status=row.status,
        reason=row.reason,
        detail=row.detail,
        memo=row.memo,
        ref_type=row.ref_type,
        ref_id=row.ref_id,
        payload_hash=row.payload_hash,
        created_at=row.created_at,
        entries=tuple(row_to_entry(r) for r in posted),
        share_entries=tuple(row_to_share(r) for r in shares),
    )


def journal(db: Database, journal_id: int) -> Journal | None:
    return _journal(db, _JOURNAL, {"id": journal_id})


def journal_by_key(db: Database, idempotency_key: str) -> Journal | None:
    """The journal recorded under an idempotency key (applied or rejected), if any."""
    return _journal(db, _JOURNAL_BY_KEY, {"key": idempotency_key})


def shares_of_order(db: Database, order_id: str) -> list[ShareEntry]:
    with db.read() as conn:
        rows = conn.execute(_SHARES_OF_ORDER, {"order": order_id}).all()
    return [row_to_share(r) for r in rows]


def shares_of_pool(db: Database, pool_id: str, until_ns: int | None = None) -> list[ShareEntry]:
    """A pool's share entries in ledger order (those created before ``until_ns`` if given)."""
    until = _NO_CURSOR if until_ns is None else until_ns
    with db.read() as conn:
        rows = conn.execute(_SHARES_OF_POOL, {"pool": pool_id, "until": until}).all()
    return [row_to_share(r) for r in rows]
