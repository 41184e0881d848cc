"""ccxt's unified structures → hufimm's types, exactly.

The connector sets ccxt's number type to ``Decimal``, so most values arrive exact.  Order book
levels are the exception (ccxt.pro stores them as floats whatever the number type); those are
recovered through their shortest ``repr`` and quantized to the market's tick and step, which is
exact for any price or size a venue can express in up to 15 significant digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from hufimm.core.money import MONEY_CONTEXT, Rounding, quantize_to_step
from hufimm.core.timesource import NS_PER_MS
from hufimm.market import Balance, Fill, Order, OrderStatus, Side, TradingRules

ZERO = Decimal(0)


def dec(value: Any) -> Decimal | None:
    """An exact Decimal from whatever ccxt handed over (``None`` stays ``None``)."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("boolean is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def dec0(value: Any) -> Decimal:
    result = dec(value)
    return ZERO if result is None else result


def ms_to_ns(value: Any) -> int | None:
    return None if value is None else int(value) * NS_PER_MS


def trading_rules(market: Mapping[str, Any]) -> TradingRules:
    """Rules from a ccxt market; Binance-style filters in ``info`` win when present."""
    info = market.get("info") or {}
    filters = {f.get("filterType"): f for f in info.get("filters", []) if isinstance(f, dict)}
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    price_filter = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    tick = dec(price_filter.get("tickSize")) or dec(precision.get("price"))
    step = dec(lot.get("stepSize")) or dec(precision.get("amount"))
    if tick is None or step is None or tick <= 0 or step <= 0:
        raise ValueError(f"market {market.get('symbol')} has no usable tick/step size")
    return TradingRules(
        symbol=str(market["symbol"]),
        base=str(market["base"]),
        quote=str(market["quote"]),
        tick_size=tick.normalize() if tick == tick.to_integral_value() else tick,
        step_size=step.normalize() if step == step.to_integral_value() else step,
        min_qty=dec(lot.get("minQty")) or dec0((limits.get("amount") or {}).get("min")),
        max_qty=dec(lot.get("maxQty")) or dec0((limits.get("amount") or {}).get("max")),
        min_price=dec(price_filter.get("minPrice")) or dec0((limits.get("price") or {}).get("min")),
        max_price=dec(price_filter.get("maxPrice")) or dec0((limits.get("price") or {}).get("max")),
        min_notional=dec(notional.get("minNotional"))
        or dec0((limits.get("cost") or {}).get("min")),
    )


def levels(
    raw: Iterable[Any], rules: TradingRules | None, side: Side
) -> tuple[tuple[Decimal, Decimal], ...]:
    """Book levels best first, quantized to the market's tick and step."""
    out: list[tuple[Decimal, Decimal]] = []
    for entry in raw:
        price, qty = dec0(entry[0]), dec0(entry[1])
        if rules is not None:
            price = quantize_to_step(price, rules.tick_size, Rounding.HALF_EVEN)
            qty = quantize_to_step(qty, rules.step_size, Rounding.HALF_EVEN)
        out.append((price, qty))
    out.sort(key=lambda level: level[0], reverse=side is Side.BUY)
    return tuple(out)


_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}

_VENUE_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.PENDING_CANCEL,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


def order(raw: Mapping[str, Any], fallback_client_id: str | None = None) -> Order:
    info = raw.get("info") or {}
    filled = dec0(raw.get("filled"))
    venue_status = info.get("X") or info.get("status") if isinstance(info, dict) else None
    status = _VENUE_STATUS.get(str(venue_status)) if venue_status else None
    if status is None:
        unified = raw.get("status")
        if unified == "open" or unified is None:
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
        else:
            status = _STATUS.get(str(unified), OrderStatus.NEW)
    price = dec0(raw.get("price"))
    cost = dec(raw.get("cost"))
    if cost is None:
        average = dec(raw.get("average"))
        cost = MONEY_CONTEXT.multiply(average, filled) if average is not None else ZERO
    order_type = str(info.get("type") or info.get("o") or "") if isinstance(info, dict) else ""
    return Order(
        symbol=str(raw.get("symbol")),
        order_id=str(raw.get("id")),
        client_order_id=raw.get("clientOrderId") or fallback_client_id,
        side=Side(str(raw.get("side")).lower()),
        price=price,
        qty=dec0(raw.get("amount")),
        filled_qty=filled,
        filled_quote=cost,
        status=status,
        post_only=bool(raw.get("postOnly")) or order_type == "LIMIT_MAKER",
        created_ns=ms_to_ns(raw.get("timestamp")),
        updated_ns=ms_to_ns(
            raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp") or raw.get("timestamp")
        ),
    )


def fill(raw: Mapping[str, Any], exchange_id: str, account: str) -> Fill:
    info = raw.get("info") or {}
    fee = raw.get("fee") or {}
    price = dec0(raw.get("price"))
    qty = dec0(raw.get("amount"))
    cost = dec(raw.get("cost"))
    client_id = None
    if isinstance(info, dict):
        client_id = info.get("C") or info.get("c") or info.get("clientOrderId") or None
    return Fill(
        exchange=exchange_id,
        account=account,
        symbol=str(raw.get("symbol")),
        trade_id=str(raw.get("id")),
        order_id=str(raw.get("order")),
        client_order_id=client_id,
        side=Side(str(raw.get("side")).lower()),
        price=price,
        qty=qty,
        quote_qty=cost if cost is not None else MONEY_CONTEXT.multiply(price, qty),
        fee=dec0(fee.get("cost")),
        fee_asset=str(fee.get("currency") or ""),
        is_maker=raw.get("takerOrMaker") == "maker",
        ts_ns=ms_to_ns(raw.get("timestamp")) or 0,
    )


_BALANCE_KEYS = {"info", "free", "used", "total", "timestamp", "datetime", "debt"}


def balances(raw: Mapping[str, Any]) -> dict[str, Balance]:
    out: dict[str, Balance] = {}
    for asset, entry in raw.items():
        if asset in _BALANCE_KEYS or not isinstance(entry, dict):
            continue
        free, used = dec0(entry.get("free")), dec0(entry.get("used"))
        out[asset] = Balance(asset, free, used)
    return out
