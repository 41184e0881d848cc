"""The single writer: group commit, failures, restarts, outbox events, the lease, shutdown."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from hufimm.core.errors import OutcomeUnknown
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import RealTimeSource, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.ledger import (
    Applied,
    DepositCredit,
    Duplicate,
    Ledger,
    LedgerStopped,
    OutboxEventSpec,
    Rejected,
    WithdrawDebit,
    WriterLeaseLost,
    verify,
)
from hufimm.settings import load_settings
from hufimm.store.db import Database
from hufimm.store.leases import LeaseManager
from hufimm.store.tables import outbox_events
from tests.ledger.conftest import Harness


def deposits(n: int, prefix: str = "d", amount: int = 10) -> list[DepositCredit]:
    return [
        DepositCredit(
            idempotency_key=f"{prefix}{i}", owner=f"user{i % 7}", asset_id="X", amount=amount
        )
        for i in range(n)
    ]


def event_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox_events)).scalar_one())


def test_concurrent_callers_share_batches(db: Database, time_source: VirtualTimeSource) -> None:
    metrics = Metrics()
    h = Harness(db, time_source, metrics=metrics, max_batch=40)
    try:
        results = h.submit_all(deposits(100))
        assert all(isinstance(r, Applied) for r in results)
        # 100 commands queued at once, at most 40 per batch: three transactions.
        assert metrics.value("ledger_batch_commands_count") == 3
        assert metrics.value("ledger_commands_total", {"outcome": "applied"}) == 100
        ids = [r.journal_id for r in results if isinstance(r, Applied)]
        assert ids == sorted(ids) == list(range(ids[0], ids[0] + 100))  # applied in order
        h.check()
    finally:
        h.close()


def test_events_are_appended_only_with_an_applied_command(harness: Harness) -> None:
    event = OutboxEventSpec("user", "alice", "ledger.deposited", {"amount": "10"})
    ok = DepositCredit(
        idempotency_key="d1", owner="alice", asset_id="X", amount=10, events=(event,)
    )
    bad = WithdrawDebit(
        idempotency_key="w1", owner="alice", asset_id="X", amount=99, events=(event,)
    )
    assert isinstance(harness.submit(ok), Applied)
    assert isinstance(harness.submit(bad), Rejected)
    assert isinstance(harness.submit(ok), Duplicate)
    assert event_count(harness.db) == 1
    harness.crash_next_commit()  # dies after writing its event, before the commit
    crashed = DepositCredit(
        idempotency_key="d2", owner="alice", asset_id="X", amount=1, events=(event,)
    )
    with pytest.raises(OutcomeUnknown):
        harness.submit(crashed)
    harness.reopen()
    assert event_count(harness.db) == 1  # the event went with the batch
    assert isinstance(harness.submit(crashed), Applied)
    assert event_count(harness.db) == 2
    harness.check()


def test_a_failing_request_is_isolated_from_its_batch(harness: Harness) -> None:
    fails = iter([RuntimeError("batch"), RuntimeError("first request")])

    def twice() -> None:
        error = next(fails, None)
        if error is not None:
            raise error

    harness.ledger._writer._before_commit = twice  # the whole batch fails, then its first request
    results = harness.submit_all(deposits(3))
    assert isinstance(results[0], OutcomeUnknown)
    assert all(isinstance(r, Applied) for r in results[1:])
    assert isinstance(harness.submit(deposits(1)[0]), Applied)  # it had not been applied
    assert harness.ledger.health().status.value == "ok"
    harness.check()


def test_crash_mid_batch_leaves_nothing_and_restart_reloads(harness: Harness) -> None:
    assert isinstance(harness.submit(deposits(1, "a", 50)[0]), Applied)
    harness.crash_next_commit()
    lost = harness.submit_all(deposits(5, "b"))
    assert all(isinstance(r, OutcomeUnknown) for r in lost)
    with pytest.raises(LedgerStopped):  # a dead writer refuses, it does not queue forever
        harness.submit(deposits(1, "c")[0])
    harness.reopen()
    assert harness.ledger.balance("user0", "X").available == 50
    again = harness.submit_all(deposits(5, "b"))
    assert all(isinstance(r, Applied) for r in again)
    assert harness.ledger.balance("user0", "X").available == 60
    harness.check()


def test_stop_drains_and_refuses_afterwards(db: Database, time_source: VirtualTimeSource) -> None:
    h = Harness(db, time_source)
    try:

        async def submit_then_stop() -> list[object]:
            pending = [asyncio.ensure_future(h.ledger.submit(c)) for c in deposits(20)]
            await asyncio.sleep(0)  # the submissions are queued
            await h.ledger.stop()
            return list(await asyncio.gather(*pending))

        assert all(isinstance(r, Applied) for r in h.run(submit_then_stop()))
        with pytest.raises(LedgerStopped):
            h.submit(deposits(1, "late")[0])
    finally:
        h.loop.close()
    assert verify(db).ok


def test_stop_without_drain_refuses_the_queue(db: Database, time_source: VirtualTimeSource) -> None:
    h = Harness(db, time_source)
    try:

        async def scenario() -> list[object]:
            pending = [asyncio.ensure_future(h.ledger.submit(c)) for c in deposits(5)]
            await asyncio.sleep(0)
            await h.ledger.stop(drain=False)
            return list(await asyncio.gather(*pending, return_exceptions=True))

        assert all(isinstance(r, LedgerStopped) for r in h.run(scenario()))
    finally:
        h.loop.close()


def test_a_cancelled_caller_does_not_disturb_the_writer(harness: Harness) -> None:
    async def scenario() -> object:
        doomed = asyncio.ensure_future(harness.ledger.submit(deposits(1, "x")[0]))
        await asyncio.sleep(0)
        doomed.cancel()
        return await harness.ledger.submit(deposits(1, "y")[0])

    assert isinstance(harness.run(scenario()), Applied)
    # The cancelled caller's command was still applied; resubmitting tells it so.
    assert isinstance(harness.submit(deposits(1, "x")[0]), Duplicate)
    harness.check()


def test_the_writer_lease_fences_a_stale_writer(db: Database) -> None:
    clock = VirtualTimeSource()
    a = Harness(db, clock, lease_manager=LeaseManager(db, clock, "proc-a"), lease_ttl_s=10)
    try:
        assert isinstance(a.submit(deposits(1, "a")[0]), Applied)
        with pytest.raises(WriterLeaseLost):
            Harness(db, clock, lease_manager=LeaseManager(db, clock, "proc-b"), lease_ttl_s=10)
        clock.advance(30)  # a froze: its lease expired without renewal and b takes over
        b = Harness(db, clock, lease_manager=LeaseManager(db, clock, "proc-b"), lease_ttl_s=10)
        try:
            with pytest.raises(WriterLeaseLost):  # a's next batch finds the lease gone
                a.submit(deposits(1, "stale")[0])
            assert a.ledger.health().status.value == "down"
            with pytest.raises(WriterLeaseLost):  # ... and it writes nothing any more
                a.submit(deposits(1, "stale2")[0])
            assert isinstance(b.submit(deposits(1, "stale")[0]), Applied)
            assert b.ledger.balance("user0", "X").available == 20
        finally:
            b.close()
    finally:
        a.close()
    assert verify(db).ok


def test_a_writer_that_cannot_renew_stops(db: Database) -> None:
    clock = VirtualTimeSource()
    a = Harness(db, clock, lease_manager=LeaseManager(db, clock, "proc-a"), lease_ttl_s=9)
    try:
        a.run(asyncio.sleep(7))  # renewals run every 3 s while the loop idles
        assert a.ledger.health().ok
        with db.begin() as conn:  # an operator (or a bug) hands the lease to someone else
            conn.execute(text("UPDATE leases SET holder = 'proc-x', token = token + 1"))
        a.run(asyncio.sleep(4))  # the next renewal fails
        assert a.ledger.health().status.value == "down"
        with pytest.raises(WriterLeaseLost):
            a.submit(deposits(1)[0])
    finally:
        a.close()


async def test_threaded_writer_on_a_real_loop(db: Database) -> None:
    """The production path: batches run on the writer's thread while the loop takes commands."""
    ledger = Ledger(db, RealTimeSource())
    await ledger.start()
    try:
        results = await asyncio.gather(*(ledger.submit(c) for c in deposits(300)))
        more = await ledger.submit_many(deposits(300, "m"))
    finally:
        await ledger.stop()
    assert all(isinstance(r, Applied) for r in [*results, *more])
    assert ledger.balance("user1", "X").available == 10 * (43 + 43)
    assert verify(db).ok


