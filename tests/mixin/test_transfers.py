"""Transfers out against the simulated Mixin over loopback: faults, ambiguity, never twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hufimm.core.errors import Conflict
from hufimm.core.rng import SeededRng
from hufimm.mixin.deposits import DepositWatcher
from hufimm.mixin.tables import mixin_transfer_inputs
from hufimm.mixin.transfers import BlockedReason, TransferService, TransferStatus
from hufimm.sim.mixin import Fault, FaultKind
from hufimm.sim.mixin.records import USDT_ERC20
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from tests.mixin.conftest import MixinEnv
from tests.mixin.ledger_double import SqlDepositLedger

COIN = 100_000_000


def fund(env: MixinEnv, *amounts: str) -> int:
    """Users pay the bot; returns the bot's balance in units."""
    payer = env.world.add_user("payer").user_id
    for amount in amounts:
        env.world.inject_transfer(payer, env.bot.user_id, USDT_ERC20, amount)
    return env.world.balance(env.bot.user_id, USDT_ERC20)


def service(env: MixinEnv, db: Database, timeout_s: float = 5.0) -> TransferService:
    return TransferService(
        db, env.client(timeout_s), env.ids, env.time, env.metrics, retry_interval_s=0.0
    )


def paid_to(env: MixinEnv, user_id: str, request_id: str) -> list[int]:
    """Positive snapshots the recipient got for one request id (must be exactly one)."""
    return [
        s.units
        for s in env.world.snapshots.get(user_id, [])
        if s.request_id == request_id and s.units > 0
    ]


async def test_transfer_with_change_is_confirmed(db: Database, mixin_env: MixinEnv) -> None:
    start = fund(mixin_env, "1.5", "0.25", "7")
    alice = mixin_env.world.add_user("alice").user_id
    svc = service(mixin_env, db)
    record = await svc.transfer("payout", "p-1", alice, USDT_ERC20, 170_000_000)
    assert record.status is TransferStatus.CONFIRMED and record.snapshot_id
    assert paid_to(mixin_env, alice, record.request_id) == [170_000_000]
    assert mixin_env.world.balance(alice, USDT_ERC20) == 170_000_000
    assert mixin_env.world.balance(mixin_env.bot.user_id, USDT_ERC20) == start - 170_000_000
    # oldest outputs first: 1.5 + 0.25 cover 1.7; the change (0.05) came back as a new output
    with db.read() as conn:
        units = [r.units for r in conn.execute(sa.select(mixin_transfer_inputs))]
    assert units == [150_000_000, 25_000_000]
    assert any(
        o.units == 5_000_000 and o.state == "unspent" for o in mixin_env.world.outputs.values()
    )
    assert record.request_id == svc.request_id_for("payout", "p-1")
    # the same intent again is the same transfer, not a second one
    again = await svc.transfer("payout", "p-1", alice, USDT_ERC20, 170_000_000)
    assert again.request_id == record.request_id and again.status is TransferStatus.CONFIRMED
    assert paid_to(mixin_env, alice, record.request_id) == [170_000_000]
    with pytest.raises(Conflict):
        svc.enqueue("payout", "p-1", alice, USDT_ERC20, 1)
    with db.read() as conn:
        confirmed = conn.execute(
            sa.select(outbox_events).where(outbox_events.c.event_type == "mixin.transfer.confirmed")
        ).all()
    assert len(confirmed) == 1


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/safe/transactions", FaultKind.DELAY),  # timeout after the submission took effect
        ("/safe/transactions", FaultKind.HTTP),  # 502 after it took effect
        ("/safe/transaction/requests", FaultKind.DELAY),  # registered, answer lost
        ("/safe/transaction/requests", FaultKind.HTTP),
    ],
)
async def test_ambiguous_outcome_is_resolved_by_request_id(
    db: Database, mixin_env: MixinEnv, path: str, kind: FaultKind
) -> None:
    start = fund(mixin_env, "3", "4")
    bob = mixin_env.world.add_user("bob").user_id
    mixin_env.app.faults.add(
        Fault(kind, method="POST", path_prefix=path, delay_s=1.0, status=502, after=True)
    )
    svc = service(mixin_env, db, timeout_s=0.3)
    record = await svc.transfer("withdrawal", "w-1", bob, USDT_ERC20, 5 * COIN)
    assert record.status is TransferStatus.UNKNOWN
    resolved = await svc.drive(record.request_id)
    assert resolved.status is TransferStatus.CONFIRMED
    assert paid_to(mixin_env, bob, record.request_id) == [5 * COIN]
    assert mixin_env.world.balance(mixin_env.bot.user_id, USDT_ERC20) == start - 5 * COIN
    assert sum(1 for r in mixin_env.world.requests.values() if r.state == "spent") == 1


