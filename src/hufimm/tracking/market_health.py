"""Each market's reconciliation verdict, durable so that every process reads the same one.

A market with no verdict yet is unhealthy (fail closed): strategies quote only where the last
reconciliation run found the venue and the shadow tracker in agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, insert, select, update

from hufimm.store.db import Database
from hufimm.store.outbox import append_event
from hufimm.tracking.events import MARKET_AGGREGATE, MARKET_HEALTH_EVENT, market_key
from hufimm.tracking.tables import tracking_market_health

_H = tracking_market_health.c
_OF_ACCOUNT = select(tracking_market_health).where(
    _H.exchange == bindparam("exchange"), _H.account == bindparam("account")
)
_ONE = select(tracking_market_health).where(
    _H.exchange == bindparam("exchange"),
    _H.account == bindparam("account"),
    _H.symbol == bindparam("symbol"),
)
_INSERT = insert(tracking_market_health)
_UPDATE = (
    update(tracking_market_health)
    .where(
        _H.exchange == bindparam("b_exchange"),
        _H.account == bindparam("b_account"),
        _H.symbol == bindparam("b_symbol"),
    )
    .values(
        healthy=bindparam("b_healthy"),
        reason=bindparam("b_reason"),
        since=bindparam("b_since"),
        updated_at=bindparam("b_now"),
        run_id=bindparam("b_run_id"),
    )
)

NEVER_RECONCILED = "not reconciled yet"


@dataclass(frozen=True, slots=True)
class MarketHealth:
    healthy: bool
    reason: str  # why it is unhealthy ("" when healthy)
    since_ns: int | None  # when the current verdict began


class MarketHealthBoard:
    """Reads and writes the ``tracking_market_health`` rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(
        self, exchange: str, account: str, symbol: str, *, conn: Connection | None = None
    ) -> MarketHealth:
        key = {"exchange": exchange, "account": account, "symbol": symbol}
        if conn is not None:
            row = conn.execute(_ONE, key).first()
        else:
            with self._db.read() as c:
                row = c.execute(_ONE, key).first()
        if row is None:
            return MarketHealth(False, NEVER_RECONCILED, None)
        return MarketHealth(bool(row.healthy), row.reason, row.since)

    def of_account(self, exchange: str, account: str) -> dict[str, MarketHealth]:
        """Every recorded verdict of one account by symbol (one query)."""
        with self._db.read() as conn:
            rows = conn.execute(_OF_ACCOUNT, {"exchange": exchange, "account": account}).all()
        return {r.symbol: MarketHealth(bool(r.healthy), r.reason, r.since) for r in rows}

    def all(self) -> list[tuple[str, str, str, MarketHealth]]:
        """Every recorded verdict as ``(exchange, account, symbol, health)``."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(tracking_market_health).order_by(_H.exchange, _H.account, _H.symbol)
            ).all()
        return [
            (r.exchange, r.account, r.symbol, MarketHealth(bool(r.healthy), r.reason, r.since))
            for r in rows
        ]

    def set(
        self,
        conn: Connection,
        exchange: str,
        account: str,
        symbol: str,
        healthy: bool,
        reason: str,
        now: int,
        run_id: int | None = None,
    ) -> bool:
        """Record a verdict; returns whether health flipped (then an outbox event says so)."""
        key = {"exchange": exchange, "account": account, "symbol": symbol}
        row = conn.execute(_ONE, key).first()
        reason = "" if healthy else reason
        flipped = row is None or bool(row.healthy) != healthy
        since = now if flipped or row is None else row.since
        if row is None:
            conn.execute(
                _INSERT,
                key
                | {
                    "healthy": healthy,
                    "reason": reason,
                    "since": since,
                    "updated_at": now,
                    "run_id": run_id,
                },
            )
        else:
            conn.execute(
                _UPDATE,
                {
                    "b_exchange": exchange,
                    "b_account": account,
                    "b_symbol": symbol,
                    "b_healthy": healthy,
                    "b_reason": reason,
                    "b_since": since,
                    "b_now": now,
                    "b_run_id": run_id,
                },
            )
        if flipped:
            append_event(
                conn,
                MARKET_AGGREGATE,
                market_key(exchange, account, symbol),
                MARKET_HEALTH_EVENT,
                {
                    "exchange": exchange,
                    "account": account,
                    "symbol": symbol,
                    "healthy": healthy,
                    "reason": reason,
                    "ts_ns": now,
                },
                now,
            )
        return flipped

    def mark_unknown(
        self, exchange: str, account: str, symbols: Iterable[str], reason: str, now: int
    ) -> None:
        """At start-up, before the first run: no market is trusted yet."""
        with self._db.begin() as conn:
            for symbol in symbols:
                self.set(conn, exchange, account, symbol, False, reason, now)
