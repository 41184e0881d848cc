"""Pool budgets: what a pool's executor may commit on its exchange account.

The ledger decides: a pool's budget per asset is what its user orders have locked.  It is capped
by what the exchange account really holds (free + locked by our orders), because the ledger
cannot make the venue hold more.  Reads of the ledger are cached for ``refresh_s`` (locks move
only when users fund, pause or withdraw); holdings are read every time, from the tracker's
in-database balances.  Until the venue's balances are known the budget is zero: no quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from hufimm.core.money import MIXIN_PRECISION, from_units
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.ledger import Ledger
from hufimm.market import Balance
from hufimm.pools.store import Pool, PoolBudget, PoolStore
from hufimm.strategy.quoting import Funds


class Holdings(Protocol):
    def balances(self, exchange: str, account: str) -> dict[str, Balance]: ...


@dataclass
class _Cached:
    pool: Pool
    budget: PoolBudget | None = None
    read_at: int = 0


class PoolBudgets:
    """:class:`~hufimm.strategy.manager.BudgetSource` for pools (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        store: PoolStore,
        holdings: Holdings,
        time_source: TimeSource,
        refresh_s: float = 5.0,
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._holdings = holdings
        self._time = time_source
        self._refresh_ns = round(refresh_s * NS_PER_SECOND)
        self._pools: dict[str, _Cached] = {}

    def add(self, pool: Pool) -> None:
        self._pools[pool.instance_id] = _Cached(pool)

    def locked(self, instance_id: str) -> PoolBudget:
        entry = self._pools[instance_id]
        now = self._time.time_ns()
        if entry.budget is None or now - entry.read_at >= self._refresh_ns:
            entry.budget = self._store.budget(self._ledger, entry.pool)
            entry.read_at = now
        return entry.budget

    def funds(self, instance_id: str) -> Funds:
        pool = self._pools[instance_id].pool
        locked = self.locked(instance_id)
        base_asset, quote_asset = pool.symbol.split("/")
        held = self._holdings.balances(pool.exchange, pool.account)
        zero = Balance("", Decimal(0), Decimal(0))
        return Funds(
            base=min(
                from_units(locked.base_units, MIXIN_PRECISION), held.get(base_asset, zero).total
            ),
            quote=min(
                from_units(locked.quote_units, MIXIN_PRECISION), held.get(quote_asset, zero).total
            ),
        )