def test_ledger_from_settings(db: Database, time_source: VirtualTimeSource) -> None:
    settings = load_settings(ledger={"max_batch": 10, "max_delay_ms": 2})
    metrics = Metrics()
    ledger = Ledger.from_settings(db, time_source, metrics, settings.ledger)

    async def scenario() -> list[object]:
        await ledger.start()
        try:
            return list(await asyncio.gather(*(ledger.submit(c) for c in deposits(25))))
        finally:
            await ledger.stop()

    start = time_source.time_ns()
    assert all(isinstance(r, Applied) for r in run_virtual(scenario(), time_source))
    assert metrics.value("ledger_batch_commands_count") == 3
    assert time_source.time_ns() - start >= 2_000_000  # it lingered for more commands


def test_losing_the_lease_while_recovering_a_batch_answers_every_caller(db: Database) -> None:
    clock = VirtualTimeSource()
    a = Harness(db, clock, lease_manager=LeaseManager(db, clock, "proc-a"), lease_ttl_s=10)
    try:

        def fail_and_freeze() -> None:
            clock.advance(60)  # the process stalls long enough for its lease to expire...
            raise RuntimeError("commit failed")  # ... and the batch fails: recovery must fence

        a.ledger._writer._before_commit = fail_and_freeze
        results = a.submit_all(deposits(3))
        assert all(isinstance(r, WriterLeaseLost) for r in results), results
        assert a.ledger.health().status.value == "down"
    finally:
        a.close()
    assert verify(db).ok
