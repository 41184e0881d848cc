"""hufi: campaigns, status history, participations, key enrolments, tokens, score mirror."""

import sqlalchemy as sa
from alembic import op

from hufimm.store.types import ExactInteger

revision = "hufi_0001"
down_revision = None
branch_labels = ("hufi",)
depends_on = "store_0001"


def upgrade() -> None:
    op.create_table(
        "hufi_campaigns",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("exchange_name", sa.String(40), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("lifecycle", sa.String(20), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("cancellation_requested_ns", sa.BigInteger()),
        sa.Column("finalized_ns", sa.BigInteger()),
        sa.Column("created_ns", sa.BigInteger()),
        sa.Column("fund_amount", ExactInteger(), nullable=False),
        sa.Column("balance", ExactInteger(), nullable=False),
        sa.Column("amount_paid", ExactInteger(), nullable=False),
        sa.Column("reserved_funds", ExactInteger()),
        sa.Column("fund_token", sa.String(42), nullable=False),
        sa.Column("fund_token_symbol", sa.String(20), nullable=False),
        sa.Column("fund_token_decimals", sa.Integer(), nullable=False),
        sa.Column("exchange_oracle_fee_percent", sa.Text()),
        sa.Column("recording_oracle_fee_percent", sa.Text()),
        sa.Column("reputation_oracle_fee_percent", sa.Text()),
        sa.Column("launcher", sa.String(42), nullable=False),
        sa.Column("exchange_oracle", sa.String(42), nullable=False),
        sa.Column("recording_oracle", sa.String(42), nullable=False),
        sa.Column("reputation_oracle", sa.String(42), nullable=False),
        sa.Column("intermediate_results_url", sa.Text()),
        sa.Column("final_results_url", sa.Text()),
        sa.Column("matches_market", sa.Boolean(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hufi_campaign_status_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("lifecycle", sa.String(20), nullable=False),
        sa.Column("previous_lifecycle", sa.String(20)),
        sa.Column("observed_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hufi_participations",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("joined_at_ns", sa.BigInteger()),
        sa.Column("ro_campaign_id", sa.String(64)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("next_attempt_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hufi_key_enrollments",
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("exchange", sa.String(40), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hufi_auth_tokens",
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("oracle_url", sa.String(300), primary_key=True),
        sa.Column("refresh_token_enc", sa.Text(), nullable=False),
        sa.Column("expires_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hufi_score_fills",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("trade_key", sa.String(300), primary_key=True),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("is_maker", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Text(), nullable=False),
    )
    op.create_table(
        "hufi_score_cycles",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("cycle", sa.Integer(), primary_key=True),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("maker_cost", sa.Text(), nullable=False),
        sa.Column("taker_buy_cost", sa.Text(), nullable=False),
        sa.Column("taker_sell_cost", sa.Text(), nullable=False),
        sa.Column("volume", sa.Text(), nullable=False),
        sa.Column("score", sa.Text(), nullable=False),
        sa.Column("fills", sa.Integer(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hufi_score_snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("taken_ns", sa.BigInteger(), nullable=False),
        sa.Column("window_end_ns", sa.BigInteger(), nullable=False),
        sa.Column("our_score", sa.Text(), nullable=False),
        sa.Column("our_volume", sa.Text(), nullable=False),
        sa.Column("oracle_score", sa.Text()),
        sa.Column("market_volume", sa.Text()),
        sa.Column("others_score", sa.Text()),
        sa.Column("reward_pool", sa.Text()),
        sa.Column("estimated_reward", sa.Text()),
        sa.Column("oracle_estimated_reward", sa.Text()),
        sa.Column("score_diff", sa.Text()),
        sa.Column("alarm", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_hufi_campaigns_market", "hufi_campaigns", ["exchange_name", "symbol"])
    op.create_index(
        "ix_hufi_status_history_campaign", "hufi_campaign_status_history", ["chain_id", "address"]
    )
    op.create_index(
        "ix_hufi_score_snapshots_cycle", "hufi_score_snapshots", ["chain_id", "address", "cycle"]
    )


def downgrade() -> None:
    op.drop_index("ix_hufi_score_snapshots_cycle", table_name="hufi_score_snapshots")
    op.drop_index("ix_hufi_status_history_campaign", table_name="hufi_campaign_status_history")
    op.drop_index("ix_hufi_campaigns_market", table_name="hufi_campaigns")
    op.drop_table("hufi_score_snapshots")
    op.drop_table("hufi_score_cycles")
    op.drop_table("hufi_score_fills")
    op.drop_table("hufi_auth_tokens")
    op.drop_table("hufi_key_enrollments")
    op.drop_table("hufi_participations")
    op.drop_table("hufi_campaign_status_history")
    op.drop_table("hufi_campaigns")
