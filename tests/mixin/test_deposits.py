"""The deposit watcher against the simulated Mixin over loopback HTTP: exactly one credit each."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa

from hufimm.core.money import to_units_exact
from hufimm.core.rng import SeededRng
from hufimm.mixin.deposits import DepositFlag, DepositWatcher, deposit_idempotency_key, read_cursor
from hufimm.mixin.errors import MixinUnavailable
from hufimm.mixin.memo import MemoAction, PoolMemo, memo_extra
from hufimm.mixin.tables import mixin_assets, mixin_snapshots
from hufimm.sim.mixin import Fault, FaultKind
from hufimm.sim.mixin.records import ETH_CHAIN, USDC_ERC20, USDT_ERC20
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from tests.mixin.conftest import ODD_ASSET, MixinEnv
from tests.mixin.ledger_double import Crash, SqlDepositLedger, balances, credited

KNOWN = [USDT_ERC20, USDC_ERC20, ETH_CHAIN]


def _memo(rng: SeededRng) -> bytes:
    kind = rng.randint(0, 4)
    if kind == 0:
        return b""
    if kind == 1:
        pool = uuid.UUID(bytes=rng.randbytes(16))
        order = uuid.UUID(bytes=rng.randbytes(16))
        return memo_extra(PoolMemo(MemoAction.CREATE, pool, order))
    if kind == 2:  # a valid memo with one character changed: the checksum must catch it
        text = bytearray(
            memo_extra(PoolMemo(MemoAction.DEPOSIT, uuid.UUID(int=7), uuid.UUID(int=9)))
        )
        text[10] = ord("z") if text[10] != ord("z") else ord("y")
        return bytes(text)
    if kind == 3:
        return b"thanks for the fish"
    return rng.randbytes(rng.randint(1, 40))


class Injector:
    """Plays the users: transfers of several assets with assorted memos."""

    def __init__(self, env: MixinEnv, users: list[str], seed: int) -> None:
        self.env = env
        self.users = users
        self.rng = SeededRng(seed)
        self.expected: dict[str, tuple[str, str, int]] = {}

    def transfers(self, count: int) -> None:
        for _ in range(count):
            user = self.rng.choice(self.users)
            asset = self.rng.choice([USDT_ERC20, USDC_ERC20, ETH_CHAIN, ODD_ASSET])
            amount = Decimal(self.rng.randint(1, 10**9)).scaleb(-8)
            snapshot = self.env.world.inject_transfer(
                user, self.env.bot.user_id, asset, amount, memo=_memo(self.rng)
            )
            self.expected[snapshot.snapshot_id] = (user, asset, to_units_exact(amount, 8))


async def _run_until_clean(watcher_factory, max_restarts: int = 50) -> int:  # type: ignore[no-untyped-def]
    for restart in range(max_restarts):
        watcher = watcher_factory(restart)
        try:
            await watcher.poll()
        except (Crash, MixinUnavailable):
            continue
        return restart
    raise AssertionError("the watcher never finished a clean run")


async def test_every_deposit_is_credited_exactly_once_across_crashes_and_restarts(
    db: Database, mixin_env: MixinEnv, users: list[str]
) -> None:
    injector = Injector(mixin_env, users, seed=42)
    injector.transfers(30)
    entry = mixin_env.world.deposit_entry(
        mixin_env.bot.user_id, ETH_CHAIN, [mixin_env.bot.user_id], 1
    )
    mixin_env.world.inject_chain_deposit(USDT_ERC20, "250", entry.destination)
    mixin_env.world.confirm_deposits()
    rng = SeededRng(9)
    client = mixin_env.client()
    ledgers: list[SqlDepositLedger] = []

    def watcher(restart: int) -> DepositWatcher:
        # Each "process" dies at a seeded call: before the ledger commits, after it commits
        # (the dangerous one), or the snapshot read fails; later ones run clean.
        crash_at = rng.randint(1, 6) if restart < 8 else None
        where = rng.choice(["before", "after", "read"])
        if crash_at is not None and where == "read":
            mixin_env.app.faults.add(
                Fault(FaultKind.HTTP, method="GET", path_prefix="/safe/snapshots", status=502)
            )
        ledger = SqlDepositLedger(
            db,
            crash_before=[crash_at] if crash_at and where == "before" else [],
            crash_after=[crash_at] if crash_at and where == "after" else [],
        )
        ledgers.append(ledger)
        if restart == 4:
            injector.transfers(7)  # new deposits keep arriving between restarts
        return DepositWatcher(
            db, client, ledger, mixin_env.time, mixin_env.metrics, known_assets=KNOWN, page_size=4
        )

    restarts = await _run_until_clean(watcher)
    assert restarts >= 5
    # One credit per user transfer, none for the chain deposit, and nothing else.
    expected = {deposit_idempotency_key(sid): v for sid, v in injector.expected.items()}
    assert credited(db) == expected
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for user, asset, units in injector.expected.values():
        totals[(user, asset)] += units
    assert balances(db) == dict(totals)
    assert sum(ledger.inserted for ledger in ledgers) == len(expected)
    # Replayed calls happened (a crash after commit forces one), and none double-credited.
    assert sum(ledger.calls for ledger in ledgers) > len(expected)
    with db.read() as conn:
        rows = {r.snapshot_id: r for r in conn.execute(sa.select(mixin_snapshots))}
        chain = [r for r in rows.values() if r.kind == "chain"]
        events = conn.execute(
            sa.select(outbox_events.c.event_type).where(
                outbox_events.c.event_type == "mixin.chain_deposit"
            )
        ).all()
        odd = conn.execute(
            sa.select(mixin_assets).where(mixin_assets.c.asset_id == ODD_ASSET)
        ).one()
    assert len(chain) == 1 and chain[0].status == "recorded" and chain[0].deposit_hash
    assert len(events) == 1
    assert all(rows[sid].status == "credited" for sid in injector.expected)
    assert odd.symbol == "ODD" and odd.known is False
    for sid, (_user, asset, _units) in injector.expected.items():
        flags = set(filter(None, rows[sid].flags.split(",")))
        assert (DepositFlag.UNKNOWN_ASSET.value in flags) == (asset == ODD_ASSET)
    cursor = read_cursor(db)
    assert cursor is not None
    assert cursor.position_ns == max(r.created_at_ns for r in rows.values())
    # A further poll with nothing new credits nothing.
    again = SqlDepositLedger(db)
    await DepositWatcher(db, client, again, mixin_env.time, mixin_env.metrics, page_size=4).poll()
    assert again.calls == 0
    await client.aclose()


async def test_watcher_task_cancelled_mid_page_resumes_without_double_credit(
    db: Database, mixin_env: MixinEnv, users: list[str]
) -> None:
    injector = Injector(mixin_env, users, seed=7)
    injector.transfers(12)
    client = mixin_env.client()
    hanging = SqlDepositLedger(db, hang_at=6)
    first = DepositWatcher(db, client, hanging, mixin_env.time, mixin_env.metrics, page_size=5)
    task = asyncio.create_task(first.poll())
    await hanging.entered_hang.wait()  # the watcher is inside the 6th credit, mid second page
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(credited(db)) == 5
    second = SqlDepositLedger(db)
    await DepositWatcher(db, client, second, mixin_env.time, mixin_env.metrics, page_size=5).poll()
    assert set(credited(db)) == {deposit_idempotency_key(s) for s in injector.expected}
    assert second.calls == 7  # only the ones the first run had not finished
    await client.aclose()


async def test_malformed_memo_still_credits_and_is_flagged(
    db: Database, mixin_env: MixinEnv, users: list[str]
) -> None:
    bot = mixin_env.bot.user_id
    valid = PoolMemo(MemoAction.CREATE, uuid.UUID(int=1), uuid.UUID(int=2))
    good = mixin_env.world.inject_transfer(users[0], bot, USDT_ERC20, "5", memo=memo_extra(valid))
    bad = mixin_env.world.inject_transfer(users[1], bot, USDT_ERC20, "0.00000001", memo=b"\xff\x00")
    client = mixin_env.client()
    ledger = SqlDepositLedger(db)
    await DepositWatcher(db, client, ledger, mixin_env.time, mixin_env.metrics).poll()
    assert credited(db)[deposit_idempotency_key(bad.snapshot_id)] == (users[1], USDT_ERC20, 1)
    with db.read() as conn:
        rows = {r.snapshot_id: r for r in conn.execute(sa.select(mixin_snapshots))}
    assert rows[bad.snapshot_id].flags == "memo_malformed"
    assert rows[good.snapshot_id].flags == "" and rows[good.snapshot_id].memo_status == "valid"
    assert '"order_id": "00000000-0000-0000-0000-000000000002"' in rows[good.snapshot_id].memo
    await client.aclose()
