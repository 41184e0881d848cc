"""The synchronous heart of the writer: apply batches in memory, then commit them.

:class:`BatchWriter` works in two stages so that the writer can overlap them (``prepare`` of
batch *k+1* runs while the database commits batch *k*):

- :meth:`~BatchWriter.prepare` (Python work) resolves idempotency keys — those of batches
  prepared but not yet known to be committed, then one bulk query — prefetches the accounts and
  orders the batch reads, applies every command in order against the in-memory state and builds
  all rows and outcomes.  It reads on its own connection: anything it does not find in memory was
  not touched by the batch still committing, so the committed value is the right one.
- :meth:`~BatchWriter.commit` (database work) opens one transaction on the writer connection,
  checks the writer's lease, writes all rows with a few bulk statements, appends the applied
  commands' outbox events and commits.

If either stage fails, the caller must :meth:`~BatchWriter.reset` (at a point where neither
stage runs): every cache is dropped, nothing of an uncommitted batch counts, and the next batch
reloads from the database.  :meth:`~BatchWriter.process` runs both stages back to back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from hufimm.core.errors import ConfigError, Conflict
from hufimm.core.timesource import TimeSource
from hufimm.ledger import queries
from hufimm.ledger.commands import Command
from hufimm.ledger.outcomes import Applied, Balance, Duplicate, Outcome, Rejected, ShareKind
from hufimm.ledger.rules import Plan, add_reads, execute, plan
from hufimm.ledger.sinks import BatchRows, sink_for
from hufimm.ledger.state import AccountKey, LedgerState, OrderState
from hufimm.store.db import Database
from hufimm.store.outbox import append_event

Result = Outcome | Conflict
#: Called inside the batch transaction before any write; raises to refuse the batch (lease lost).
Fence = Callable[[Connection], None]

#: Page cache of the writer's SQLite connection (the default is 2 MiB).
SQLITE_CACHE_KIB = 64 * 1024
_APPLIED = "applied"
_REJECTED = "rejected"
_MINT = ShareKind.MINT.value
_BURN = ShareKind.BURN.value
#: Builds a named tuple without its ``__new__`` wrapper (one ``Balance`` per touched account).
_new_tuple = tuple.__new__
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class BatchStats:
    commands: int
    applied: int
    rejected: int
    duplicates: int
    conflicts: int


@dataclass(slots=True)
class Prepared:
    """A batch applied in memory: what to write, and what each caller will be told."""

    results: list[Result]
    rows: BatchRows
    with_events: list[Command]
    now: int
    stats: BatchStats
    recorded: list[str]  # keys this batch records (pending until its commit is known)


class BatchWriter:
    """Applies batches in order; the only code that writes the ledger's tables."""

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        *,
        fence: Fence | None = None,
        before_commit: Callable[[], None] | None = None,
        state_limit: int = 1_000_000,
    ) -> None:
        if db.is_sqlite and db.url.database in (None, "", ":memory:"):
            raise ConfigError(
                "database_url", "the ledger needs a database file or server, not in-memory SQLite"
            )
        self._db = db
        self._time = time_source
        self._fence = fence
        self._before_commit = before_commit
        self._state_limit = state_limit
        self._sink = sink_for(db.backend)
        self._writer: Connection | None = None
        self._reader: Connection | None = None
        self._read: Connection | None = None  # the reader, while a prepare runs
        self.state = LedgerState(self._load_accounts, self._load_orders)
        self._ids: list[int] | None = None  # next journal, entry, share entry id
        #: Outcomes of prepared batches whose commit is not known yet, by key.
        self._pending: dict[str, tuple[str, Applied | Rejected]] = {}

    # ------------------------------------------------------------------ connections
    def _writer_connection(self) -> Connection:
        if self._writer is None or self._writer.closed or self._writer.invalidated:
            self._writer = self._db.engine.connect()
            if self._db.is_sqlite:
                # The writer's own page cache: the key and owner indexes take random inserts.
                self._writer.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                self._writer.commit()
        return self._writer

    def _reader_connection(self) -> Connection:
        if self._reader is None or self._reader.closed or self._reader.invalidated:
            self._reader = self._db.engine.connect().execution_options(sqlite_begin="DEFERRED")
        return self._reader

    def _load_accounts(self, keys: list[AccountKey]) -> dict[AccountKey, list[int]]:
        assert self._read is not None, "state loads happen inside prepare"
        return queries.load_accounts(self._read, keys)

    def _load_orders(self, order_ids: list[str]) -> dict[str, OrderState]:
        assert self._read is not None, "state loads happen inside prepare"
        return queries.load_orders(self._read, order_ids)

    def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    def reset(self) -> None:
        """Forget everything cached and pending: the database is the truth again."""
        self.state.clear()
        self._pending.clear()
        self._ids = None
        self.close()

    # ------------------------------------------------------------------ the two stages
    def process(self, commands: Sequence[Command]) -> list[Result]:
        """Prepare and commit ``commands``; one result per command, valid once this returns."""
        try:
            prepared = self.prepare(commands)
            results = self.commit(prepared)
        except BaseException:
            self.reset()
            raise
        self.settled(prepared)
        return results

    def prepare(self, commands: Sequence[Command]) -> Prepared:
        """Apply ``commands`` to the in-memory state and build the batch's rows.

        Its reads need no common snapshot (see the module's docstring), so the hot ones run on
        the raw connection in autocommit; whatever transaction they or a rarer SQLAlchemy read
        opened is ended here.
        """
        reader = self._reader_connection()
        self._read = reader
        try:
            return self._apply(reader, commands, self._time.time_ns())
        finally:
            self._read = None
            if reader.in_transaction():
                reader.rollback()
            elif not self._db.is_sqlite:  # psycopg opened one implicitly for the raw reads
                reader.connection.dbapi_connection.rollback()  # type: ignore[union-attr]

    def commit(self, prepared: Prepared) -> list[Result]:
        """Write and commit a prepared batch in one transaction; raises if it did not commit."""
        conn = self._writer_connection()
        with conn.begin():
            if self._fence is not None:
                self._fence(conn)
            self._sink.write(conn, prepared.rows)
            for cmd in prepared.with_events:
                for event in cmd.events:
                    append_event(
                        conn,
                        event.aggregate_type,
                        event.aggregate_id,
                        event.event_type,
                        event.payload,
                        prepared.now,
                    )
            if self._before_commit is not None:
                self._before_commit()
        return prepared.results

    def over_limit(self) -> bool:
        """The cache outgrew its limit: it is dropped at the next point where nothing is pending."""
        return self.state.size() > self._state_limit

    def settled(self, prepared: Prepared) -> None:
        """``prepared`` committed: its keys are in the database now; trim the cache if due.

        Call only when no other batch is being prepared or committed.
        """
        pending = self._pending
        for key in prepared.recorded:
            pending.pop(key, None)
        if not pending and self.over_limit():
            self.state.clear()

    def _apply(self, conn: Connection, commands: Sequence[Command], now: int) -> Prepared:
        if self._ids is None:
            journal, entry, share = queries.max_ids(conn)
            self._ids = [journal + 1, entry + 1, share + 1]
        state = self.state
        # Keys of batches still committing are in memory; every other key of the batch is looked
        # up in one query (fresh keys cost one index probe each).  Past outcomes are not kept in
        # memory: that would only grow the garbage collector's heap.
        pending = self._pending
        outcomes: dict[str, tuple[str, Applied | Rejected]] = {}
        unknown: list[str] = []
        for cmd in commands:
            key = cmd.idempotency_key
            seen = pending.get(key)
            if seen is None:
                unknown.append(key)
            else:
                outcomes[key] = seen
        recorded_before = queries.recorded_keys(conn, unknown) if unknown else []
        if recorded_before:
            outcomes.update(queries.load_outcomes(conn, recorded_before))
        reads_accounts: list[AccountKey] = []
        reads_orders: list[str] = []
        for cmd in commands:
            if cmd.idempotency_key not in outcomes:
                add_reads(cmd, reads_accounts, reads_orders)
        state.prefetch(reads_accounts, reads_orders)

        rows = BatchRows()
        journal_rows, entry_rows = rows.journals, rows.entries
        accounts = state.accounts
        # Entries carry ints: COPY renders them on PostgreSQL, and SQLite turns a bound integer
        # into the same decimal text its exact-integer (TEXT) columns hold; only values beyond
        # its 64 bits are rendered here.
        text = self._db.is_sqlite
        dirty_accounts: dict[AccountKey, None] = {}
        dirty_locks: dict[tuple[str, str], str] = {}
        results: list[Result] = []
        recorded: list[str] = []
        with_events: list[Command] = []
        applied = rejected = duplicates = conflicts = 0
        next_journal, next_entry, _ = self._ids
        for cmd in commands:
            key = cmd.idempotency_key
            payload_hash = cmd.payload_hash()
            previous = outcomes.get(key)
            if previous is not None:
                if previous[0] == payload_hash:
                    results.append(Duplicate(previous[1]))
                    duplicates += 1
                else:
                    results.append(
                        Conflict(f"idempotency key {key!r} was used for a different command")
                    )
                    conflicts += 1
                continue
            journal_id = next_journal
            next_journal += 1
            decision = plan(cmd, state)
            if type(decision) is Rejected:
                journal_rows.append(
                    (
                        journal_id,
                        key,
                        payload_hash,
                        cmd.TYPE,
                        _REJECTED,
                        decision.reason.value,
                        decision.detail,
                        None,
                        cmd.ref_type,
                        cmd.ref_id,
                        now,
                        None,
                        0,
                    )
                )
                outcomes[key] = (payload_hash, decision)
                recorded.append(key)
                results.append(decision)
                rejected += 1
                continue
            assert isinstance(decision, Plan)
            touched = execute(decision, state)
            legs = decision.legs
            journal_rows.append(
                (
                    journal_id,
                    key,
                    payload_hash,
                    cmd.TYPE,
                    _APPLIED,
                    None,
                    None,
                    decision.memo,
                    cmd.ref_type,
                    cmd.ref_id,
                    now,
                    next_entry if legs else None,
                    len(legs),
                )
            )
            for owner, asset_id, order_id, amount, leg_type in legs:
                live = accounts[(owner, asset_id)]
                assert live is not None
                available, locked = live
                if text:  # str() only for what SQLite's 64-bit integers cannot hold
                    if not _INT64_MIN <= amount <= _INT64_MAX:
                        amount = str(amount)  # type: ignore[assignment]
                    if not _INT64_MIN <= available <= _INT64_MAX:
                        available = str(available)  # type: ignore[assignment]
                    if not _INT64_MIN <= locked <= _INT64_MAX:
                        locked = str(locked)  # type: ignore[assignment]
                entry_rows.append(
                    (
                        next_entry,
                        journal_id,
                        owner,
                        asset_id,
                        order_id,
                        amount,
                        leg_type,
                        available,
                        locked,
                    )
                )
                next_entry += 1
                if order_id is not None:
                    dirty_locks[(order_id, asset_id)] = owner
            balances_after = []
            for account in touched:
                dirty_accounts[account] = None
                balances_after.append(_new_tuple(Balance, (*account, *accounts[account])))  # type: ignore[misc]
            minted, burned = (
                (0, 0)
                if decision.mint is None and decision.burn is None
                else self._share_rows(decision, journal_id, now, rows.share_entries)
            )
            outcome = Applied(journal_id, tuple(balances_after), minted, burned)
            outcomes[key] = (payload_hash, outcome)
            recorded.append(key)
            results.append(outcome)
            applied += 1
            if cmd.events:
                with_events.append(cmd)
        self._ids[0], self._ids[1] = next_journal, next_entry
        for key in recorded:
            pending[key] = outcomes[key]

        for account in dirty_accounts:
            live = accounts[account]
            assert live is not None
            rows.balances.append((account[0], account[1], str(live[0]), str(live[1])))
        orders = state.orders
        for (order_id, asset_id), owner in dirty_locks.items():
            order = orders[order_id]
            assert order is not None
            rows.locks.append((order_id, asset_id, owner, str(order.locks[asset_id])))
        stats = BatchStats(len(commands), applied, rejected, duplicates, conflicts)
        return Prepared(results, rows, with_events, now, stats, recorded)

    def _share_rows(
        self, decision: Plan, journal_id: int, now: int, out: list[tuple[object, ...]]
    ) -> tuple[int, int]:
        ids = self._ids
        assert ids is not None
        minted = burned = 0
        if decision.burn is not None:
            burned = decision.burn.shares
            out.append(
                (
                    ids[2],
                    journal_id,
                    decision.order_id,
                    decision.owner,
                    decision.burn.pool_id,
                    _BURN,
                    str(burned),
                    None,
                    now,
                )
            )
            ids[2] += 1
        if decision.mint is not None:
            spec, minted = decision.mint
            out.append(
                (
                    ids[2],
                    journal_id,
                    decision.order_id,
                    decision.owner,
                    spec.pool_id,
                    _MINT,
                    str(minted),
                    str(spec.price),
                    now,
                )
            )
            ids[2] += 1
        return minted, burned
