"""The ledger's tables (created by ``ledger/migrations``); nothing outside ``ledger`` imports them.

Append-only (database triggers reject UPDATE and DELETE): ``ledger_journals`` (one row per
command, applied or rejected, keyed by its idempotency key), ``ledger_entries`` (the postings)
and ``ledger_share_entries`` (mints and burns).  An entry's key, reference and time are its
journal's (joined on read, stored once); a journal's entries are the contiguous id range
``[first_entry_id, first_entry_id + entry_count)``, which spares the hot table a second index.
A posting without ``order_id`` is in the *available* bucket, one with it is *locked* for it.

The read model — ``ledger_balances`` per (owner, asset) and ``ledger_locks`` per (user order,
asset) — is rewritten by the writer in the same transaction as the entries it summarises;
``hufimm ledger verify`` re-folds the entries and compares.  Ids are assigned by the single
writer, so a batch is written with plain ``executemany``/COPY and never needs a returned id.
"""

from __future__ import annotations

import sqlalchemy as sa

from hufimm.store.types import ExactInteger

metadata = sa.MetaData()

#: 64-bit ids on PostgreSQL; INTEGER (the rowid alias, also 64-bit) on SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

journals = sa.Table(
    "ledger_journals",
    metadata,
    sa.Column("journal_id", Id, primary_key=True, autoincrement=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(40)),
    sa.Column("detail", sa.Text()),
    sa.Column("memo", sa.Text()),
    sa.Column("ref_type", sa.String(64), nullable=False),
    sa.Column("ref_id", sa.String(200), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("first_entry_id", sa.BigInteger()),
    sa.Column("entry_count", sa.Integer(), nullable=False),
)

entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("entry_id", Id, primary_key=True, autoincrement=False),
    sa.Column("journal_id", sa.BigInteger(), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("asset_id", sa.String(200), nullable=False),
    sa.Column("order_id", sa.String(200)),
    sa.Column("amount", ExactInteger(), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("available_after", ExactInteger(), nullable=False),
    sa.Column("locked_after", ExactInteger(), nullable=False),
    sa.Index("ix_ledger_entries_owner_entry", "owner", "entry_id"),
)

share_entries = sa.Table(
    "ledger_share_entries",
    metadata,
    sa.Column("share_entry_id", Id, primary_key=True, autoincrement=False),
    sa.Column("journal_id", sa.BigInteger(), nullable=False),
    sa.Column("order_id", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("pool_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("shares", ExactInteger(), nullable=False),
    sa.Column("price", sa.String(64)),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_ledger_share_entries_order", "order_id", "share_entry_id"),
    sa.Index("ix_ledger_share_entries_journal", "journal_id"),
    sa.Index("ix_ledger_share_entries_pool", "pool_id", "share_entry_id"),
)

balances = sa.Table(
    "ledger_balances",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("asset_id", sa.String(200), primary_key=True),
    sa.Column("available", ExactInteger(), nullable=False),
    sa.Column("locked", ExactInteger(), nullable=False),
)

locks = sa.Table(
    "ledger_locks",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True),
    sa.Column("asset_id", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("amount", ExactInteger(), nullable=False),
)

#: The tables whose rows are never changed once written.
APPEND_ONLY = (journals.name, entries.name, share_entries.name)
