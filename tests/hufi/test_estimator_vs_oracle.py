"""End to end: our engine trades on the simulated exchange and our score equals the oracle's.

The engine quotes a funded pool on an in-process simulated venue in virtual time; the venue's
takers fill our quotes (maker fills) and a few deliberate crossing orders of ours, written as
non-post-only intents and executed by the worker, take liquidity (taker buys and sells).  Our
fills reach the estimator only through the outbox.  The simulated recording oracle reads the
same account's trades straight from the venue's matching engine (``VenueLedgerView``), so the
two sides share nothing but the trades themselves.

The campaign started 24 h minus a few minutes before the run, so the run crosses a cycle
boundary; we join a few minutes in, so the first fills predate ``joined_at`` and neither side
may count them.  Per cycle, our score must equal the oracle's exactly (Decimal equality): the
recorded results of the finished cycle, the leaderboard of the running one, and the oracle's
own scoring of the venue's trades.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.money import MIXIN_PRECISION, MONEY_CONTEXT, to_units_exact
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.engine import Engine, build_engine
from hufimm.hufi.service import HufiService
from hufimm.hufi.tables import score_cycles, score_fills
from hufimm.ledger import Ledger
from hufimm.market import Side
from hufimm.pools import PoolStore, StrategyConfig, fund_pool
from hufimm.sim.exchange import SimAccount, SimConnector, build_exchange
from hufimm.sim.exchange.market import default_spec
from hufimm.sim.hufi import HufiWorld, new_campaign
from hufimm.sim.hufi import scoring as oracle_scoring
from hufimm.sim.hufi.campaigns import DAY_NS
from hufimm.sim.hufi.venue_view import VenueLedgerView
from hufimm.store.db import Database
from hufimm.store.outbox import OutboxDispatcher
from hufimm.strategy.intents import IntentDraft, IntentKind
from hufimm.tracking import TrackingSettings
from tests.hufi.support import asgi_service, service_settings

MINUTE_NS = 60 * NS_PER_SECOND
SYMBOL = "HMT/USDT"
HMT_ASSET = "0f3a1c52-7f43-4f7e-9d0e-6c1b0c2d3e4f"
USDT_ASSET = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
ACCOUNT = SimAccount("mm", "mm-key", "mm-secret", {"HMT": Decimal(20_000), "USDT": Decimal(20_000)})
#: The campaign's first cycle ends this long after the run starts.
BOUNDARY_AFTER_NS = 5 * MINUTE_NS
JOIN_AFTER_NS = 2 * MINUTE_NS
QUOTE_UNTIL_NS = 8 * MINUTE_NS
#: Deliberate taker orders (offset from the start, side): one before the join, then a buy and
#: a sell in each cycle.
TAKES = (
    (1 * MINUTE_NS, Side.SELL),
    (3 * MINUTE_NS, Side.BUY),
    (4 * MINUTE_NS, Side.SELL),
    (6 * MINUTE_NS, Side.SELL),
    (7 * MINUTE_NS, Side.BUY),
)
TAKE_QTY = Decimal(40)
#: The leaderboard refreshes every 10 minutes: its first window after the run covers it all.
LEADERBOARD_AT_NS = 10 * MINUTE_NS
TAKER_INSTANCE = "e2e-taker"


class Director(TickComponent):
    """The run's script on the clock: join a few minutes in, take liquidity at set times, stop
    quoting at the end and stop the clock once the engine has drained.  (The clock logs and
    counts a component's exceptions; the test checks this one never raised.)"""

    name = "e2e-director"
    phase = Phase.JOBS

    def __init__(
        self, clock: Clock, engine: Engine, service: HufiService, db: Database, start_ns: int
    ) -> None:
        self.clock, self.engine, self.service, self.db = clock, engine, service, db
        self.start_ns = start_ns
        (self.venue_key,) = engine.workers
        self.join_states: list[str] = []
        self.joined_at_ns: int | None = None
        self.taken: set[int] = set()
        self.stopping = False

    async def on_tick(self, ts: int) -> None:
        elapsed = ts - self.start_ns
        if self.joined_at_ns is None and elapsed >= JOIN_AFTER_NS:
            assert self.service.joiner is not None
            for _, result in await self.service.joiner.run_once():
                self.join_states.append(result.state)
                self.joined_at_ns = result.joined_at_ns
        for index, (offset, side) in enumerate(TAKES):
            if elapsed >= offset and index not in self.taken:
                self.taken.add(index)
                self._take(side, ts)
        if elapsed >= QUOTE_UNTIL_NS and not self.stopping:
            self.engine.stop_quoting()
            self.stopping = True
        elif (
            self.stopping
            and not self.engine.quoting
            and not self.engine.orders.open_orders(*self.venue_key)
        ):
            self.clock.request_stop()

    def _take(self, side: Side, now: int) -> None:
        """A limit order 1 % through the touch, not post-only: it fills at once, as a taker."""
        book = self.engine.trackers[self.venue_key].books.book(SYMBOL)
        assert book is not None
        best = book.best_ask() if side is Side.BUY else book.best_bid()
        assert best is not None
        through = Decimal("1.01") if side is Side.BUY else Decimal("0.99")
        rules = self.engine.rules[self.venue_key][SYMBOL]
        draft = IntentDraft(
            TAKER_INSTANCE,
            IntentKind.CREATE_LIMIT_ORDER,
            self.venue_key[0],
            self.venue_key[1],
            SYMBOL,
            side,
            rules.round_price(MONEY_CONTEXT.multiply(best[0], through), side),
            TAKE_QTY,
            reason="e2e: take liquidity",
            post_only=False,
        )
        with self.db.begin() as conn:
            self.engine.intents.create_many(conn, [draft], now)


async def _seed_pool(
    db: Database, time: VirtualTimeSource, ledger: Ledger, exchange: str, ids: IdFactory
) -> None:
    store = PoolStore(db, time)
    pool = store.create(
        "e2e-hmt-usdt",
        exchange,
        ACCOUNT.name,
        SYMBOL,
        HMT_ASSET,
        USDT_ASSET,
        StrategyConfig(
            order_amount=Decimal(60),
            order_levels=2,
            bid_spread=Decimal("0.0002"),
            ask_spread=Decimal("0.0002"),
            level_spread=Decimal("0.0003"),
            order_refresh_time_s=10,
            filled_order_delay_s=3,
        ),
    )
    await fund_pool(
        ledger,
        store,
        pool,
        user_id=ids.derive_str("e2e-user", "alice"),
        order_id=ids.derive_str("e2e-order", "alice"),
        base_units=to_units_exact(Decimal(5_000), MIXIN_PRECISION),
        quote_units=to_units_exact(Decimal(5_000), MIXIN_PRECISION),
        share_price=Decimal(1),
        deposit_first=True,
    )


@pytest.mark.slow
def test_our_score_equals_the_oracle_for_the_engine_trading_on_the_simulated_exchange(
    db: Database,
) -> None:
    time = VirtualTimeSource()
    run_virtual(_scenario(db, time), time)


async def _scenario(db: Database, time: VirtualTimeSource) -> None:
    t0 = time.time_ns()
    metrics = Metrics()
    rng = SeededRng(17)
    ids = IdFactory(time, rng.child("ids"))
    # A lively market: the price moves every second and a taker arrives about every second.
    venue = build_exchange(
        time, 17, [default_spec(SYMBOL, price_interval_s=1.0, taker_rate_per_s=1.0)], [ACCOUNT]
    )
    await venue.start()
    connector = SimConnector(venue, ACCOUNT.api_key)
    await connector.start()
    view = VenueLedgerView({"mexc": venue})  # the venue plays mexc for HuFi
    view.issue_read_only_key("mexc", ACCOUNT.name, "ro-key", "ro-secret")
    world = HufiWorld(time, rng.child("world"), view)
    start = t0 - DAY_NS + BOUNDARY_AFTER_NS
    campaign = new_campaign(
        world.defaults,
        name="e2e",
        chain_id=137,
        type="MARKET_MAKING",
        exchange_name="mexc",
        symbol=SYMBOL,
        details={"daily_volume_target": Decimal(50_000)},
        start_ns=start,
        end_ns=start + 3 * DAY_NS,
        fund_units=3_000 * 10**6,
        created_ns=start - DAY_NS,
    )
    world.add_campaigns([campaign])
    settings = service_settings(
        markets=[
            {
                "exchange": "mexc",
                "symbol": SYMBOL,
                "venue": connector.exchange_id,
                "account": ACCOUNT.name,
            }
        ],
        exchange_keys=[
            {"exchange": "mexc", "api_key": "ro-key", "secret_key": "ro-secret", "read_only": True}
        ],
        auto_join=False,  # the director joins, a few minutes into the run
    )
    service = asgi_service(settings, db, time, world, metrics)
    ledger = Ledger(db, time, metrics)
    await ledger.start()
    try:
        await _seed_pool(db, time, ledger, connector.exchange_id, ids)
        clock = Clock(time, metrics)
        outbox = OutboxDispatcher(db, time, metrics)
        engine = await build_engine(
            db=db,
            time_source=time,
            metrics=metrics,
            rng=rng.child("engine"),
            ids=ids,
            clock=clock,
            ledger=ledger,
            pools=PoolStore(db, time).active(),
            connectors={(connector.exchange_id, connector.account): connector},
            tracking=TrackingSettings(),
        )
        clock.register(outbox)
        # As in production: campaign sync and score checks on the clock, the estimator on the
        # outbox (the campaign is synced on the first tick, before any fill is delivered).
        service.register(clock, outbox)
        director = Director(clock, engine, service, db, t0)
        clock.register(director)
        await clock.run(until_ns=t0 + LEADERBOARD_AT_NS)
        while outbox.dispatch_once():
            pass
        await connector.close()
        await venue.stop()  # nothing of ours trades any more
        await _check(db, time, t0, world, view, service, director, clock, campaign.address)
    finally:
        await ledger.stop()
        await service.aclose()


async def _check(
    db: Database,
    time: VirtualTimeSource,
    t0: int,
    world: HufiWorld,
    view: VenueLedgerView,
    service: HufiService,
    director: Director,
    clock: Clock,
    address: str,
) -> None:
    assert all(clock.errors_of(c.name) == 0 for c in clock.components)
    assert service.health().ok
    assert director.join_states == ["joined"] and director.taken == set(range(len(TAKES)))
    assert not director.engine.quoting  # drained, not cut off by the time limit
    campaign = world.campaign(137, address)
    stored = world.oracle.stored[campaign.key]
    (participation,) = stored.participants
    joined_at = director.joined_at_ns
    assert joined_at == participation.joined_ns  # the oracle's time, as it reported it
    assert t0 + JOIN_AFTER_NS <= joined_at < t0 + BOUNDARY_AFTER_NS

    # The oracle's partial cycle: everything we traded after the boundary.
    time.advance_to_ns(t0 + LEADERBOARD_AT_NS)
    reconciler = service.reconciler
    assert reconciler is not None
    (board_check,) = await reconciler.run_once()
    assert (board_check.source, board_check.cycle) == ("leaderboard", 1)
    # Recording runs on the half hour: the first cycle is then in the results file.
    time.advance_to_ns(t0 + 30 * MINUTE_NS)
    await service.sync.sync_once()  # picks up the intermediate results URL
    checks = await reconciler.run_once()
    assert sorted((c.source, c.cycle) for c in checks) == [("leaderboard", 1), ("results", 0)]
    for check in (board_check, *checks):
        assert check.score_diff == 0 and not check.alarm, check
        assert check.our_score == check.oracle_score > 0

    with db.read() as conn:
        ours = {row.cycle: row for row in conn.execute(select(score_cycles)).all()}
        fills = conn.execute(select(score_fills)).all()
    assert sorted(ours) == [0, 1]
    board = world.oracle.leaderboard(137, address)
    ((board_outcome, _, _),) = board.rows
    (batch,) = stored.results[0]["participants_outcomes_batches"]
    (recorded,) = batch["results"]
    oracle_score = {0: recorded["score"], 1: board_outcome.score}
    venue_ids: list[str] = []
    for cycle in (0, 1):
        cycle_start = campaign.start_ns + cycle * DAY_NS
        cycle_end = cycle_start + DAY_NS
        traded = view.trades("mexc", ACCOUNT.name, SYMBOL, cycle_start, cycle_end)
        counted = [t for t in traded if t.ts_ns >= joined_at]
        venue_ids += [t.trade_id for t in traded]
        score, volume = oracle_scoring.measure(counted)
        row = ours[cycle]
        assert (row.score, row.volume, row.fills) == (score, volume, len(counted))
        assert row.score == oracle_score[cycle]  # exactly, as Decimals
        makers = [t for t in counted if t.is_maker]
        taker_buys = [t for t in counted if not t.is_maker and t.side is Side.BUY]
        taker_sells = [t for t in counted if not t.is_maker and t.side is Side.SELL]
        assert makers and taker_buys and taker_sells, (cycle, len(counted))
        assert row.maker_cost == oracle_scoring.dsum(t.cost for t in makers)
        assert row.taker_buy_cost == oracle_scoring.dsum(t.cost for t in taker_buys)
        assert row.taker_sell_cost == oracle_scoring.dsum(t.cost for t in taker_sells)
        assert row.score != row.volume  # the weights matter in every cycle
        if cycle == 0:
            early = [t for t in traded if t.ts_ns < joined_at]
            assert early and any(not t.is_maker for t in early)
            stored_early = [f for f in fills if f.ts_ns < joined_at]
            assert len(stored_early) == len(early)  # kept, yet not counted
            assert oracle_scoring.measure(traded)[0] != row.score  # the filter matters
    # The estimator saw every fill of ours in the campaign, through the outbox, once each (a
    # trade with ourselves is two fills: one per order, and the oracle counts both).
    assert sorted(f.trade_key.split(":")[-2] for f in fills) == sorted(venue_ids)
    # Our crossing orders met our own quotes at the touch at least once.
    assert len(set(venue_ids)) < len(venue_ids)
