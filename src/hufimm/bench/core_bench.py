"""Benchmarks of the foundation: clock overhead and outbox throughput."""

from __future__ import annotations

from hufimm.bench.harness import BenchOptions, Figure, percentile
from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_MS, Stopwatch, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.store.outbox import OutboxDispatcher, OutboxEvent, append_event


class _Noop(TickComponent):
    phase = Phase.STRATEGY

    def __init__(self, name: str) -> None:
        self.name = name

    async def on_tick(self, ts: int) -> None:
        return None


def run_clock(options: BenchOptions) -> list[Figure]:
    """Cost the clock adds per tick for 1, 100 and 1000 registered components."""
    figures = []
    ticks = 200 if options.quick else 1000
    for count in (1, 100, 1000):
        time_source = VirtualTimeSource()
        clock = Clock(time_source, Metrics())
        clock.register_all(_Noop(f"c{i:04d}") for i in range(count))
        run_virtual(clock.run(ticks=ticks), time_source)
        costs = [c / NS_PER_MS for c in clock.tick_cost_ns]
        figures.append(
            Figure("clock", f"{count} components", "tick p50", percentile(costs, 0.5), "ms")
        )
        figures.append(
            Figure("clock", f"{count} components", "tick p99", percentile(costs, 0.99), "ms")
        )
    return figures


class _Sink:
    name = "bench.sink"

    def handle(self, conn: object, event: OutboxEvent) -> None:
        return None


def run_outbox(options: BenchOptions) -> list[Figure]:
    """Events appended per second (batched transactions) and delivered per second, on SQLite."""
    path = options.workdir / "outbox-bench.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    events = 2000 if options.quick else 20_000
    watch = Stopwatch()
    for start in range(0, events, 500):
        with db.begin() as conn:
            for i in range(start, start + 500):
                append_event(conn, "bench", f"agg-{i % 50}", "bench.event", {"i": i}, i)
    append_rate = events / (watch.elapsed_ns() / 1e9)
    time_source = VirtualTimeSource()
    dispatcher = OutboxDispatcher(db, time_source, Metrics(), [_Sink()], batch_size=1000)
    watch = Stopwatch()
    delivered = 0
    while True:
        n = dispatcher.dispatch_once()
        if n == 0:
            break
        delivered += n
    deliver_rate = delivered / (watch.elapsed_ns() / 1e9)
    db.dispose()
    return [
        Figure("outbox", "sqlite, 500/txn", "append", append_rate, "events/s"),
        Figure("outbox", "sqlite, 1 consumer", "deliver", deliver_rate, "events/s"),
    ]
