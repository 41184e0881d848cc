"""The execution worker: the only code that turns intents into exchange calls.

It serves one exchange account.  Each tick it first resolves what is uncertain (intents left
SENT by a crash, intents whose outcome was UNKNOWN), then hands NEW intents to the venue in
order per market, cancels first, and finally closes intents whose order is finished.

Write first, read first (DESIGN §2.4):

* before a create is sent, the intent turns SENT and the order is recorded PENDING_SUBMIT in
  the shadow tracker, in one transaction; a crash after that never resends it, it resolves it;
* a timeout or 5xx after sending is UNKNOWN: the order is looked up by client id (then in trade
  history) before anything else; only repeated definitive "not found" answers spread over time
  let the tracker declare it LOST, and only then does the intent fail;
* a venue "duplicate client id" means our first attempt is live: it is adopted;
* retryable errors (nothing happened) are retried with capped exponential backoff and jitter;
  definitive refusals fail the intent with the venue's reason.

What the venue answered and the intent's new status are written in one transaction.  A REPLACE
cancels its target and places the new order only once the target is confirmed cancelled, so the
executor's budget arithmetic holds whatever the venue answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Connection

from hufimm.core.backoff import Backoff
from hufimm.core.clock import Health, HealthStatus, Phase, TickComponent
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.exchange import Connector
from hufimm.market import Order, OrderRequest
from hufimm.market.errors import (
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    RejectReason,
)
from hufimm.store.db import Database
from hufimm.store.outbox import append_event
from hufimm.strategy.intents import Intent, IntentKind, IntentStatus, IntentStore
from hufimm.tracking import OrderTracker, TrackedStatus
from hufimm.tracking.model import VENUE_STATUS, advance

T = TypeVar("T")

#: Kinds served first within a market: cancelling risk before adding it.
_PRIORITY = {
    IntentKind.CANCEL_ORDER: 0,
    IntentKind.STOP_EXECUTOR: 0,
    IntentKind.REPLACE_ORDER: 1,
    IntentKind.CREATE_LIMIT_ORDER: 2,
}
_CREATES = (IntentKind.CREATE_LIMIT_ORDER, IntentKind.REPLACE_ORDER)
_UNCLEAR = (ExchangeRetryable, ExchangeOutcomeUnknown, TimeoutError)

INTENT_EVENT = "execution.intent"

#: A database step run inside the transaction that records an outcome.
Step = Callable[[Connection], object]


class GaveUp(Exception):
    """Retryable errors kept coming: nothing happened on the venue."""


class ExecutionWorker(TickComponent):
    """Executes one account's intents (see the module docstring)."""

    phase = Phase.EXECUTION

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        connector: Connector,
        orders: OrderTracker,
        intents: IntentStore,
        rng: SeededRng,
        *,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        recheck_s: float = 2.0,
        batch: int = 500,
    ) -> None:
        self.exchange = connector.exchange_id
        self.account = connector.account
        self.name = f"execution:{self.exchange}:{self.account}"
        self._db = db
        self._time = time_source
        self._connector = connector
        self._orders = orders
        self._intents = intents
        self._rng = rng
        self._max_attempts = max_attempts
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._recheck_ns = round(recheck_s * NS_PER_SECOND)
        self._batch = batch
        self._last_check: dict[str, int] = {}
        self._log = get_logger(self.name)
        self._m_outcomes = metrics.counter(
            "execution_intents_total", "Intents finished by the worker", ["kind", "outcome"]
        )
        self._m_retries = metrics.counter("execution_retries_total", "Retryable errors retried")
        self._m_unknown = metrics.gauge("execution_unknown_intents", "Intents awaiting resolution")
        self._unknown = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """An intent still SENT was being sent when the last process died: its outcome is
        unknown, never assumed.  Mark them so the first tick resolves them by reading."""
        now = self._time.time_ns()
        with self._db.begin() as conn:
            for intent in IntentStore.with_status(
                conn, [IntentStatus.SENT], self.exchange, self.account
            ):
                self._intents.transition(
                    conn,
                    intent.intent_id,
                    IntentStatus.SENT,
                    IntentStatus.UNKNOWN,
                    "worker restarted while sending",
                    now,
                )

    def health(self) -> Health:
        if self._unknown:
            return Health(
                HealthStatus.DEGRADED,
                f"{self._unknown} intent(s) awaiting resolution",
                {"unknown": self._unknown},
            )
        return Health()

    async def on_tick(self, ts: int) -> None:
        await self._resolve_unknown()
        new = self._intents.unfinished(
            self._db, [IntentStatus.NEW], self.exchange, self.account, limit=self._batch
        )
        by_market: dict[str, list[Intent]] = {}
        for intent in sorted(
            new, key=lambda i: (_PRIORITY[i.kind], i.created_at, i.strategy_instance_id, i.seq)
        ):
            by_market.setdefault(intent.symbol, []).append(intent)
        await asyncio.gather(*(self._run_market(items) for items in by_market.values()))
        self._close_finished()

    async def _run_market(self, intents: list[Intent]) -> None:
        for intent in intents:
            if intent.kind is IntentKind.CREATE_LIMIT_ORDER:
                await self._create(intent, IntentStatus.NEW)
            elif intent.kind is IntentKind.CANCEL_ORDER:
                await self._cancel_intent(intent)
            elif intent.kind is IntentKind.REPLACE_ORDER:
                await self._replace(intent, IntentStatus.NEW)
            else:  # STOP_EXECUTOR: the executor already drained; record that it is done
                self._settle(intent, IntentStatus.NEW, IntentStatus.ACKED, "executor stopped")

    # ------------------------------------------------------------------ recording
    def _settle(
        self,
        intent: Intent,
        frm: IntentStatus,
        to: IntentStatus,
        reason: str,
        *steps: Step,
    ) -> bool:
        """Run ``steps`` (tracker writes) and move the intent ``frm -> to`` in one transaction.

        From NEW the intent passes through SENT.  An outcome (ACKED, FAILED) also goes to the
        outbox.  ``False`` if the intent was no longer in ``frm``; the steps still commit.
        """
        now = self._time.time_ns()
        with self._db.begin() as conn:
            for step in steps:
                step(conn)
            if frm is to:
                return True
            if frm is IntentStatus.NEW:
                if not self._intents.transition(
                    conn, intent.intent_id, frm, IntentStatus.SENT, "handled", now
                ):
                    return False
                frm = IntentStatus.SENT
                if to is IntentStatus.SENT:
                    return True
            if not self._intents.transition(conn, intent.intent_id, frm, to, reason, now):
                return False
            if to in (IntentStatus.ACKED, IntentStatus.FAILED):
                append_event(
                    conn,
                    "intent",
                    intent.intent_id,
                    INTENT_EVENT,
                    {
                        "intent_id": intent.intent_id,
                        "kind": intent.kind.value,
                        "status": to.value,
                        "reason": reason,
                        "client_order_id": intent.client_order_id,
                        "target_client_order_id": intent.target_client_order_id,
                        "strategy_instance_id": intent.strategy_instance_id,
                        "symbol": intent.symbol,
                    },
                    now,
                )
                self._m_outcomes.labels(intent.kind.value, to.value.lower()).inc()
        return True

    def _applied(self, order: Order) -> Step:
        return lambda conn: self._orders.apply_order(self.exchange, self.account, order, conn=conn)

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry what the venue says did not happen; anything else propagates."""
        backoff = Backoff(self._backoff[0], self._backoff[1], self._rng)
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await call()
            except ExchangeRetryable as exc:
                if attempt == self._max_attempts:
                    raise GaveUp(str(exc)) from exc
                self._m_retries.inc()
                await self._time.sleep(max(backoff.next_delay(), exc.retry_after or 0.0))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ create
    async def _create(self, intent: Intent, frm: IntentStatus) -> None:
        """Send the intent's order.  ``frm`` is the intent's status now: NEW (it turns SENT
        here), SENT (a replace whose cancel just landed) or UNKNOWN (a replace whose cancel was
        in doubt and is now confirmed)."""
        cid = intent.client_order_id
        assert cid is not None and intent.side and intent.price and intent.qty
        side, price, qty = intent.side, intent.price, intent.qty

        def pending(conn: Connection) -> None:
            self._orders.record_pending(
                conn,
                intent.intent_id,
                cid,
                self.exchange,
                self.account,
                intent.symbol,
                side,
                price,
                qty,
                self._time.time_ns(),
                post_only=intent.post_only,
            )

        to = IntentStatus.SENT if frm is IntentStatus.NEW else frm
        if not self._settle(intent, frm, to, "sending", pending):
            return  # superseded meanwhile
        frm = to
        request = OrderRequest(intent.symbol, side, price, qty, cid, post_only=intent.post_only)
        try:
            order = await self._with_retries(lambda: self._connector.create_order(request))
        except ExchangeRejected as exc:
            if exc.reason is RejectReason.DUPLICATE_CLIENT_ID:
                await self._resolve_create(intent, frm)  # our first attempt is live: adopt it
                return
            code = exc.reason.value
            self._settle(
                intent,
                frm,
                IntentStatus.FAILED,
                str(exc),
                lambda c: self._orders.mark_rejected(cid, code, conn=c),
            )
        except GaveUp as exc:
            self._settle(
                intent,
                frm,
                IntentStatus.FAILED,
                f"gave up: {exc}",
                lambda c: self._orders.mark_rejected(cid, "not sent: retryable errors", conn=c),
            )
        except (ExchangeOutcomeUnknown, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            self._settle(
                intent,
                frm,
                IntentStatus.UNKNOWN,
                reason,
                lambda c: self._orders.mark_unknown(cid, reason, conn=c),
            )
        else:
            self._settle(intent, frm, IntentStatus.ACKED, order.status.value, self._applied(order))

    async def _resolve_create(self, intent: Intent, frm: IntentStatus) -> None:
        """Find out whether an order of ours reached the venue (by client id, then trades)."""
        cid = intent.client_order_id
        assert cid is not None
        try:
            order = await self._connector.fetch_order(intent.symbol, cid)
        except ExchangeRejected as exc:
            if exc.reason is not RejectReason.NOT_FOUND:
                self._settle(intent, frm, IntentStatus.FAILED, f"lookup refused: {exc}")
                return
            if await self._fills_show(intent.symbol, cid):
                self._settle(intent, frm, IntentStatus.ACKED, "found in trade history")
                return
            tracked = self._orders.record_not_found(cid, definitive=True)
            if tracked.status is TrackedStatus.LOST:
                self._settle(
                    intent, frm, IntentStatus.FAILED, f"never reached the venue: {tracked.reason}"
                )
            else:
                self._settle(intent, frm, IntentStatus.UNKNOWN, "not found yet")
            return
        except _UNCLEAR:
            self._settle(intent, frm, IntentStatus.UNKNOWN, "lookup failed")
            return  # network trouble says nothing; look again later
        self._settle(
            intent,
            frm,
            IntentStatus.ACKED,
            f"found by client id ({order.status})",
            self._applied(order),
        )

    async def _fills_show(self, symbol: str, cid: str) -> bool:
        try:
            fills = await self._connector.fetch_fills(symbol)
        except (ExchangeRetryable, ExchangeOutcomeUnknown, ExchangeRejected):
            return False
        mine = [f for f in fills if f.client_order_id == cid]
        for fill in mine:
            self._orders.apply_fill(fill, source="resolution")
        return bool(mine)

    # ------------------------------------------------------------------ cancel
    async def _cancel(self, symbol: str, target: str) -> tuple[TrackedStatus | None, Step | None]:
        """Cancel ``target``.  Returns the status it will have (None: outcome unknown) and the
        tracker write that records the venue's answer, for the caller's transaction."""
        tracked = self._orders.order(target)
        if tracked is None:
            return None, None
        if tracked.status.is_terminal:
            return tracked.status, None
        if tracked.status is not TrackedStatus.PENDING_CANCEL:
            self._orders.request_cancel(target)
        try:
            order = await self._with_retries(lambda: self._connector.cancel_order(symbol, target))
        except ExchangeRejected as exc:
            if exc.reason is not RejectReason.NOT_FOUND:
                raise
            return await self._look_up(symbol, target)  # "not open": learn what it is now
        except (ExchangeOutcomeUnknown, TimeoutError, GaveUp):
            return await self._look_up(symbol, target)
        return _status_after(TrackedStatus.PENDING_CANCEL, order), self._applied(order)

    async def _look_up(self, symbol: str, cid: str) -> tuple[TrackedStatus | None, Step | None]:
        try:
            order = await self._connector.fetch_order(symbol, cid)
        except ExchangeRejected as exc:
            if exc.reason is RejectReason.NOT_FOUND:
                tracked = self._orders.record_not_found(cid, definitive=True)
                return (tracked.status if tracked.status.is_terminal else None), None
            return None, None
        except _UNCLEAR:
            return None, None
        known = self._orders.order(cid)
        before = TrackedStatus.PENDING_CANCEL if known is None else known.status
        return _status_after(before, order), self._applied(order)

    async def _cancel_intent(self, intent: Intent) -> None:
        target = intent.target_client_order_id
        assert target is not None
        unsent = self._unsent_create(target)
        if unsent is not None:  # cancelling a create that was never sent simply retires it
            self._settle(
                intent,
                IntentStatus.NEW,
                IntentStatus.ACKED,
                "create retired unsent",
                self._retire(unsent),
            )
            return
        if not self._settle(
            intent,
            IntentStatus.NEW,
            IntentStatus.SENT,
            "cancelling",
            self._cancelling(intent, target),
        ):
            return
        await self._finish_cancel(intent, IntentStatus.SENT)

    async def _finish_cancel(self, intent: Intent, frm: IntentStatus) -> None:
        target = intent.target_client_order_id
        assert target is not None
        try:
            status, step = await self._cancel(intent.symbol, target)
        except ExchangeRejected as exc:
            self._settle(intent, frm, IntentStatus.FAILED, str(exc))
            return
        steps = () if step is None else (step,)
        if status is not None and status.is_terminal:
            self._settle(intent, frm, IntentStatus.ACKED, f"target {status.value.lower()}", *steps)
        else:
            why = "cancel outcome unknown" if status is None else f"target still {status.value}"
            self._settle(intent, frm, IntentStatus.UNKNOWN, why, *steps)

    def _cancelling(self, intent: Intent, target: str) -> Step:
        """Mark the target PENDING_CANCEL in the transaction that turns the intent SENT (one
        commit before the venue call instead of two) — only if that transition will happen,
        i.e. the intent is still NEW in this transaction."""

        def step(conn: Connection) -> None:
            current = IntentStore.get(conn, intent.intent_id)
            if current is None or current.status is not IntentStatus.NEW:
                return
            if self._orders.order(target, conn=conn) is not None:
                self._orders.request_cancel(target, conn=conn)

        return step

    def _unsent_create(self, client_order_id: str) -> Intent | None:
        with self._db.read() as conn:
            create = IntentStore.by_client_order_id(conn, client_order_id)
        return create if create is not None and create.status is IntentStatus.NEW else None

    def _retire(self, create: Intent) -> Step:
        return lambda conn: self._intents.transition(
            conn,
            create.intent_id,
            IntentStatus.NEW,
            IntentStatus.DONE,
            "cancelled before sending",
            self._time.time_ns(),
        )

    # ------------------------------------------------------------------ replace
    async def _replace(self, intent: Intent, frm: IntentStatus) -> None:
        target = intent.target_client_order_id
        assert target is not None
        unsent = self._unsent_create(target)
        if unsent is not None:
            status: TrackedStatus | None = TrackedStatus.CANCELED
            steps: tuple[Step, ...] = (self._retire(unsent),)
        else:
            if frm is IntentStatus.NEW:
                if not self._settle(
                    intent, frm, IntentStatus.SENT, "replacing", self._cancelling(intent, target)
                ):
                    return
                frm = IntentStatus.SENT
            try:
                status, step = await self._cancel(intent.symbol, target)
            except ExchangeRejected as exc:
                self._settle(intent, frm, IntentStatus.FAILED, f"cancel refused: {exc}")
                return
            steps = () if step is None else (step,)
        if status is None or not status.is_terminal:
            self._settle(intent, frm, IntentStatus.UNKNOWN, "replace: cancel not confirmed", *steps)
            return
        if status not in (TrackedStatus.CANCELED, TrackedStatus.REJECTED, TrackedStatus.LOST):
            # It traded away (filled/expired): the budget moved; let the executor decide anew.
            self._settle(
                intent,
                frm,
                IntentStatus.FAILED,
                f"target {status.value.lower()}: not replaced",
                *steps,
            )
            return
        if steps:
            self._settle(intent, frm, frm, "target cancelled", *steps)
        await self._create(intent, frm)

    # ------------------------------------------------------------------ resolution
    async def _resolve_unknown(self) -> None:
        now = self._time.time_ns()
        unknown = self._intents.unfinished(
            self._db, [IntentStatus.UNKNOWN], self.exchange, self.account
        )
        self._unknown = len(unknown)
        self._m_unknown.set(self._unknown)
        for intent in unknown:
            if now - self._last_check.get(intent.intent_id, 0) < self._recheck_ns:
                continue
            self._last_check[intent.intent_id] = now
            if intent.kind is IntentKind.CANCEL_ORDER:
                await self._finish_cancel(intent, IntentStatus.UNKNOWN)
            elif intent.kind is IntentKind.REPLACE_ORDER and not self._create_started(intent):
                await self._replace(intent, IntentStatus.UNKNOWN)
            else:
                await self._resolve_create(intent, IntentStatus.UNKNOWN)

    def _create_started(self, intent: Intent) -> bool:
        return (
            intent.client_order_id is not None
            and self._orders.order(intent.client_order_id) is not None
        )

    def _close_finished(self) -> None:
        """ACKED intents are DONE once nothing more will happen: a cancel at once, a create
        when its order is no longer live on the venue (one read of the live orders)."""
        now = self._time.time_ns()
        acked = self._intents.unfinished(
            self._db, [IntentStatus.ACKED], self.exchange, self.account
        )
        if acked:
            live = {
                o.client_order_id for o in self._orders.open_orders(self.exchange, self.account)
            }
            finished = [i for i in acked if i.kind not in _CREATES or i.client_order_id not in live]
            if finished:
                with self._db.begin() as conn:
                    for intent in finished:
                        reason = "order finished" if intent.kind in _CREATES else "cancel confirmed"
                        self._intents.transition(
                            conn,
                            intent.intent_id,
                            IntentStatus.ACKED,
                            IntentStatus.DONE,
                            reason,
                            now,
                        )
        horizon = now - 3600 * NS_PER_SECOND
        self._last_check = {k: v for k, v in self._last_check.items() if v > horizon}


def _status_after(before: TrackedStatus, order: Order) -> TrackedStatus:
    """The tracked status a venue report will give (the tracker's monotonic rule)."""
    return advance(before, VENUE_STATUS[order.status], order.filled_qty, order.filled_qty)
