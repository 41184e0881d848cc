"""mixin: snapshot cursor, handled snapshots, seen assets, transfers and reserved inputs."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hufimm.store.types import ExactInteger

revision = "mixin_0001"
down_revision = None
branch_labels = ("mixin",)
depends_on = "store_0001"

TRANSFER_STATUSES = "('PENDING', 'SUBMITTED', 'CONFIRMED', 'FAILED', 'UNKNOWN')"


def upgrade() -> None:
    op.create_table(
        "mixin_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.String(64), nullable=False),
        sa.Column("position_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "mixin_snapshots",
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
        sa.Column("credited_at", sa.BigInteger(), nullable=True),
        sa.Column("ledger_ref", sa.String(200), nullable=True),
        sa.CheckConstraint(
            "kind IN ('transfer', 'chain', 'outgoing', 'other')", name="ck_mixin_snapshots_kind"
        ),
        sa.CheckConstraint(
            "status IN ('received', 'credited', 'recorded')", name="ck_mixin_snapshots_status"
        ),
    )
    op.create_index("ix_mixin_snapshots_status", "mixin_snapshots", ["status"])
    op.create_index("ix_mixin_snapshots_user", "mixin_snapshots", ["user_id", "created_at_ns"])
    op.create_table(
        "mixin_assets",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("chain_id", sa.String(64), nullable=False),
        sa.Column("precision", sa.Integer(), nullable=False),
        sa.Column("known", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "mixin_transfers",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref_id", sa.String(200), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("units", ExactInteger(), nullable=False),
        sa.Column("memo_hex", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("blocked_reason", sa.String(64), nullable=True),
        sa.Column("raw_unsigned", sa.Text(), nullable=True),
        sa.Column("raw_signed", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(128), nullable=True),
        sa.Column("snapshot_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("kind", "ref_id", name="uq_mixin_transfers_kind_ref"),
        sa.CheckConstraint(f"status IN {TRANSFER_STATUSES}", name="ck_mixin_transfers_status"),
    )
    op.create_index("ix_mixin_transfers_due", "mixin_transfers", ["status", "next_attempt_at"])
    op.create_table(
        "mixin_transfer_inputs",
        sa.Column("output_id", sa.String(64), primary_key=True),
        sa.Column(
            "request_id",
            sa.String(64),
            sa.ForeignKey("mixin_transfers.request_id", name="fk_mixin_inputs_transfer"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sa.String(128), nullable=False),
        sa.Column("output_index", sa.Integer(), nullable=False),
        sa.Column("units", ExactInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_mixin_transfer_inputs_request", "mixin_transfer_inputs", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_mixin_transfer_inputs_request", table_name="mixin_transfer_inputs")
    op.drop_table("mixin_transfer_inputs")
    op.drop_index("ix_mixin_transfers_due", table_name="mixin_transfers")
    op.drop_table("mixin_transfers")
    op.drop_table("mixin_assets")
    op.drop_index("ix_mixin_snapshots_user", table_name="mixin_snapshots")
    op.drop_index("ix_mixin_snapshots_status", table_name="mixin_snapshots")
    op.drop_table("mixin_snapshots")
    op.drop_table("mixin_cursors")