async def test_timeouts_on_every_step_never_pay_twice(db: Database, mixin_env: MixinEnv) -> None:
    """Seeded faults on every write, before and after effect, across many transfers."""
    rng = SeededRng(2024)
    start = fund(mixin_env, *[str(rng.randint(1, 30)) for _ in range(12)])
    recipients = [mixin_env.world.add_user(f"r{i}").user_id for i in range(3)]
    svc = service(mixin_env, db, timeout_s=0.3)
    plan: dict[str, tuple[str, int]] = {}
    for n in range(8):
        for _ in range(rng.randint(0, 2)):
            mixin_env.app.faults.add(
                Fault(
                    rng.choice([FaultKind.HTTP, FaultKind.DELAY, FaultKind.ERROR]),
                    method="POST",
                    path_prefix=rng.choice(["/safe/transactions", "/safe/transaction/requests"]),
                    code=500,
                    status=503,
                    delay_s=0.6,
                    after=rng.chance(0.5),
                )
            )
        recipient = rng.choice(recipients)
        units = rng.randint(1, 9) * COIN
        record = await svc.transfer("payout", f"payout-{n}", recipient, USDT_ERC20, units)
        plan[record.request_id] = (recipient, units)
    for _ in range(10):
        if all(t.status.final for t in svc.list()):
            break
        await svc.resume()
    statuses = {t.request_id: t.status for t in svc.list()}
    assert set(statuses.values()) == {TransferStatus.CONFIRMED}
    sent = 0
    for request_id, (recipient, units) in plan.items():
        assert paid_to(mixin_env, recipient, request_id) == [units]
        sent += units
    assert mixin_env.world.balance(mixin_env.bot.user_id, USDT_ERC20) == start - sent
    assert sum(mixin_env.world.balance(r, USDT_ERC20) for r in recipients) == sent
    assert len(mixin_env.app.faults.fired) > 3


async def test_insufficient_funds_is_a_retryable_state(db: Database, mixin_env: MixinEnv) -> None:
    fund(mixin_env, "1")
    carol = mixin_env.world.add_user("carol").user_id
    svc = service(mixin_env, db)
    record = await svc.transfer("payout", "big", carol, USDT_ERC20, 3 * COIN)
    assert record.status is TransferStatus.PENDING
    assert record.blocked_reason is BlockedReason.INSUFFICIENT_FUNDS
    assert not svc.health().ok
    fund(mixin_env, "2.5")  # the operator tops up
    await svc.resume()
    final = svc.get(record.request_id)
    assert final is not None and final.status is TransferStatus.CONFIRMED
    assert paid_to(mixin_env, carol, record.request_id) == [3 * COIN]
    assert svc.health().ok


async def test_recipient_without_safe_keeps_the_debt(db: Database, mixin_env: MixinEnv) -> None:
    fund(mixin_env, "5")
    dave = mixin_env.world.add_user("dave", has_safe=False).user_id
    svc = service(mixin_env, db)
    record = await svc.transfer("payout", "d", dave, USDT_ERC20, COIN)
    assert record.blocked_reason is BlockedReason.RECIPIENT_NOT_REGISTERED
    mixin_env.world.set_has_safe(dave, True)
    assert (await svc.drive(record.request_id)).status is TransferStatus.CONFIRMED


async def test_in_flight_transfers_reserve_distinct_inputs(
    db: Database, mixin_env: MixinEnv
) -> None:
    fund(mixin_env, "2", "2", "2")
    erin = mixin_env.world.add_user("erin").user_id
    svc = service(mixin_env, db, timeout_s=0.3)
    # The first transfer's submission stalls: it stays UNKNOWN with its inputs reserved.
    mixin_env.app.faults.add(
        Fault(FaultKind.DELAY, method="POST", path_prefix="/safe/transaction/requests", delay_s=0.6)
    )
    first = await svc.transfer("payout", "a", erin, USDT_ERC20, 3 * COIN)
    assert first.status is TransferStatus.UNKNOWN
    second = await svc.transfer("payout", "b", erin, USDT_ERC20, 2 * COIN)
    assert second.status is TransferStatus.CONFIRMED  # used the third output only
    assert (await svc.drive(first.request_id)).status is TransferStatus.CONFIRMED
    with db.read() as conn:
        rows = conn.execute(sa.select(mixin_transfer_inputs)).all()
    assert len({r.output_id for r in rows}) == len(rows) == 3
    assert mixin_env.world.balance(erin, USDT_ERC20) == 5 * COIN


async def test_outgoing_snapshot_confirms_a_submitted_transfer(
    db: Database, mixin_env: MixinEnv
) -> None:
    """With confirmations held, a transfer rests in SUBMITTED until the watcher sees it."""
    fund(mixin_env, "10")
    frank = mixin_env.world.add_user("frank").user_id
    mixin_env.world.hold_confirmations = True
    svc = service(mixin_env, db)
    record = await svc.transfer("payout", "f", frank, USDT_ERC20, COIN)
    assert record.status is TransferStatus.SUBMITTED
    assert (await svc.drive(record.request_id)).status is TransferStatus.SUBMITTED
    mixin_env.world.confirm_transactions()
    client = mixin_env.client()
    await DepositWatcher(db, client, SqlDepositLedger(db), mixin_env.time, mixin_env.metrics).poll()
    confirmed = svc.get(record.request_id)
    assert confirmed is not None and confirmed.status is TransferStatus.CONFIRMED
    assert confirmed.snapshot_id
    await client.aclose()


async def test_a_refused_transfer_fails_and_releases_its_inputs(
    db: Database, mixin_env: MixinEnv
) -> None:
    fund(mixin_env, "2")
    gina = mixin_env.world.add_user("gina").user_id
    mixin_env.app.faults.add(
        Fault(FaultKind.ERROR, method="POST", path_prefix="/safe/transaction/requests", code=10002)
    )
    svc = service(mixin_env, db)
    record = await svc.transfer("payout", "g", gina, USDT_ERC20, COIN)
    assert record.status is TransferStatus.FAILED and record.error_code == 10002
    with db.read() as conn:
        assert conn.execute(sa.select(mixin_transfer_inputs)).all() == []
    assert mixin_env.world.balance(gina, USDT_ERC20) == 0
