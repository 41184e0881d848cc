"""The engine process the chaos test kills: ledger + trackers + executors + execution worker,
talking to the parent's Binance-compatible server through the ccxt connector, in real time.

It quotes the pools in the database.  With ``--finish`` it stops quoting after ``--run-for``
seconds and exits 0 once no order of ours is live and a reconciliation came back clean (3 on
``--deadline``); without it, it quotes until it is killed.  Every tick it writes a status file
(ticks, budget breaches) so what it saw survives a SIGKILL.

    python -m tests.engine.engine_child --db sqlite:///x.db --rest-url http://127.0.0.1:N ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, RealTimeSource
from hufimm.engine import Engine, build_engine
from hufimm.exchange import CcxtConnector, ExchangeSettings
from hufimm.ledger import Ledger
from hufimm.pools import PoolStore
from hufimm.store.db import Database
from hufimm.tracking import TrackingSettings

TRACKING = TrackingSettings.model_validate(
    {
        "book": {"silence_s": 10},
        "user_stream": {"silence_s": 10, "poll_interval_s": 1},
        "lost": {"confirmations": 2, "min_interval_s": 0.5, "min_age_s": 1.5},
        "reconcile": {"interval_s": 1.5, "recancel_after_s": 1, "fill_settle_s": 0.5},
    }
)


class Director(TickComponent):
    """Writes the status file each tick; with ``finish`` stops quoting, then the clock."""

    phase = Phase.JOBS
    name = "director"

    def __init__(
        self, clock: Clock, engine: Engine, status: Path, generation: int, finish_at: int | None
    ) -> None:
        self.clock, self.engine, self.status = clock, engine, status
        self.generation, self.finish_at = generation, finish_at
        self.ticks = 0
        self.clean_runs_needed: int | None = None

    async def on_tick(self, ts: int) -> None:
        self.ticks += 1
        temp = self.status.with_suffix(".tmp")
        temp.write_text(
            json.dumps(
                {
                    "generation": self.generation,
                    "ticks": self.ticks,
                    "breaches": self.engine.manager.budget_breaches,
                }
            )
        )
        os.replace(temp, self.status)
        if self.finish_at is None or ts < self.finish_at:
            return
        if self.clean_runs_needed is None:
            self.engine.stop_quoting()
            reconciler = next(iter(self.engine.trackers.values())).reconciler
            self.clean_runs_needed = reconciler.completed_runs + 2
            return
        reconciler = next(iter(self.engine.trackers.values())).reconciler
        orders = self.engine.orders.open_orders("binance", "mm")
        if (
            not self.engine.quoting
            and not orders
            and reconciler.completed_runs >= self.clean_runs_needed
            and reconciler.last_report is not None
            and reconciler.last_report.outcome == "clean"
        ):
            self.clock.request_stop()


async def main(args: argparse.Namespace) -> int:
    time_source = RealTimeSource()
    metrics = Metrics()
    rng = SeededRng(args.seed).child(f"generation-{args.generation}")
    db = Database(args.db)
    ledger = Ledger(db, time_source, metrics)
    await ledger.start()
    connector = CcxtConnector(
        ExchangeSettings(
            api_key=SecretStr(args.api_key),
            secret=SecretStr(args.secret),
            account="mm",
            rest_url=args.rest_url,
            ws_url=args.ws_url,
        ),
        time_source,
        rng.child("ccxt"),
        metrics=metrics,
    )
    await connector.start()
    clock = Clock(time_source, metrics, tick_size_s=0.25)
    engine = await build_engine(
        db=db,
        time_source=time_source,
        metrics=metrics,
        rng=rng,
        ids=IdFactory(time_source, rng),
        clock=clock,
        ledger=ledger,
        pools=PoolStore(db, time_source).active(),
        connectors={("binance", "mm"): connector},
        tracking=TRACKING,
        budget_refresh_s=1.0,
    )
    finish_at = time_source.time_ns() + round(args.run_for * NS_PER_SECOND) if args.finish else None
    clock.register(Director(clock, engine, Path(args.status), args.generation, finish_at))
    try:
        await asyncio.wait_for(clock.run(), args.deadline)
    except TimeoutError:
        return 3
    finally:
        await connector.close()
        await ledger.stop()
        db.dispose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--db", "--rest-url", "--ws-url", "--api-key", "--secret", "--status"):
        parser.add_argument(name, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generation", type=int, default=0)
    parser.add_argument("--run-for", type=float, default=5.0)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--finish", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
