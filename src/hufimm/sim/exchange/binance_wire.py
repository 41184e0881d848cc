"""The simulated venue's data in Binance spot's JSON shapes (numbers as strings, times in ms)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hufimm.core.timesource import NS_PER_MS
from hufimm.market import Side, TradingRules
from hufimm.sim.exchange.engine import CANCELED, AccountTrade
from hufimm.sim.exchange.events import (
    AccountEvent,
    DepthEvent,
    ExecutionEvent,
    OrderReport,
    StreamEvent,
    TradeEvent,
)
from hufimm.sim.exchange.venue import VenueLimits


def num(value: Decimal) -> str:
    return f"{value:f}"


def ms(ns: int) -> int:
    return ns // NS_PER_MS


def market_id(symbol: str) -> str:
    return symbol.replace("/", "")


def side_wire(side: Side) -> str:
    return "BUY" if side is Side.BUY else "SELL"


def rate_limits(limits: VenueLimits) -> list[dict[str, Any]]:
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": limits.request_weight_per_minute,
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "SECOND",
            "intervalNum": 10,
            "limit": limits.orders_per_10s,
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "DAY",
            "intervalNum": 1,
            "limit": limits.orders_per_day,
        },
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]


def symbol_info(rules: TradingRules) -> dict[str, Any]:
    def decimals(step: Decimal) -> int:
        exponent = step.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 8

    return {
        "symbol": market_id(rules.symbol),
        "status": "TRADING",
        "baseAsset": rules.base,
        "baseAssetPrecision": 8,
        "quoteAsset": rules.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": num(rules.min_price),
                "maxPrice": num(rules.max_price),
                "tickSize": num(rules.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": num(rules.min_qty),
                "maxQty": num(rules.max_qty),
                "stepSize": num(rules.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": num(rules.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
        "quoteAssetPrecisionDigits": decimals(rules.tick_size),
    }


def exchange_info(rules: list[TradingRules], limits: VenueLimits, now_ns: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": ms(now_ns),
        "rateLimits": rate_limits(limits),
        "exchangeFilters": [],
        "symbols": [symbol_info(r) for r in rules],
    }


def _status(report: OrderReport) -> str:
    return report.status


def order_result(report: OrderReport) -> dict[str, Any]:
    """The RESULT fields of an order (POST ack, DELETE, GET and openOrders rows)."""
    return {
        "symbol": market_id(report.symbol),
        "orderId": report.order_id,
        "orderListId": -1,
        "clientOrderId": report.client_order_id,
        "price": num(report.price),
        "origQty": num(report.qty),
        "executedQty": num(report.executed),
        "cummulativeQuoteQty": num(report.cum_quote),
        "status": _status(report),
        "timeInForce": report.tif,
        "type": report.type,
        "side": side_wire(report.side),
        "workingTime": ms(report.created_ns),
        "selfTradePreventionMode": "NONE",
    }


def order_query(report: OrderReport) -> dict[str, Any]:
    row = order_result(report)
    row.update(
        {
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": ms(report.created_ns),
            "updateTime": ms(report.updated_ns),
            "isWorking": True,
            "origQuoteOrderQty": "0.00000000",
        }
    )
    return row


def order_full(report: OrderReport, fills: list[AccountTrade]) -> dict[str, Any]:
    row = order_result(report)
    row["transactTime"] = ms(report.created_ns)
    row["origQuoteOrderQty"] = "0.00000000"
    row["fills"] = [
        {
            "price": num(f.trade.price),
            "qty": num(f.trade.qty),
            "commission": num(f.commission),
            "commissionAsset": f.commission_asset,
            "tradeId": f.trade.trade_id,
        }
        for f in fills
    ]
    return row


def cancel_result(report: OrderReport) -> dict[str, Any]:
    row = order_result(report)
    row["origClientOrderId"] = report.client_order_id
    row["clientOrderId"] = report.cancel_client_id or report.client_order_id
    row["transactTime"] = ms(report.updated_ns)
    return row


def my_trade(row: AccountTrade) -> dict[str, Any]:
    trade = row.trade
    return {
        "symbol": market_id(trade.symbol),
        "id": trade.trade_id,
        "orderId": row.order.order_id,
        "orderListId": -1,
        "price": num(trade.price),
        "qty": num(trade.qty),
        "quoteQty": num(trade.quote_qty),
        "commission": num(row.commission),
        "commissionAsset": row.commission_asset,
        "time": ms(trade.ts_ns),
        "isBuyer": row.order.side is Side.BUY,
        "isMaker": row.is_maker,
        "isBestMatch": True,
    }


def account(
    balances: dict[str, tuple[Decimal, Decimal]],
    fees: tuple[Decimal, Decimal],
    now_ns: int,
    uid: int,
) -> dict[str, Any]:
    maker, taker = fees
    return {
        "makerCommission": int(maker * 10000),
        "takerCommission": int(taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": num(maker), "taker": num(taker), "buyer": "0", "seller": "0"},
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": ms(now_ns),
        "accountType": "SPOT",
        "balances": [
            {"asset": a, "free": num(free), "locked": num(locked)}
            for a, (free, locked) in sorted(balances.items())
        ],
        "permissions": ["SPOT"],
        "uid": uid,
    }


def depth_update(event: DepthEvent) -> dict[str, Any]:
    return {
        "e": "depthUpdate",
        "E": ms(event.ts_ns),
        "s": market_id(event.symbol),
        "U": event.first_id,
        "u": event.last_id,
        "b": [[num(p), num(q)] for p, q in event.bids],
        "a": [[num(p), num(q)] for p, q in event.asks],
    }


def trade(event: TradeEvent) -> dict[str, Any]:
    return {
        "e": "trade",
        "E": ms(event.ts_ns),
        "s": market_id(event.symbol),
        "t": event.trade_id,
        "p": num(event.price),
        "q": num(event.qty),
        "T": ms(event.ts_ns),
        "m": event.buyer_is_maker,
        "M": True,
    }


def execution_report(event: ExecutionEvent) -> dict[str, Any]:
    order = event.order
    canceled = event.exec_type == CANCELED
    return {
        "e": "executionReport",
        "E": ms(event.ts_ns),
        "s": market_id(order.symbol),
        "c": (order.cancel_client_id or f"cancel{order.order_id}")
        if canceled
        else order.client_order_id,
        "S": side_wire(order.side),
        "o": order.type,
        "f": order.tif,
        "q": num(order.qty),
        "p": num(order.price),
        "P": "0.00000000",
        "F": "0.00000000",
        "g": -1,
        "C": order.client_order_id if canceled else "",
        "x": event.exec_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": num(event.last_qty),
        "z": num(order.executed),
        "L": num(event.last_price),
        "n": num(event.commission),
        "N": event.commission_asset,
        "T": ms(event.ts_ns),
        "t": event.trade_id,
        "I": event.trade_id,
        "w": order.status in ("NEW", "PARTIALLY_FILLED"),
        "m": event.is_maker,
        "M": False,
        "O": ms(order.created_ns),
        "Z": num(order.cum_quote),
        "Y": num(event.last_quote),
        "Q": "0.00000000",
        "W": ms(order.created_ns),
        "V": "NONE",
    }


def account_position(event: AccountEvent) -> dict[str, Any]:
    return {
        "e": "outboundAccountPosition",
        "E": ms(event.ts_ns),
        "u": ms(event.ts_ns),
        "B": [{"a": a, "f": num(free), "l": num(locked)} for a, free, locked in event.balances],
    }


def stream_event(event: StreamEvent) -> dict[str, Any] | None:
    """A venue event as its stream payload (``None`` for events no stream carries)."""
    if isinstance(event, DepthEvent):
        return depth_update(event)
    if isinstance(event, TradeEvent):
        return trade(event)
    if isinstance(event, ExecutionEvent):
        return execution_report(event)
    if isinstance(event, AccountEvent):
        return account_position(event)
    return None


def ws_rate_limits(limit: int, used: int) -> list[dict[str, Any]]:
    """The ``rateLimits`` block of a WebSocket API answer."""
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": limit,
            "count": used,
        }
    ]


def signed_value(value: Any) -> str:
    """A WebSocket API parameter as it appears in the signed payload (booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
