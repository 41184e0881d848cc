"""The executor's decisions: minimal intents, refresh rules, fail-closed, budget."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hufimm.core.timesource import NS_PER_SECOND
from hufimm.market.types import Side, TradingRules
from hufimm.strategy.executor import Executor, ExecutorConfig, TickInput
from hufimm.strategy.intents import IntentDraft, IntentKind
from hufimm.strategy.quoting import Funds, MarketView, QuoteParams

D = Decimal
RULES = TradingRules(
    "BTC/USDT",
    "BTC",
    "USDT",
    tick_size=D("0.01"),
    step_size=D("0.0001"),
    min_qty=D("0.0001"),
    min_notional=D("1"),
)
T0 = 1_800_000_000 * NS_PER_SECOND


@dataclass(frozen=True)
class Order:
    """An order as the shadow tracker would report it."""

    client_order_id: str
    side: Side
    price: Decimal
    qty: Decimal
    filled_qty: Decimal = Decimal(0)
    created_at: int = T0
    cancel_requested_at: int | None = None


def config(**changes: object) -> ExecutorConfig:
    quoting = QuoteParams(D("0.001"), D("0.001"), D("0.1"), order_levels=2, level_spread=D("0.001"))
    base = ExecutorConfig(
        "mm-1",
        "pool-1",
        "sim",
        "acct",
        "BTC/USDT",
        quoting,
        order_refresh_time_s=30,
        refresh_tolerance=D("0.0005"),
        max_order_age_s=600,
        filled_order_delay_s=60,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def view(bid: str = "99.99", ask: str = "100.01") -> MarketView:
    return MarketView(RULES, D(bid), D(ask))


def tick(ts: int, orders: list[Order] | None = None, **kw: object) -> TickInput:
    values: dict[str, object] = {
        "ts": ts,
        "view": view(),
        "healthy": True,
        "unhealthy_reason": "",
        "orders": orders or [],
        "pending_creates": [],
        "pending_cancel_targets": frozenset(),
        "budget": Funds(D("1"), D("1000")),
    }
    values.update(kw)
    return TickInput(**values)  # type: ignore[arg-type]


def as_orders(drafts: list[IntentDraft], start: int = 0) -> list[Order]:
    return [
        Order(f"c{start + i}", d.side, d.price, d.qty)  # type: ignore[arg-type]
        for i, d in enumerate(drafts)
    ]


def test_first_tick_places_the_ladder_and_an_unchanged_book_asks_for_nothing() -> None:
    executor = Executor(config())
    first = executor.decide(tick(T0))
    assert [(d.kind, d.side, d.price) for d in first] == [
        (IntentKind.CREATE_LIMIT_ORDER, Side.BUY, D("99.90")),
        (IntentKind.CREATE_LIMIT_ORDER, Side.BUY, D("99.80")),
        (IntentKind.CREATE_LIMIT_ORDER, Side.SELL, D("100.10")),
        (IntentKind.CREATE_LIMIT_ORDER, Side.SELL, D("100.20")),
    ]
    assert all(d.mixin_order_id == "pool-1" and d.strategy_instance_id == "mm-1" for d in first)
    assert all(d.post_only for d in first)
    orders = as_orders(first)
    # Not yet sent (still pending creates): nothing new.
    assert executor.decide(tick(T0 + NS_PER_SECOND, pending_creates=first)) == []
    # Live and unchanged, even at refresh time: nothing.
    assert executor.decide(tick(T0 + 31 * NS_PER_SECOND, orders)) == []


def test_intents_carry_the_strategy_post_only_choice() -> None:
    taking = replace(config().quoting, post_only=False)
    drafts = Executor(config(quoting=taking)).decide(tick(T0))
    assert drafts and not any(d.post_only for d in drafts)


def test_only_moved_levels_are_replaced_and_only_at_refresh_time() -> None:
    executor = Executor(config())
    orders = as_orders(executor.decide(tick(T0)))
    moved = view("100.49", "100.51")  # mid 100.50: every level moved beyond 0.05 %
    assert executor.decide(tick(T0 + 10 * NS_PER_SECOND, orders, view=moved)) == []
    drafts = executor.decide(tick(T0 + 31 * NS_PER_SECOND, orders, view=moved))
    assert {d.kind for d in drafts} == {IntentKind.REPLACE_ORDER}
    assert {d.target_client_order_id for d in drafts} == {o.client_order_id for o in orders}
    # A small move inside the tolerance keeps every order.
    nudged = view("99.995", "100.015")
    executor2 = Executor(config())
    orders2 = as_orders(executor2.decide(tick(T0)))
    assert executor2.decide(tick(T0 + 31 * NS_PER_SECOND, orders2, view=nudged)) == []


def test_stale_book_or_unhealthy_market_cancels_everything_once() -> None:
    executor = Executor(config())
    orders = as_orders(executor.decide(tick(T0)))
    stale = executor.decide(tick(T0 + NS_PER_SECOND, orders, view=None))
    assert [d.kind for d in stale] == [IntentKind.CANCEL_ORDER] * 4
    assert all(d.reason == "book stale" for d in stale)
    targets = frozenset(d.target_client_order_id or "" for d in stale)
    # Cancels in flight are not asked for again.
    assert (
        executor.decide(
            tick(T0 + 2 * NS_PER_SECOND, orders, view=None, pending_cancel_targets=targets)
        )
        == []
    )
    sick = executor.decide(
        tick(
            T0 + 3 * NS_PER_SECOND,
            orders[:1],
            healthy=False,
            unhealthy_reason="orders missing on venue",
        )
    )
    assert [d.reason for d in sick] == ["market unhealthy: orders missing on venue"]


def test_stop_cancels_then_reports_drained() -> None:
    executor = Executor(config())
    orders = as_orders(executor.decide(tick(T0)))
    executor.request_stop()
    assert {d.kind for d in executor.decide(tick(T0 + 1, orders))} == {IntentKind.CANCEL_ORDER}
    assert [d.kind for d in executor.decide(tick(T0 + 2, []))] == [IntentKind.STOP_EXECUTOR]


def test_max_age_cancels_and_fill_delay_holds_new_orders() -> None:
    executor = Executor(config())
    orders = as_orders(executor.decide(tick(T0)))
    late = T0 + 601 * NS_PER_SECOND
    drafts = executor.decide(tick(late, orders))
    cancels = [d for d in drafts if d.kind is IntentKind.CANCEL_ORDER]
    assert [d.reason for d in cancels] == ["max order age"] * 4
    # The budget still holds the old orders' funds, so the fresh ladder goes up beside them.
    assert len([d for d in drafts if d.kind is IntentKind.CREATE_LIMIT_ORDER]) == 4
    # After a fill: the missing level is not re-created until the delay has passed.
    fresh = Executor(config())
    placed = as_orders(fresh.decide(tick(T0)))
    remaining = placed[1:]
    filled_at = T0 + 5 * NS_PER_SECOND
    assert fresh.decide(tick(T0 + 10 * NS_PER_SECOND, remaining, last_fill_ns=filled_at)) == []
    after = fresh.decide(tick(T0 + 66 * NS_PER_SECOND, remaining, last_fill_ns=filled_at))
    assert [(d.kind, d.side) for d in after] == [(IntentKind.CREATE_LIMIT_ORDER, Side.BUY)]


def test_hanging_partner_stays_until_it_drifts_too_far() -> None:
    executor = Executor(config(hanging_orders=True, hanging_cancel_pct=D("0.01")))
    orders = as_orders(executor.decide(tick(T0)))
    executor.decide(tick(T0 + 1, orders))  # pairs are formed from the live ladder
    best_bid = orders[0]
    best_ask = next(o for o in orders if o.side is Side.SELL)
    rest = [o for o in orders if o is not best_bid]
    executor.decide(tick(T0 + 2, rest, filled_client_ids=frozenset({best_bid.client_order_id})))
    assert best_ask.client_order_id in executor.memory.hanging
    far = view("101.49", "101.51")  # 1.4 % away from the hanging ask
    drafts = executor.decide(tick(T0 + 200 * NS_PER_SECOND, rest, view=far))
    hanging_cancel = [d for d in drafts if d.target_client_order_id == best_ask.client_order_id]
    assert [d.reason for d in hanging_cancel] == ["hanging order drifted away"]


orders_st = st.lists(
    st.builds(
        Order,
        client_order_id=st.uuids().map(str),
        side=st.sampled_from(list(Side)),
        price=st.decimals(D("90"), D("110"), places=2),
        qty=st.decimals(D("0.0001"), D("0.5"), places=4),
    ),
    max_size=6,
)


@given(orders_st, st.decimals(D(0), D(2), places=4), st.decimals(D(0), D(500), places=2))
def test_new_orders_never_push_exposure_past_the_budget(
    live: list[Order], base: Decimal, quote: Decimal
) -> None:
    executor = Executor(config())
    drafts = executor.decide(tick(T0, live, budget=Funds(base, quote)))
    # A replaced order's funds are free once the worker confirmed its cancel (then it places
    # the new one); plain cancels may fail, so their orders still count.
    replaced = {d.target_client_order_id for d in drafts if d.kind is IntentKind.REPLACE_ORDER}
    kept = [o for o in live if o.client_order_id not in replaced]
    new = [d for d in drafts if d.kind in (IntentKind.CREATE_LIMIT_ORDER, IntentKind.REPLACE_ORDER)]
    used_base = sum((o.qty for o in kept if o.side is Side.SELL), D(0))
    used_quote = sum((o.price * o.qty for o in kept if o.side is Side.BUY), D(0))
    new_base = sum((d.qty or 0 for d in new if d.side is Side.SELL), D(0))
    new_quote = sum(((d.price or 0) * (d.qty or 0) for d in new if d.side is Side.BUY), D(0))
    before_base = sum((o.qty for o in live if o.side is Side.SELL), D(0))
    before_quote = sum((o.price * o.qty for o in live if o.side is Side.BUY), D(0))
    # Per asset: within the budget stays within; already over it never grows.
    assert used_base + new_base <= max(base, before_base)
    assert used_quote + new_quote <= max(quote, before_quote)
