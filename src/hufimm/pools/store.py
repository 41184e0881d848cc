"""Pools and their user orders: rows, reads, and the budget the ledger locks for a pool."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hufimm.core.errors import Conflict, InvalidInput, NotFound
from hufimm.core.timesource import TimeSource
from hufimm.ledger import Ledger
from hufimm.pools.config import StrategyConfig
from hufimm.pools.tables import pool_orders, pools
from hufimm.store.db import Database


@dataclass(frozen=True)
class Pool:
    pool_id: str
    exchange: str
    account: str
    symbol: str
    base_asset_id: str
    quote_asset_id: str
    strategy: StrategyConfig
    status: str

    @property
    def instance_id(self) -> str:
        """The strategy instance that quotes this pool (it numbers the pool's intents)."""
        return f"pool:{self.pool_id}"


@dataclass(frozen=True)
class PoolBudget:
    """What the pool's active user orders have locked, in ledger atomic units."""

    base_units: int
    quote_units: int


def _row(row: Any) -> Pool:
    return Pool(
        pool_id=row.pool_id,
        exchange=row.exchange,
        account=row.account,
        symbol=row.symbol,
        base_asset_id=row.base_asset_id,
        quote_asset_id=row.quote_asset_id,
        strategy=StrategyConfig.model_validate(json.loads(row.strategy)),
        status=row.status,
    )


class PoolStore:
    def __init__(self, db: Database, time_source: TimeSource) -> None:
        self._db = db
        self._time = time_source

    def create(
        self,
        pool_id: str,
        exchange: str,
        account: str,
        symbol: str,
        base_asset_id: str,
        quote_asset_id: str,
        strategy: StrategyConfig,
    ) -> Pool:
        if "/" not in symbol:
            raise InvalidInput(f"symbol: expected BASE/QUOTE, got {symbol!r}")
        if base_asset_id == quote_asset_id:
            raise InvalidInput("base and quote asset must differ")
        now = self._time.time_ns()
        with self._db.begin() as conn:
            clash = conn.execute(
                sa.select(pools.c.pool_id).where(
                    (pools.c.pool_id == pool_id)
                    | (
                        (pools.c.exchange == exchange)
                        & (pools.c.account == account)
                        & (pools.c.symbol == symbol)
                    )
                )
            ).first()
            if clash is not None:
                raise Conflict(
                    f"pool {clash.pool_id} already makes {exchange}/{account}/{symbol}"
                    if clash.pool_id != pool_id
                    else f"pool {pool_id} exists"
                )
            conn.execute(
                sa.insert(pools).values(
                    pool_id=pool_id,
                    exchange=exchange,
                    account=account,
                    symbol=symbol,
                    base_asset_id=base_asset_id,
                    quote_asset_id=quote_asset_id,
                    strategy=strategy.model_dump_json(),
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get(pool_id)

    def get(self, pool_id: str) -> Pool:
        with self._db.read() as conn:
            row = conn.execute(sa.select(pools).where(pools.c.pool_id == pool_id)).first()
        if row is None:
            raise NotFound(f"no pool {pool_id!r}")
        return _row(row)

    def active(self) -> list[Pool]:
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(pools).where(pools.c.status == "active").order_by(pools.c.pool_id)
            ).all()
        return [_row(r) for r in rows]

    def all(self) -> list[Pool]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(pools).order_by(pools.c.pool_id)).all()
        return [_row(r) for r in rows]

    def set_status(self, pool_id: str, status: str) -> None:
        if status not in ("active", "stopped"):
            raise InvalidInput(f"status: expected active or stopped, got {status!r}")
        with self._db.begin() as conn:
            done = conn.execute(
                sa.update(pools)
                .where(pools.c.pool_id == pool_id)
                .values(status=status, updated_at=self._time.time_ns())
            ).rowcount
        if done != 1:
            raise NotFound(f"no pool {pool_id!r}")

    def join(self, pool_id: str, order_id: str, user_id: str) -> None:
        """Record that user order ``order_id`` funds ``pool_id`` (idempotent)."""
        self.get(pool_id)
        with self._db.begin() as conn:
            row = conn.execute(
                sa.select(pool_orders).where(pool_orders.c.order_id == order_id)
            ).first()
            if row is not None:
                if (row.pool_id, row.user_id) != (pool_id, user_id):
                    raise Conflict(f"order {order_id} already funds pool {row.pool_id}")
                return
            conn.execute(
                sa.insert(pool_orders).values(
                    order_id=order_id,
                    pool_id=pool_id,
                    user_id=user_id,
                    created_at=self._time.time_ns(),
                )
            )

    def orders_of(self, pool_id: str) -> list[tuple[str, str]]:
        """``(order_id, user_id)`` of the pool's user orders."""
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(pool_orders.c.order_id, pool_orders.c.user_id)
                .where(pool_orders.c.pool_id == pool_id)
                .order_by(pool_orders.c.order_id)
            ).all()
        return [(r.order_id, r.user_id) for r in rows]

    def budget(self, ledger: Ledger, pool: Pool) -> PoolBudget:
        """The sum of what the pool's user orders have locked (the ledger is the truth)."""
        return _sum_locks(ledger, pool, (order for order, _ in self.orders_of(pool.pool_id)))


def _sum_locks(ledger: Ledger, pool: Pool, order_ids: Iterable[str]) -> PoolBudget:
    base = quote = 0
    for order_id in order_ids:
        for lock in ledger.locks(order_id):
            if lock.asset_id == pool.base_asset_id:
                base += lock.amount
            elif lock.asset_id == pool.quote_asset_id:
                quote += lock.amount
    return PoolBudget(base, quote)
