"""Tables of the HuFi module (created by ``hufi/migrations``).

Launcher amounts are base-unit integers (:class:`ExactInteger`); oracle-side figures (costs,
scores, rewards) are exact decimals kept as text (:class:`DecimalText`), which round-trips every
digit on SQLite and PostgreSQL alike.  Such columns are never summed in SQL: the estimator
reads, adds in Python under the money context, and writes back inside one transaction.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from hufimm.core.money import to_decimal
from hufimm.store.types import ExactInteger


class DecimalText(TypeDecorator[Decimal]):
    """An exact ``Decimal`` stored as its text."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"DecimalText takes Decimal, got {type(value).__name__}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else to_decimal(str(value))


metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

campaigns = sa.Table(
    "hufi_campaigns",
    metadata,
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
    sa.Column("exchange_oracle_fee_percent", DecimalText()),
    sa.Column("recording_oracle_fee_percent", DecimalText()),
    sa.Column("reputation_oracle_fee_percent", DecimalText()),
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

status_history = sa.Table(
    "hufi_campaign_status_history",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("chain_id", sa.Integer(), nullable=False),
    sa.Column("address", sa.String(42), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("lifecycle", sa.String(20), nullable=False),
    sa.Column("previous_lifecycle", sa.String(20)),
    sa.Column("observed_ns", sa.BigInteger(), nullable=False),
)

participations = sa.Table(
    "hufi_participations",
    metadata,
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

key_enrollments = sa.Table(
    "hufi_key_enrollments",
    metadata,
    sa.Column("wallet", sa.String(42), primary_key=True),
    sa.Column("exchange", sa.String(40), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(64)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text()),
    sa.Column("updated_ns", sa.BigInteger(), nullable=False),
)

auth_tokens = sa.Table(
    "hufi_auth_tokens",
    metadata,
    sa.Column("wallet", sa.String(42), primary_key=True),
    sa.Column("oracle_url", sa.String(300), primary_key=True),
    sa.Column("refresh_token_enc", sa.Text(), nullable=False),
    sa.Column("expires_ns", sa.BigInteger(), nullable=False),
    sa.Column("updated_ns", sa.BigInteger(), nullable=False),
)

score_fills = sa.Table(
    "hufi_score_fills",
    metadata,
    sa.Column("chain_id", sa.Integer(), primary_key=True),
    sa.Column("address", sa.String(42), primary_key=True),
    sa.Column("trade_key", sa.String(300), primary_key=True),
    sa.Column("cycle", sa.Integer(), nullable=False),
    sa.Column("ts_ns", sa.BigInteger(), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("is_maker", sa.Boolean(), nullable=False),
    sa.Column("cost", DecimalText(), nullable=False),
)

score_cycles = sa.Table(
    "hufi_score_cycles",
    metadata,
    sa.Column("chain_id", sa.Integer(), primary_key=True),
    sa.Column("address", sa.String(42), primary_key=True),
    sa.Column("cycle", sa.Integer(), primary_key=True),
    sa.Column("start_ns", sa.BigInteger(), nullable=False),
    sa.Column("end_ns", sa.BigInteger(), nullable=False),
    sa.Column("maker_cost", DecimalText(), nullable=False),
    sa.Column("taker_buy_cost", DecimalText(), nullable=False),
    sa.Column("taker_sell_cost", DecimalText(), nullable=False),
    sa.Column("volume", DecimalText(), nullable=False),
    sa.Column("score", DecimalText(), nullable=False),
    sa.Column("fills", sa.Integer(), nullable=False),
    sa.Column("updated_ns", sa.BigInteger(), nullable=False),
)

score_snapshots = sa.Table(
    "hufi_score_snapshots",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("chain_id", sa.Integer(), nullable=False),
    sa.Column("address", sa.String(42), nullable=False),
    sa.Column("cycle", sa.Integer(), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("taken_ns", sa.BigInteger(), nullable=False),
    sa.Column("window_end_ns", sa.BigInteger(), nullable=False),
    sa.Column("our_score", DecimalText(), nullable=False),
    sa.Column("our_volume", DecimalText(), nullable=False),
    sa.Column("oracle_score", DecimalText()),
    sa.Column("market_volume", DecimalText()),
    sa.Column("others_score", DecimalText()),
    sa.Column("reward_pool", DecimalText()),
    sa.Column("estimated_reward", DecimalText()),
    sa.Column("oracle_estimated_reward", DecimalText()),
    sa.Column("score_diff", DecimalText()),
    sa.Column("alarm", sa.Boolean(), nullable=False),
)


def upsert(
    conn: sa.Connection, table: sa.Table, values: dict[str, Any], keys: tuple[str, ...]
) -> None:
    """Insert ``values`` or update the row with the same ``keys`` (SQLite and PostgreSQL)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(values)
    updates = {name: stmt.excluded[name] for name in values if name not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates))
