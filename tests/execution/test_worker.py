"""The execution worker against the in-process simulated venue, in virtual time.

Each test writes intents the way the executor manager does, runs the worker's ticks, and
checks the venue, the shadow tracker and the intents' status log.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.execution import ExecutionWorker
from hufimm.market import OrderRequest
from hufimm.market.types import Side
from hufimm.sim.exchange import FaultConfig, SimAccount, SimConnector, SimExchange, build_exchange
from hufimm.sim.exchange.engine import SimOrder
from hufimm.sim.exchange.faults import FaultInjector
from hufimm.sim.exchange.market import default_spec
from hufimm.store.db import Database
from hufimm.strategy.intents import Intent, IntentDraft, IntentKind, IntentStatus, IntentStore
from hufimm.tracking import OrderTracker, TrackedStatus

D = Decimal
SYMBOL = "BTC/USDT"
ACCOUNT = SimAccount("mm", "k", "s", {"BTC": D(5), "USDT": D(500_000)})


@dataclass
class World:
    time: VirtualTimeSource
    venue: SimExchange
    connector: SimConnector
    orders: OrderTracker
    intents: IntentStore
    worker: ExecutionWorker
    db: Database

    def faults(self, **rates: float) -> None:
        self.venue.faults = FaultInjector(FaultConfig(**rates), SeededRng(3))

    def add(self, *drafts: IntentDraft) -> list[Intent]:
        with self.db.begin() as conn:
            return self.intents.create_many(conn, list(drafts), self.time.time_ns())

    def intent(self, intent_id: str) -> Intent:
        with self.db.read() as conn:
            found = IntentStore.get(conn, intent_id)
        assert found is not None
        return found

    def history(self, intent_id: str) -> list[str]:
        with self.db.read() as conn:
            return [to for _, to, _, _ in IntentStore.history(conn, intent_id)]

    def venue_orders(self) -> list[SimOrder]:
        return list(self.venue.engine.orders_of(ACCOUNT.name))


def create(
    price: str, side: Side = Side.BUY, qty: str = "0.01", *, post_only: bool = True
) -> IntentDraft:
    return IntentDraft(
        "pool:test",
        IntentKind.CREATE_LIMIT_ORDER,
        "simex",
        "mm",
        SYMBOL,
        side,
        D(price),
        D(qty),
        mixin_order_id="pool-1",
        post_only=post_only,
    )


def cancel(target: str | None) -> IntentDraft:
    return IntentDraft(
        "pool:test", IntentKind.CANCEL_ORDER, "simex", "mm", SYMBOL, target_client_order_id=target
    )


def replace(target: str | None, price: str) -> IntentDraft:
    return IntentDraft(
        "pool:test",
        IntentKind.REPLACE_ORDER,
        "simex",
        "mm",
        SYMBOL,
        Side.BUY,
        D(price),
        D("0.01"),
        target_client_order_id=target,
    )


@pytest.fixture
def world(db: Database) -> World:
    time = VirtualTimeSource()
    # A quiet market (no takers) so resting orders stay put unless a test wants a fill.
    venue = build_exchange(time, 7, [default_spec(SYMBOL, taker_rate_per_s=0.0)], [ACCOUNT])
    connector = SimConnector(venue, ACCOUNT.api_key)
    metrics = Metrics()
    orders = OrderTracker(db, time, metrics, client_id_prefix="hm")
    intents = IntentStore(IdFactory(time, SeededRng(1)))
    worker = ExecutionWorker(
        db, time, metrics, connector, orders, intents, SeededRng(2), recheck_s=0.0
    )
    return World(time, venue, connector, orders, intents, worker, db)


def ticks(world: World, n: int = 1) -> None:
    async def go() -> None:
        await world.venue.start()
        await world.worker.start()
        for _ in range(n):
            world.time.advance(1)
            await world.worker.on_tick(world.time.time_ns())
        await world.venue.stop()

    run_virtual(go(), world.time)


def test_create_then_cancel_end_done_with_their_log(world: World) -> None:
    (made,) = world.add(create("50000"))
    ticks(world)
    assert world.intent(made.intent_id).status is IntentStatus.ACKED
    tracked = world.orders.order(made.client_order_id or "")
    assert tracked is not None and tracked.status is TrackedStatus.OPEN
    assert [o.client_order_id for o in world.venue_orders()] == [made.client_order_id]
    (gone,) = world.add(cancel(made.client_order_id))
    ticks(world)
    assert world.history(gone.intent_id) == ["NEW", "SENT", "ACKED", "DONE"]
    assert world.history(made.intent_id) == ["NEW", "SENT", "ACKED", "DONE"]
    after = world.orders.order(made.client_order_id or "")
    assert after is not None and after.status is TrackedStatus.CANCELED


def test_a_definitive_reject_fails_the_intent_with_the_venue_reason(world: World) -> None:
    (crossing,) = world.add(create("70000"))  # a post-only bid above the ask would take
    ticks(world)
    failed = world.intent(crossing.intent_id)
    assert failed.status is IntentStatus.FAILED
    assert "post_only_would_cross" in (failed.reason or "")
    tracked = world.orders.order(crossing.client_order_id or "")
    assert tracked is not None and tracked.status is TrackedStatus.REJECTED
    assert all(o.status != "NEW" for o in world.venue_orders())


def test_an_intent_that_is_not_post_only_takes_liquidity(world: World) -> None:
    (taking,) = world.add(create("70000", post_only=False))  # the same crossing bid, on purpose
    with world.db.read() as conn:
        stored = IntentStore.get(conn, taking.intent_id)
    assert stored is not None and stored.post_only is False
    ticks(world)
    assert world.intent(taking.intent_id).status in (IntentStatus.ACKED, IntentStatus.DONE)
    tracked = world.orders.order(taking.client_order_id or "")
    assert tracked is not None and tracked.status is TrackedStatus.FILLED
    assert tracked.post_only is False
    trades = world.venue.engine.account_trades(ACCOUNT.name, SYMBOL)
    assert trades and all(not row.is_maker and row.order.side is Side.BUY for row in trades)
    assert max(row.trade.price for row in trades) < D("70000")  # filled at the asks


def test_timeout_after_acceptance_is_unknown_then_resolved_by_client_id(world: World) -> None:
    world.faults(timeout=1.0)  # the venue accepts every mutation, then the answer is lost
    (made,) = world.add(create("50000"))
    ticks(world)
    assert world.intent(made.intent_id).status is IntentStatus.UNKNOWN
    world.faults()
    ticks(world)
    assert world.intent(made.intent_id).status is IntentStatus.ACKED
    assert world.history(made.intent_id)[:4] == ["NEW", "SENT", "UNKNOWN", "ACKED"]
    assert len(world.venue_orders()) == 1  # resolved by reading, never re-sent


def test_retryable_errors_are_retried_and_nothing_is_placed_twice(world: World) -> None:
    world.faults(error5xx=0.5, ratelimit=0.2)
    made = world.add(*(create(str(50000 - i)) for i in range(10)))
    ticks(world, 3)
    world.faults()
    ticks(world, 3)
    statuses = {world.intent(m.intent_id).status for m in made}
    assert statuses <= {IntentStatus.ACKED, IntentStatus.FAILED}
    client_ids = [o.client_order_id for o in world.venue_orders()]
    assert len(client_ids) == len(set(client_ids))
    acked = {
        m.client_order_id for m in made if world.intent(m.intent_id).status is IntentStatus.ACKED
    }
    assert acked == set(client_ids)


def sent_then_died(world: World) -> Intent:
    """A create the previous process marked SENT and recorded as pending, then died."""
    (made,) = world.add(create("50000"))
    now = world.time.time_ns()
    with world.db.begin() as conn:
        world.intents.transition(
            conn, made.intent_id, IntentStatus.NEW, IntentStatus.SENT, "sending", now
        )
        world.orders.record_pending(
            conn,
            made.intent_id,
            made.client_order_id or "",
            "simex",
            "mm",
            SYMBOL,
            Side.BUY,
            D("50000"),
            D("0.01"),
            now,
            post_only=True,
        )
    return made


def place_directly(world: World, made: Intent) -> None:
    """The venue receives the intent's order outside the worker (an earlier attempt)."""

    async def send() -> None:
        await world.connector.create_order(
            OrderRequest(SYMBOL, Side.BUY, D("50000"), D("0.01"), made.client_order_id or "", True)
        )

    run_virtual(send(), world.time)


