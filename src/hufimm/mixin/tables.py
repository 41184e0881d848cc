"""Tables of the Mixin integration (created by ``mixin/migrations``).

- ``mixin_cursors``: where each feed reader stands (the snapshot cursor), moved in the same
  transaction as the rows it covers.
- ``mixin_snapshots``: every snapshot the watcher handled, with what it made of it (credited
  deposit, recorded chain deposit, our own outgoing transfer), the decoded memo and flags.
- ``mixin_assets``: assets seen in snapshots, with whether the configuration knows them.
- ``mixin_transfers``: durable transfer intents and their state machine; the unsigned raw and
  the request id are stored before Mixin hears of them, so a retry sends the same bytes.
- ``mixin_transfer_inputs``: outputs reserved by a transfer (primary key = output id), so two
  in-flight transfers never pick the same input.
"""

from __future__ import annotations

import sqlalchemy as sa

from hufimm.store.types import ExactInteger

metadata = sa.MetaData()

mixin_cursors = sa.Table(
    "mixin_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.String(64), nullable=False),
    sa.Column("position_ns", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

mixin_snapshots = sa.Table(
    "mixin_snapshots",
    metadata,
    sa.Column("snapshot_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("asset_id", sa.String(64), nullable=False),
    sa.Column("units", ExactInteger(), nullable=False),
    sa.Column("memo_hex", sa.Text(), nullable=False),
    sa.Column("memo_status", sa.String(32), nullable=False),
    sa.Column("memo", sa.Text(), nullable=False),
    sa.Column("flags", sa.String(200), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("transaction_hash", sa.String(128), nullable=False),
    sa.Column("deposit_hash", sa.String(200), nullable=False),
    sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
    sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    sa.Column("credited_at", sa.BigInteger()),
    sa.Column("ledger_ref", sa.String(200)),
)

mixin_assets = sa.Table(
    "mixin_assets",
    metadata,
    sa.Column("asset_id", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("chain_id", sa.String(64), nullable=False),
    sa.Column("precision", sa.Integer(), nullable=False),
    sa.Column("known", sa.Boolean(), nullable=False),
    sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
)

mixin_transfers = sa.Table(
    "mixin_transfers",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ref_id", sa.String(200), nullable=False),
    sa.Column("recipient_id", sa.String(64), nullable=False),
    sa.Column("asset_id", sa.String(64), nullable=False),
    sa.Column("units", ExactInteger(), nullable=False),
    sa.Column("memo_hex", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("blocked_reason", sa.String(64)),
    sa.Column("raw_unsigned", sa.Text()),
    sa.Column("raw_signed", sa.Text()),
    sa.Column("tx_hash", sa.String(128)),
    sa.Column("snapshot_id", sa.String(64)),
    sa.Column("error_code", sa.Integer()),
    sa.Column("error", sa.Text()),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
    sa.Column("submitted_at", sa.BigInteger()),
    sa.Column("finished_at", sa.BigInteger()),
)

mixin_transfer_inputs = sa.Table(
    "mixin_transfer_inputs",
    metadata,
    sa.Column("output_id", sa.String(64), primary_key=True),
    sa.Column(
        "request_id",
        sa.String(64),
        sa.ForeignKey("mixin_transfers.request_id"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("transaction_hash", sa.String(128), nullable=False),
    sa.Column("output_index", sa.Integer(), nullable=False),
    sa.Column("units", ExactInteger(), nullable=False),
    sa.Column("sequence", sa.BigInteger(), nullable=False),
)
