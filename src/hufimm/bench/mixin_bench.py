"""Benchmarks of the Mixin integration: kernel codec, memo decoding, and the loopback path."""

from __future__ import annotations

import asyncio
import json

from hufimm.bench.harness import BenchOptions, Figure
from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource, Stopwatch
from hufimm.mixin.client import MixinClient
from hufimm.mixin.deposits import DepositCredit, DepositWatcher
from hufimm.mixin.kernel import decode_transaction, sign_inputs, transaction_hash
from hufimm.mixin.keystore import Keystore
from hufimm.mixin.memo import decode_memo
from hufimm.mixin.transfers import TransferService, TransferStatus
from hufimm.sim.mixin import MixinSimApp, MixinWorld, serve_loopback
from hufimm.sim.mixin.records import USDT_ERC20
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade

# A 2-input, 2-output transaction (the shape of the reference's golden vector).
_RAW = bytes.fromhex(
    "77770005ce653a8e555bf3c167943500fe8c4d13e88b049414c04be941395c622c1dfd350002879a6cde48a6"
    "277630d57221b0ca10875de802c3ddae75b2a2b42f4ad3e1904f0000000000000000b107a8c119c62ebe92ac"
    "cf630033af62efcab7c0d96b8d01c2cd81388f945fc100020000000000000002000000040a21fe8000010603"
    "69fb5ec66dce0948a6902267b68df896c0abacd8439beb0dd9b01927824a0691cf1d74f7356a310db1f81220"
    "b82a011f80cc69ec98e5ac4204f77c3e4cd50003fffe010000000000034c4b400001164008f985105fb6dc53"
    "33dcfafd19304fc9524d533103867871c5349e58dd8ce0d92c42a20aa636173d29f12dbb1aa381fb05ebe67f"
    "2f3c1b6f9183e418aba40003fffe01000000000000000a6d656d6f3a68656c6c6f0000"
)
_VIEWS = [
    bytes.fromhex("f09ff5419c378e881873f4f4d1e6349e7746c64f12b38b7a6aad07c849bf8c00"),
    bytes.fromhex("fe8219510bddc78adb42fe24cc3ab7f93a8432bdaa29e21c7f070442e202e800"),
]


def _rate(count: int, watch: Stopwatch) -> float:
    return count / max(watch.elapsed_ns() / 1e9, 1e-9)


def run_mixin(options: BenchOptions) -> list[Figure]:
    n = 200 if options.quick else 2000
    seed = bytes(range(32))
    watch = Stopwatch()
    for _ in range(n):
        tx = decode_transaction(_RAW)
        signatures = sign_inputs(_VIEWS, seed, transaction_hash(_RAW))
        tx.with_signatures([{0: s} for s in signatures]).encode()
    sign_rate = _rate(n, watch)
    memo_hex = b"f248CbewFETvsA3VzSHjnXNtGMqDQqinQ1UGGf7ccL9weGBfUTeD".hex()
    watch = Stopwatch()
    for _ in range(n * 10):
        decode_memo(memo_hex)
    memo_rate = _rate(n * 10, watch)
    transfers, deposits = asyncio.run(_loopback(options, 20 if options.quick else 100))
    return [
        Figure("mixin", "2 inputs", "decode+sign+encode", sign_rate, "tx/s"),
        Figure("mixin", "v1 memo", "decode", memo_rate, "memos/s"),
        Figure("mixin", "loopback sim, sqlite", "transfers confirmed", transfers, "transfers/s"),
        Figure("mixin", "loopback sim, sqlite", "deposits credited", deposits, "deposits/s"),
    ]


class _MemoryLedger:
    """Idempotent by key, like the ledger; measures the watcher and the HTTP path, not SQL."""

    def __init__(self) -> None:
        self.credits: dict[str, str] = {}

    async def credit_deposit(self, credit: DepositCredit) -> str:
        self.credits.setdefault(credit.idempotency_key, json.dumps(credit.event_payload()))
        return credit.idempotency_key


async def _loopback(options: BenchOptions, count: int) -> tuple[float, float]:
    path = options.workdir / "mixin-bench.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    time_source = RealTimeSource()
    world = MixinWorld(time_source, seed=1)
    bot = world.add_user("bot")
    payer = world.add_user("payer").user_id
    for _ in range(count):
        world.inject_transfer(payer, bot.user_id, USDT_ERC20, "10")
    keystore = Keystore.from_hex(
        bot.user_id, bot.session_id, bot.session_private_key, bot.spend_private_key
    )
    ids = IdFactory(time_source, SeededRng(1))
    async with serve_loopback(MixinSimApp(world)) as url:
        client = MixinClient(keystore, time_source, ids, base_url=url)
        watcher = DepositWatcher(db, client, _MemoryLedger(), time_source, Metrics())
        watch = Stopwatch()
        await watcher.poll()
        deposit_rate = _rate(count, watch)
        service = TransferService(db, client, ids, time_source, Metrics())
        watch = Stopwatch()
        for i in range(count):
            record = await service.transfer("bench", str(i), payer, USDT_ERC20, 100_000_000)
            assert record.status is TransferStatus.CONFIRMED
        transfer_rate = _rate(count, watch)
        await client.aclose()
    db.dispose()
    return transfer_rate, deposit_rate
