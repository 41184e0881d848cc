"""The simulated recording oracle's window onto a simulated exchange's matching engine.

The oracle scores what the venue really matched: an account's trades come from the engine's own
trade history (the same rows ``myTrades`` serves), so an estimator that scores our fills can be
compared with the oracle's score of the venue's truth.  Keys: each venue account's own trading
key (which also carries ``SPOT_TRADE``, so a careful joiner refuses to hand it over) plus
read-only keys issued here, which is what a market maker enrols with HuFi.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hufimm.sim.exchange.venue import SimExchange
from hufimm.sim.hufi.exchange_view import (
    ENROLMENT_PERMISSIONS,
    SPOT_TRADE,
    KeyCheck,
    SimTrade,
)


@dataclass(frozen=True)
class _ReadOnlyKey:
    exchange: str
    account: str
    secret: str


class VenueLedgerView:
    """:class:`~hufimm.sim.hufi.exchange_view.ExchangeLedgerView` over simulated venues.

    ``venues`` maps the exchange names HuFi campaigns use (``mexc``...) to the simulated venue
    that plays that exchange.
    """

    def __init__(self, venues: Mapping[str, SimExchange]) -> None:
        self._venues = dict(venues)
        self._read_only: dict[tuple[str, str], _ReadOnlyKey] = {}

    def issue_read_only_key(self, exchange: str, account: str, api_key: str, secret: str) -> None:
        self._venue(exchange).account(account)  # must exist
        self._read_only[(exchange, api_key)] = _ReadOnlyKey(exchange, account, secret)

    def _venue(self, exchange: str) -> SimExchange:
        try:
            return self._venues[exchange]
        except KeyError:
            raise ValueError(f"no simulated venue plays {exchange!r}") from None

    def check_key(
        self, exchange: str, api_key: str, secret: str, extras: Mapping[str, str]
    ) -> KeyCheck:
        read_only = self._read_only.get((exchange, api_key))
        if read_only is not None:
            valid = read_only.secret == secret
            return KeyCheck(
                read_only.account if valid else None,
                frozenset(ENROLMENT_PERMISSIONS) if valid else frozenset(),
            )
        account = self._venue(exchange).account_by_key(api_key)
        if account is None or account.secret != secret:
            return KeyCheck(None)
        return KeyCheck(account.name, frozenset((*ENROLMENT_PERMISSIONS, SPOT_TRADE)))

    def deposit_address(self, exchange: str, account: str, asset: str) -> str | None:
        self._venue(exchange).account(account)
        digest = hashlib.sha256(f"{exchange}/{account}/{asset}".encode()).hexdigest()
        return "0x" + digest[:40]

    def trades(
        self, exchange: str, account: str, symbol: str, since_ns: int, until_ns: int
    ) -> Sequence[SimTrade]:
        rows = self._venue(exchange).engine.account_trades(account, symbol)
        times = [row.trade.ts_ns for row in rows]  # the engine appends in time order
        low, high = bisect.bisect_left(times, since_ns), bisect.bisect_left(times, until_ns)
        return [
            SimTrade(
                str(row.trade.trade_id),
                symbol,
                row.order.side,
                row.trade.price,
                row.trade.qty,
                row.trade.quote_qty,
                row.is_maker,
                row.trade.ts_ns,
            )
            for row in rows[low:high]
        ]
