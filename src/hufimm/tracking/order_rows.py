"""How a tracked order is stored: the prebuilt statements the tracker runs on every stream
event, the conversion between rows and :class:`TrackedOrder` (canonical decimal text, so SQL can
compare quantities as text), and the write-through copy of live rows the engine's tracker keeps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hufimm.core.money import MONEY_CONTEXT
from hufimm.market import Fill, Side
from hufimm.store.db import Database
from hufimm.tracking.model import (
    LIVE_STATUSES,
    TrackedOrder,
    TrackedStatus,
)
from hufimm.tracking.tables import tracking_fills, tracking_orders

ZERO = Decimal(0)

ORDER_COLS = tracking_orders.c
FILL_COLS = tracking_fills.c
DECIMAL_COLUMNS = ("price", "qty", "filled_qty", "filled_quote", "fills_qty", "fills_quote")
MUTABLE = (
    "exchange_order_id",
    "status",
    "filled_qty",
    "filled_quote",
    "fills_qty",
    "fills_quote",
    "fees",
    "reason",
    "not_found_count",
    "first_not_found_at",
    "last_not_found_at",
    "cancel_requested_at",
    "venue_updated_ns",
    "updated_at",
    "terminal_at",
)

# Built once: these run for every stream event.
BY_CLIENT_ID = select(tracking_orders).where(ORDER_COLS.client_order_id == bindparam("cid"))
BY_CLIENT_IDS = select(tracking_orders).where(
    ORDER_COLS.client_order_id.in_(bindparam("cids", expanding=True))
)
BY_VENUE_ID = select(tracking_orders).where(
    ORDER_COLS.exchange == bindparam("exchange"),
    ORDER_COLS.symbol == bindparam("symbol"),
    ORDER_COLS.exchange_order_id == bindparam("order_id"),
)
SAVE = (
    update(tracking_orders)
    .where(ORDER_COLS.client_order_id == bindparam("b_cid"))
    .values({name: bindparam(f"b_{name}") for name in MUTABLE})
)
INSERT_ORDER = insert(tracking_orders)
FILLS_OF_ORDER = select(
    FILL_COLS.qty, FILL_COLS.quote_qty, FILL_COLS.fee, FILL_COLS.fee_asset
).where(
    FILL_COLS.exchange == bindparam("exchange"),
    FILL_COLS.symbol == bindparam("symbol"),
    FILL_COLS.order_id == bindparam("order_id"),
)
LINK_FILLS = (
    update(tracking_fills)
    .where(
        FILL_COLS.exchange == bindparam("b_exchange"),
        FILL_COLS.symbol == bindparam("b_symbol"),
        FILL_COLS.order_id == bindparam("b_order_id"),
        FILL_COLS.client_order_id.is_(None),
    )
    .values(client_order_id=bindparam("b_cid"))
)
FILL_KEY = ["exchange", "symbol", "trade_id", "order_id"]
INSERT_FILL = {
    "sqlite": sqlite.insert(tracking_fills)
    .on_conflict_do_nothing(index_elements=FILL_KEY)
    .returning(FILL_COLS.fill_id),
    "postgresql": postgresql.insert(tracking_fills)
    .on_conflict_do_nothing(constraint="uq_tracking_fills")
    .returning(FILL_COLS.fill_id),
}
LIVE_OF_MARKET = select(tracking_orders).where(
    ORDER_COLS.exchange == bindparam("exchange"),
    ORDER_COLS.account == bindparam("account"),
    ORDER_COLS.symbol == bindparam("symbol"),
    ORDER_COLS.status.in_([s.value for s in LIVE_STATUSES]),
)
# Quantities are stored canonically, so text inequality is numeric inequality.
FILLS_DIFFER = select(tracking_orders).where(
    ORDER_COLS.exchange == bindparam("exchange"),
    ORDER_COLS.account == bindparam("account"),
    ORDER_COLS.symbol == bindparam("symbol"),
    ORDER_COLS.filled_qty != ORDER_COLS.fills_qty,
)
LIVE_OF_ACCOUNT = select(tracking_orders).where(
    ORDER_COLS.exchange == bindparam("exchange"),
    ORDER_COLS.account == bindparam("account"),
    ORDER_COLS.status.in_([s.value for s in LIVE_STATUSES]),
)


def decimal_of(text: str) -> Decimal:
    return Decimal(text)


def row_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for name in DECIMAL_COLUMNS:
        data[name] = decimal_of(data[name])
    data["status"] = TrackedStatus(data["status"])
    data["side"] = Side(data["side"])
    data["fees"] = {asset: decimal_of(v) for asset, v in json.loads(data["fees"]).items()}
    return data


def to_order(data: Mapping[str, Any]) -> TrackedOrder:
    return TrackedOrder(
        client_order_id=data["client_order_id"],
        exchange=data["exchange"],
        account=data["account"],
        symbol=data["symbol"],
        exchange_order_id=data["exchange_order_id"],
        intent_id=data["intent_id"],
        origin=data["origin"],
        side=data["side"],
        price=data["price"],
        qty=data["qty"],
        post_only=bool(data["post_only"]),
        status=data["status"],
        filled_qty=data["filled_qty"],
        filled_quote=data["filled_quote"],
        fills_qty=data["fills_qty"],
        fills_quote=data["fills_quote"],
        fees=dict(data["fees"]),
        reason=data["reason"],
        not_found_count=data["not_found_count"],
        first_not_found_at=data["first_not_found_at"],
        cancel_requested_at=data["cancel_requested_at"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        terminal_at=data["terminal_at"],
    )


def to_fill(row: Any) -> Fill:
    return Fill(
        exchange=row.exchange,
        account=row.account,
        symbol=row.symbol,
        trade_id=row.trade_id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        side=Side(row.side),
        price=decimal_of(row.price),
        qty=decimal_of(row.qty),
        quote_qty=decimal_of(row.quote_qty),
        fee=decimal_of(row.fee),
        fee_asset=row.fee_asset,
        is_maker=bool(row.is_maker),
        ts_ns=row.ts_ns,
    )


def fees_json(fees: Mapping[str, Decimal]) -> str:
    return json.dumps({k: str(v) for k, v in sorted(fees.items())}, separators=(",", ":"))


def canonical(value: Decimal) -> str:
    """One spelling per number (``0.0100`` and ``0.01`` agree), so SQL can compare the text."""
    return format(value.normalize(MONEY_CONTEXT), "f")


def db_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Python values of a row → column values (canonical decimal text, enum values, JSON)."""
    out = dict(data)
    for name in DECIMAL_COLUMNS:
        if name in out:
            out[name] = canonical(out[name])
    out["status"] = TrackedStatus(out["status"]).value
    if "side" in out:
        out["side"] = Side(out["side"]).value
    out["fees"] = fees_json(out["fees"])
    return out


