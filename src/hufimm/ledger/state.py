"""The writer's in-memory view of balances, locks and outstanding shares.

There is exactly one writer, so once a row is loaded its cached value *is* the truth until the
writer changes it; the cache is filled lazily from the read model (bulk prefetch per batch, a
single-row load on a miss) and thrown away whole whenever a batch fails to commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

AccountKey = tuple[str, str]  # (owner, asset_id)


@dataclass(frozen=True, slots=True)
class Outstanding:
    """An order's minted, not yet burned shares."""

    shares: int
    pool_id: str
    price: Decimal


@dataclass(slots=True)
class OrderState:
    owner: str
    locks: dict[str, int] = field(default_factory=dict)
    shares: Outstanding | None = None


#: Loads accounts from the database: keys → {key: [available, locked]} for the rows that exist.
AccountLoader = Callable[[list[AccountKey]], dict[AccountKey, list[int]]]
#: Loads orders from the database: ids → {id: OrderState} for the orders that exist.
OrderLoader = Callable[[list[str]], dict[str, OrderState]]


class LedgerState:
    """Balances ``[available, locked]`` per (owner, asset) and user orders, loaded on demand."""

    def __init__(self, load_accounts: AccountLoader, load_orders: OrderLoader) -> None:
        self._load_accounts = load_accounts
        self._load_orders = load_orders
        self.accounts: dict[AccountKey, list[int] | None] = {}
        self.orders: dict[str, OrderState | None] = {}

    def account(self, owner: str, asset_id: str) -> list[int] | None:
        """The live ``[available, locked]`` of an account, or ``None`` if it never existed."""
        key = (owner, asset_id)
        try:
            return self.accounts[key]
        except KeyError:
            self.prefetch((key,), ())
            return self.accounts[key]

    def order(self, order_id: str) -> OrderState | None:
        try:
            return self.orders[order_id]
        except KeyError:
            self.prefetch((), (order_id,))
            return self.orders[order_id]

    def prefetch(self, keys: Iterable[AccountKey], order_ids: Iterable[str]) -> None:
        """Load every key and order not cached yet, in bulk; absent ones are cached as ``None``."""
        accounts = self.accounts
        missing = [k for k in dict.fromkeys(keys) if k not in accounts]
        if missing:
            found = self._load_accounts(missing)
            for key in missing:
                accounts[key] = found.get(key)
        orders = self.orders
        missing_orders = [o for o in dict.fromkeys(order_ids) if o not in orders]
        if missing_orders:
            found_orders = self._load_orders(missing_orders)
            for order_id in missing_orders:
                orders[order_id] = found_orders.get(order_id)

    def size(self) -> int:
        return len(self.accounts) + len(self.orders)

    def clear(self) -> None:
        self.accounts.clear()
        self.orders.clear()
