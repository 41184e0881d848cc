"""The ledger: a single writer task with group commit, and the read API.

Callers ``await ledger.submit(cmd)``; the command joins a queue.  One writer task takes everything
queued (up to ``max_batch`` commands, optionally lingering ``max_delay_s`` for more) and runs it
through the two stages of :class:`~hufimm.ledger.batch.BatchWriter`, each on a one-thread
executor: *prepare* (apply in memory, build rows) and *commit* (write, commit).  The stages
overlap — batch *k+1* is prepared while batch *k* commits — and the event loop keeps accepting
commands meanwhile, which is what lets batches grow with load.  A caller's future resolves only
after its batch committed.  (On a virtual-time loop the executors run inline: same order, no
overlap, fully deterministic.)

Failures: a batch whose commit fails is rolled back and the writer's caches are dropped (the
batch prepared behind it is discarded too, it was built on the failed one); the failed batch is
then retried request by request, each in its own transaction, so one poisonous command cannot
block the others; a request that still fails gets :class:`~hufimm.core.errors.OutcomeUnknown`
(resubmitting it with the same key is always safe).  A process that dies mid-batch leaves nothing
of that batch behind.

Several processes: give the ledger a :class:`~hufimm.store.LeaseManager`.  ``start`` then takes
the ``ledger-writer`` lease (or fails with :class:`WriterLeaseLost` while another process holds
it), a background task renews it every third of its TTL, and every batch checks the lease inside
its own transaction (on PostgreSQL the lease row stays locked until the commit, so a takeover
waits for the batch).  A writer that fails to renew, or finds its lease gone, stops writing at
once: the batch in hand and everything queued fail with :class:`WriterLeaseLost` (nothing was
applied), new submissions are refused and :meth:`health` reports DOWN.  The next holder starts
with empty caches, so it reads everything the old one committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection

from hufimm.core.clock import Health, HealthStatus
from hufimm.core.errors import Conflict, HufimmError, OutcomeUnknown, RetryableError
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import Stopwatch, TimeSource
from hufimm.ledger import reads
from hufimm.ledger.batch import BatchStats, BatchWriter, Prepared, Result
from hufimm.ledger.commands import Command
from hufimm.ledger.outcomes import (
    Balance,
    EntryPage,
    Journal,
    LockedFunds,
    Outcome,
    ShareEntry,
)
from hufimm.ledger.settings import LedgerSettings
from hufimm.store.db import Database
from hufimm.store.leases import Lease, LeaseManager

LEASE_NAME = "ledger-writer"
T = TypeVar("T")


class WriterLeaseLost(RetryableError):
    """This process does not (or no longer) hold the writer lease; nothing was applied."""


class LedgerStopped(RetryableError):
    """The ledger is not running; nothing was applied."""


class _Request:
    __slots__ = ("commands", "future")

    def __init__(self, commands: list[Command], future: asyncio.Future[list[Result]]) -> None:
        self.commands = commands
        self.future = future


class _InFlight:
    """A prepared batch whose commit is running."""

    __slots__ = ("batch", "commit", "prepared", "watch")

    def __init__(
        self,
        batch: list[_Request],
        prepared: Prepared,
        commit: asyncio.Future[list[Result]],
        watch: Stopwatch,
    ) -> None:
        self.batch = batch
        self.prepared = prepared
        self.commit = commit
        self.watch = watch


class Ledger:
    """The only writer of balances and shares; also the read API for them.

    ``max_batch`` caps the commands of one transaction; ``max_delay_s`` makes the writer linger
    that long for more commands when fewer are queued (0: commit what is there — batches still
    grow while the previous one commits); ``state_limit`` bounds the cached accounts and orders
    (the cache is dropped when it grows past it); ``overlap=False`` prepares a batch only once
    the previous one committed (useful on a single core); ``before_commit`` is called inside
    every batch transaction just before it commits — failure injection for crash tests.
    """

    name = "ledger"

    @classmethod
    def from_settings(
        cls,
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        settings: LedgerSettings,
        lease_manager: LeaseManager | None = None,
    ) -> Ledger:
        return cls(
            db,
            time_source,
            metrics,
            lease_manager=lease_manager,
            lease_ttl_s=settings.lease_ttl_s,
            max_batch=settings.max_batch,
            max_delay_s=settings.max_delay_ms / 1000,
            state_limit=settings.cache_limit,
        )

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        metrics: Metrics | None = None,
        *,
        lease_manager: LeaseManager | None = None,
        lease_ttl_s: float = 15.0,
        max_batch: int = 2000,
        max_delay_s: float = 0.0,
        state_limit: int = 1_000_000,
        overlap: bool = True,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.db = db
        self._time = time_source
        self._leases = lease_manager
        self._lease_ttl = lease_ttl_s
        self._lease: Lease | None = None
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._overlap = overlap
        self._writer = BatchWriter(
            db,
            time_source,
            fence=self._fence if lease_manager is not None else None,
            before_commit=before_commit,
            state_limit=state_limit,
        )
        self._log = get_logger("ledger")
        self._queue: deque[_Request] = deque()
        self._queued = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._apply_thread: ThreadPoolExecutor | None = None
        self._commit_thread: ThreadPoolExecutor | None = None
        self._inflight: _InFlight | None = None
        self._preparing: list[_Request] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refusal: HufimmError | None = LedgerStopped("the ledger has not been started")
        self._stop_now = False
        self._failed_batches = 0
        self._last_batch_failed = False
        self._down_reason = ""
        metrics = metrics or Metrics()
        outcomes = metrics.counter("ledger_commands_total", "Commands by outcome", ["outcome"])
        self._m_outcomes = {
            name: outcomes.labels(name)
            for name in ("applied", "rejected", "duplicate", "conflict", "failed")
        }
        self._m_batch = metrics.histogram(
            "ledger_batch_commands",
            "Commands per committed batch",
            buckets=(1, 4, 16, 64, 256, 1024, 4096),
        )
        self._m_commit = metrics.histogram(
            "ledger_batch_seconds", "Time to apply and commit one batch (real time)"
        )
        self._m_failures = metrics.counter("ledger_batch_failures_total", "Batches that failed")
        self._m_queue = metrics.gauge("ledger_queue_commands", "Commands waiting for the writer")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Take the writer lease (if configured) and start the writer task."""
        if self._task is not None:
            raise RuntimeError("ledger already started")
        self._loop = asyncio.get_running_loop()
        self._apply_thread = ThreadPoolExecutor(1, thread_name_prefix="ledger-apply")
        self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="ledger-commit")
        if self._leases is not None:
            lease = await self._in_writer_thread(self._leases.acquire, LEASE_NAME, self._lease_ttl)
            if lease is None:
                self._shutdown_threads()
                raise WriterLeaseLost(f"another process holds the {LEASE_NAME} lease")
            self._lease = lease
            self._lease_task = self._loop.create_task(self._keep_lease(), name="ledger-lease")
        self._refusal = None
        self._stop_now = False
        self._task = self._loop.create_task(self._run(), name="ledger-writer")

    async def stop(self, *, drain: bool = True) -> None:
        """Stop the writer: with ``drain`` everything queued is applied first, else refused."""
        if self._refusal is None:
            self._refusal = LedgerStopped("the ledger is stopping")
        self._stop_now = not drain
        self._wake()
        if self._task is not None:
            try:
                await self._task
            except BaseException as exc:  # the writer died earlier; it already failed its callers
                if isinstance(exc, asyncio.CancelledError) and not self._task.cancelled():
                    raise
                self._log.warning("ledger_writer_ended_abnormally", error=repr(exc))
            self._task = None
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
            self._lease_task = None
        if self._lease is not None and self._leases is not None:
            lease, self._lease = self._lease, None
            await self._in_writer_thread(self._leases.release, lease)
        await self._in_writer_thread(self._writer.close)
        self._shutdown_threads()

    def _shutdown_threads(self) -> None:
        for executor in (self._apply_thread, self._commit_thread):
            if executor is not None:
                executor.shutdown(wait=True)
        self._apply_thread = self._commit_thread = None

    def health(self) -> Health:
        if self._down_reason:
            return Health(HealthStatus.DOWN, self._down_reason)
        if self._task is None:
            return Health(HealthStatus.DOWN, "writer not running")
        details = {"queued": self._queued, "failed_batches": self._failed_batches}
        if self._last_batch_failed:
            return Health(HealthStatus.DEGRADED, "the last batch failed", details)
        return Health(details=details)

    # ------------------------------------------------------------------ submitting
    async def submit(self, cmd: Command) -> Outcome:
        """Apply ``cmd`` (or recall its outcome); raises :class:`Conflict` on a reused key."""
        result = (await self._enqueue([cmd]))[0]
        if isinstance(result, Conflict):
            raise result
        return result

    async def submit_many(self, commands: Sequence[Command]) -> list[Outcome]:
        """Submit in order; every command is processed even if one of them conflicts.

        The outcomes come back in order; if any command reused a key with another payload,
        :class:`Conflict` is raised after all of them were processed (the others' outcomes are
        durable and can be read back by resubmitting them).
        """
        futures = [
            self._enqueue(list(commands[i : i + self._max_batch]))
            for i in range(0, len(commands), self._max_batch)
        ]
        outcomes: list[Outcome] = []
        conflict: Conflict | None = None
        for future in futures:
            for result in await future:
                if isinstance(result, Conflict):
                    conflict = conflict or result
                else:
                    outcomes.append(result)
        if conflict is not None:
            raise conflict
        return outcomes

    def _enqueue(self, commands: list[Command]) -> asyncio.Future[list[Result]]:
        if self._refusal is not None:
            raise self._refusal
        assert self._loop is not None
        future: asyncio.Future[list[Result]] = self._loop.create_future()
        self._queue.append(_Request(commands, future))
        self._queued += len(commands)
        self._wake()
        return future

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    # ------------------------------------------------------------------ the writer task
    async def _run(self) -> None:
        assert self._loop is not None
        queue = self._queue
        try:
            while True:
                if self._stop_now or not queue:
                    if self._inflight is not None:  # nothing to overlap it with: finish it
                        await self._settle(self._inflight)
                        continue
                    if self._stop_now or self._refusal is not None:
                        break  # stopping (and drained, unless told not to)
                    self._wakeup = self._loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                if self._max_delay > 0 and self._queued < self._max_batch:
                    await self._time.sleep(self._max_delay)
                await self._advance(self._take())
        except WriterLeaseLost as exc:
            self._refuse(exc)
            self._abandon(exc, exc)
        except BaseException as exc:
            # Cancelled, or a crash: a batch committing may or may not have landed; whatever
            # else was taken or queued was never applied.
            stopped = LedgerStopped(f"the ledger writer died: {exc!r}")
            self._refuse(stopped, exc)
            self._abandon(OutcomeUnknown(f"ledger writer died mid-batch: {exc!r}"), stopped)
            raise
        finally:
            self._fail_queued(self._refusal or LedgerStopped("the ledger stopped"))

    def _abandon(self, committing: BaseException, taken: BaseException) -> None:
        if self._inflight is not None:
            self._fail(self._inflight.batch, committing)
            self._inflight = None
        if self._preparing is not None:
            self._fail(self._preparing, taken)
            self._preparing = None

    def _take(self) -> list[_Request]:
        queue = self._queue
        batch = [queue.popleft()]
        size = len(batch[0].commands)
        while queue and size + len(queue[0].commands) <= self._max_batch:
            request = queue.popleft()
            size += len(request.commands)
            batch.append(request)
        self._queued -= size
        self._m_queue.set(self._queued)
        return batch

    async def _advance(self, batch: list[_Request]) -> None:
        """Prepare ``batch`` while the previous one commits, then start committing it."""
        assert self._loop is not None
        watch = Stopwatch()
        commands = [c for r in batch for c in r.commands]
        self._preparing = batch
        if self._inflight is not None and (not self._overlap or self._writer.over_limit()):
            await self._settle(self._inflight)  # no overlap: e.g. to let the cache be dropped
        prepared: Prepared | None = None
        try:
            prepared = await self._loop.run_in_executor(
                self._apply_thread, self._writer.prepare, commands
            )
        except Exception as exc:
            self._batch_failed(exc, len(commands))
        if self._inflight is not None and not await self._settle(self._inflight):
            prepared = None  # built on the state of a batch that did not commit
        if prepared is None:
            self._writer.reset()
            await self._recover(batch)
        else:
            self._last_batch_failed = True
            commit = self._loop.run_in_executor(self._commit_thread, self._writer.commit, prepared)
            self._inflight = _InFlight(batch, prepared, commit, watch)
        self._preparing = None

    async def _settle(self, inflight: _InFlight) -> bool:
        """Wait for a batch's commit; deliver its outcomes, or recover it.  True if it committed."""
        try:
            results = await inflight.commit
        except WriterLeaseLost as exc:
            self._inflight = None
            self._fail(inflight.batch, exc)
            raise
        except BaseException as exc:
            self._inflight = None
            if not isinstance(exc, Exception):
                self._fail(inflight.batch, OutcomeUnknown(f"ledger writer died mid-batch: {exc!r}"))
                raise
            self._batch_failed(exc, inflight.prepared.stats.commands)
            self._writer.reset()  # nothing else runs now: safe to drop every cache
            await self._recover(inflight.batch)
            return False
        self._inflight = None
        self._writer.settled(inflight.prepared)
        self._record(inflight.prepared.stats, inflight.watch)
        self._deliver(inflight.batch, results)
        return True

    async def _recover(self, batch: list[_Request]) -> None:
        """After a failure: each request alone, in its own transaction, no overlap."""
        assert self._loop is not None
        try:
            for request in batch:
                watch = Stopwatch()
                try:
                    results = await self._loop.run_in_executor(
                        self._commit_thread, self._writer.process, request.commands
                    )
                except Exception as exc:
                    if isinstance(exc, WriterLeaseLost):
                        raise
                    self._batch_failed(exc, len(request.commands))
                    self._m_outcomes["failed"].inc(len(request.commands))
                    self._fail([request], OutcomeUnknown(f"ledger batch failed: {exc!r}"))
                    continue
                self._last_batch_failed = False
                self._m_commit.observe(watch.elapsed_ns() / 1e9)
                self._deliver([request], results)
        except BaseException as exc:  # lease lost or the writer dying: nobody is left waiting
            lost = isinstance(exc, WriterLeaseLost)
            self._fail(batch, exc if lost else OutcomeUnknown(f"ledger writer died: {exc!r}"))
            raise

    def _record(self, stats: BatchStats, watch: Stopwatch) -> None:
        self._last_batch_failed = False
        self._m_commit.observe(watch.elapsed_ns() / 1e9)
        self._m_batch.observe(stats.commands)
        m = self._m_outcomes
        if stats.applied:
            m["applied"].inc(stats.applied)
        if stats.rejected:
            m["rejected"].inc(stats.rejected)
        if stats.duplicates:
            m["duplicate"].inc(stats.duplicates)
        if stats.conflicts:
            m["conflict"].inc(stats.conflicts)

    def _batch_failed(self, exc: Exception, size: int) -> None:
        self._failed_batches += 1
        self._m_failures.inc()
        self._log.error("ledger_batch_failed", commands=size, error=repr(exc))

    @staticmethod
    def _deliver(batch: list[_Request], results: list[Result]) -> None:
        start = 0
        for request in batch:
            end = start + len(request.commands)
            if not request.future.done():  # the caller may have been cancelled
                request.future.set_result(results[start:end])
            start = end

    @staticmethod
    def _fail(batch: list[_Request], exc: BaseException) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(exc)

    def _fail_queued(self, exc: BaseException) -> None:
        batch = list(self._queue)
        self._queue.clear()
        self._queued = 0
        self._fail(batch, exc)

    def _refuse(self, exc: HufimmError, cause: BaseException | None = None) -> None:
        self._refusal = exc
        self._down_reason = str(exc)
        self._log.error("ledger_writer_stopped", reason=str(exc), cause=repr(cause))

    async def _in_writer_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Database work outside batches (lease, close) runs on the commit thread."""
        assert self._loop is not None
        return await self._loop.run_in_executor(self._commit_thread, fn, *args)

    # ------------------------------------------------------------------ the lease
    def _fence(self, conn: Connection) -> None:
        lease = self._lease
        assert self._leases is not None
        if lease is None or not self._leases.holds(conn, lease):
            raise WriterLeaseLost(f"this process no longer holds the {LEASE_NAME} lease")

    async def _keep_lease(self) -> None:
        assert self._leases is not None
        while True:
            await self._time.sleep(self._lease_ttl / 3)
            lease = self._lease
            if lease is None:
                return
            renewed = await self._in_writer_thread(self._leases.renew, lease, self._lease_ttl)
            if renewed is None:
                self._lease = None
                lost = WriterLeaseLost(f"the {LEASE_NAME} lease was lost")
                self._refuse(lost)
                self._fail_queued(lost)
                self._wake()
                return
            self._lease = renewed

    # ------------------------------------------------------------------ reads
    def balances(self, owner: str) -> list[Balance]:
        return reads.balances_of(self.db, owner)

    def balance(self, owner: str, asset_id: str) -> Balance:
        return reads.balance_of(self.db, owner, asset_id)

    def locks(self, order_id: str) -> list[LockedFunds]:
        return reads.locks_of(self.db, order_id)

    def entries(self, owner: str, cursor: int | None = None, limit: int = 100) -> EntryPage:
        return reads.entries_of(self.db, owner, cursor, limit)

    def journal(self, journal_id: int) -> Journal | None:
        return reads.journal(self.db, journal_id)

    def journal_by_key(self, idempotency_key: str) -> Journal | None:
        return reads.journal_by_key(self.db, idempotency_key)

    def order_shares(self, order_id: str) -> list[ShareEntry]:
        return reads.shares_of_order(self.db, order_id)

    def pool_shares(self, pool_id: str, until_ns: int | None = None) -> list[ShareEntry]:
        return reads.shares_of_pool(self.db, pool_id, until_ns)
