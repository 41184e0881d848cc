"""tracking: shadow orders, fills, fill cursors, balances, reconciliation runs, market health."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tracking_0001"
down_revision = None
branch_labels = ("tracking",)
depends_on = "store_0001"

ORDER_STATUSES = (
    "('PENDING_SUBMIT', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_CANCEL', "
    "'FILLED', 'CANCELED', 'EXPIRED', 'REJECTED', 'LOST')"
)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEC = sa.String(100)


def upgrade() -> None:
    op.create_table(
        "tracking_orders",
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("exchange", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("exchange_order_id", sa.String(64), nullable=True),
        sa.Column("intent_id", sa.String(64), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("price", DEC, nullable=False),
        sa.Column("qty", DEC, nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_qty", DEC, nullable=False),
        sa.Column("filled_quote", DEC, nullable=False),
        sa.Column("fills_qty", DEC, nullable=False),
        sa.Column("fills_quote", DEC, nullable=False),
        sa.Column("fees", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("not_found_count", sa.Integer(), nullable=False),
        sa.Column("first_not_found_at", sa.BigInteger(), nullable=True),
        sa.Column("last_not_found_at", sa.BigInteger(), nullable=True),
        sa.Column("cancel_requested_at", sa.BigInteger(), nullable=True),
        sa.Column("venue_updated_ns", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("terminal_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(f"status IN {ORDER_STATUSES}", name="ck_tracking_orders_status"),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_tracking_orders_side"),
        sa.CheckConstraint("origin IN ('intent', 'adopted')", name="ck_tracking_orders_origin"),
        sa.UniqueConstraint(
            "exchange", "symbol", "exchange_order_id", name="uq_tracking_orders_venue_id"
        ),
    )
    op.create_index(
        "ix_tracking_orders_market_status",
        "tracking_orders",
        ["exchange", "account", "symbol", "status"],
    )
    op.create_index("ix_tracking_orders_intent", "tracking_orders", ["intent_id"])
    op.create_table(
        "tracking_fills",
        sa.Column("fill_id", ID, primary_key=True, autoincrement=True),
        sa.Column("exchange", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=True),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("price", DEC, nullable=False),
        sa.Column("qty", DEC, nullable=False),
        sa.Column("quote_qty", DEC, nullable=False),
        sa.Column("fee", DEC, nullable=False),
        sa.Column("fee_asset", sa.String(32), nullable=False),
        sa.Column("is_maker", sa.Boolean(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("exchange", "symbol", "trade_id", "order_id", name="uq_tracking_fills"),
    )
    op.create_index("ix_tracking_fills_order", "tracking_fills", ["exchange", "symbol", "order_id"])
    op.create_index("ix_tracking_fills_client", "tracking_fills", ["client_order_id"])
    op.create_table(
        "tracking_fill_cursors",
        sa.Column("exchange", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(64), primary_key=True),
        sa.Column("last_trade_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "tracking_balances",
        sa.Column("exchange", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("asset", sa.String(32), primary_key=True),
        sa.Column("free", DEC, nullable=False),
        sa.Column("locked", DEC, nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "tracking_reconciliations",
        sa.Column("run_id", ID, primary_key=True, autoincrement=True),
        sa.Column("exchange", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("found", sa.Text(), nullable=False),
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('clean', 'resolved', 'unresolved', 'incomplete')",
            name="ck_tracking_reconciliations_outcome",
        ),
    )
    op.create_index(
        "ix_tracking_reconciliations_account",
        "tracking_reconciliations",
        ["exchange", "account", "run_id"],
    )
    op.create_table(
        "tracking_market_health",
        sa.Column("exchange", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(64), primary_key=True),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tracking_market_health")
    op.drop_index("ix_tracking_reconciliations_account", table_name="tracking_reconciliations")
    op.drop_table("tracking_reconciliations")
    op.drop_table("tracking_balances")
    op.drop_table("tracking_fill_cursors")
    op.drop_index("ix_tracking_fills_client", table_name="tracking_fills")
    op.drop_index("ix_tracking_fills_order", table_name="tracking_fills")
    op.drop_table("tracking_fills")
    op.drop_index("ix_tracking_orders_intent", table_name="tracking_orders")
    op.drop_index("ix_tracking_orders_market_status", table_name="tracking_orders")
    op.drop_table("tracking_orders")
