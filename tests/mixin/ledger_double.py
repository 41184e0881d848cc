"""A small SQL-backed, idempotent stand-in for the ledger's deposit credit (test double).

The real ledger is built in parallel; at merge the lead replaces this with the ledger adapter.
It keeps the two properties the watcher relies on: one row per idempotency key (same key, same
payload → the original reference; another payload → Conflict), committed before it returns.
It can also die at chosen calls, before or after its commit, or hang until cancelled.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa

from hufimm.core.errors import Conflict
from hufimm.mixin.deposits import DepositCredit
from hufimm.store.db import Database
from hufimm.store.types import ExactInteger

credits = sa.Table(
    "t_mixin_test_credits",
    sa.MetaData(),
    sa.Column("idempotency_key", sa.String(200), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("asset_id", sa.String(64), nullable=False),
    sa.Column("units", ExactInteger(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
)


class Crash(BaseException):
    """The process dying: a BaseException, so nothing in the watcher catches it."""


class SqlDepositLedger:
    def __init__(
        self,
        db: Database,
        *,
        crash_before: Iterable[int] = (),
        crash_after: Iterable[int] = (),
        hang_at: int | None = None,
    ) -> None:
        self._db = db
        self._crash_before = set(crash_before)
        self._crash_after = set(crash_after)
        self._hang_at = hang_at
        self.entered_hang = asyncio.Event()
        self.calls = 0
        self.inserted = 0
        with db.begin() as conn:
            credits.create(conn, checkfirst=True)

    async def credit_deposit(self, credit: DepositCredit) -> str:
        self.calls += 1
        call = self.calls
        if call == self._hang_at:
            self.entered_hang.set()
            await asyncio.Event().wait()  # until the task is cancelled
        if call in self._crash_before:
            raise Crash(f"died before committing call {call}")
        payload = json.dumps({"units": str(credit.units), **credit.event_payload()}, sort_keys=True)
        with self._db.begin() as conn:
            row = conn.execute(
                sa.select(credits.c.payload).where(
                    credits.c.idempotency_key == credit.idempotency_key
                )
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(credits).values(
                        idempotency_key=credit.idempotency_key,
                        user_id=credit.user_id,
                        asset_id=credit.asset_id,
                        units=credit.units,
                        payload=payload,
                    )
                )
                self.inserted += 1
            elif row.payload != payload:
                raise Conflict(f"{credit.idempotency_key} replayed with another payload")
        if call in self._crash_after:
            raise Crash(f"died after committing call {call}")
        return f"journal:{credit.idempotency_key}"


def credited(db: Database) -> dict[str, tuple[str, str, int]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(credits)).all()
    return {r.idempotency_key: (r.user_id, r.asset_id, r.units) for r in rows}


def balances(db: Database) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for user_id, asset_id, units in credited(db).values():
        totals[(user_id, asset_id)] += units
    return dict(totals)
