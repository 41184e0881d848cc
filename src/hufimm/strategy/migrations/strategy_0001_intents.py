"""strategy: durable intents, their transition log, per-instance sequence counters."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "strategy_0001"
down_revision = None
branch_labels = ("strategy",)
depends_on = "store_0001"


def upgrade() -> None:
    op.create_table(
        "intents",
        sa.Column("intent_id", sa.String(36), primary_key=True),
        sa.Column("strategy_instance_id", sa.String(100), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("exchange", sa.String(40), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("side", sa.String(4)),
        sa.Column("price", sa.String(60)),
        sa.Column("qty", sa.String(60)),
        sa.Column("client_order_id", sa.String(40)),
        sa.Column("target_client_order_id", sa.String(40)),
        sa.Column("mixin_order_id", sa.String(100)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("strategy_instance_id", "seq", name="uq_intents_instance_seq"),
        sa.CheckConstraint(
            "status IN ('NEW', 'SENT', 'ACKED', 'FAILED', 'UNKNOWN', 'DONE')",
            name="ck_intents_status",
        ),
    )
    op.create_index(
        "ix_intents_market_status", "intents", ["exchange", "account", "symbol", "status", "seq"]
    )
    op.create_index("ix_intents_client_order_id", "intents", ["client_order_id"])
    op.create_table(
        "intent_transitions",
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
    op.create_index("ix_intent_transitions_intent", "intent_transitions", ["intent_id", "id"])
    op.create_table(
        "strategy_counters",
        sa.Column("strategy_instance_id", sa.String(100), primary_key=True),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("strategy_counters")
    op.drop_index("ix_intent_transitions_intent", table_name="intent_transitions")
    op.drop_table("intent_transitions")
    op.drop_index("ix_intents_client_order_id", table_name="intents")
    op.drop_index("ix_intents_market_status", table_name="intents")
    op.drop_table("intents")
