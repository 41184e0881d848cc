"""The strategy's durable tables: intents, their transition log, and per-instance counters."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

intents = sa.Table(
    "intents",
    metadata,
    sa.Column("intent_id", sa.String(36), primary_key=True),
    sa.Column("strategy_instance_id", sa.String(100), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("exchange", sa.String(40), nullable=False),
    sa.Column("account", sa.String(100), nullable=False),
    sa.Column("symbol", sa.String(40), nullable=False),
    sa.Column("side", sa.String(4)),
    sa.Column("price", sa.String(60)),  # exact decimal text
    sa.Column("qty", sa.String(60)),
    sa.Column("client_order_id", sa.String(40)),  # the order this intent creates
    sa.Column("target_client_order_id", sa.String(40)),  # the order it cancels or replaces
    sa.Column("mixin_order_id", sa.String(100)),  # pool / user-order reference
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    # False only for an order meant to take liquidity (strategy_0002).
    sa.Column("post_only", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("strategy_instance_id", "seq", name="uq_intents_instance_seq"),
)

intent_transitions = sa.Table(
    "intent_transitions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("intent_id", sa.String(36), nullable=False),
    sa.Column("from_status", sa.String(10)),
    sa.Column("to_status", sa.String(10), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.Text()),
)

strategy_counters = sa.Table(
    "strategy_counters",
    metadata,
    sa.Column("strategy_instance_id", sa.String(100), primary_key=True),
    sa.Column("next_seq", sa.BigInteger(), nullable=False),
)
