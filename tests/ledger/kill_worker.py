"""The process the kill test SIGKILLs: submits a seeded list of commands through a real ledger.

It runs the production path — a real event loop, the writer on its own thread, commands
submitted in chunks with several chunks in flight — and prints ``done N`` after the N-th chunk's
outcomes came back, so the test can kill it at a seeded point while later chunks are mid-batch.
Every run submits the whole list again from the start, in the same order (what a restarted
caller does); the last line of a complete run counts the outcomes.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter, deque
from decimal import Decimal

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.ledger import (
    BurnShares,
    Command,
    DepositCredit,
    FeeDebit,
    Ledger,
    Lock,
    MintShares,
    Outcome,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    Unlock,
    WithdrawDebit,
)
from hufimm.store.db import Database
from tests.ledger.model import LedgerModel

CHUNK = 40
IN_FLIGHT = 4
USERS = [f"user-{i}" for i in range(12)]
ORDERS = {f"order-{i}": USERS[i % len(USERS)] for i in range(8)}
ASSETS = ("BASE", "QUOTE")


def seeded_commands(seed: int, count: int) -> list[Command]:
    """A deterministic command list; a model steers it so most commands can apply."""
    rng = SeededRng(seed).child("kill-test-commands")
    model = LedgerModel()
    out: list[Command] = []
    for n in range(count):
        key = f"cmd-{seed}-{n}"
        roll = rng.randint(0, 99)
        asset = rng.choice(ASSETS)
        order_id = rng.choice(list(ORDERS))
        user = ORDERS[order_id] if roll < 60 else rng.choice(USERS)
        available = model.balance(user, asset)[0]
        order = model.orders.get(order_id)
        cmd: Command
        if roll < 35 or available == 0:
            cmd = DepositCredit(
                idempotency_key=key,
                owner=user,
                asset_id=asset,
                amount=rng.randint(1, 10**6) * (10**20 if rng.chance(0.05) else 1),
            )
        elif roll < 50:
            spec = SharesSpec("pool", "BASE", "QUOTE", Decimal("1.25")) if rng.chance(0.3) else None
            cmd = Lock(
                idempotency_key=key,
                owner=user,
                order_id=order_id,
                asset_id=asset,
                amount=rng.randint(1, available),
                shares=spec,
            )
        elif roll < 60 and order is not None:
            locked = order.locks.get(asset, 0)
            cmd = Unlock(
                idempotency_key=key,
                owner=user,
                order_id=order_id,
                asset_id=asset,
                amount=rng.randint(1, max(locked, 1)),
                burn_shares=order.shares is not None,
            )
        elif roll < 65 and order is not None:
            cmd = (
                BurnShares(idempotency_key=key, owner=user, order_id=order_id)
                if order.shares is not None
                else MintShares(
                    idempotency_key=key,
                    owner=user,
                    order_id=order_id,
                    shares=SharesSpec("pool", "BASE", "QUOTE", Decimal("0.8")),
                )
            )
        elif roll < 80:
            cmd = WithdrawDebit(
                idempotency_key=key,
                owner=user,
                asset_id=asset,
                amount=rng.randint(1, available),
                fee=rng.randint(0, 3),
            )
        elif roll < 85:
            cmd = FeeDebit(
                idempotency_key=key, owner=user, asset_id=asset, amount=rng.randint(1, available)
            )
        elif roll < 92:
            cmd = RewardReceipt(
                idempotency_key=key,
                campaign="camp",
                cycle=n % 3,
                asset_id=asset,
                amount=rng.randint(1, 10**5),
            )
        else:
            cycle = n % 3
            held = model.balance(f"rewards:camp:{cycle}", asset)[0]
            share = rng.randint(0, held) if held else 1
            cmd = RewardCredit(
                idempotency_key=key,
                campaign="camp",
                cycle=cycle,
                asset_id=asset,
                credits=((user, share),) if share else (),
                treasury_amount=held - share if held else 0,
            )
        model.submit(cmd, 0)
        out.append(cmd)
        if rng.chance(0.03):
            out.append(cmd)  # an identical retry inside the stream
    return out


async def run(url: str, seed: int, count: int) -> None:
    commands = seeded_commands(seed, count)
    database = Database(url)
    ledger = Ledger(database, RealTimeSource(), max_batch=CHUNK * 2)
    await ledger.start()
    print("started", flush=True)
    counts: Counter[str] = Counter()
    in_flight: deque[asyncio.Future[list[Outcome]]] = deque()
    done = 0

    async def settle() -> None:
        nonlocal done
        for outcome in await in_flight.popleft():
            counts[type(outcome).__name__] += 1
        done += 1
        print(f"done {done}", flush=True)

    for start in range(0, len(commands), CHUNK):
        in_flight.append(asyncio.ensure_future(ledger.submit_many(commands[start : start + CHUNK])))
        if len(in_flight) >= IN_FLIGHT:
            await settle()
    while in_flight:
        await settle()
    await ledger.stop()
    database.dispose()
    print(f"summary {counts['Applied']} {counts['Rejected']} {counts['Duplicate']}", flush=True)


def main() -> None:
    url, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    asyncio.run(run(url, seed, count))
