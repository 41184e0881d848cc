"""The simulated market: a reference price, background liquidity around it and taker flow.

Per symbol, a seeded geometric random walk moves the reference price; a liquidity account keeps
``levels`` limit orders on each side around it (replacing those the price moved away from), and
a taker account sends IOC orders at Poisson arrival times with exponentially distributed sizes.
Takers sweep the book from the best price, so any resting order at the top — ours included —
really gets filled.  Everything is a function of the seed and the :class:`TimeSource`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hufimm.core.money import MONEY_CONTEXT, Rounding, quantize_to_step
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.market import Side, TradingRules
from hufimm.sim.exchange.engine import GTC, IOC, SimError, SimOrder

LIQUIDITY_ACCOUNT = "market:liquidity"
TAKER_ACCOUNT = "market:taker"


@dataclass(frozen=True)
class MarketSpec:
    """One simulated market.  Rates are per second; fractions are of the reference price."""

    rules: TradingRules
    start_price: Decimal
    volatility_per_day: float = 0.05
    price_interval_s: float = 1.0
    levels: int = 10
    half_spread: float = 0.0005
    level_spacing: float = 0.0005
    level_qty: Decimal = Decimal(1)
    taker_rate_per_s: float = 1.0
    taker_mean_qty: Decimal = Decimal("0.5")
    max_slippage: float = 0.01


def default_spec(symbol: str, **overrides: Any) -> MarketSpec:
    """Plausible defaults for a few well-known pairs, generic ones otherwise."""
    base, _, quote = symbol.partition("/")
    presets: dict[str, tuple[str, str, str, str, str, str]] = {
        # symbol: (tick, step, min_notional, start, level_qty, taker_mean_qty)
        "BTC/USDT": ("0.01", "0.00001", "5", "60000", "0.5", "0.05"),
        "ETH/USDT": ("0.01", "0.0001", "5", "3000", "5", "0.5"),
    }
    tick, step, notional, start, level_qty, taker_qty = presets.get(
        symbol, ("0.0001", "0.01", "1", "1", "500", "50")
    )
    rules = TradingRules(
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(9_000_000),
        min_price=Decimal(tick),
        max_price=Decimal(1_000_000),
        min_notional=Decimal(notional),
    )
    spec = MarketSpec(
        rules=rules,
        start_price=Decimal(start),
        level_qty=Decimal(level_qty),
        taker_mean_qty=Decimal(taker_qty),
    )
    return dataclasses.replace(spec, **overrides) if overrides else spec


def _decimal(value: float) -> Decimal:
    """A float drawn by the simulation, as an exact decimal of 12 significant digits."""
    return Decimal(f"{value:.12g}")


class _SymbolState:
    def __init__(self, spec: MarketSpec, rng: SeededRng) -> None:
        self.spec = spec
        self.ref = spec.start_price
        self.price_rng = rng.child("price")
        self.size_rng = rng.child("size")
        self.taker_rng = rng.child("taker")
        self.lp_orders: dict[tuple[Side, Decimal], SimOrder] = {}
        self.next_price_ns = 0
        self.next_taker_ns = 0


Place = Callable[[str, str, Side, Decimal, Decimal, str, str], SimOrder]
Cancel = Callable[[str, str, int], None]


class SimMarket:
    """Drives the background participants of every simulated symbol."""

    def __init__(
        self,
        specs: list[MarketSpec],
        time_source: TimeSource,
        rng: SeededRng,
        place: Place,
        cancel: Cancel,
    ) -> None:
        self._time = time_source
        self._place = place
        self._cancel = cancel
        self._states = {s.rules.symbol: _SymbolState(s, rng.child(s.rules.symbol)) for s in specs}
        self._client_ids = 0
        self._started = False
        self.taker_orders = 0

    def reference(self, symbol: str) -> Decimal:
        return self._states[symbol].ref

    def _cid(self, prefix: str) -> str:
        self._client_ids += 1
        return f"{prefix}{self._client_ids}"

    def start(self) -> None:
        """Place the initial liquidity and schedule the first events (once)."""
        if self._started:
            return
        self._started = True
        now = self._time.time_ns()
        for state in self._states.values():
            self._refresh(state)
            state.next_price_ns = now + round(state.spec.price_interval_s * NS_PER_SECOND)
            state.next_taker_ns = now + self._interarrival(state)

    def next_event_ns(self) -> int:
        return min(min(s.next_price_ns, s.next_taker_ns) for s in self._states.values())

    def advance_to(self, now_ns: int) -> None:
        """Process every market event due at or before ``now_ns``, in time order."""
        while self._states:
            state = min(self._states.values(), key=lambda s: min(s.next_price_ns, s.next_taker_ns))
            if state.next_price_ns <= state.next_taker_ns:
                if state.next_price_ns > now_ns:
                    return
                self._move_price(state)
                self._refresh(state)
                state.next_price_ns += round(state.spec.price_interval_s * NS_PER_SECOND)
            else:
                if state.next_taker_ns > now_ns:
                    return
                self._take(state)
                state.next_taker_ns += self._interarrival(state)

    async def run(self) -> None:
        """Run until cancelled; cancelling and running again resumes where it stopped."""
        self.start()
        while True:
            delay_ns = self.next_event_ns() - self._time.time_ns()
            if delay_ns > 0:
                await self._time.sleep(delay_ns / NS_PER_SECOND)
            self.advance_to(self._time.time_ns())

    # ------------------------------------------------------------------ the participants
    @staticmethod
    def _interarrival(state: _SymbolState) -> int:
        rate = state.spec.taker_rate_per_s
        if rate <= 0:
            return 10**18
        return max(1, round(state.taker_rng.expovariate(rate) * NS_PER_SECOND))

    def _move_price(self, state: _SymbolState) -> None:
        spec = state.spec
        sigma = spec.volatility_per_day * math.sqrt(spec.price_interval_s / 86_400)
        factor = math.exp(state.price_rng.gauss(-0.5 * sigma * sigma, sigma))
        moved = MONEY_CONTEXT.multiply(state.ref, _decimal(factor))
        state.ref = max(
            spec.rules.tick_size * 10,
            quantize_to_step(moved, spec.rules.tick_size, Rounding.HALF_EVEN),
        )

    def _targets(self, state: _SymbolState) -> set[tuple[Side, Decimal]]:
        spec = state.spec
        rules = spec.rules
        out: set[tuple[Side, Decimal]] = set()
        for i in range(spec.levels):
            offset = _decimal(spec.half_spread + i * spec.level_spacing)
            bid = MONEY_CONTEXT.multiply(state.ref, MONEY_CONTEXT.subtract(Decimal(1), offset))
            ask = MONEY_CONTEXT.multiply(state.ref, MONEY_CONTEXT.add(Decimal(1), offset))
            out.add((Side.BUY, rules.round_price(bid, Side.BUY)))
            out.add((Side.SELL, rules.round_price(ask, Side.SELL)))
        return out

    def _refresh(self, state: _SymbolState) -> None:
        """Cancel liquidity the price left (or takers ate); place what is missing."""
        targets = self._targets(state)
        symbol = state.spec.rules.symbol
        for key, order in list(state.lp_orders.items()):
            if not order.is_open or key not in targets or order.remaining * 2 < order.qty:
                if order.is_open:
                    self._cancel(LIQUIDITY_ACCOUNT, symbol, order.order_id)
                del state.lp_orders[key]
        for side, price in sorted(targets, key=lambda k: (k[0].value, k[1])):
            if (side, price) in state.lp_orders:
                continue
            qty = self._size(state, state.spec.level_qty)
            if qty is None:
                continue
            try:
                order = self._place(
                    LIQUIDITY_ACCOUNT, symbol, side, price, qty, self._cid("lp"), GTC
                )
            except SimError:
                continue  # a filter (e.g. min notional at a tiny price): skip the level
            if order.is_open:
                state.lp_orders[(side, price)] = order

    def _size(self, state: _SymbolState, mean: Decimal) -> Decimal | None:
        rules = state.spec.rules
        qty = rules.round_qty(
            MONEY_CONTEXT.multiply(mean, _decimal(state.size_rng.uniform(0.5, 1.5)))
        )
        if qty <= 0 or (rules.min_qty and qty < rules.min_qty):
            return None
        return qty

    def _take(self, state: _SymbolState) -> None:
        spec = state.spec
        rules = spec.rules
        side = Side.BUY if state.taker_rng.chance(0.5) else Side.SELL
        raw = MONEY_CONTEXT.multiply(
            spec.taker_mean_qty, _decimal(state.taker_rng.expovariate(1.0))
        )
        qty = rules.round_qty(raw)
        if qty <= 0 or (rules.min_qty and qty < rules.min_qty):
            return
        slip = _decimal(spec.max_slippage)
        factor = (
            MONEY_CONTEXT.add(Decimal(1), slip)
            if side is Side.BUY
            else MONEY_CONTEXT.subtract(Decimal(1), slip)
        )
        limit = rules.round_price(MONEY_CONTEXT.multiply(state.ref, factor), side)
        try:
            self._place(TAKER_ACCOUNT, rules.symbol, side, limit, qty, self._cid("tk"), IOC)
            self.taker_orders += 1
        except SimError:
            return