class LiveRows:
    """Committed copies of live order rows, kept by the tracker that writes them.

    ``rows`` holds live rows only (a row that turns terminal leaves); ``accounts`` are the
    accounts whose live rows were all loaded once, so their open orders come from memory.
    Written rows enter only after their transaction committed (:meth:`Database.after_commit`);
    a rolled-back write never reaches the copy.  A restart starts empty and reads the table.
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.accounts: dict[tuple[str, str], set[str]] = {}

    def commit(self, staged: Mapping[str, Mapping[str, Any]]) -> None:
        for cid, data in staged.items():
            ids = self.accounts.get((data["exchange"], data["account"]))
            if data["status"].is_live:
                self.rows[cid] = dict(data)
                if ids is not None:
                    ids.add(cid)
            else:
                self.rows.pop(cid, None)
                if ids is not None:
                    ids.discard(cid)

    def of_account(self, db: Database, exchange: str, account: str) -> list[dict[str, Any]]:
        ids = self.accounts.get((exchange, account))
        if ids is None:
            with db.read() as c:
                rows = c.execute(LIVE_OF_ACCOUNT, {"exchange": exchange, "account": account})
                loaded = [row_dict(r) for r in rows]
            for data in loaded:
                self.rows[data["client_order_id"]] = data
            ids = self.accounts[(exchange, account)] = {d["client_order_id"] for d in loaded}
        return [self.rows[cid] for cid in ids]


def fill_totals(
    conn: Connection, exchange: str, symbol: str, order_id: str
) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    """Quantity, quote cost and fees per asset of an order's stored fills, exactly."""
    qty, quote, fees = ZERO, ZERO, dict[str, Decimal]()
    ctx = MONEY_CONTEXT
    key = {"exchange": exchange, "symbol": symbol, "order_id": order_id}
    for row in conn.execute(FILLS_OF_ORDER, key):
        qty = ctx.add(qty, decimal_of(row.qty))
        quote = ctx.add(quote, decimal_of(row.quote_qty))
        if row.fee_asset:
            fees[row.fee_asset] = ctx.add(fees.get(row.fee_asset, ZERO), decimal_of(row.fee))
    return qty, quote, fees


def link_fills(conn: Connection, exchange: str, symbol: str, order_id: str, cid: str) -> None:
    """Give fills recorded before their order was known (by venue id only) its client id."""
    conn.execute(
        LINK_FILLS,
        {"b_exchange": exchange, "b_symbol": symbol, "b_order_id": order_id, "b_cid": cid},
    )
