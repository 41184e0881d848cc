"""Benchmarks of the HuFi integration: the score estimator's fill throughput and the clients
against the simulated services on loopback (paging, login, leaderboard)."""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal

from pydantic import SecretStr

from hufimm.bench.harness import BenchOptions, Figure, percentile
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_MS, NS_PER_SECOND, Stopwatch, VirtualTimeSource
from hufimm.hufi.auth import WalletSession
from hufimm.hufi.estimator import ScoreEstimator
from hufimm.hufi.launcher import CampaignLauncherClient
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.hufi.settings import HufiMarket
from hufimm.hufi.signing import WalletSigner
from hufimm.hufi.tables import campaigns, participations
from hufimm.hufi.transport import HufiHttp
from hufimm.market import FILL_EVENT, Fill, Side
from hufimm.sim.hufi import HufiWorld, TradeBook, generate_campaigns, serve_hufi
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.store.outbox import OutboxDispatcher, append_event

_WALLET = "0x" + "11" * 20


def run_estimator(options: BenchOptions) -> list[Figure]:
    """Fill events scored per second (outbox delivery included), SQLite, one joined campaign."""
    path = options.workdir / "hufi-estimator.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    start = 1_767_225_600 * NS_PER_SECOND
    with db.begin() as conn:
        conn.execute(
            campaigns.insert().values(
                chain_id=137,
                address="0xC",
                type="MARKET_MAKING",
                exchange_name="mexc",
                symbol="HMT/USDT",
                status="active",
                lifecycle="running",
                details='{"daily_volume_target":"1000"}',
                start_ns=start,
                end_ns=start + 30 * 86_400 * NS_PER_SECOND,
                fund_amount=10**12,
                balance=10**12,
                amount_paid=0,
                fund_token="0xT",
                fund_token_symbol="USDT0",
                fund_token_decimals=6,
                launcher="0xL",
                exchange_oracle="0xE",
                recording_oracle="0xR",
                reputation_oracle="0xP",
                matches_market=True,
                first_seen_ns=start,
                updated_ns=start,
            )
        )
        conn.execute(
            participations.insert().values(
                chain_id=137,
                address="0xC",
                wallet=_WALLET,
                state="joined",
                joined_at_ns=start,
                attempts=1,
                next_attempt_ns=0,
                updated_ns=start,
            )
        )
    fills = 500 if options.quick else 5000
    rng = SeededRng(1)
    with db.begin() as conn:
        for i in range(fills):
            price, qty = (
                Decimal(rng.randint(2000, 4000)).scaleb(-5),
                Decimal(rng.randint(1, 10**6)).scaleb(-2),
            )
            fill = Fill(
                "mexc",
                "mm",
                "HMT/USDT",
                f"t{i}",
                f"o{i}",
                None,
                Side.BUY if i % 2 else Side.SELL,
                price,
                qty,
                price * qty,
                Decimal(0),
                "USDT",
                i % 3 != 0,
                start + i * 10**9,
            )
            append_event(conn, "fill", "mexc:mm", FILL_EVENT, fill.to_payload(), start)
    estimator = ScoreEstimator([HufiMarket(exchange="mexc", symbol="HMT/USDT")], _WALLET)
    dispatcher = OutboxDispatcher(db, VirtualTimeSource(), Metrics(), [estimator], batch_size=1000)
    watch = Stopwatch()
    while dispatcher.dispatch_once():
        pass
    rate = fills / (watch.elapsed_ns() / NS_PER_SECOND)
    db.dispose()
    return [Figure("hufi", "estimator, sqlite", "fills scored", rate, "fills/s")]


def run_clients(options: BenchOptions) -> list[Figure]:
    """The clients against the simulated services over loopback HTTP."""
    return asyncio.run(_clients(options))


async def _clients(options: BenchOptions) -> list[Figure]:
    time = VirtualTimeSource()
    rng = SeededRng(2)
    world = HufiWorld(time, rng.child("world"), TradeBook(("mexc",)))
    world.add_campaigns(
        generate_campaigns(
            rng.child("gen"), world.defaults, count=1000, chain_id=137, now_ns=time.time_ns()
        )
    )
    metrics = Metrics()
    figures = []
    async with serve_hufi(world) as urls:
        launcher_http = HufiHttp(
            urls.launcher, service="launcher", time=time, rng=rng, metrics=metrics
        )
        oracle_http = HufiHttp(urls.oracle, service="oracle", time=time, rng=rng, metrics=metrics)
        launcher = CampaignLauncherClient(launcher_http)
        watch = Stopwatch()
        listing = await launcher.all_campaigns(137, page_size=100)
        figures.append(
            Figure(
                "hufi",
                f"{len(listing.campaigns)} campaigns, 100/page",
                "list all",
                watch.elapsed_ms(),
                "ms",
            )
        )
        logins = []
        rounds = 5 if options.quick else 20
        for i in range(rounds):
            key = hashlib.sha256(f"bench/{i}".encode()).hexdigest()
            session = WalletSession(
                oracle_http, WalletSigner(SecretStr(key)), time=time, metrics=metrics
            )
            watch = Stopwatch()
            await RecordingOracleClient(oracle_http, session).me()
            logins.append(watch.elapsed_ns() / NS_PER_MS)
        figures.append(
            Figure("hufi", "nonce+sign+auth+GET /me", "login p50", percentile(logins, 0.5), "ms")
        )
        oracle = RecordingOracleClient(oracle_http, session)
        address = listing.campaigns[0].address
        latencies = []
        for _ in range(rounds * 5):
            watch = Stopwatch()
            await oracle.leaderboard(137, address)
            latencies.append(watch.elapsed_ns() / NS_PER_MS)
        figures.append(
            Figure("hufi", "loopback", "leaderboard p50", percentile(latencies, 0.5), "ms")
        )
        await launcher_http.aclose()
        await oracle_http.aclose()
    return figures
