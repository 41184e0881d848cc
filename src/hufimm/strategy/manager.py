"""The executor manager: runs every pool market's executor once per tick.

It gathers each executor's inputs from the trackers in bulk (one read of in-flight intents,
one read of live orders per account), lets each executor decide, and writes every intent of the
tick in one transaction, so a tick costs a handful of queries however many markets there are.
It also watches the one invariant the strategy layer promises: what our live orders commit
never exceeds the market's budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from hufimm.core.clock import Health, HealthStatus, Phase, TickComponent
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.money import MONEY_CONTEXT as CTX
from hufimm.core.timesource import TimeSource
from hufimm.market.orderbook import OrderBook
from hufimm.market.types import Side, TradingRules
from hufimm.store.db import Database
from hufimm.strategy.executor import Executor, TickInput
from hufimm.strategy.intents import IntentDraft, IntentKind, IntentStatus, IntentStore
from hufimm.strategy.quoting import Funds, MarketView
from hufimm.tracking.model import TrackedOrder, TrackedStatus

ZERO = Decimal(0)


class BudgetSource(Protocol):
    """What each strategy instance may commit (the pool's locked funds, capped by holdings)."""

    def funds(self, instance_id: str) -> Funds: ...


class BookSource(Protocol):
    """The book tracker, read-only: ``None`` while a market's book is stale."""

    def book(self, symbol: str) -> OrderBook | None: ...


class OrderSource(Protocol):
    """The shadow order tracker, read-only."""

    def open_orders(self, exchange: str, account: str) -> list[TrackedOrder]: ...

    def orders_by_client_id(self, client_order_ids: Collection[str]) -> dict[str, TrackedOrder]: ...


class Verdict(Protocol):
    """A market's reconciliation verdict."""

    @property
    def healthy(self) -> bool: ...

    @property
    def reason(self) -> str: ...


@dataclass
class _Managed:
    executor: Executor
    books: BookSource
    orders: OrderSource
    health: Callable[[], Verdict]
    rules: TradingRules
    filled_seen: dict[str, Decimal] = field(default_factory=dict)  # cid -> filled qty
    last_fill_ns: int | None = None
    stopped: bool = False


def committed(orders: list[TrackedOrder]) -> Funds:
    """Base offered and quote bid by ``orders`` (what they still commit)."""
    base, quote = ZERO, ZERO
    for order in orders:
        remaining = max(CTX.subtract(order.qty, order.filled_qty), ZERO)
        if order.side is Side.SELL:
            base = CTX.add(base, remaining)
        else:
            quote = CTX.add(quote, CTX.multiply(order.price, remaining))
    return Funds(base, quote)


class ExecutorManager(TickComponent):
    """Starts, stops and ticks the executors (see the module docstring)."""

    name = "executors"
    phase = Phase.STRATEGY

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        intents: IntentStore,
        budgets: BudgetSource,
    ) -> None:
        self._db = db
        self._time = time_source
        self._intents = intents
        self._budgets = budgets
        self._markets: dict[str, _Managed] = {}
        self._log = get_logger(self.name)
        self.budget_breaches = 0
        self._m_intents = metrics.counter(
            "strategy_intents_total", "Intents the executors decided", ["kind"]
        )
        self._m_breaches = metrics.counter(
            "strategy_budget_breaches_total", "Ticks where live orders committed beyond budget"
        )
        self._m_executors = metrics.gauge("strategy_executors", "Executors running")

    # ------------------------------------------------------------------ management
    def add(
        self,
        executor: Executor,
        books: BookSource,
        orders: OrderSource,
        health: Callable[[], Verdict],
        rules: TradingRules,
    ) -> None:
        instance = executor.config.instance_id
        if instance in self._markets:
            raise ValueError(f"executor {instance} is already running")
        self._markets[instance] = _Managed(executor, books, orders, health, rules)
        self._m_executors.set(len(self._markets))

    def stop_executor(self, instance_id: str) -> None:
        """Ask an executor to cancel everything; it is removed once it reports drained."""
        self._markets[instance_id].executor.request_stop()

    def stop_all(self) -> None:
        for market in self._markets.values():
            market.executor.request_stop()

    @property
    def executors(self) -> list[Executor]:
        return [m.executor for m in self._markets.values()]

    def health(self) -> Health:
        if self.budget_breaches:
            return Health(
                HealthStatus.DEGRADED, f"{self.budget_breaches} tick(s) with orders beyond budget"
            )
        return Health()

    # ------------------------------------------------------------------ the tick
    async def on_tick(self, ts: int) -> None:
        if not self._markets:
            return
        pending_creates: dict[str, list[IntentDraft]] = defaultdict(list)
        cancel_targets: dict[str, set[str]] = defaultdict(set)
        in_flight = self._intents.unfinished(
            self._db, [IntentStatus.NEW, IntentStatus.SENT, IntentStatus.UNKNOWN]
        )
        for intent in in_flight:
            if (
                intent.kind in (IntentKind.CANCEL_ORDER, IntentKind.REPLACE_ORDER)
                and intent.target_client_order_id
            ):
                cancel_targets[intent.strategy_instance_id].add(intent.target_client_order_id)
            if intent.status is IntentStatus.NEW and intent.kind in (
                IntentKind.CREATE_LIMIT_ORDER,
                IntentKind.REPLACE_ORDER,
            ):
                pending_creates[intent.strategy_instance_id].append(
                    IntentDraft(
                        intent.strategy_instance_id,
                        intent.kind,
                        intent.exchange,
                        intent.account,
                        intent.symbol,
                        intent.side,
                        intent.price,
                        intent.qty,
                    )
                )
        live_by_market = self._live_orders()
        lives = {
            instance: live_by_market.get((c.exchange, c.account, c.symbol), [])
            for instance, market in self._markets.items()
            for c in (market.executor.config,)
        }
        gone = self._gone_orders(lives)
        drafts: list[IntentDraft] = []
        finished: list[str] = []
        for instance, market in self._markets.items():
            config = market.executor.config
            live = lives[instance]
            filled = self._note_fills(market, live, gone, ts)
            book = market.books.book(config.symbol)
            view = None
            if book is not None:
                bid, ask = book.best_bid(), book.best_ask()
                view = MarketView(
                    market.rules,
                    None if bid is None else bid[0],
                    None if ask is None else ask[0],
                    microprice=book.microprice(),
                )
            health = market.health()
            budget = self._budgets.funds(instance)
            used = committed(live)
            if used.base > budget.base or used.quote > budget.quote:
                self.budget_breaches += 1
                self._m_breaches.inc()
                self._log.warning(
                    "budget_breach",
                    instance=instance,
                    base=str(used.base),
                    quote=str(used.quote),
                    budget_base=str(budget.base),
                    budget_quote=str(budget.quote),
                )
            decided = market.executor.decide(
                TickInput(
                    ts=ts,
                    view=view,
                    healthy=health.healthy,
                    unhealthy_reason=health.reason,
                    orders=live,
                    pending_creates=pending_creates.get(instance, []),
                    pending_cancel_targets=frozenset(cancel_targets.get(instance, ())),
                    budget=budget,
                    last_fill_ns=market.last_fill_ns,
                    filled_client_ids=filled,
                )
            )
            drafts.extend(decided)
            if any(d.kind is IntentKind.STOP_EXECUTOR for d in decided):
                finished.append(instance)
        if drafts:
            now = self._time.time_ns()
            try:
                with self._db.begin() as conn:
                    self._intents.create_many(conn, drafts, now)
            except Exception:
                self._intents.forget_cache()  # numbering restarts from the database
                raise
            for draft in drafts:
                self._m_intents.labels(draft.kind.value).inc()
        for instance in finished:
            del self._markets[instance]
        self._m_executors.set(len(self._markets))

    def _live_orders(self) -> dict[tuple[str, str, str], list[TrackedOrder]]:
        """Live orders of every account the executors trade, one read per account."""
        out: dict[tuple[str, str, str], list[TrackedOrder]] = defaultdict(list)
        accounts = {
            (m.executor.config.exchange, m.executor.config.account): m.orders
            for m in self._markets.values()
        }
        for (exchange, account), tracker in accounts.items():
            for order in tracker.open_orders(exchange, account):
                out[(exchange, account, order.symbol)].append(order)
        return out

    def _gone_orders(self, lives: dict[str, list[TrackedOrder]]) -> dict[str, TrackedOrder]:
        """The final rows of orders live last tick and not now (one read per order source)."""
        wanted: dict[int, tuple[OrderSource, set[str]]] = {}
        for instance, live in lives.items():
            market = self._markets[instance]
            now_live = {o.client_order_id for o in live}
            gone = [cid for cid in market.filled_seen if cid not in now_live]
            if gone:
                wanted.setdefault(id(market.orders), (market.orders, set()))[1].update(gone)
        out: dict[str, TrackedOrder] = {}
        for source, cids in wanted.values():
            out.update(source.orders_by_client_id(cids))
        return out

    def _note_fills(
        self,
        market: _Managed,
        live: list[TrackedOrder],
        gone: dict[str, TrackedOrder],
        ts: int,
    ) -> frozenset[str]:
        """Orders that completely filled since the last tick; remembers when we last traded."""
        seen = market.filled_seen
        now_live = {o.client_order_id: o.filled_qty for o in live}
        traded = any(qty > seen.get(cid, ZERO) for cid, qty in now_live.items())
        filled: set[str] = set()
        for cid in set(seen) - set(now_live):
            final = gone.get(cid)
            if final is not None and final.status is TrackedStatus.FILLED:
                filled.add(cid)
            if final is not None and final.filled_qty > seen[cid]:
                traded = True
        if traded:
            market.last_fill_ns = ts
        market.filled_seen = now_live
        return frozenset(filled)