def test_a_crash_between_sent_and_the_answer_is_resolved_not_resent(world: World) -> None:
    # The previous process marked it SENT, recorded the pending order, sent it, and died.
    made = sent_then_died(world)
    place_directly(world, made)
    ticks(world, 2)  # a fresh worker: start() turns SENT into UNKNOWN, the tick resolves it
    assert world.history(made.intent_id) == ["NEW", "SENT", "UNKNOWN", "ACKED"]
    assert len(world.venue_orders()) == 1


def test_a_create_that_never_arrived_fails_only_after_repeated_not_found(world: World) -> None:
    made = sent_then_died(world)  # SENT and recorded, but the request never left
    ticks(world, 1)
    assert world.intent(made.intent_id).status is IntentStatus.UNKNOWN  # one answer is not enough
    ticks(world, 40)
    final = world.intent(made.intent_id)
    assert final.status is IntentStatus.FAILED
    assert "never reached the venue" in (final.reason or "")
    assert world.venue_orders() == []


def test_cancel_of_an_unsent_create_retires_it_and_replace_moves_the_level(world: World) -> None:
    (first,) = world.add(create("50000"))
    (retire,) = world.add(cancel(first.client_order_id))
    ticks(world)  # cancels go first: the create is retired before it is ever sent
    assert world.intent(first.intent_id).status is IntentStatus.DONE
    assert world.intent(retire.intent_id).status in (IntentStatus.ACKED, IntentStatus.DONE)
    assert world.venue_orders() == []
    (placed,) = world.add(create("50000"))
    ticks(world)
    (moved,) = world.add(replace(placed.client_order_id, "49990"))
    ticks(world)
    assert world.intent(moved.intent_id).status is IntentStatus.ACKED
    live = [o for o in world.venue_orders() if o.status == "NEW"]
    assert [(o.client_order_id, o.price) for o in live] == [(moved.client_order_id, D("49990"))]


def test_duplicate_client_id_means_our_order_is_live_and_is_adopted(world: World) -> None:
    (made,) = world.add(create("50000"))
    place_directly(world, made)  # an earlier attempt of this very intent landed
    ticks(world)
    assert world.intent(made.intent_id).status is IntentStatus.ACKED
    assert len(world.venue_orders()) == 1
