"""The Connector protocol: everything hufimm asks of an exchange account.

Implemented by :class:`~hufimm.exchange.ccxt_connector.CcxtConnector` (any ccxt venue) and by the
simulated exchange's in-process connector.  Values are exact ``Decimal``; errors are the
taxonomy of :mod:`hufimm.market.errors` (retryable / rejected with a reason / outcome unknown).
Orders are addressed by *our* client order id, which works before the venue's id is known.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from hufimm.market import (
    Balance,
    BookMessage,
    BookSnapshot,
    Fill,
    Order,
    OrderRequest,
    TradingRules,
    UserEvent,
)


@runtime_checkable
class Connector(Protocol):
    exchange_id: str
    account: str

    async def start(self) -> None:
        """Connect and load the markets; raises if the venue cannot be reached (fail closed)."""

    async def close(self) -> None: ...

    async def load_markets(self) -> dict[str, TradingRules]:
        """Trading rules by unified symbol (``BASE/QUOTE``), reloaded from the venue."""

    def rules(self, symbol: str) -> TradingRules:
        """The loaded rules of one market (``KeyError`` if unknown)."""

    async def fetch_order_book(self, symbol: str, limit: int = 100) -> BookSnapshot: ...

    def watch_book(self, symbol: str, limit: int | None = None) -> AsyncIterator[BookMessage]:
        """A snapshot, then diffs whose ``first_seq/last_seq`` chain onto it.

        Disruptions arrive in-band as ``StreamStatus(up=False)``; the connector reconnects with
        backoff and starts again with ``StreamStatus(up=True)`` and a fresh snapshot.  Diffs may
        be lost, repeated or reordered by the venue: the reader checks the sequence.
        """

    async def create_order(self, request: OrderRequest) -> Order: ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        """``NOT_FOUND`` means *not open* (filled, cancelled, or not arrived yet)."""

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        """The latest order holding this client id; ``NOT_FOUND`` may mean *not yet*."""

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]: ...

    async def fetch_fills(
        self, symbol: str, after: str | None = None, limit: int = 500
    ) -> list[Fill]:
        """Our fills in trade-id order; ``after`` is the last trade id already seen."""

    async def fetch_balances(self) -> dict[str, Balance]: ...

    def watch_user(self, symbols: list[str] | None = None) -> AsyncIterator[UserEvent]:
        """Order updates, fills and balances of this account, with in-band ``StreamStatus``."""
