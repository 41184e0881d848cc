"""The market-making executor: one per pool market, deciding each tick which intents to emit.

``decide`` is a function of what the trackers report (the book, our live orders, recent fills),
the pool's budget and the executor's own small memory (last refresh, last fill, hanging
orders).  It returns the *minimal* set of intents that moves the book toward the quoting math's
proposal:

* a live order within ``refresh_tolerance`` of its level's proposal is kept;
* a level that moved is replaced (one REPLACE intent: cancel then place), only at refresh time;
* orders older than ``max_order_age_s`` are cancelled and re-quoted;
* after a fill, no new order for ``filled_order_delay_s``;
* with hanging orders on, the partner of a completely filled order stays on the book
  (not refreshed, its funds outside the budget) until it drifts ``hanging_cancel_pct`` away;
* a stale book, an unhealthy market, a zero budget or a stop request cancels everything and
  creates nothing (fail closed);
* orders and cancels already in flight are never asked for twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from hufimm.core.errors import InvalidInput
from hufimm.core.money import MONEY_CONTEXT as CTX
from hufimm.core.timesource import NS_PER_SECOND
from hufimm.market.types import Side
from hufimm.strategy.intents import IntentDraft, IntentKind
from hufimm.strategy.quoting import Funds, MarketView, Quote, QuoteParams, propose

ZERO = Decimal(0)


class LiveOrder(Protocol):
    """What the executor reads of one of its orders (the shadow tracker's rows satisfy it)."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def filled_qty(self) -> Decimal: ...
    @property
    def created_at(self) -> int: ...
    @property
    def cancel_requested_at(self) -> int | None: ...


@dataclass(frozen=True)
class ExecutorConfig:
    """One pool market's executor: where it trades and how it refreshes."""

    instance_id: str  # the strategy instance (one per pool market), numbering its intents
    pool_id: str
    exchange: str
    account: str
    symbol: str
    quoting: QuoteParams
    order_refresh_time_s: float = 30.0
    refresh_tolerance: Decimal = Decimal("0.001")  # fraction of the price; < 0: always refresh
    max_order_age_s: float = 1800.0
    filled_order_delay_s: float = 60.0
    hanging_orders: bool = False
    hanging_cancel_pct: Decimal = Decimal("0.1")

    def validate(self) -> ExecutorConfig:
        self.quoting.validate()
        if self.order_refresh_time_s <= 0:
            raise InvalidInput("order_refresh_time_s: must be positive")
        if self.max_order_age_s <= 0:
            raise InvalidInput("max_order_age_s: must be positive")
        if self.filled_order_delay_s < 0:
            raise InvalidInput("filled_order_delay_s: must not be negative")
        if self.hanging_cancel_pct <= 0:
            raise InvalidInput("hanging_cancel_pct: must be positive")
        return self


@dataclass(frozen=True)
class TickInput:
    """Everything one decision looks at, gathered by the executor manager."""

    ts: int
    view: MarketView | None  # None: no usable book (stale or not synced yet)
    healthy: bool  # the market's reconciliation state (False: stop creating risk)
    unhealthy_reason: str
    orders: Sequence[LiveOrder]  # our live orders in this market (any live status)
    pending_creates: Sequence[IntentDraft]  # create intents not yet handed to the worker
    pending_cancel_targets: frozenset[str]  # client ids a not-yet-finished intent cancels
    budget: Funds  # base and quote this market may commit, in total
    inventory: Funds | None = None  # what the pool holds, for inventory skew
    last_fill_ns: int | None = None  # time of the latest fill of ours in this market
    filled_client_ids: frozenset[str] = frozenset()  # orders that completely filled


@dataclass
class ExecutorMemory:
    """The little an executor remembers between ticks (rebuilt harmlessly after a restart)."""

    last_refresh_ns: int | None = None
    hanging: set[str] = field(default_factory=set)
    pairs: dict[str, str] = field(default_factory=dict)  # client id -> its level partner
    stopped: bool = False


def _committed(order: LiveOrder) -> tuple[Decimal, Decimal]:
    """(base, quote) an order still commits: sells offer base, buys bid quote."""
    remaining = max(CTX.subtract(order.qty, order.filled_qty), ZERO)
    if order.side is Side.SELL:
        return remaining, ZERO
    return ZERO, CTX.multiply(order.price, remaining)


def _draft_cost(draft: IntentDraft) -> tuple[Decimal, Decimal]:
    """(base, quote) a create intent will commit."""
    if draft.qty is None or draft.price is None:
        return ZERO, ZERO
    if draft.side is Side.SELL:
        return draft.qty, ZERO
    return ZERO, CTX.multiply(draft.price, draft.qty)


def _within(order: LiveOrder, quote: Quote, tolerance: Decimal) -> bool:
    if tolerance < 0:
        return False
    moved = abs(CTX.subtract(order.price, quote.price))
    return moved <= CTX.multiply(quote.price, tolerance) and order.qty == quote.qty


class Executor:
    """Decides a pool market's intents tick by tick (see the module docstring)."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config.validate()
        self.memory = ExecutorMemory()

    def _draft(
        self, kind: IntentKind, reason: str, quote: Quote | None = None, target: str | None = None
    ) -> IntentDraft:
        c = self.config
        return IntentDraft(
            strategy_instance_id=c.instance_id,
            kind=kind,
            exchange=c.exchange,
            account=c.account,
            symbol=c.symbol,
            side=None if quote is None else quote.side,
            price=None if quote is None else quote.price,
            qty=None if quote is None else quote.qty,
            target_client_order_id=target,
            mixin_order_id=c.pool_id,
            reason=reason,
            post_only=c.quoting.post_only,
        )

    def _cancel(self, order: LiveOrder, reason: str, pending: frozenset[str]) -> list[IntentDraft]:
        if order.client_order_id in pending or order.cancel_requested_at is not None:
            return []  # already being cancelled
        return [self._draft(IntentKind.CANCEL_ORDER, reason, target=order.client_order_id)]

    def request_stop(self) -> None:
        self.memory.stopped = True

    def decide(self, tick: TickInput) -> list[IntentDraft]:
        memory, config = self.memory, self.config
        live = list(tick.orders)
        pending = tick.pending_cancel_targets
        if memory.stopped or tick.view is None or not tick.healthy:
            return self._stand_down(tick, live)
        self._update_hanging(tick, live)
        ref = tick.view.mid
        out: list[IntentDraft] = []
        active: list[LiveOrder] = []
        for order in live:
            if order.client_order_id in memory.hanging:
                if ref is not None and ref > 0:
                    distance = CTX.divide(abs(CTX.subtract(order.price, ref)), ref)
                    if distance > config.hanging_cancel_pct:
                        out += self._cancel(order, "hanging order drifted away", pending)
                continue
            if order.client_order_id in pending or order.cancel_requested_at is not None:
                continue  # on its way out; its funds still count below
            age_s = (tick.ts - order.created_at) / NS_PER_SECOND
            if age_s > config.max_order_age_s:
                out += self._cancel(order, "max order age", pending)
                continue
            active.append(order)
        # What stays committed no matter what we decide now.
        base_used, quote_used = ZERO, ZERO
        for order in live:
            if order.client_order_id in memory.hanging or order not in active:
                b, q = _committed(order)
                base_used, quote_used = CTX.add(base_used, b), CTX.add(quote_used, q)
        budget = Funds(
            max(CTX.subtract(tick.budget.base, base_used), ZERO),
            max(CTX.subtract(tick.budget.quote, quote_used), ZERO),
        )
        proposal = propose(config.quoting, tick.view, budget, tick.inventory)
        refresh_due = (
            memory.last_refresh_ns is None
            or tick.ts - memory.last_refresh_ns >= config.order_refresh_time_s * NS_PER_SECOND
        )
        in_fill_delay = (
            tick.last_fill_ns is not None
            and tick.ts - tick.last_fill_ns < config.filled_order_delay_s * NS_PER_SECOND
        )
        for side in (Side.BUY, Side.SELL):
            mine = sorted(
                (o for o in active if o.side is side),
                key=lambda o: -o.price if side is Side.BUY else o.price,
            )
            pend = [d for d in tick.pending_creates if d.side is side]
            wanted = [q for q in proposal if q.side is side]
            out += self._side(side, mine, pend, wanted, refresh_due, in_fill_delay, pending)
        if refresh_due:
            memory.last_refresh_ns = tick.ts
        return self._within_budget(out, live, tick)

    def _stand_down(self, tick: TickInput, live: list[LiveOrder]) -> list[IntentDraft]:
        """Fail closed: cancel everything, create nothing; a stop ends with STOP_EXECUTOR."""
        if self.memory.stopped:
            reason = "executor stopping"
        elif tick.view is None:
            reason = "book stale"
        else:
            reason = f"market unhealthy: {tick.unhealthy_reason}"
        out = [d for o in live for d in self._cancel(o, reason, tick.pending_cancel_targets)]
        if self.memory.stopped and not live and not tick.pending_creates:
            out.append(self._draft(IntentKind.STOP_EXECUTOR, "drained"))
        return out

    def _within_budget(
        self, drafts: list[IntentDraft], live: list[LiveOrder], tick: TickInput
    ) -> list[IntentDraft]:
        """Drop new orders that could push what we commit past the budget.

        Every live order counts as committed (a plain cancel might not land), as do creates
        not yet sent.  A REPLACE releases its target's funds because the worker places the new
        order only once the old one is confirmed cancelled; one that does not fit becomes a
        plain cancel and its target stays counted.  So whatever the venue answers, exposure
        stays within the budget.
        """
        by_id = {o.client_order_id: o for o in live}
        base_left, quote_left = tick.budget.base, tick.budget.quote
        costs = [_committed(o) for o in live] + [_draft_cost(d) for d in tick.pending_creates]
        for b, q in costs:
            base_left, quote_left = CTX.subtract(base_left, b), CTX.subtract(quote_left, q)
        kept: list[IntentDraft] = []
        for draft in drafts:
            if draft.kind not in (IntentKind.CREATE_LIMIT_ORDER, IntentKind.REPLACE_ORDER):
                kept.append(draft)
                continue
            b, q = _draft_cost(draft)
            free_b, free_q = base_left, quote_left
            target = by_id.get(draft.target_client_order_id or "")
            if draft.kind is IntentKind.REPLACE_ORDER and target is not None:
                tb, tq = _committed(target)
                free_b, free_q = CTX.add(free_b, tb), CTX.add(free_q, tq)
            if b <= free_b and q <= free_q:
                base_left, quote_left = CTX.subtract(free_b, b), CTX.subtract(free_q, q)
                kept.append(draft)
            elif draft.kind is IntentKind.REPLACE_ORDER and draft.target_client_order_id:
                # The level still has to move off its stale price even if it cannot be re-placed.
                kept.append(
                    self._draft(
                        IntentKind.CANCEL_ORDER,
                        "level moved, no budget",
                        target=draft.target_client_order_id,
                    )
                )
        return kept

    def _side(
        self,
        side: Side,
        mine: list[LiveOrder],
        pending_creates: list[IntentDraft],
        wanted: list[Quote],
        refresh_due: bool,
        in_fill_delay: bool,
        pending: frozenset[str],
    ) -> list[IntentDraft]:
        """Match each wanted level to a live (or about-to-be-sent) order within tolerance;
        at refresh time move unmatched orders onto unmatched levels, cancel the surplus and
        create what is still missing."""
        tolerance = self.config.refresh_tolerance
        orders = list(mine)
        unsent = list(pending_creates)
        missing: list[Quote] = []
        for quote in wanted:
            draft = next((d for d in unsent if d.price == quote.price and d.qty == quote.qty), None)
            if draft is not None:
                unsent.remove(draft)
                continue
            order = next((o for o in orders if _within(o, quote, tolerance)), None)
            if order is not None:
                orders.remove(order)
                continue
            missing.append(quote)
        out: list[IntentDraft] = []
        if refresh_due:
            for order, quote in zip(orders, missing, strict=False):
                if in_fill_delay:
                    out += self._cancel(order, "level moved (fill delay: no new order)", pending)
                else:
                    out.append(
                        self._draft(
                            IntentKind.REPLACE_ORDER,
                            "level moved",
                            quote,
                            target=order.client_order_id,
                        )
                    )
            for order in orders[len(missing) :]:
                out += self._cancel(order, "level no longer wanted", pending)
            missing = missing[len(orders) :]
        else:
            # Between refreshes live orders stay; only levels nobody holds get an order.
            missing = missing[len(orders) + len(unsent) :]
        if not in_fill_delay:
            out += [self._draft(IntentKind.CREATE_LIMIT_ORDER, "new level", q) for q in missing]
        return out

    def _update_hanging(self, tick: TickInput, live: list[LiveOrder]) -> None:
        """When an order fills completely, its live partner on the other side starts hanging."""
        memory = self.memory
        live_ids = {o.client_order_id for o in live}
        memory.hanging &= live_ids
        if not self.config.hanging_orders:
            return
        for filled in tick.filled_client_ids:
            partner = memory.pairs.pop(filled, None)
            if partner is not None and partner in live_ids:
                memory.hanging.add(partner)
        # Pair the best bid with the best ask of the active ladder, level by level.
        bids = sorted(
            (o for o in live if o.side is Side.BUY and o.client_order_id not in memory.hanging),
            key=lambda o: -o.price,
        )
        asks = sorted(
            (o for o in live if o.side is Side.SELL and o.client_order_id not in memory.hanging),
            key=lambda o: o.price,
        )
        for bid, ask in zip(bids, asks, strict=False):
            memory.pairs[bid.client_order_id] = ask.client_order_id
            memory.pairs[ask.client_order_id] = bid.client_order_id
