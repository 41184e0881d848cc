"""Venue balances per account, merged from the user stream and REST by time.

Each asset keeps the newest report: a stream update carries the venue's event time, a REST read
the time its request was *sent* (the answer reflects some moment after that), so a slow REST
answer never overwrites a newer stream update.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import Connection, bindparam, insert, select, update

from hufimm.core.timesource import TimeSource
from hufimm.market import Balance
from hufimm.store.db import Database
from hufimm.tracking.tables import tracking_balances

_B = tracking_balances.c
_SELECT_ONE = select(_B.ts_ns).where(
    _B.exchange == bindparam("exchange"),
    _B.account == bindparam("account"),
    _B.asset == bindparam("asset"),
)
_SELECT_ACCOUNT = select(tracking_balances).where(
    _B.exchange == bindparam("exchange"), _B.account == bindparam("account")
)
_INSERT = insert(tracking_balances)
_UPDATE = (
    update(tracking_balances)
    .where(
        _B.exchange == bindparam("b_exchange"),
        _B.account == bindparam("b_account"),
        _B.asset == bindparam("b_asset"),
    )
    .values(
        free=bindparam("b_free"),
        locked=bindparam("b_locked"),
        ts_ns=bindparam("b_ts"),
        source=bindparam("b_source"),
        updated_at=bindparam("b_now"),
    )
)


class BalanceTracker:
    """Reads and writes ``tracking_balances``.

    With ``cache`` on, reads are served from a copy of each account's rows, dropped whenever
    this instance writes that account and reloaded on the next read.  Only the account's single
    writer (its :class:`~hufimm.tracking.AccountTrackers`) may turn it on: another writer's
    rows would not be seen.  Writes never await inside their transaction, so no read can slip
    between a write and its commit and cache what is about to change.
    """

    def __init__(self, db: Database, time_source: TimeSource, *, cache: bool = False) -> None:
        self._db = db
        self._time = time_source
        self._cache: dict[tuple[str, str], dict[str, Balance]] | None = {} if cache else None

    def apply(
        self,
        exchange: str,
        account: str,
        balances: Mapping[str, Balance],
        ts_ns: int,
        source: str,
        *,
        conn: Connection | None = None,
    ) -> int:
        """Store the reports newer than what is stored; returns how many assets changed."""
        if conn is None:
            with self._db.begin() as own:
                return self.apply(exchange, account, balances, ts_ns, source, conn=own)
        if self._cache is not None:
            self._cache.pop((exchange, account), None)
        now = self._time.time_ns()
        changed = 0
        for asset, balance in sorted(balances.items()):
            key = {"exchange": exchange, "account": account, "asset": asset}
            stored = conn.execute(_SELECT_ONE, key).scalar()
            values = {
                "free": format(balance.free, "f"),
                "locked": format(balance.locked, "f"),
                "ts_ns": ts_ns,
                "source": source,
                "updated_at": now,
            }
            if stored is None:
                conn.execute(_INSERT, key | values)
            elif ts_ns >= stored:
                conn.execute(
                    _UPDATE,
                    {f"b_{k}": v for k, v in key.items()}
                    | {
                        "b_free": values["free"],
                        "b_locked": values["locked"],
                        "b_ts": ts_ns,
                        "b_source": source,
                        "b_now": now,
                    },
                )
            else:
                continue
            changed += 1
        return changed

    def balances(self, exchange: str, account: str) -> dict[str, Balance]:
        cached = None if self._cache is None else self._cache.get((exchange, account))
        if cached is None:
            with self._db.read() as conn:
                rows = conn.execute(
                    _SELECT_ACCOUNT, {"exchange": exchange, "account": account}
                ).all()
            cached = {r.asset: Balance(r.asset, Decimal(r.free), Decimal(r.locked)) for r in rows}
            if self._cache is not None:
                self._cache[(exchange, account)] = cached
        return dict(cached)
