"""The process the restart test kills: trackers + order driver + reconciliation on SQLite,
talking to the parent's Binance-compatible server through the ccxt connector, in real time.

It places orders for ``--place-for`` seconds, then cancels everything and runs until no order of
ours is live and a reconciliation run came back clean; exit 0 then, 3 on ``--deadline``.

    python -m tests.tracking.restart_child --db sqlite:///x.db --rest-url http://127.0.0.1:N ...
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import SecretStr

from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, RealTimeSource
from hufimm.exchange import CcxtConnector, ExchangeSettings
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.tracking import AccountTrackers, TrackingSettings
from tests.tracking.world import SYMBOL, OrderDriver

SETTINGS = TrackingSettings.model_validate(
    {
        "book": {"silence_s": 10},
        "user_stream": {"silence_s": 10, "poll_interval_s": 1},
        "lost": {"confirmations": 2, "min_interval_s": 0.5, "min_age_s": 1.5},
        "reconcile": {"interval_s": 1.5, "recancel_after_s": 1, "fill_settle_s": 0.5},
    }
)


class Finisher(TickComponent):
    """Stops placing after ``place_for``; stops the clock once everything is settled."""

    phase = Phase.JOBS
    name = "finisher"

    def __init__(
        self, clock: Clock, trackers: AccountTrackers, driver: OrderDriver, stop_placing_at: int
    ) -> None:
        self.clock = clock
        self.trackers = trackers
        self.driver = driver
        self.stop_placing_at = stop_placing_at
        self.runs_at_stop: int | None = None

    async def on_tick(self, ts: int) -> None:
        if ts < self.stop_placing_at:
            return
        if self.driver.placing:
            self.driver.placing = False
            self.driver.cancel_all = True
            self.runs_at_stop = self.trackers.reconciler.completed_runs
        reconciler = self.trackers.reconciler
        assert self.runs_at_stop is not None
        settled = not self.trackers.orders.open_orders("binance", "mm", SYMBOL)
        report = reconciler.last_report
        if (
            settled
            and reconciler.completed_runs > self.runs_at_stop + 1
            and report is not None
            and report.outcome == "clean"
        ):
            self.clock.request_stop()


async def main(args: argparse.Namespace) -> int:
    time_source = RealTimeSource()
    db = Database(args.db)
    upgrade(db)
    settings = ExchangeSettings(
        api_key=SecretStr(args.api_key),
        secret=SecretStr(args.secret),
        account="mm",
        rest_url=args.rest_url,
        ws_url=args.ws_url,
    )
    conn = CcxtConnector(settings, time_source, SeededRng(args.seed))
    await conn.start()
    metrics = Metrics()
    trackers = AccountTrackers.build(
        conn, [SYMBOL], db, time_source, metrics, SeededRng(args.seed), SETTINGS
    )
    clock = Clock(time_source, metrics, tick_size_s=0.1)
    trackers.register(clock)
    driver = OrderDriver(
        conn,
        trackers.orders,
        trackers.books,
        db,
        SeededRng(args.seed * 100 + args.generation),
        skip_send_rate=0.05,
    )
    now = time_source.time_ns()
    finisher = Finisher(clock, trackers, driver, now + round(args.place_for * NS_PER_SECOND))
    clock.register_all([driver, finisher])
    await trackers.start()
    deadline = now + round(args.deadline * NS_PER_SECOND)
    try:
        await clock.run(until_ns=deadline)
    finally:
        await conn.close()
        db.dispose()
    return 0 if time_source.time_ns() < deadline else 3


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generation", type=int, default=0)
    parser.add_argument("--place-for", type=float, default=4.0)
    parser.add_argument("--deadline", type=float, default=60.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
