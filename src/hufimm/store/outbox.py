"""The transactional outbox.

A state change and the events it causes are written in one transaction with
:func:`append_event`.  The :class:`OutboxDispatcher` (a clock component, run by the leader
process) delivers pending events to every registered consumer, in order per aggregate, at least
once.  Each consumer runs in its own transaction together with its receipt, so a redelivery is a
no-op for a consumer that already applied the event: at-least-once delivery, exactly-once effect.

A delivery that keeps failing is retried with backoff; after ``max_attempts`` the event turns
*dead*.  A dead event halts its aggregate (later events of it are held back, never skipped), is
counted in a metric and makes the dispatcher's health DOWN until an operator requeues it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, func, insert, select, update

from hufimm.core.clock import Health, HealthStatus, Phase, TickComponent
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.store.db import Database
from hufimm.store.receipts import record_receipt
from hufimm.store.tables import outbox_events


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    event_id: int
    aggregate_type: str
    aggregate_id: str
    aggregate_seq: int
    event_type: str
    payload: dict[str, Any]
    created_at: int


class Consumer(Protocol):
    """Applies an event's effect on the given connection (inside the receipt's transaction)."""

    name: str

    def handle(self, conn: Connection, event: OutboxEvent) -> None: ...


# Built once: constructing statements per call costs more than executing them.
# One statement per event: the next per-aggregate sequence is computed inside the INSERT.
_NEXT_SEQ = (
    select(func.coalesce(func.max(outbox_events.c.aggregate_seq), 0) + 1)
    .where(
        outbox_events.c.aggregate_type == bindparam("b_type"),
        outbox_events.c.aggregate_id == bindparam("b_id"),
    )
    .scalar_subquery()
)
_INSERT = (
    insert(outbox_events)
    .values(
        aggregate_type=bindparam("b_type"),
        aggregate_id=bindparam("b_id"),
        aggregate_seq=_NEXT_SEQ,
        event_type=bindparam("b_event_type"),
        payload=bindparam("b_payload"),
        created_at=bindparam("b_created_at"),
        status="pending",
        attempts=0,
        next_attempt_at=0,
    )
    .returning(outbox_events.c.event_id)
)
_MARK_DELIVERED = (
    update(outbox_events)
    .where(outbox_events.c.event_id == bindparam("b_event_id"))
    .values(
        status="delivered",
        delivered_at=bindparam("b_now"),
        attempts=bindparam("b_attempts"),
        last_error=None,
    )
)


def append_event(
    conn: Connection,
    aggregate_type: str,
    aggregate_id: str,
    event_type: str,
    payload: Mapping[str, Any],
    now_ns: int,
) -> int:
    """Append an event in the caller's transaction; returns its id.

    The per-aggregate sequence is ``max + 1``; two transactions racing on one aggregate collide
    on the unique constraint and one of them fails, which keeps each aggregate's order total.
    """
    return int(
        conn.execute(
            _INSERT,
            {
                "b_type": aggregate_type,
                "b_id": aggregate_id,
                "b_event_type": event_type,
                "b_payload": json.dumps(
                    payload, sort_keys=True, separators=(",", ":"), default=str
                ),
                "b_created_at": now_ns,
            },
        ).scalar_one()
    )


def _row_to_event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        event_id=row.event_id,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        aggregate_seq=row.aggregate_seq,
        event_type=row.event_type,
        payload=json.loads(row.payload),
        created_at=row.created_at,
    )


def counts_by_status(conn: Connection) -> dict[str, int]:
    """How many events are pending, delivered and dead: the outbox at a glance."""
    rows = conn.execute(
        select(outbox_events.c.status, func.count()).group_by(outbox_events.c.status)
    )
    return {status: int(n) for status, n in rows}


def requeue_dead(conn: Connection, event_id: int) -> bool:
    """Operator action: give a dead event a fresh set of attempts (its aggregate resumes)."""
    return (
        conn.execute(
            update(outbox_events)
            .where(outbox_events.c.event_id == event_id, outbox_events.c.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=0, last_error=None)
        ).rowcount
        == 1
    )


class OutboxDispatcher(TickComponent):
    """Delivers outbox events to consumers, in order per aggregate, at least once."""

    phase = Phase.JOBS

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        consumers: Sequence[Consumer] = (),
        *,
        name: str = "outbox",
        batch_size: int = 500,
        max_attempts: int = 8,
        backoff_s: Callable[[int], float] = lambda attempt: min(60.0, 0.5 * 2 ** (attempt - 1)),
    ) -> None:
        self.name = name
        self._db = db
        self._time = time_source
        self._consumers: list[Consumer] = list(consumers)
        self._batch = batch_size
        self._max_attempts = max_attempts
        self._backoff = backoff_s
        self._log = get_logger(name)
        self.dead_letters = 0
        self._m_delivered = metrics.counter(
            "outbox_delivered_total", "Events delivered to all consumers"
        )
        self._m_failures = metrics.counter(
            "outbox_delivery_failures_total", "Failed deliveries", ["consumer"]
        )
        self._m_dead = metrics.gauge(
            "outbox_dead_letters", "Dead events halting their aggregate (alert when > 0)"
        )

    def subscribe(self, consumer: Consumer) -> None:
        if any(c.name == consumer.name for c in self._consumers):
            raise ValueError(f"consumer {consumer.name!r} already subscribed")
        self._consumers.append(consumer)

    def health(self) -> Health:
        if self.dead_letters:
            return Health(
                HealthStatus.DOWN,
                f"{self.dead_letters} dead event(s) halt delivery",
                {"dead_letters": self.dead_letters},
            )
        return Health()

    async def on_tick(self, ts: int) -> None:
        self.dispatch_once()

    def dispatch_once(self) -> int:
        """One delivery round; returns how many events were delivered."""
        now = self._time.time_ns()
        with self._db.read() as conn:
            rows = conn.execute(
                select(outbox_events)
                .where(outbox_events.c.status.in_(("pending", "dead")))
                .order_by(outbox_events.c.event_id)
                .limit(self._batch)
            ).all()
            dead_total = conn.execute(
                select(func.count()).where(outbox_events.c.status == "dead")
            ).scalar_one()
        self.dead_letters = int(dead_total)
        self._m_dead.set(self.dead_letters)
        held: set[tuple[str, str]] = set()
        ready: list[tuple[OutboxEvent, int]] = []
        for row in rows:  # event_id order
            aggregate = (row.aggregate_type, row.aggregate_id)
            if aggregate in held:
                continue
            if row.status == "dead" or row.next_attempt_at > now:
                held.add(aggregate)  # order per aggregate: nothing overtakes a waiting event
                continue
            ready.append((_row_to_event(row), row.attempts))
        if not ready:
            return 0
        if self._deliver_batch(ready, now):
            return len(ready)
        # Something in the batch failed: deliver one by one to find it and hold its aggregate.
        # Consumers whose batch did commit see their events again and skip them by receipt.
        held.clear()
        delivered = 0
        for event, attempts in ready:
            aggregate = (event.aggregate_type, event.aggregate_id)
            if aggregate in held:
                continue
            if self._deliver(event, attempts, now):
                delivered += 1
            else:
                held.add(aggregate)
        return delivered

    def _deliver_batch(self, ready: list[tuple[OutboxEvent, int]], now: int) -> bool:
        """All of ``ready`` to every consumer, one transaction per consumer; the last one also
        marks them delivered.  ``False`` (nothing of the failing consumer kept) on any error."""
        marks = [{"b_event_id": e.event_id, "b_now": now, "b_attempts": a + 1} for e, a in ready]
        try:
            for index, consumer in enumerate(self._consumers):
                with self._db.begin() as conn:
                    for event, _ in ready:
                        if record_receipt(conn, consumer.name, event.event_id, now):
                            consumer.handle(conn, event)
                    if index == len(self._consumers) - 1:
                        conn.execute(_MARK_DELIVERED, marks)
            if not self._consumers:
                with self._db.begin() as conn:
                    conn.execute(_MARK_DELIVERED, marks)
        except Exception:
            return False
        self._m_delivered.inc(len(ready))
        return True

    def _deliver(self, event: OutboxEvent, attempts: int, now: int) -> bool:
        delivered = {"b_event_id": event.event_id, "b_now": now, "b_attempts": attempts + 1}
        last = len(self._consumers) - 1
        for index, consumer in enumerate(self._consumers):
            try:
                with self._db.begin() as conn:
                    if record_receipt(conn, consumer.name, event.event_id, now):
                        consumer.handle(conn, event)
                    if index == last:  # the last consumer's commit also marks the event
                        conn.execute(_MARK_DELIVERED, delivered)
            except Exception as exc:
                self._m_failures.labels(consumer.name).inc()
                self._record_failure(event, attempts + 1, f"{consumer.name}: {exc!r}", now)
                return False
        if not self._consumers:
            with self._db.begin() as conn:
                conn.execute(_MARK_DELIVERED, delivered)
        self._m_delivered.inc()
        return True

    def _record_failure(self, event: OutboxEvent, attempts: int, error: str, now: int) -> None:
        dead = attempts >= self._max_attempts
        with self._db.begin() as conn:
            conn.execute(
                update(outbox_events)
                .where(outbox_events.c.event_id == event.event_id)
                .values(
                    status="dead" if dead else "pending",
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt_at=now + round(self._backoff(attempts) * NS_PER_SECOND),
                )
            )
        if dead:
            self.dead_letters += 1
            self._m_dead.set(self.dead_letters)
            self._log.error(
                "outbox_dead_letter",
                event_id=event.event_id,
                aggregate=f"{event.aggregate_type}:{event.aggregate_id}",
                error=error,
            )
        else:
            self._log.warning(
                "outbox_delivery_failed", event_id=event.event_id, attempts=attempts, error=error
            )
