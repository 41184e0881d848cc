"""Tables of the trackers (created by ``tracking/migrations``).

- ``tracking_orders``: the shadow exchange-order tracker, one row per order of ours (client id
  is the key; it is known before the venue's id).  Quantities and prices are exact decimal text
  (never summed in SQL); ``filled_qty`` is the venue's cumulative figure, ``fills_qty`` the sum
  of the fills recorded for the order, so a shortfall between them shows missing fills.
- ``tracking_fills``: every trade of the account, once per (exchange, symbol, trade id, order id)
  — one trade id appears twice when two of our orders trade with each other.
- ``tracking_fill_cursors``: the last trade id a complete REST page covered, per market.
- ``tracking_balances``: the newest balance seen per asset, from the stream or REST by time.
- ``tracking_reconciliations``: one summary row per reconciliation run (what it found and did).
- ``tracking_market_health``: each market's verdict from reconciliation (strategies read it).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DEC = sa.String(100)  # exact decimal text

tracking_orders = sa.Table(
    "tracking_orders",
    metadata,
    sa.Column("client_order_id", sa.String(64), primary_key=True),
    sa.Column("exchange", sa.String(64), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("exchange_order_id", sa.String(64)),
    sa.Column("intent_id", sa.String(64)),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("price", _DEC, nullable=False),
    sa.Column("qty", _DEC, nullable=False),
    sa.Column("post_only", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("filled_qty", _DEC, nullable=False),
    sa.Column("filled_quote", _DEC, nullable=False),
    sa.Column("fills_qty", _DEC, nullable=False),
    sa.Column("fills_quote", _DEC, nullable=False),
    sa.Column("fees", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Column("not_found_count", sa.Integer(), nullable=False),
    sa.Column("first_not_found_at", sa.BigInteger()),
    sa.Column("last_not_found_at", sa.BigInteger()),
    sa.Column("cancel_requested_at", sa.BigInteger()),
    sa.Column("venue_updated_ns", sa.BigInteger()),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("terminal_at", sa.BigInteger()),
)

tracking_fills = sa.Table(
    "tracking_fills",
    metadata,
    sa.Column("fill_id", _ID, primary_key=True, autoincrement=True),
    sa.Column("exchange", sa.String(64), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("trade_id", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("client_order_id", sa.String(64)),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("price", _DEC, nullable=False),
    sa.Column("qty", _DEC, nullable=False),
    sa.Column("quote_qty", _DEC, nullable=False),
    sa.Column("fee", _DEC, nullable=False),
    sa.Column("fee_asset", sa.String(32), nullable=False),
    sa.Column("is_maker", sa.Boolean(), nullable=False),
    sa.Column("ts_ns", sa.BigInteger(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("exchange", "symbol", "trade_id", "order_id", name="uq_tracking_fills"),
)

tracking_fill_cursors = sa.Table(
    "tracking_fill_cursors",
    metadata,
    sa.Column("exchange", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("last_trade_id", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

tracking_balances = sa.Table(
    "tracking_balances",
    metadata,
    sa.Column("exchange", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("asset", sa.String(32), primary_key=True),
    sa.Column("free", _DEC, nullable=False),
    sa.Column("locked", _DEC, nullable=False),
    sa.Column("ts_ns", sa.BigInteger(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

tracking_reconciliations = sa.Table(
    "tracking_reconciliations",
    metadata,
    sa.Column("run_id", _ID, primary_key=True, autoincrement=True),
    sa.Column("exchange", sa.String(64), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("started_at", sa.BigInteger(), nullable=False),
    sa.Column("finished_at", sa.BigInteger(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("found", sa.Text(), nullable=False),
    sa.Column("did", sa.Text(), nullable=False),
    sa.Column("problems", sa.Text(), nullable=False),
)

tracking_market_health = sa.Table(
    "tracking_market_health",
    metadata,
    sa.Column("exchange", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("healthy", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("since", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("run_id", sa.BigInteger()),
)
