"""Reading an account's truth over REST: open orders, order lookups, trade history, balances.

Shared by the user-stream tracker (its sweeps after a reconnect and while polling) and the
reconciliation job.  Every answer goes through the shadow tracker's monotonic rules, so a sweep
racing the stream can only confirm or advance what the stream said.

Trade history is read from a persisted cursor (the last trade id a complete page covered) and
each page's fills are recorded together with the cursor in one transaction.  The cursor stays
behind trades younger than ``fill_settle_s``: a venue whose trade history lags its matching
engine may still insert an older id, and re-reading a few recent trades costs nothing because
fills are recorded once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, insert, select, update

from hufimm.core.errors import HufimmError
from hufimm.core.logs import get_logger
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.exchange import Connector
from hufimm.market import Balance, ExchangeRejected, ExchangeRetryable, Fill, Order, RejectReason
from hufimm.store.db import Database
from hufimm.tracking.balances import BalanceTracker
from hufimm.tracking.model import TrackedOrder
from hufimm.tracking.orders import OrderTracker
from hufimm.tracking.tables import tracking_fill_cursors

_log = get_logger("tracking.sync")
_C = tracking_fill_cursors.c
_CURSOR = select(_C.last_trade_id).where(
    _C.exchange == bindparam("exchange"),
    _C.account == bindparam("account"),
    _C.symbol == bindparam("symbol"),
)
_INSERT_CURSOR = insert(tracking_fill_cursors)
_UPDATE_CURSOR = (
    update(tracking_fill_cursors)
    .where(
        _C.exchange == bindparam("b_exchange"),
        _C.account == bindparam("b_account"),
        _C.symbol == bindparam("b_symbol"),
    )
    .values(last_trade_id=bindparam("b_trade_id"), updated_at=bindparam("b_now"))
)


def _trade_key(trade_id: str) -> tuple[int, int | str]:
    """Numeric ids compare as numbers (Binance), others as text."""
    return (0, int(trade_id)) if trade_id.isdigit() else (1, trade_id)


@dataclass
class Lookups:
    """What looking up tracked orders the venue's open list lacks found out."""

    resolved: list[TrackedOrder] = field(default_factory=list)  # the venue answered with the order
    not_found: list[TrackedOrder] = field(default_factory=list)  # definitive not-found (counted)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (client id, error): no answer


@dataclass
class SweepResult:
    complete: bool = True
    errors: list[str] = field(default_factory=list)
    applied: int = 0
    new_fills: int = 0
    unknown_ours: list[Order] = field(default_factory=list)


