"""The ledger against a pure model, step by step, on SQLite and PostgreSQL.

Random deposits, locks, unlocks, share mints and burns, reward receipts and distributions,
withdrawals, fees, PnL, adjustments; identical retries, conflicting retries, rejected commands
and their retries; several commands in one batch (with duplicates and conflicts inside it); a
commit that fails and is retried; and restarts — the writer abandoned between batches, or killed
inside a batch just before its commit (then the callers resubmit).  After every step the read
model equals the model, every invariant ``verify`` checks holds, and share-time agrees.
"""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from hufimm.core.errors import Conflict, OutcomeUnknown
from hufimm.core.timesource import VirtualTimeSource
from hufimm.ledger import (
    Adjustment,
    Applied,
    BurnShares,
    Command,
    DepositCredit,
    Duplicate,
    FeeDebit,
    Lock,
    MintShares,
    MmRealizedPnl,
    Outcome,
    Rejected,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    Unlock,
    WithdrawDebit,
    share_ns,
)
from tests.ledger.conftest import DbFactory, Harness
from tests.ledger.model import LedgerModel

USERS = ("u0", "u1", "u2")
ASSETS = ("A", "B")
ORDERS = ("o0", "o1", "o2")
CYCLES = (("c0", 0), ("c0", 1), ("c1", 0))
POOL = "p0"
HUGE = (10**24, 2**63 + 7, 2**64 + 1)

amounts = st.one_of(
    st.integers(min_value=-2, max_value=300), st.sampled_from(HUGE), st.integers(1, 5)
)
prices = st.sampled_from([Decimal("0.5"), Decimal("1"), Decimal("2.5"), Decimal("0.333")])
specs = st.builds(SharesSpec, st.just(POOL), st.just("A"), st.just("B"), prices)
users = st.sampled_from(USERS)
assets = st.sampled_from(ASSETS)
orders = st.sampled_from(ORDERS)


def within(data: st.DataObject, limit: int) -> int:
    """Usually an amount the model says fits under ``limit``; sometimes anything."""
    if limit > 0 and data.draw(st.integers(0, 3)):
        return data.draw(st.integers(1, limit))
    return data.draw(amounts)


def command(data: st.DataObject, key: str, model: LedgerModel) -> Command:
    """One random command, biased toward ones the model says can apply (so every rule runs
    past its checks), with enough wrong ones to reach every rejection."""
    kind = data.draw(st.integers(0, 11))
    asset = data.draw(assets)
    order_id = data.draw(orders)
    user = data.draw(users)
    if data.draw(st.integers(0, 4)):  # orders mostly stay with "their" user
        user = USERS[ORDERS.index(order_id)]
    available, _ = model.balance(user, asset)
    order = model.orders.get(order_id)
    if kind in (0, 11):
        return DepositCredit(
            idempotency_key=key, owner=user, asset_id=asset, amount=data.draw(amounts)
        )
    if kind == 1:
        spec = data.draw(st.none() | specs)
        return Lock(
            idempotency_key=key,
            owner=user,
            order_id=order_id,
            asset_id=asset,
            amount=within(data, available),
            shares=spec,
        )
    if kind == 2:
        locked = order.locks.get(asset, 0) if order else 0
        burn = order is not None and order.shares is not None
        if not data.draw(st.integers(0, 4)):
            burn = not burn
        return Unlock(
            idempotency_key=key,
            owner=user,
            order_id=order_id,
            asset_id=asset,
            amount=within(data, locked),
            burn_shares=burn,
        )
    if kind == 3:
        return MintShares(
            idempotency_key=key, owner=user, order_id=order_id, shares=data.draw(specs)
        )
    if kind == 4:
        return BurnShares(idempotency_key=key, owner=user, order_id=order_id)
    campaign, cycle = data.draw(st.sampled_from(CYCLES))
    if kind == 5:
        return RewardReceipt(
            idempotency_key=key,
            campaign=campaign,
            cycle=cycle,
            asset_id=asset,
            amount=data.draw(amounts),
        )
    if kind == 6:
        held = model.balance(f"rewards:{campaign}:{cycle}", asset)[0]
        if held > 0 and data.draw(st.integers(0, 3)):
            cut = data.draw(st.integers(0, held))
            credits = ((user, cut),) if cut else ()
            return RewardCredit(
                idempotency_key=key,
                campaign=campaign,
                cycle=cycle,
                asset_id=asset,
                credits=credits,
                treasury_amount=held - cut,
            )
        who = data.draw(st.lists(users, min_size=0, max_size=3, unique=True))
        return RewardCredit(
            idempotency_key=key,
            campaign=campaign,
            cycle=cycle,
            asset_id=asset,
            credits=tuple((u, data.draw(amounts)) for u in who),
            treasury_amount=data.draw(st.integers(-1, 50)),
        )
    if kind == 7:
        fee = data.draw(st.integers(-1, 5))
        return WithdrawDebit(
            idempotency_key=key,
            owner=user,
            asset_id=asset,
            amount=within(data, available - max(fee, 0)),
            fee=fee,
        )
    if kind == 8:
        return FeeDebit(
            idempotency_key=key, owner=user, asset_id=asset, amount=within(data, available)
        )
    if kind == 9:
        return MmRealizedPnl(
            idempotency_key=key,
            pool_id=POOL,
            asset_id=asset,
            amount=data.draw(st.integers(-100, 100)),
        )
    counterparty = data.draw(st.sampled_from(["treasury", "custody:mixin", "fees"]))
    return Adjustment(
        idempotency_key=key,
        owner=user,
        asset_id=asset,
        amount=data.draw(st.integers(-50, 50)),
        reason="stateful test",
        admin="tester",
        counterparty=counterparty,
    )


