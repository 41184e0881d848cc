"""Deposits into the real ledger: one DEPOSIT_CREDIT per user transfer across crashes."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.ledger import CUSTODY_MIXIN, Ledger, verify
from hufimm.mixin.deposits import DEPOSIT_EVENT, DepositCredit, DepositWatcher
from hufimm.mixin.errors import MixinUnavailable
from hufimm.mixin.ledger_deposits import LedgerDeposits
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from tests.mixin.conftest import MixinEnv
from tests.mixin.ledger_double import Crash
from tests.mixin.test_deposits import KNOWN, Injector


class DyingProcess:
    """The real ledger adapter inside a process that dies at one seeded call."""

    def __init__(self, inner: LedgerDeposits, die_at: int | None, after_commit: bool) -> None:
        self._inner = inner
        self._die_at = die_at
        self._after = after_commit
        self.calls = 0

    async def credit_deposit(self, credit: DepositCredit) -> str:
        self.calls += 1
        if self.calls == self._die_at and not self._after:
            raise Crash("died before the ledger saw the credit")
        reference = await self._inner.credit_deposit(credit)
        if self.calls == self._die_at:
            raise Crash("died after the ledger committed, before the cursor moved")
        return reference


async def test_deposits_credit_the_ledger_exactly_once_across_crashes(
    db: Database, mixin_env: MixinEnv, users: list[str]
) -> None:
    injector = Injector(mixin_env, users, seed=7)
    injector.transfers(25)
    rng = SeededRng(3)
    client = mixin_env.client()
    crashes = 0
    for restart in range(30):  # each round is a new process: a fresh ledger writer
        ledger = Ledger(db, mixin_env.time, Metrics())
        await ledger.start()
        die_at = rng.randint(1, 5) if restart < 6 else None
        process = DyingProcess(LedgerDeposits(ledger), die_at, after_commit=rng.chance(0.5))
        watcher = DepositWatcher(
            db, client, process, mixin_env.time, mixin_env.metrics, known_assets=KNOWN, page_size=3
        )
        try:
            await watcher.poll()
        except (Crash, MixinUnavailable):
            crashes += 1
            continue
        finally:
            await ledger.stop(drain=False)
        break
    assert crashes >= 4
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for user, asset, units in injector.expected.values():
        expected[(user, asset)] += units
    reader = Ledger(db, mixin_env.time, Metrics())
    for (user, asset), units in expected.items():
        assert reader.balance(user, asset).available == units
    custody = {b.asset_id: b.available for b in reader.balances(CUSTODY_MIXIN)}
    for asset in {a for _, a in expected}:
        assert custody[asset] == -sum(u for (_, a), u in expected.items() if a == asset)
    with db.read() as conn:
        events = conn.execute(
            sa.select(sa.func.count()).where(outbox_events.c.event_type == DEPOSIT_EVENT)
        ).scalar_one()
    assert events == len(injector.expected)  # one domain event per credit, none for retries
    assert verify(db).ok
    await client.aclose()