class AccountSync:
    """REST reads of one exchange account, applied to the trackers."""

    def __init__(
        self,
        connector: Connector,
        orders: OrderTracker,
        balances: BalanceTracker,
        db: Database,
        time_source: TimeSource,
        fill_settle_s: float = 5.0,
        fill_page_limit: int = 500,
    ) -> None:
        self.connector = connector
        self.exchange = connector.exchange_id
        self.account = connector.account
        self.orders = orders
        self.balances = balances
        self._db = db
        self._time = time_source
        self._settle_ns = round(fill_settle_s * NS_PER_SECOND)
        self._page_limit = fill_page_limit

    # ------------------------------------------------------------------ orders
    def apply_open(self, venue_open: Iterable[Order]) -> tuple[int, list[Order], list[Order]]:
        """Apply the venue's open orders: (how many were ours and tracked, unknown of ours,
        foreign ones)."""
        applied, unknown, foreign = 0, [], []
        for order in venue_open:
            if self.orders.apply_order(self.exchange, self.account, order) is not None:
                applied += 1
            elif self.orders.is_ours(order.client_order_id):
                unknown.append(order)
            else:
                foreign.append(order)
        return applied, unknown, foreign

    async def look_up_missing(self, symbol: str, venue_open: Sequence[Order]) -> Lookups:
        """Ask for each live tracked order the venue's open list does not hold."""
        listed = {o.client_order_id for o in venue_open} | {o.order_id for o in venue_open}
        result = Lookups()
        for tracked in self.orders.open_orders(self.exchange, self.account, symbol):
            if tracked.client_order_id in listed or tracked.exchange_order_id in listed:
                continue
            try:
                order = await self.connector.fetch_order(symbol, tracked.client_order_id)
            except ExchangeRejected as exc:
                if exc.reason is not RejectReason.NOT_FOUND:
                    result.failed.append((tracked.client_order_id, str(exc)))
                    continue
                result.not_found.append(
                    self.orders.record_not_found(tracked.client_order_id, definitive=True)
                )
                continue
            except HufimmError as exc:
                self.orders.record_not_found(tracked.client_order_id, definitive=False)
                result.failed.append((tracked.client_order_id, str(exc)))
                continue
            applied = self.orders.apply_order(self.exchange, self.account, order)
            if applied is not None:
                result.resolved.append(applied)
        return result

    # ------------------------------------------------------------------ fills
    def cursor(self, symbol: str, conn: Connection | None = None) -> str | None:
        key = {"exchange": self.exchange, "account": self.account, "symbol": symbol}
        if conn is not None:
            value = conn.execute(_CURSOR, key).scalar()
        else:
            with self._db.read() as c:
                value = c.execute(_CURSOR, key).scalar()
        return None if value is None else str(value)

    async def backfill_fills(self, symbol: str) -> int:
        """Record every fill after the cursor; returns how many were new."""
        after = self.cursor(symbol)
        new = 0
        while True:
            page = await self.connector.fetch_fills(symbol, after=after, limit=self._page_limit)
            page.sort(key=lambda f: _trade_key(f.trade_id))
            new += self._record_page(symbol, page)
            if len(page) < self._page_limit or not page:
                return new
            after = page[-1].trade_id

    def _record_page(self, symbol: str, page: list[Fill]) -> int:
        now = self._time.time_ns()
        settled = None
        for fill in page:
            if fill.ts_ns > now - self._settle_ns:
                break
            settled = fill.trade_id
        new = 0
        with self._db.begin() as conn:
            for fill in page:
                if self.orders.apply_fill(fill, source="rest", conn=conn):
                    new += 1
            if settled is not None:
                self._move_cursor(conn, symbol, settled, now)
        return new

    def _move_cursor(self, conn: Connection, symbol: str, trade_id: str, now: int) -> None:
        current = self.cursor(symbol, conn)
        if current is None:
            conn.execute(
                _INSERT_CURSOR,
                {
                    "exchange": self.exchange,
                    "account": self.account,
                    "symbol": symbol,
                    "last_trade_id": trade_id,
                    "updated_at": now,
                },
            )
        elif _trade_key(trade_id) > _trade_key(current):
            conn.execute(
                _UPDATE_CURSOR,
                {
                    "b_exchange": self.exchange,
                    "b_account": self.account,
                    "b_symbol": symbol,
                    "b_trade_id": trade_id,
                    "b_now": now,
                },
            )

    # ------------------------------------------------------------------ balances
    async def refresh_balances(self) -> dict[str, Balance]:
        sent_at = self._time.time_ns()
        balances = await self.connector.fetch_balances()
        self.balances.apply(self.exchange, self.account, balances, sent_at, "rest")
        return balances

    # ------------------------------------------------------------------ the sweep
    async def sweep(self, symbols: Sequence[str]) -> SweepResult:
        """Everything the stream may have missed: orders, fills since the cursor, balances.

        Fills come first, so the order reports that follow find them already recorded.
        """
        result = SweepResult()
        for symbol in symbols:
            try:
                result.new_fills += await self.backfill_fills(symbol)
            except HufimmError as exc:
                result.complete = False
                result.errors.append(f"{symbol} fills: {exc}")
            venue_open: list[Order] = []
            try:
                venue_open = await self.connector.fetch_open_orders(symbol)
            except HufimmError as exc:
                result.complete = False
                result.errors.append(f"{symbol} open orders: {exc}")
                if isinstance(exc, ExchangeRetryable) and exc.rate_limited:
                    continue  # throttled: order-by-order lookups would only make it worse
            applied, unknown, _ = self.apply_open(venue_open)
            result.applied += applied
            result.unknown_ours.extend(unknown)
            lookups = await self.look_up_missing(symbol, venue_open)
            result.applied += len(lookups.resolved)
            if lookups.failed:
                result.complete = False
                result.errors.extend(f"{cid}: {err}" for cid, err in lookups.failed)
        try:
            await self.refresh_balances()
        except HufimmError as exc:
            result.complete = False
            result.errors.append(f"balances: {exc}")
        if result.errors:
            _log.info("sweep_incomplete", account=self.account, errors=result.errors[:5])
        return result