def mutate(cmd: Command) -> Command:
    """The same key with another payload."""
    for name in ("amount", "treasury_amount"):
        if hasattr(cmd, name):
            return dataclasses.replace(cmd, **{name: getattr(cmd, name) + 1})
    if isinstance(cmd, MintShares):
        spec = dataclasses.replace(cmd.shares, price=cmd.shares.price + 1)
        return dataclasses.replace(cmd, shares=spec)
    return dataclasses.replace(cmd, ref_id=cmd.ref_id + "-other")


class LedgerMachine(RuleBasedStateMachine):
    fresh_db: DbFactory

    def __init__(self) -> None:
        super().__init__()
        self.time = VirtualTimeSource()
        self.start_ns = self.time.time_ns()
        self.db = self.fresh_db()
        self.model = LedgerModel()
        self.sent: list[Command] = []
        self.originals: dict[str, Outcome] = {}
        self._keys = itertools.count()

    @initialize(cache=st.sampled_from([1_000_000, 6]))
    def open_ledger(self, cache: int) -> None:
        """A roomy cache, or one so small that it is dropped after almost every batch (every
        account, order and share then comes back from the database)."""
        self.h = Harness(self.db, self.time, state_limit=cache)

    def key(self) -> str:
        return f"key-{next(self._keys)}"

    # ------------------------------------------------------------------ checking
    def expect(self, cmd: Command, real: Outcome | BaseException) -> None:
        kind, expected = self.model.submit(cmd, self.time.time_ns())
        verdict = type(real).__name__
        if isinstance(real, Rejected):
            verdict = real.reason.value
        event(f"{type(cmd).__name__}: {verdict}")
        if kind == "conflict":
            assert isinstance(real, Conflict), (cmd, real)
            return
        self.sent.append(cmd)
        if kind == "duplicate":
            assert isinstance(real, Duplicate), (cmd, real)
            assert real.original == self.originals[cmd.idempotency_key]
            return
        assert expected is not None
        if expected.reason is None:
            assert isinstance(real, Applied), (cmd, real, expected)
            assert tuple(tuple(b) for b in real.balances) == expected.balances
            assert (real.shares_minted, real.shares_burned) == (expected.minted, expected.burned)
        else:
            assert isinstance(real, Rejected), (cmd, real, expected)
            assert real.reason is expected.reason, (cmd, real, expected)
        self.originals[cmd.idempotency_key] = real

    def send(self, commands: list[Command]) -> None:
        for cmd, real in zip(commands, self.h.submit_all(commands), strict=True):
            self.expect(cmd, real)

    # ------------------------------------------------------------------ rules
    @rule(data=st.data())
    def one_command(self, data: st.DataObject) -> None:
        self.send([command(data, self.key(), self.model)])

    @rule(data=st.data(), size=st.integers(2, 5), echo=st.sampled_from(["none", "same", "other"]))
    def one_batch(self, data: st.DataObject, size: int, echo: str) -> None:
        batch = [command(data, self.key(), self.model) for _ in range(size)]
        if echo == "same":  # the same key twice in one batch: the second is a duplicate
            batch.append(batch[0])
        elif echo == "other":  # ... or a conflict
            batch.append(mutate(batch[0]))
        self.send(batch)

    @rule(data=st.data())
    def identical_retry(self, data: st.DataObject) -> None:
        if self.sent:
            self.send([data.draw(st.sampled_from(self.sent))])

    @rule(data=st.data())
    def conflicting_retry(self, data: st.DataObject) -> None:
        if self.sent:
            self.send([mutate(data.draw(st.sampled_from(self.sent)))])

    @rule()
    def restart_between_batches(self) -> None:
        self.h.reopen()

    @rule(data=st.data(), size=st.integers(1, 4), resubmit=st.booleans())
    def killed_mid_batch(self, data: st.DataObject, size: int, resubmit: bool) -> None:
        batch = [command(data, self.key(), self.model) for _ in range(size)]
        self.h.crash_next_commit()
        results = self.h.submit_all(batch)
        assert all(isinstance(r, OutcomeUnknown) for r in results), results
        self.h.reopen()
        if resubmit:  # what the callers do after a restart: same keys, same commands
            self.send(batch)

    @rule(data=st.data(), size=st.integers(1, 4))
    def commit_fails_once(self, data: st.DataObject, size: int) -> None:
        batch = [command(data, self.key(), self.model) for _ in range(size)]
        self.h.fail_next_commit(RuntimeError("simulated commit failure"))
        self.send(batch)  # retried by the writer: applied exactly once

    @rule(seconds=st.integers(1, 7200))
    def time_passes(self, seconds: int) -> None:
        self.time.advance(seconds)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def ledger_equals_model(self) -> None:
        ledger = self.h.ledger
        for (owner, asset), (available, locked) in self.model.accounts.items():
            assert tuple(ledger.balance(owner, asset))[2:] == (available, locked), (owner, asset)
        for order_id, order in self.model.orders.items():
            real = {f.asset_id: f.amount for f in ledger.locks(order_id)}
            assert real == {a: v for a, v in order.locks.items() if v}, order_id
            history = ledger.order_shares(order_id)
            outstanding = (
                history[-1].shares if history and history[-1].kind.value == "MINT" else None
            )
            assert outstanding == order.shares, order_id
        self.h.check()

    @invariant()
    def share_time_equals_model(self) -> None:
        end = self.time.time_ns() + 1
        for start in (self.start_ns, min(end, self.start_ns + 3_600 * 10**9)):
            real = share_ns(self.h.ledger.pool_shares(POOL), start, end)
            assert real == self.model.share_ns(POOL, start, end)

    def teardown(self) -> None:
        if hasattr(self, "h"):
            self.h.close()


@pytest.mark.slow
def test_ledger_matches_the_model(fresh_db: DbFactory, db_url: str) -> None:
    machine: Any = type("Machine", (LedgerMachine,), {"fresh_db": staticmethod(fresh_db)})
    examples = 25 if db_url.startswith("sqlite") else 15
    run_state_machine_as_test(
        machine, settings=settings(max_examples=examples, stateful_step_count=30, deadline=None)
    )
