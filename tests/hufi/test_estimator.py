"""The score estimator against the simulated oracle: exactly equal for the same trades."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from hufimm.core.metrics import Metrics
from hufimm.core.money import MONEY_CONTEXT
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND
from hufimm.hufi.tables import score_cycles, score_fills, score_snapshots
from hufimm.market import FILL_EVENT, Fill, Side
from hufimm.sim.hufi import ENROLMENT_PERMISSIONS, SimTrade, TradeBook, new_campaign
from hufimm.sim.hufi import scoring as oracle_scoring
from hufimm.sim.hufi.campaigns import DAY_NS
from hufimm.store.db import Database
from hufimm.store.outbox import OutboxDispatcher, append_event
from tests.hufi.support import asgi_service, in_process_world, service_settings, wallet_key

HOUR_NS = 3600 * NS_PER_SECOND


class Trader:
    """Seeded trades of one account, written to the exchange book and (ours) to the outbox."""

    def __init__(self, rng: SeededRng, book: TradeBook, account: str, db: Database | None) -> None:
        self._rng = rng
        self._book = book
        self.account = account
        self._db = db
        self.trades: list[SimTrade] = []

    def trade_at(self, ts_ns: int, *, maker: bool | None = None) -> SimTrade:
        price = Decimal(self._rng.randint(2000, 4000)).scaleb(-5)
        qty = Decimal(self._rng.randint(1, 5_000_000)).scaleb(-2)
        made = SimTrade(
            f"{self.account}-{len(self.trades)}",
            "HMT/USDT",
            Side.BUY if self._rng.chance(0.5) else Side.SELL,
            price,
            qty,
            MONEY_CONTEXT.multiply(price, qty),
            self._rng.chance(0.6) if maker is None else maker,
            ts_ns,
        )
        self._book.record_trade("mexc", self.account, made)
        self.trades.append(made)
        if self._db is not None:
            self.emit(made, ts_ns)
        return made

    def emit(self, made: SimTrade, now_ns: int, order_id: str | None = None) -> None:
        assert self._db is not None
        fill = Fill(
            exchange="mexc",
            account=self.account,
            symbol=made.symbol,
            trade_id=made.trade_id,
            order_id=order_id or f"order-{made.trade_id}",
            client_order_id=None,
            side=made.side,
            price=made.price,
            qty=made.qty,
            quote_qty=made.cost,
            fee=Decimal(0),
            fee_asset="USDT",
            is_maker=made.is_maker,
            ts_ns=made.ts_ns,
        )
        with self._db.begin() as conn:
            append_event(
                conn, "fill", f"mexc:{self.account}", FILL_EVENT, fill.to_payload(), now_ns
            )

    def self_trade(self, ts_ns: int) -> tuple[SimTrade, SimTrade]:
        """One trade between two orders of ours: a maker buy and a taker sell, one trade id."""
        trade_id = f"{self.account}-{len(self.trades)}"
        price, qty = Decimal("0.0312"), Decimal("1500")
        cost = MONEY_CONTEXT.multiply(price, qty)
        pair = (
            SimTrade(trade_id, "HMT/USDT", Side.BUY, price, qty, cost, True, ts_ns),
            SimTrade(trade_id, "HMT/USDT", Side.SELL, price, qty, cost, False, ts_ns),
        )
        for made in pair:
            self._book.record_trade("mexc", self.account, made)
            self.trades.append(made)
            self.emit(made, ts_ns, order_id=f"order-{trade_id}-{made.side.value}")
        return pair

    def random_between(self, since_ns: int, until_ns: int, count: int) -> None:
        for ts in sorted(self._rng.randint(since_ns, until_ns - 1) for _ in range(count)):
            self.trade_at(ts)


async def test_estimator_equals_the_simulated_oracle_exactly(db: Database) -> None:
    time, book, world = in_process_world(seed=3)
    for account, deposit in (("ours", "aa"), ("rival", "bb"), ("sybil", "bb")):
        book.add_account("mexc", account, eth_address="0x" + deposit * 20)
        book.issue_key(
            "mexc", account, f"key-{account}", f"secret-{account}", ENROLMENT_PERMISSIONS
        )
    start = time.time_ns() + 3 * HOUR_NS
    campaign = new_campaign(
        world.defaults,
        name="exact",
        chain_id=137,
        type="MARKET_MAKING",
        exchange_name="mexc",
        symbol="HMT/USDT",
        details={"daily_volume_target": Decimal(250_000)},
        start_ns=start,
        end_ns=start + 3 * DAY_NS,
        fund_units=3_000 * 10**6,
        created_ns=time.time_ns(),
    )
    world.add_campaigns([campaign])
    metrics = Metrics()
    service = asgi_service(service_settings(), db, time, world, metrics)
    others = {
        name: asgi_service(
            service_settings(
                wallet_private_key=wallet_key(name),
                exchange_keys=[
                    {"exchange": "mexc", "api_key": f"key-{name}", "secret_key": f"secret-{name}"}
                ],
            ),
            db,
            time,
            world,
            Metrics(),
        )
        for name in ("rival", "sybil")
    }
    for name, other in others.items():
        assert other.oracle is not None
        await other.oracle.enroll_exchange_key("mexc", f"key-{name}", f"secret-{name}")
        await other.oracle.join(137, campaign.address)
    outbox = OutboxDispatcher(db, time, metrics, [service.estimator])
    rng = SeededRng(99)
    ours = Trader(rng.child("ours"), book, "ours", db)
    rival = Trader(rng.child("rival"), book, "rival", None)
    sybil = Trader(rng.child("sybil"), book, "sybil", None)
    await service.sync.sync_once()

    # Before we join: fills before start and before joined_at are kept but never counted.
    ours.trade_at(start - 1)
    ours.random_between(start - 2 * HOUR_NS, start + 5 * HOUR_NS, 40)
    time.advance_to_ns(start + 5 * HOUR_NS)
    outbox.dispatch_once()
    assert service.joiner is not None
    joined = dict(await service.joiner.run_once())[campaign.address]
    assert joined.state == "joined" and joined.joined_at_ns is not None
    joined_at = joined.joined_at_ns
    ours.trade_at(joined_at - 1, maker=True)  # late delivery of a fill from before the join
    ours.trade_at(joined_at, maker=False)  # the first counted instant
    outbox.dispatch_once()

    # Three cycles of trading, with fills exactly on cycle boundaries and at the end.
    step = 6 * HOUR_NS
    for now in range(joined_at, start + 3 * DAY_NS, step):
        ours.random_between(now, now + step, 30)
        rival.random_between(now, now + step, 20)
        sybil.random_between(now, now + step, 10)
        for boundary in (start + DAY_NS, start + 2 * DAY_NS):
            if now <= boundary < now + step:
                ours.trade_at(boundary)
                ours.trade_at(boundary - 1)
        outbox.dispatch_once()
        time.advance_to_ns(now + step)
        assert service.reconciler is not None
        for snapshot in await service.reconciler.run_once():
            assert snapshot.score_diff == 0, snapshot  # every partial-cycle check is exact
    ours.trade_at(start + 3 * DAY_NS)  # at end_date: outside every cycle
    ours.emit(ours.trades[5], time.time_ns())  # a duplicate delivery of one fill
    outbox.dispatch_once()

    time.advance_to_ns(start + 3 * DAY_NS + HOUR_NS)
    await service.sync.sync_once()  # picks up the oracle's intermediate results URL
    assert service.reconciler is not None
    snapshots = [s for s in await service.reconciler.run_once() if s.source == "results"]
    assert [s.cycle for s in snapshots] == [0, 1, 2]

    counted = [t for t in ours.trades if joined_at <= t.ts_ns < start + 3 * DAY_NS]
    with db.read() as conn:
        cycles = conn.execute(select(score_cycles).order_by(score_cycles.c.cycle)).all()
        stored_fills = conn.execute(select(score_fills)).all()
        alarms = conn.execute(
            select(score_snapshots.c.id).where(score_snapshots.c.alarm.is_(True))
        ).all()
    assert len(stored_fills) == len(
        [t for t in ours.trades if start <= t.ts_ns < start + 3 * DAY_NS]
    )
    assert alarms == []
    for cycle, snapshot in zip(cycles, snapshots, strict=True):
        cycle_start = start + cycle.cycle * DAY_NS
        in_cycle = [t for t in counted if cycle_start <= t.ts_ns < cycle_start + DAY_NS]
        score, volume = oracle_scoring.measure(in_cycle)
        assert (cycle.score, cycle.volume, cycle.fills) == (score, volume, len(in_cycle))
        assert snapshot.our_score == snapshot.oracle_score == cycle.score
        assert snapshot.score_diff == 0
        assert any(t.is_maker for t in in_cycle) and any(not t.is_maker for t in in_cycle)
    assert metrics.value("hufi_score_alarms_total", {"source": "results"}) == 0
    assert metrics.value("hufi_score_checks_total", {"source": "leaderboard"}) >= 10
    await service.aclose()
    for other in others.values():
        await other.aclose()


async def test_a_trade_with_ourselves_is_two_fills_and_both_count_like_at_the_oracle(
    db: Database,
) -> None:
    time, book, world = in_process_world(seed=5)
    book.add_account("mexc", "ours", eth_address="0x" + "cc" * 20)
    book.issue_key("mexc", "ours", "key-ours", "secret-ours", ENROLMENT_PERMISSIONS)
    start = time.time_ns() + HOUR_NS
    campaign = new_campaign(
        world.defaults,
        name="self-trade",
        chain_id=137,
        type="MARKET_MAKING",
        exchange_name="mexc",
        symbol="HMT/USDT",
        details={"daily_volume_target": Decimal(10_000)},
        start_ns=start,
        end_ns=start + DAY_NS,
        fund_units=100 * 10**6,
        created_ns=time.time_ns(),
    )
    world.add_campaigns([campaign])
    metrics = Metrics()
    service = asgi_service(service_settings(), db, time, world, metrics)
    outbox = OutboxDispatcher(db, time, metrics, [service.estimator])
    await service.sync.sync_once()
    assert service.joiner is not None and service.reconciler is not None
    assert dict(await service.joiner.run_once())[campaign.address].state == "joined"
    ours = Trader(SeededRng(1), book, "ours", db)
    maker, taker = ours.self_trade(start + HOUR_NS)
    ours.emit(maker, start + HOUR_NS, order_id=f"order-{maker.trade_id}-buy")  # redelivered
    outbox.dispatch_once()
    with db.read() as conn:
        (row,) = conn.execute(select(score_cycles)).all()
    score, volume = oracle_scoring.measure([maker, taker])
    assert (row.score, row.volume, row.fills) == (score, volume, 2)
    assert (row.maker_cost, row.taker_sell_cost) == (maker.cost, taker.cost)
    time.advance_to_ns(start + 2 * HOUR_NS)
    (check,) = await service.reconciler.run_once()
    assert check.our_score == check.oracle_score == score and check.score_diff == 0
    await service.aclose()
