"""Benchmark of the ledger writer: commands per second and submit-to-outcome latency.

Cases, on SQLite (a file, WAL, ``synchronous=FULL``) and on PostgreSQL (its own schema, dropped
afterwards; ``--pg-dsn`` / ``HUFIMM_BENCH_PG_DSN``, default the local test server):

- 1, 8 and 64 *closed-loop* submitters: each awaits one command's outcome before sending the
  next, like API handlers do.  Latency is submit → outcome, which includes the durable commit.
- 8 *pipelined* submitters: each keeps 4 chunks of 64 commands in flight (``submit_many``), like
  a batch job (allocation, deposit sync) does.
- a hot account: 64 closed-loop submitters whose commands all credit or debit one user.
- for scale, a naive design measured the same way: one transaction per command (read the
  balance, insert the journal and its entries, update both balances) on tables of its own;
- to read the others by: how long one durable commit of a single row takes on this machine.

Every ledger case also reports the CPU time this process spent per command (all threads): on a
shared machine it moves far less with the neighbours' load than commands/s does, so it is the
figure to compare two versions by.

The workload is deposits to 10,000 users (two postings each) unless said otherwise.  The machine
is shared, so figures move between runs; the JSON output keeps them with the platform.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa

from hufimm.bench.harness import BenchOptions, Figure, percentile
from hufimm.core.timesource import NS_PER_MS, RealTimeSource, Stopwatch
from hufimm.ledger import Command, DepositCredit, FeeDebit, Ledger
from hufimm.store.db import Database, normalize_database_url
from hufimm.store.migrate import upgrade
from hufimm.store.types import ExactInteger

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ASSET = "c6d0c728-2624-429b-8e0d-d9d19b6592fa"
USERS = 10_000
GOAL = {"sqlite": "≥ 50,000/s", "postgresql": "≥ 20,000/s"}
PEER = {"postgresql": ("pgledger (published)", 10_600.0)}


@dataclass(frozen=True)
class Case:
    name: str
    submitters: int
    commands: int
    chunk: int = 1  # > 1: pipelined submit_many of this many commands
    window: int = 1  # chunks in flight per pipelined submitter
    hot: bool = False


def _cases(quick: bool) -> list[Case]:
    scale = 0.15 if quick else 1.0

    def n(count: int) -> int:
        return max(200, int(count * scale))

    return [
        Case("1 submitter", 1, n(3_000)),
        Case("8 submitters", 8, n(15_000)),
        Case("64 submitters", 64, n(40_000)),
        Case("8 pipelined submitters (4 x 64 in flight each)", 8, n(80_000), chunk=64, window=4),
        Case("hot account, 64 submitters", 64, n(30_000), hot=True),
    ]


def _command(case: Case, prefix: str, n: int) -> Command:
    key = f"{prefix}-{n}"
    if case.hot:
        if n % 2:
            return FeeDebit(idempotency_key=key, owner="hot-user", asset_id=ASSET, amount=1)
        return DepositCredit(idempotency_key=key, owner="hot-user", asset_id=ASSET, amount=3)
    return DepositCredit(
        idempotency_key=key, owner=f"user-{n % USERS:05d}", asset_id=ASSET, amount=1_000 + n
    )


async def _drive(ledger: Ledger, case: Case, prefix: str) -> list[float]:
    """Run the case's submitters; returns each command's latency in milliseconds."""
    latencies: list[float] = []
    per = case.commands // case.submitters

    async def closed_loop(k: int) -> None:
        for i in range(per):
            cmd = _command(case, prefix, k * per + i)
            watch = Stopwatch()
            await ledger.submit(cmd)
            latencies.append(watch.elapsed_ns() / NS_PER_MS)

    async def pipelined(k: int) -> None:
        async def one_chunk(start: int) -> None:
            cmds = [_command(case, prefix, k * per + i) for i in range(start, start + case.chunk)]
            watch = Stopwatch()
            await ledger.submit_many(cmds)
            latencies.extend([watch.elapsed_ns() / NS_PER_MS] * len(cmds))

        pending: list[asyncio.Task[None]] = []
        for start in range(0, per - per % case.chunk, case.chunk):
            pending.append(asyncio.ensure_future(one_chunk(start)))
            if len(pending) >= case.window:
                await pending.pop(0)
        for task in pending:
            await task

    run: Callable[[int], Awaitable[None]] = pipelined if case.chunk > 1 else closed_loop
    await asyncio.gather(*(run(k) for k in range(case.submitters)))
    return latencies


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _ledger_case(db: Database, case: Case, prefix: str) -> tuple[float, list[float], float]:
    """Commands/s, each command's latency (ms) and this process's CPU µs per command."""
    ledger = Ledger(db, RealTimeSource())
    await ledger.start()
    try:
        if case.hot:  # the hot user starts with funds, so its fees never bounce
            await ledger.submit(
                DepositCredit(
                    idempotency_key=f"{prefix}-seed", owner="hot-user", asset_id=ASSET, amount=10**9
                )
            )
        watch = Stopwatch()
        cpu_before = _process_cpu_s()
        latencies = await _drive(ledger, case, prefix)
        seconds = watch.elapsed_ns() / 1e9
        cpu = _process_cpu_s() - cpu_before
    finally:
        await ledger.stop()
    return len(latencies) / seconds, latencies, cpu * 1e6 / len(latencies)


# ------------------------------------------------------------------ the naive design
_naive = sa.MetaData()
_naive_journals = sa.Table(
    "naive_journals",
    _naive,
    sa.Column("journal_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
_naive_entries = sa.Table(
    "naive_entries",
    _naive,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("journal_id", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False, index=True),
    sa.Column("asset_id", sa.String(200), nullable=False),
    sa.Column("amount", ExactInteger(), nullable=False),
)
_naive_balances = sa.Table(
    "naive_balances",
    _naive,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("asset_id", sa.String(200), primary_key=True),
    sa.Column("available", ExactInteger(), nullable=False),
)


def _naive_deposit(db: Database, key: str, owner: str, amount: int, now: int) -> None:
    """One command, the straightforward way: its own transaction and a statement per row."""
    b = _naive_balances
    with db.begin() as conn:
        if conn.execute(
            sa.select(_naive_journals.c.journal_id).where(_naive_journals.c.idempotency_key == key)
        ).first():
            return
        journal_id = conn.execute(
            sa.insert(_naive_journals)
            .values(idempotency_key=key, type="DEPOSIT_CREDIT", created_at=now)
            .returning(_naive_journals.c.journal_id)
        ).scalar_one()
        for who, delta in (("custody:mixin", -amount), (owner, amount)):
            conn.execute(
                sa.insert(_naive_entries).values(
                    journal_id=journal_id, owner=who, asset_id=ASSET, amount=delta
                )
            )
            row = conn.execute(
                sa.select(b.c.available).where(b.c.owner == who, b.c.asset_id == ASSET)
            ).first()
            if row is None:
                conn.execute(sa.insert(b).values(owner=who, asset_id=ASSET, available=delta))
            else:
                conn.execute(
                    sa.update(b)
                    .where(b.c.owner == who, b.c.asset_id == ASSET)
                    .values(available=row.available + delta)
                )


def _calibration(db: Database, commits: int) -> list[float]:
    """Latency of a durable one-row commit: the floor under every closed-loop figure."""
    table = sa.Table("calibration", sa.MetaData(), sa.Column("n", sa.Integer, primary_key=True))
    with db.begin() as conn:
        table.create(conn)
    latencies = []
    for n in range(commits):
        watch = Stopwatch()
        with db.begin() as conn:
            conn.execute(sa.insert(table).values(n=n))
        latencies.append(watch.elapsed_ns() / NS_PER_MS)
    return latencies


def _naive_case(db: Database, commands: int) -> tuple[float, list[float]]:
    with db.begin() as conn:
        _naive.create_all(conn)
    clock = RealTimeSource()
    latencies: list[float] = []
    watch = Stopwatch()
    for n in range(commands):
        one = Stopwatch()
        _naive_deposit(db, f"naive-{n}", f"user-{n % USERS:05d}", 1_000 + n, clock.time_ns())
        latencies.append(one.elapsed_ns() / NS_PER_MS)
    return commands / (watch.elapsed_ns() / 1e9), latencies


# ------------------------------------------------------------------ databases
@contextmanager
def _sqlite(options: BenchOptions) -> Iterator[Database]:
    path = options.workdir / "ledger-bench.db"

    def remove() -> None:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    remove()
    db = Database(f"sqlite:///{path}")  # WAL, synchronous=FULL: a commit survives power loss
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        remove()


@contextmanager
def _postgresql(options: BenchOptions) -> Iterator[Database | None]:
    dsn = options.pg_dsn or os.environ.get("HUFIMM_BENCH_PG_DSN") or DEFAULT_PG_DSN
    libpq = dsn.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_ledger_{os.getpid()}"
    try:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error:
        yield None
        return
    url = normalize_database_url(dsn).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(url)
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _figures(backend: str, case: str, rate: float, latencies: list[float]) -> list[Figure]:
    peer, peer_value = PEER.get(backend, (None, None))
    many = "64" in case
    return [
        Figure(
            "ledger",
            f"{backend}, {case}",
            "throughput",
            rate,
            "commands/s",
            peer=peer,
            peer_value=peer_value,
            goal=GOAL.get(backend),
        ),
        Figure("ledger", f"{backend}, {case}", "p50 latency", percentile(latencies, 0.5), "ms"),
        Figure(
            "ledger",
            f"{backend}, {case}",
            "p99 latency",
            percentile(latencies, 0.99),
            "ms",
            goal="≤ 20 ms" if many else None,
        ),
    ]


def run(options: BenchOptions) -> list[Figure]:
    figures: list[Figure] = []
    cases = _cases(options.quick)
    naive_commands = 300 if options.quick else 2_000
    for backend, opener in (("sqlite", _sqlite), ("postgresql", _postgresql)):
        with opener(options) as db:
            if db is None:
                figures.append(Figure("ledger", f"{backend}: unreachable", "skipped", 0, ""))
                continue
            commits = _calibration(db, 50 if options.quick else 300)
            figures.append(
                Figure(
                    "ledger",
                    f"{backend}, calibration: durable commit of one row",
                    "p50 latency",
                    percentile(commits, 0.5),
                    "ms",
                )
            )
            for i, case in enumerate(cases):
                rate, latencies, cpu = asyncio.run(_ledger_case(db, case, f"c{i}"))
                figures.extend(_figures(backend, case.name, rate, latencies))
                figures.append(
                    Figure("ledger", f"{backend}, {case.name}", "process CPU", cpu, "µs/command")
                )
            rate, latencies = _naive_case(db, naive_commands)
            figures.extend(
                _figures(
                    backend, "naive: one transaction per command, 1 submitter", rate, latencies
                )
            )
    return figures
