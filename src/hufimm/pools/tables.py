"""Pools and the user orders that fund them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

pools = sa.Table(
    "pools",
    metadata,
    sa.Column("pool_id", sa.String(64), primary_key=True),
    sa.Column("exchange", sa.String(40), nullable=False),
    sa.Column("account", sa.String(100), nullable=False),
    sa.Column("symbol", sa.String(40), nullable=False),
    sa.Column("base_asset_id", sa.String(64), nullable=False),  # ledger (Mixin) asset ids
    sa.Column("quote_asset_id", sa.String(64), nullable=False),
    sa.Column("strategy", sa.Text(), nullable=False),  # StrategyConfig as JSON
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

pool_orders = sa.Table(
    "pool_orders",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),  # the user order (ledger lock id)
    sa.Column("pool_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)
