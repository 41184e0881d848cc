"""pools: pools and the user orders that fund them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pools_0001"
down_revision = None
branch_labels = ("pools",)
depends_on = "store_0001"


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("pool_id", sa.String(64), primary_key=True),
        sa.Column("exchange", sa.String(40), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("base_asset_id", sa.String(64), nullable=False),
        sa.Column("quote_asset_id", sa.String(64), nullable=False),
        sa.Column("strategy", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("exchange", "account", "symbol", name="uq_pools_market"),
        sa.CheckConstraint("status IN ('active', 'stopped')", name="ck_pools_status"),
    )
    op.create_table(
        "pool_orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("pool_id", sa.String(64), sa.ForeignKey("pools.pool_id"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pool_orders_pool", "pool_orders", ["pool_id"])


def downgrade() -> None:
    op.drop_index("ix_pool_orders_pool", table_name="pool_orders")
    op.drop_table("pool_orders")
    op.drop_table("pools")
