"""What the simulated recording oracle needs to know about exchange accounts.

The real oracle talks to exchanges with ccxt using the participant's read-only key: it checks
the key's permissions (``fetchBalance``, ``fetchDepositAddress('ETH')``, ``fetchMyTrades``),
reads the account's ETH deposit address to drop sybil accounts, and reads the account's trades
to score them.  :class:`ExchangeLedgerView` is that narrow window; the simulated exchange
implements it, and :class:`TradeBook` is a small deterministic in-memory implementation for
runs that have no matching engine (tests, ``hufimm sim hufi``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from hufimm.core.money import MONEY_CONTEXT
from hufimm.market import Side

VIEW_ACCOUNT_BALANCE = "VIEW_ACCOUNT_BALANCE"
VIEW_DEPOSIT_ADDRESS = "VIEW_DEPOSIT_ADDRESS"
VIEW_SPOT_TRADING_HISTORY = "VIEW_SPOT_TRADING_HISTORY"
#: Not needed by the oracle; a key that has it can move funds (our own gate refuses such keys).
SPOT_TRADE = "SPOT_TRADE"

#: What enrolment checks live on the exchange, in the oracle's order.
ENROLMENT_PERMISSIONS = (VIEW_ACCOUNT_BALANCE, VIEW_DEPOSIT_ADDRESS, VIEW_SPOT_TRADING_HISTORY)
#: What joining a market-making campaign needs.
MARKET_MAKING_PERMISSIONS = (VIEW_SPOT_TRADING_HISTORY, VIEW_DEPOSIT_ADDRESS)


class ExchangeUnavailable(Exception):
    """The exchange did not answer; the oracle replies 503."""


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """Trying a key: the account it opens (``None``: not a key) and what it may do."""

    account: str | None
    permissions: frozenset[str] = frozenset()

    @property
    def valid(self) -> bool:
        return self.account is not None


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One trade of an account as ``fetchMyTrades`` reports it; ``cost`` is the quote notional."""

    trade_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    cost: Decimal
    is_maker: bool
    ts_ns: int


class ExchangeLedgerView(Protocol):
    """The oracle's read-only view of one or more simulated exchanges."""

    def check_key(
        self, exchange: str, api_key: str, secret: str, extras: Mapping[str, str]
    ) -> KeyCheck:
        """Which account the key opens and its permissions (raise ExchangeUnavailable if down)."""
        ...

    def deposit_address(self, exchange: str, account: str, asset: str) -> str | None:
        """The account's deposit address for ``asset`` (the oracle asks for ``ETH``)."""
        ...

    def trades(
        self, exchange: str, account: str, symbol: str, since_ns: int, until_ns: int
    ) -> Sequence[SimTrade]:
        """The account's trades on ``symbol`` with ``since_ns <= ts < until_ns``, oldest first."""
        ...


@dataclass
class _Key:
    account: str
    secret: str
    permissions: frozenset[str]
    extras: dict[str, str]


@dataclass
class _Account:
    deposit_addresses: dict[str, str] = field(default_factory=dict)
    # symbol -> (sorted timestamps, trades in the same order)
    trades: dict[str, tuple[list[int], list[SimTrade]]] = field(default_factory=dict)


class TradeBook:
    """A deterministic in-memory exchange ledger: accounts, their keys, deposit addresses, trades.

    Trades are appended by whoever plays the market (a test's seeded trader, a demo script);
    they are kept sorted by time so a window query is two binary searches.
    """

    def __init__(self, exchanges: Iterable[str]) -> None:
        self._exchanges = {name: dict[str, _Account]() for name in exchanges}
        self._keys: dict[tuple[str, str], _Key] = {}
        self.down: set[str] = set()

    def add_account(self, exchange: str, account: str, *, eth_address: str | None) -> None:
        accounts = self._venue(exchange)
        if account in accounts:
            raise ValueError(f"account {account!r} already exists on {exchange}")
        state = _Account()
        if eth_address is not None:
            state.deposit_addresses["ETH"] = eth_address
        accounts[account] = state

    def issue_key(
        self,
        exchange: str,
        account: str,
        api_key: str,
        secret: str,
        permissions: Iterable[str],
        extras: Mapping[str, str] | None = None,
    ) -> None:
        if account not in self._venue(exchange):
            raise ValueError(f"no account {account!r} on {exchange}")
        self._keys[(exchange, api_key)] = _Key(
            account, secret, frozenset(permissions), dict(extras or {})
        )

    def revoke_key(self, exchange: str, api_key: str) -> None:
        self._keys.pop((exchange, api_key), None)

    def record_trade(self, exchange: str, account: str, trade: SimTrade) -> None:
        expected = MONEY_CONTEXT.multiply(trade.price, trade.qty)
        if trade.cost != expected:
            raise ValueError(f"trade {trade.trade_id}: cost {trade.cost} != price*qty {expected}")
        times, trades = self._venue(exchange)[account].trades.setdefault(trade.symbol, ([], []))
        index = bisect.bisect_right(times, trade.ts_ns)
        times.insert(index, trade.ts_ns)
        trades.insert(index, trade)

    def _venue(self, exchange: str) -> dict[str, _Account]:
        try:
            return self._exchanges[exchange]
        except KeyError:
            raise ValueError(f"unknown exchange {exchange!r}") from None

    def _check_up(self, exchange: str) -> None:
        if exchange in self.down:
            raise ExchangeUnavailable(f"{exchange} is not reachable")

    # ------------------------------------------------------------------ ExchangeLedgerView
    def check_key(
        self, exchange: str, api_key: str, secret: str, extras: Mapping[str, str]
    ) -> KeyCheck:
        self._check_up(exchange)
        key = self._keys.get((exchange, api_key))
        if key is None or key.secret != secret:
            return KeyCheck(None)
        if any(extras.get(name) != value for name, value in key.extras.items()):
            return KeyCheck(None)
        return KeyCheck(key.account, key.permissions)

    def deposit_address(self, exchange: str, account: str, asset: str) -> str | None:
        self._check_up(exchange)
        state = self._venue(exchange).get(account)
        return None if state is None else state.deposit_addresses.get(asset)

    def trades(
        self, exchange: str, account: str, symbol: str, since_ns: int, until_ns: int
    ) -> Sequence[SimTrade]:
        self._check_up(exchange)
        state = self._venue(exchange).get(account)
        if state is None or symbol not in state.trades:
            return []
        times, trades = state.trades[symbol]
        low = bisect.bisect_left(times, since_ns)
        high = bisect.bisect_left(times, until_ns)
        return trades[low:high]
