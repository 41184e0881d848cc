"""The shadow exchange-order tracker: durable rows for every order of ours and every fill.

Write first: the execution worker records an order (:meth:`OrderTracker.record_pending`) in the
same transaction as its intent, before the venue hears of it; acks, stream updates, REST reads,
fills and reconciliation then move the row forward through the monotonic state machine of
:mod:`hufimm.tracking.model`.  Each method that writes takes an optional ``conn`` so callers can
compose it with their own writes; without one it runs in a transaction of its own.

Fills are stored once per (exchange, symbol, trade id, order id) — an ``INSERT`` that ignores
conflicts, so a fill replayed by the stream, a REST page and a restart is recorded once — and
each new one is appended to the outbox as ``FILL_EVENT`` in the same transaction.  An order's
fill totals are recomputed from its fill rows whenever they change, and a fill proves at least
that much of the order traded, so missing venue updates cannot leave it behind.

Lost orders: an order is declared LOST only after ``confirmations`` consecutive *definitive*
not-found answers spread over time and after a minimum age; answers that prove nothing (network
errors, timeouts, rate limits) never count and never reset the count, and any sighting of the
order resets it.  Until declared lost its quantity counts as exposure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, select

from hufimm.core.errors import Conflict, InvalidInput, NotFound
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.money import MONEY_CONTEXT
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.market import FILL_EVENT, Fill, Order, OrderUpdate, Side
from hufimm.store.db import Database
from hufimm.store.outbox import append_event
from hufimm.tracking.events import (
    FILLS_AGGREGATE,
    ORDER_AGGREGATE,
    ORDER_STATE_EVENT,
    market_key,
    order_state_payload,
)
from hufimm.tracking.model import (
    VENUE_STATUS,
    Exposure,
    TrackedOrder,
    TrackedStatus,
    advance,
)
from hufimm.tracking.order_rows import (
    BY_CLIENT_ID,
    BY_CLIENT_IDS,
    BY_VENUE_ID,
    FILL_COLS,
    FILLS_DIFFER,
    INSERT_FILL,
    INSERT_ORDER,
    LIVE_OF_ACCOUNT,
    LIVE_OF_MARKET,
    MUTABLE,
    ORDER_COLS,
    SAVE,
    ZERO,
    LiveRows,
    db_values,
    fill_totals,
    link_fills,
    row_dict,
    to_fill,
    to_order,
)
from hufimm.tracking.settings import LostOrderSettings
from hufimm.tracking.tables import tracking_fills, tracking_orders

_log = get_logger("tracking.orders")


class OrderTracker:
    """The shadow exchange-order tracker (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        lost: LostOrderSettings | None = None,
        client_id_prefix: str = "hm",
        *,
        cache: bool = False,
    ) -> None:
        self._db = db
        self._time = time_source
        # Write-through copy of live rows (see LiveRows); only for the rows' single writer.
        self._live: LiveRows | None = LiveRows() if cache else None
        self.lost = lost or LostOrderSettings()
        self.client_id_prefix = client_id_prefix
        insert_fill = INSERT_FILL.get(db.engine.dialect.name)
        if insert_fill is None:
            raise InvalidInput(f"unsupported database dialect {db.engine.dialect.name}")
        self._insert_fill = insert_fill
        self._m_transitions = metrics.counter(
            "tracking_order_transitions_total", "Shadow order status changes", ["to"]
        )
        self._m_fills = metrics.counter(
            "tracking_fills_recorded_total", "New fills recorded", ["source"]
        )
        self._m_fill_dups = metrics.counter(
            "tracking_fill_duplicates_total", "Fills seen again and ignored", ["source"]
        )
        self._m_not_found = metrics.counter(
            "tracking_order_not_found_total",
            "Not-found answers about tracked orders",
            ["definitive"],
        )
        self._m_revived = metrics.counter(
            "tracking_lost_orders_revived_total",
            "Orders declared LOST that the venue later showed (alert: thresholds too tight)",
        )

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _txn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self._db.begin() as own:
                yield own

    def is_ours(self, client_order_id: str | None) -> bool:
        """Does the client id carry our prefix (an order some process of ours placed)?"""
        return bool(client_order_id) and str(client_order_id).startswith(self.client_id_prefix)

    def _load(self, conn: Connection, client_order_id: str) -> dict[str, Any] | None:
        live = self._live
        if live is not None:
            state = self._db.transaction_state(conn)
            staged = None if state is None else state.get(live)
            if staged is not None and client_order_id in staged:
                return dict(staged[client_order_id])  # written earlier in this transaction
            cached = live.rows.get(client_order_id)
            if cached is not None:
                return dict(cached)
        row = conn.execute(BY_CLIENT_ID, {"cid": client_order_id}).first()
        return None if row is None else row_dict(row)

    def _stage(self, conn: Connection, data: Mapping[str, Any]) -> None:
        """Queue a written row for the live copy, applied once ``conn`` commits."""
        live = self._live
        if live is None:
            return
        state = self._db.transaction_state(conn)
        if state is None:
            # A transaction whose commit cannot be observed: stop trusting the copy for good.
            _log.warning("order_cache_disabled", why="write outside Database.begin")
            self._live = None
            return
        staged: dict[str, dict[str, Any]] | None = state.get(live)
        if staged is None:
            staged = state[live] = {}
            committed = staged
            self._db.after_commit(conn, lambda: live.commit(committed))
        staged[data["client_order_id"]] = dict(data)

    def _require(self, conn: Connection, client_order_id: str) -> dict[str, Any]:
        data = self._load(conn, client_order_id)
        if data is None:
            raise NotFound(f"no tracked order with client id {client_order_id!r}")
        return data

    def _find(
        self,
        conn: Connection,
        exchange: str,
        symbol: str,
        client_order_id: str | None,
        order_id: str,
    ) -> dict[str, Any] | None:
        data = self._load(conn, client_order_id) if client_order_id else None
        if data is not None and (data["exchange"], data["symbol"]) != (exchange, symbol):
            _log.warning("client_id_collision", client_order_id=client_order_id, exchange=exchange)
            data = None
        if data is None and order_id:
            row = conn.execute(
                BY_VENUE_ID, {"exchange": exchange, "symbol": symbol, "order_id": order_id}
            ).first()
            data = None if row is None else row_dict(row)
        return data

    def _save(self, conn: Connection, before: Mapping[str, Any], after: dict[str, Any]) -> None:
        """Write a changed row; a status change also writes its outbox event."""
        if all(before[name] == after[name] for name in MUTABLE if name != "updated_at"):
            return
        now = self._time.time_ns()
        after["updated_at"] = now
        status = after["status"]
        if status.is_terminal and after["terminal_at"] is None:
            after["terminal_at"] = now
        elif not status.is_terminal:
            after["terminal_at"] = None
        values = db_values(after)
        params = {f"b_{name}": values[name] for name in MUTABLE}
        params["b_cid"] = after["client_order_id"]
        conn.execute(SAVE, params)
        self._stage(conn, after)
        if status is not before["status"]:
            self._transitioned(conn, after, before["status"].value, now)

    def _transitioned(
        self, conn: Connection, data: Mapping[str, Any], previous: str | None, now: int
    ) -> None:
        self._m_transitions.labels(data["status"].value).inc()
        append_event(
            conn,
            ORDER_AGGREGATE,
            data["client_order_id"],
            ORDER_STATE_EVENT,
            order_state_payload(to_order(data), previous),
            now,
        )

    # ------------------------------------------------------------------ write-first API
    def record_pending(
        self,
        conn: Connection,
        intent_id: str | None,
        client_order_id: str,
        exchange: str,
        account: str,
        symbol: str,
        side: Side,
        price: Decimal,
        qty: Decimal,
        now: int | None = None,
        *,
        post_only: bool = False,
    ) -> TrackedOrder:
        """Persist an order about to be sent (PENDING_SUBMIT), in the caller's transaction.

        Idempotent: recording the same order again returns it unchanged; the same client id
        with different terms is a :class:`Conflict` (client ids are never reused).
        """
        if price <= 0 or qty <= 0:
            raise InvalidInput(f"order {client_order_id}: price and quantity must be positive")
        existing = self._load(conn, client_order_id)
        if existing is not None:
            same = (
                existing["intent_id"],
                existing["exchange"],
                existing["account"],
                existing["symbol"],
                existing["side"],
                existing["price"],
                existing["qty"],
            ) == (intent_id, exchange, account, symbol, Side(side), price, qty)
            if not same:
                raise Conflict(
                    f"client order id {client_order_id} is already used by another order"
                )
            return to_order(existing)
        now = self._time.time_ns() if now is None else now
        data: dict[str, Any] = {
            "client_order_id": client_order_id,
            "exchange": exchange,
            "account": account,
            "symbol": symbol,
            "exchange_order_id": None,
            "intent_id": intent_id,
            "origin": "intent",
            "side": Side(side),
            "price": price,
            "qty": qty,
            "post_only": post_only,
            "status": TrackedStatus.PENDING_SUBMIT,
            "filled_qty": ZERO,
            "filled_quote": ZERO,
            "fills_qty": ZERO,
            "fills_quote": ZERO,
            "fees": {},
            "reason": None,
            "not_found_count": 0,
            "first_not_found_at": None,
            "last_not_found_at": None,
            "cancel_requested_at": None,
            "venue_updated_ns": None,
            "created_at": now,
            "updated_at": now,
            "terminal_at": None,
        }
        conn.execute(INSERT_ORDER, db_values(data))
        self._stage(conn, data)
        self._transitioned(conn, data, None, now)
        return to_order(data)

    def adopt(
        self, exchange: str, account: str, order: Order, *, conn: Connection | None = None
    ) -> TrackedOrder:
        """Start tracking a venue order of ours that no intent recorded (reconciliation)."""
        if not order.client_order_id:
            raise InvalidInput("only orders with a client id can be adopted")
        with self._txn(conn) as c:
            if self._load(c, order.client_order_id) is not None:
                applied = self.apply_order(exchange, account, order, conn=c)
                assert applied is not None
                return applied
            now = self._time.time_ns()
            observed = VENUE_STATUS[order.status]
            if observed is TrackedStatus.OPEN and order.filled_qty > 0:
                observed = TrackedStatus.PARTIALLY_FILLED
            data: dict[str, Any] = {
                "client_order_id": order.client_order_id,
                "exchange": exchange,
                "account": account,
                "symbol": order.symbol,
                "exchange_order_id": order.order_id,
                "intent_id": None,
                "origin": "adopted",
                "side": order.side,
                "price": order.price,
                "qty": order.qty,
                "post_only": order.post_only,
                "status": observed,
                "filled_qty": order.filled_qty,
                "filled_quote": order.filled_quote,
                "fills_qty": ZERO,
                "fills_quote": ZERO,
                "fees": {},
                "reason": "adopted by reconciliation",
                "not_found_count": 0,
                "first_not_found_at": None,
                "last_not_found_at": None,
                "cancel_requested_at": None,
                "venue_updated_ns": order.updated_ns,
                "created_at": order.created_ns or now,
                "updated_at": now,
                "terminal_at": now if observed.is_terminal else None,
            }
            c.execute(INSERT_ORDER, db_values(data))
            self._stage(c, data)
            self._transitioned(c, data, None, now)
            before = dict(data)
            self._refresh_fills(c, data)
            self._save(c, before, data)
            return to_order(data)

    def apply_order(
        self, exchange: str, account: str, order: Order, *, conn: Connection | None = None
    ) -> TrackedOrder | None:
        """A venue report of an order (ack, REST read, cancel answer, stream update).

        Returns the tracked order, or ``None`` if the tracker does not know it (reconciliation
        decides about unknown orders).  A report is a sighting: it resets the lost-order count.
        """
        with self._txn(conn) as c:
            data = self._find(c, exchange, order.symbol, order.client_order_id, order.order_id)
            if data is None:
                return None
            before = dict(data)
            data["not_found_count"] = 0
            data["first_not_found_at"] = data["last_not_found_at"] = None
            new_venue_id = data["exchange_order_id"] is None and bool(order.order_id)
            if new_venue_id:
                data["exchange_order_id"] = order.order_id
            observed = VENUE_STATUS[order.status]
            if observed is TrackedStatus.OPEN and order.filled_qty > 0:
                observed = TrackedStatus.PARTIALLY_FILLED
            status = advance(data["status"], observed, data["filled_qty"], order.filled_qty)
            if status is not data["status"] and data["status"] is TrackedStatus.LOST:
                self._m_revived.inc()
                _log.error("lost_order_revived", client_order_id=data["client_order_id"])
            data["status"] = status
            if order.filled_qty > data["filled_qty"]:
                data["filled_qty"] = order.filled_qty
                data["filled_quote"] = order.filled_quote
            if order.updated_ns is not None:
                data["venue_updated_ns"] = max(data["venue_updated_ns"] or 0, order.updated_ns)
            if new_venue_id:
                self._refresh_fills(c, data)
            self._save(c, before, data)
            return to_order(data)

    def apply_update(
        self,
        exchange: str,
        account: str,
        update_event: OrderUpdate,
        *,
        conn: Connection | None = None,
    ) -> TrackedOrder | None:
        """A user-stream order update (same rules as :meth:`apply_order`)."""
        return self.apply_order(exchange, account, update_event.order, conn=conn)

    def apply_fill(
        self, fill: Fill, *, source: str = "stream", conn: Connection | None = None
    ) -> bool:
        """Record a fill once; ``True`` if it was new (then its ``FILL_EVENT`` is written too)."""
        with self._txn(conn) as c:
            data = self._find(c, fill.exchange, fill.symbol, fill.client_order_id, fill.order_id)
            if data is not None and data["exchange_order_id"] not in (None, fill.order_id):
                data = None  # the client id was reused by another venue order: not this one
            client_id = data["client_order_id"] if data is not None else fill.client_order_id
            now = self._time.time_ns()
            inserted = c.execute(
                self._insert_fill,
                {
                    "exchange": fill.exchange,
                    "account": fill.account,
                    "symbol": fill.symbol,
                    "trade_id": fill.trade_id,
                    "order_id": fill.order_id,
                    "client_order_id": client_id,
                    "side": fill.side.value,
                    "price": format(fill.price, "f"),
                    "qty": format(fill.qty, "f"),
                    "quote_qty": format(fill.quote_qty, "f"),
                    "fee": format(fill.fee, "f"),
                    "fee_asset": fill.fee_asset,
                    "is_maker": fill.is_maker,
                    "ts_ns": fill.ts_ns,
                    "source": source,
                    "recorded_at": now,
                },
            ).first()
            if inserted is None:
                self._m_fill_dups.labels(source).inc()
                return False
            self._m_fills.labels(source).inc()
            payload = fill.to_payload()
            payload["client_order_id"] = client_id
            append_event(
                c,
                FILLS_AGGREGATE,
                market_key(fill.exchange, fill.account, fill.symbol),
                FILL_EVENT,
                payload,
                now,
            )
            if data is not None:
                before = dict(data)
                data["exchange_order_id"] = fill.order_id
                data["not_found_count"] = 0
                data["first_not_found_at"] = data["last_not_found_at"] = None
                self._refresh_fills(c, data)
                self._save(c, before, data)
            return True

    def _refresh_fills(self, conn: Connection, data: dict[str, Any]) -> None:
        """Recompute an order's fill totals from its fill rows; fills prove cumulative qty."""
        order_id = data["exchange_order_id"]
        if order_id is None:
            return
        qty, quote, fees = fill_totals(conn, data["exchange"], data["symbol"], order_id)
        link_fills(conn, data["exchange"], data["symbol"], order_id, data["client_order_id"])
        data["fills_qty"], data["fills_quote"], data["fees"] = qty, quote, fees
        if qty > data["filled_qty"]:
            data["filled_qty"], data["filled_quote"] = qty, quote
        if qty > 0:
            implied = TrackedStatus.FILLED if qty >= data["qty"] else TrackedStatus.PARTIALLY_FILLED
            status = advance(data["status"], implied, data["filled_qty"], qty)
            if status is not data["status"] and data["status"] is TrackedStatus.LOST:
                self._m_revived.inc()
            data["status"] = status

    def mark_unknown(
        self, client_order_id: str, reason: str, *, conn: Connection | None = None
    ) -> TrackedOrder:
        """The create was sent but its outcome is unknown (timeout, 5xx, no id in the answer)."""
        with self._txn(conn) as c:
            data = self._require(c, client_order_id)
            if data["status"] is TrackedStatus.PENDING_SUBMIT:
                before = dict(data)
                data["status"] = TrackedStatus.UNKNOWN
                data["reason"] = reason
                self._save(c, before, data)
            return to_order(data)

    def mark_rejected(
        self, client_order_id: str, reason: str, *, conn: Connection | None = None
    ) -> TrackedOrder:
        """The venue definitively refused the create (or it was never sent): nothing is live."""
        with self._txn(conn) as c:
            data = self._require(c, client_order_id)
            pending = (TrackedStatus.PENDING_SUBMIT, TrackedStatus.UNKNOWN, TrackedStatus.LOST)
            if data["status"] in pending and data["exchange_order_id"] is None:
                before = dict(data)
                data["status"] = TrackedStatus.REJECTED
                data["reason"] = reason
                self._save(c, before, data)
            elif not data["status"].is_terminal:
                _log.warning(
                    "reject_of_acknowledged_order_ignored",
                    client_order_id=client_order_id,
                    status=data["status"].value,
                )
            return to_order(data)

    def request_cancel(
        self, client_order_id: str, *, conn: Connection | None = None
    ) -> TrackedOrder:
        """We are about to cancel (works before the venue acknowledged the order)."""
        with self._txn(conn) as c:
            data = self._require(c, client_order_id)
            if data["status"].is_live and data["status"] is not TrackedStatus.PENDING_CANCEL:
                before = dict(data)
                data["status"] = TrackedStatus.PENDING_CANCEL
                data["cancel_requested_at"] = self._time.time_ns()
                self._save(c, before, data)
            return to_order(data)

    def record_not_found(
        self, client_order_id: str, definitive: bool, *, conn: Connection | None = None
    ) -> TrackedOrder:
        """A lookup of the order did not find it; see the module docstring for when it is LOST.

        ``definitive`` only for an explicit "does not exist" from the venue (Binance -2013); a
        cancel's "unknown order" (-2011) means *not open* and is not a not-found at all.
        """
        self._m_not_found.labels(str(definitive).lower()).inc()
        with self._txn(conn) as c:
            data = self._require(c, client_order_id)
            if not definitive or not data["status"].is_live:
                return to_order(data)
            now = self._time.time_ns()
            settings = self.lost
            last = data["last_not_found_at"]
            if last is not None and now - last < settings.min_interval_s * NS_PER_SECOND:
                return to_order(data)  # too soon after the last one to be a new answer
            before = dict(data)
            data["not_found_count"] += 1
            data["last_not_found_at"] = now
            if data["first_not_found_at"] is None:
                data["first_not_found_at"] = now
            old_enough = now - data["created_at"] >= settings.min_age_s * NS_PER_SECOND
            if data["not_found_count"] >= settings.confirmations and old_enough:
                span = (now - data["first_not_found_at"]) / NS_PER_SECOND
                data["status"] = TrackedStatus.LOST
                data["reason"] = f"not found {data['not_found_count']} times over {span:.0f} s"
                _log.warning("order_lost", client_order_id=client_order_id, reason=data["reason"])
            self._save(c, before, data)
            return to_order(data)

    # ------------------------------------------------------------------ reads
    def order(self, client_order_id: str, *, conn: Connection | None = None) -> TrackedOrder | None:
        if conn is not None:
            data = self._load(conn, client_order_id)
        else:
            with self._db.read() as c:
                data = self._load(c, client_order_id)
        return None if data is None else to_order(data)

    def orders_by_client_id(self, client_order_ids: Collection[str]) -> dict[str, TrackedOrder]:
        """The tracked orders among ``client_order_ids`` (one query), by client id."""
        if not client_order_ids:
            return {}
        with self._db.read() as c:
            rows = c.execute(BY_CLIENT_IDS, {"cids": list(client_order_ids)}).all()
        return {r.client_order_id: to_order(row_dict(r)) for r in rows}

    def open_orders(
        self,
        exchange: str,
        account: str,
        symbol: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> list[TrackedOrder]:
        """Live orders (pending, unknown, open, partially filled, pending cancel), oldest first."""
        live = self._live
        if live is not None and conn is None:
            cached = [
                to_order(data)
                for data in live.of_account(self._db, exchange, account)
                if symbol is None or data["symbol"] == symbol
            ]
            cached.sort(key=lambda o: (o.created_at, o.client_order_id))
            return cached
        params = {"exchange": exchange, "account": account, "symbol": symbol}
        statement = LIVE_OF_ACCOUNT if symbol is None else LIVE_OF_MARKET
        if conn is not None:
            rows = conn.execute(statement, params).all()
        else:
            with self._db.read() as c:
                rows = c.execute(statement, params).all()
        orders = [to_order(row_dict(r)) for r in rows]
        orders.sort(key=lambda o: (o.created_at, o.client_order_id))
        return orders

    def exposure(
        self, exchange: str, account: str, symbol: str, *, conn: Connection | None = None
    ) -> Exposure:
        """Base offered and quote bid by the market's live orders (see :class:`Exposure`)."""
        ctx = MONEY_CONTEXT
        base, quote, by_status = ZERO, ZERO, dict[TrackedStatus, int]()
        orders = self.open_orders(exchange, account, symbol, conn=conn)
        for order in orders:
            remaining = max(order.remaining_qty, ZERO)
            if order.side is Side.BUY:
                quote = ctx.add(quote, ctx.multiply(order.price, remaining))
            else:
                base = ctx.add(base, remaining)
            by_status[order.status] = by_status.get(order.status, 0) + 1
        return Exposure(base, quote, len(orders), by_status)

    def orders(
        self,
        exchange: str | None = None,
        account: str | None = None,
        symbol: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> list[TrackedOrder]:
        """Every tracked order (terminal ones too), oldest first — for reports and audits."""
        conditions = [
            column == value
            for column, value in (
                (ORDER_COLS.exchange, exchange),
                (ORDER_COLS.account, account),
                (ORDER_COLS.symbol, symbol),
            )
            if value is not None
        ]
        statement = select(tracking_orders).where(and_(True, *conditions))
        if conn is not None:
            rows = conn.execute(statement).all()
        else:
            with self._db.read() as c:
                rows = c.execute(statement).all()
        orders = [to_order(row_dict(r)) for r in rows]
        orders.sort(key=lambda o: (o.created_at, o.client_order_id))
        return orders

    def orders_missing_fills(
        self, exchange: str, account: str, symbol: str, *, conn: Connection | None = None
    ) -> list[TrackedOrder]:
        """Orders whose venue-reported cumulative quantity exceeds their recorded fills."""
        params = {"exchange": exchange, "account": account, "symbol": symbol}
        if conn is not None:
            rows = conn.execute(FILLS_DIFFER, params).all()
        else:
            with self._db.read() as c:
                rows = c.execute(FILLS_DIFFER, params).all()
        orders = [to_order(row_dict(r)) for r in rows]
        return [o for o in orders if o.missing_fill_qty > 0]

    def fills(self, exchange: str, account: str, symbol: str | None = None) -> list[Fill]:
        """Recorded fills of an account (optionally one market), in recording order."""
        statement = select(tracking_fills).where(
            FILL_COLS.exchange == exchange, FILL_COLS.account == account
        )
        if symbol is not None:
            statement = statement.where(FILL_COLS.symbol == symbol)
        with self._db.read() as c:
            rows = c.execute(statement.order_by(FILL_COLS.fill_id)).all()
        return [to_fill(r) for r in rows]
