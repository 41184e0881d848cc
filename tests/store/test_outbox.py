"""The outbox: order per aggregate, at-least-once delivery, exactly-once effects, dead letters."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection, func, insert, select

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.store.db import Database
from hufimm.store.outbox import OutboxDispatcher, OutboxEvent, append_event, requeue_dead

effects = sa.Table(
    "t_effects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("consumer", sa.String(50), nullable=False),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("aggregate_id", sa.String(50), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the dispatcher catches it."""


class EffectConsumer:
    """Writes one effect row per event; crashes at seeded points before or after the write."""

    def __init__(self, name: str, rng: SeededRng | None = None, crash_rate: float = 0.0) -> None:
        self.name = name
        self._rng = rng
        self._crash_rate = crash_rate

    def _maybe_crash(self) -> None:
        if self._rng is not None and self._rng.chance(self._crash_rate):
            raise Crash()

    def handle(self, conn: Connection, event: OutboxEvent) -> None:
        self._maybe_crash()
        conn.execute(
            insert(effects).values(
                consumer=self.name,
                event_id=event.event_id,
                aggregate_id=event.aggregate_id,
                seq=event.aggregate_seq,
            )
        )
        self._maybe_crash()  # after the write but before commit: rolled back with the receipt


def _append_many(db: Database, now: int, count: int, aggregates: int) -> None:
    with db.begin() as conn:
        effects.create(conn, checkfirst=True)
    for i in range(count):
        with db.begin() as conn:
            append_event(conn, "order", f"o{i % aggregates}", "order.changed", {"i": i}, now)


def test_delivery_is_exactly_once_per_consumer_under_injected_crashes(db: Database) -> None:
    time_source = VirtualTimeSource()
    _append_many(db, time_source.time_ns(), count=120, aggregates=7)
    rng = SeededRng(1234)
    crashes = 0
    # Two consumers: a crash in the second leaves the first committed and the event undelivered,
    # so the first sees it again on "restart" and its receipt must make that a no-op.
    for _ in range(500):
        dispatcher = OutboxDispatcher(
            db,
            time_source,
            Metrics(),
            [
                EffectConsumer("first", rng.child(f"a{crashes}"), 0.05),
                EffectConsumer("second", rng.child(f"b{crashes}"), 0.05),
            ],
            batch_size=17,
        )
        try:
            while dispatcher.dispatch_once():
                pass
            break
        except Crash:
            crashes += 1
    assert crashes > 5, "the seed should inject several crashes"
    with db.read() as conn:
        rows = conn.execute(select(effects).order_by(effects.c.id)).all()
        pending = conn.execute(
            sa.text("SELECT count(*) FROM outbox_events WHERE status <> 'delivered'")
        ).scalar_one()
    assert pending == 0
    for consumer in ("first", "second"):
        mine = [r for r in rows if r.consumer == consumer]
        assert sorted(r.event_id for r in mine) == list(range(1, 121))  # each exactly once
        for aggregate in {r.aggregate_id for r in mine}:
            seqs = [r.seq for r in mine if r.aggregate_id == aggregate]
            assert seqs == sorted(seqs)  # in order per aggregate


class FailingFor:
    name = "picky"

    def __init__(self, bad_aggregate: str) -> None:
        self.bad = bad_aggregate
        self.handled: list[tuple[str, int]] = []

    def handle(self, conn: Connection, event: OutboxEvent) -> None:
        if event.aggregate_id == self.bad:
            raise ValueError("cannot apply")
        self.handled.append((event.aggregate_id, event.aggregate_seq))


def test_failing_event_retries_then_halts_only_its_aggregate(db: Database) -> None:
    time_source = VirtualTimeSource()
    metrics = Metrics()
    _append_many(db, time_source.time_ns(), count=6, aggregates=2)  # o0: seq 1..3, o1: seq 1..3
    consumer = FailingFor("o1")
    dispatcher = OutboxDispatcher(
        db, time_source, metrics, [consumer], max_attempts=3, backoff_s=lambda attempt: 10.0
    )
    assert dispatcher.dispatch_once() == 3  # o0 flows; o1 seq 1 fails and holds o1
    assert dispatcher.dispatch_once() == 0  # backoff not over: nothing overtakes it
    for _ in range(3):
        time_source.advance(11)
        dispatcher.dispatch_once()
    assert dispatcher.dead_letters == 1
    assert not dispatcher.health().ok
    assert metrics.value("outbox_dead_letters") == 1
    assert all(aggregate == "o0" for aggregate, _ in consumer.handled)
    with db.read() as conn:
        statuses = dict(
            conn.execute(
                sa.text("SELECT aggregate_seq, status FROM outbox_events WHERE aggregate_id = 'o1'")
            ).all()
        )
    assert statuses == {1: "dead", 2: "pending", 3: "pending"}  # held back, never skipped
    consumer.bad = "none"
    with db.begin() as conn:
        dead_id = conn.execute(
            sa.text("SELECT event_id FROM outbox_events WHERE status = 'dead'")
        ).scalar_one()
        assert requeue_dead(conn, dead_id)
    assert dispatcher.dispatch_once() == 3
    assert [s for a, s in consumer.handled if a == "o1"] == [1, 2, 3]
    dispatcher.dispatch_once()
    assert dispatcher.health().ok


def test_concurrent_appends_to_one_aggregate_keep_a_total_order(db: Database) -> None:
    with db.begin() as conn:
        ids = [append_event(conn, "pool", "p1", "pool.changed", {"n": n}, 0) for n in range(5)]
        append_event(conn, "pool", "p2", "pool.changed", {}, 0)
    with db.read() as conn:
        seqs = conn.execute(
            select(func.max(sa.column("aggregate_seq")))
            .select_from(sa.table("outbox_events"))
            .where(sa.column("aggregate_id") == "p1")
        ).scalar_one()
    assert ids == sorted(ids) and seqs == 5
