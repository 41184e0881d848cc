"""The deposit watcher: every incoming transfer becomes exactly one ledger credit.

The watcher reads the bot's snapshots from a persisted cursor (``mixin_cursors``), oldest first,
and for each snapshot:

1. records it in ``mixin_snapshots`` (status ``received``), with its decoded memo and flags;
2. for a user's transfer to the bot, asks the ledger to credit it through
   :class:`DepositLedger` under an idempotency key derived from the snapshot id;
3. marks the row ``credited`` and moves the cursor to the snapshot's time, in one transaction.

Exactly once rests on two things: the cursor never passes a snapshot whose credit is not
recorded here, and the ledger ignores a second credit with the same key.  A crash between the
ledger's commit and step 3 makes the next run offer the same snapshot again, and the ledger
answers with the original outcome.  Mixin's offset is inclusive and its order undocumented, so
pages are deduplicated by snapshot id.

A memo that is empty, malformed, has a bad checksum or an unknown action still credits the user's
available balance (money is never bounced or lost silently); the credit carries the decoded memo
and flags, so the ledger's event tells the user and the admin.  Assets not in the configured list
are recorded and credited under their asset id, flagged.  On-chain deposits to the bot's own
address (reward forwards) are recorded and announced on the outbox; the bot's outgoing snapshots
confirm our transfers.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from hufimm.core.clock import Health, HealthStatus, ScheduledJob
from hufimm.core.errors import HufimmError
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.money import MIXIN_PRECISION, split_units
from hufimm.core.timesource import TimeSource
from hufimm.mixin.client import MAX_PAGE, MixinClient
from hufimm.mixin.errors import MixinError
from hufimm.mixin.memo import DecodedMemo, decode_memo
from hufimm.mixin.models import Snapshot
from hufimm.mixin.tables import mixin_assets, mixin_cursors, mixin_snapshots
from hufimm.mixin.transfers import confirm_from_snapshot
from hufimm.store.db import Database
from hufimm.store.outbox import append_event

SNAPSHOT_CURSOR = "snapshots"
CHAIN_DEPOSIT_EVENT = "mixin.chain_deposit"
DEPOSIT_EVENT = "mixin.deposit_credited"


class DepositFlag(enum.StrEnum):
    """Why a credited deposit needs a human's look."""

    MEMO_MALFORMED = "memo_malformed"
    MEMO_BAD_CHECKSUM = "memo_bad_checksum"
    MEMO_UNSUPPORTED_VERSION = "memo_unsupported_version"
    MEMO_UNKNOWN_ACTION = "memo_unknown_action"
    UNKNOWN_ASSET = "unknown_asset"
    AMOUNT_TRUNCATED = "amount_truncated"  # more than 8 decimals (never seen from Mixin)


def deposit_idempotency_key(snapshot_id: str) -> str:
    """The ledger's idempotency key for the credit of one snapshot."""
    return f"mixin:deposit:{snapshot_id}"


@dataclass(frozen=True, slots=True)
class DepositCredit:
    """One user transfer to the bot, as the ledger must credit it (custody → user available)."""

    snapshot_id: str
    user_id: str
    asset_id: str
    units: int
    memo: DecodedMemo
    flags: frozenset[DepositFlag] = field(default_factory=frozenset)
    transaction_hash: str = ""
    created_at_ns: int = 0

    @property
    def idempotency_key(self) -> str:
        return deposit_idempotency_key(self.snapshot_id)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def event_payload(self) -> dict[str, Any]:
        """The domain event the ledger appends with the credit (pools act on valid memos)."""
        return {
            "snapshot_id": self.snapshot_id,
            "user_id": self.user_id,
            "asset_id": self.asset_id,
            "units": str(self.units),
            "memo": self.memo.to_payload(),
            "flags": sorted(f.value for f in self.flags),
            "transaction_hash": self.transaction_hash,
            "created_at_ns": self.created_at_ns,
        }


class DepositLedger(Protocol):
    """What the watcher needs from the ledger.

    ``credit_deposit`` posts a ``DEPOSIT_CREDIT`` journal (custody:mixin → the user's available
    balance of ``asset_id``, ``units``) under ``credit.idempotency_key`` and appends the
    :data:`DEPOSIT_EVENT` outbox event with ``credit.event_payload()`` in the same transaction.
    Called again with the same key it writes nothing and returns the original reference.
    It returns once the credit is committed.
    """

    async def credit_deposit(self, credit: DepositCredit) -> str: ...


_MEMO_FLAGS = {
    "malformed": DepositFlag.MEMO_MALFORMED,
    "bad_checksum": DepositFlag.MEMO_BAD_CHECKSUM,
    "unsupported_version": DepositFlag.MEMO_UNSUPPORTED_VERSION,
    "unknown_action": DepositFlag.MEMO_UNKNOWN_ACTION,
}
_DONE = ("credited", "recorded")
_GET_ROW = sa.select(mixin_snapshots.c.status).where(
    mixin_snapshots.c.snapshot_id == sa.bindparam("sid")
)
_GET_CURSOR = sa.select(mixin_cursors).where(mixin_cursors.c.name == sa.bindparam("n"))


class WatcherStuck(HufimmError):
    """A full page of snapshots shares the cursor's timestamp: the offset cannot move."""


@dataclass(frozen=True, slots=True)
class Cursor:
    position: str
    position_ns: int


def read_cursor(db: Database, name: str = SNAPSHOT_CURSOR) -> Cursor | None:
    with db.read() as conn:
        row = conn.execute(_GET_CURSOR, {"n": name}).first()
    return None if row is None else Cursor(row.position, row.position_ns)


def _move_cursor(conn: Connection, name: str, snapshot: Snapshot, now: int) -> None:
    row = conn.execute(_GET_CURSOR, {"n": name}).first()
    if row is None:
        conn.execute(
            sa.insert(mixin_cursors).values(
                name=name,
                position=snapshot.created_at,
                position_ns=snapshot.created_at_ns,
                updated_at=now,
            )
        )
    elif snapshot.created_at_ns >= row.position_ns:
        conn.execute(
            sa.update(mixin_cursors)
            .where(mixin_cursors.c.name == name)
            .values(
                position=snapshot.created_at, position_ns=snapshot.created_at_ns, updated_at=now
            )
        )


def flagged_deposits(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Credited deposits that carry a flag, newest first (for the admin)."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(mixin_snapshots)
            .where(mixin_snapshots.c.kind == "transfer", mixin_snapshots.c.flags != "")
            .order_by(mixin_snapshots.c.created_at_ns.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]


class DepositWatcher(ScheduledJob):
    """Polls the bot's snapshots on the clock and credits deposits exactly once."""

    def __init__(
        self,
        db: Database,
        client: MixinClient,
        ledger: DepositLedger,
        time_source: TimeSource,
        metrics: Metrics,
        *,
        known_assets: Collection[str] | None = None,
        interval_s: float = 5.0,
        page_size: int = MAX_PAGE,
        max_pages: int = 20,
        start_offset: str | None = None,
        name: str = "mixin_deposits",
    ) -> None:
        super().__init__(name, interval_s, self._run)
        self._db = db
        self._client = client
        self._ledger = ledger
        self._time = time_source
        self._known = None if known_assets is None else frozenset(known_assets)
        self._page = max(1, min(page_size, MAX_PAGE))
        self._max_pages = max_pages
        self._start_offset = start_offset  # where a first run begins (None: the beginning)
        self._log = get_logger(name)
        self._last_error = ""
        self._m_snapshots = metrics.counter(
            "mixin_snapshots_total", "Snapshots handled by kind", ["kind"]
        )
        self._m_credits = metrics.counter(
            "mixin_deposit_credits_total", "Deposits credited to users", ["flagged"]
        )

    @property
    def app_id(self) -> str:
        return self._client.keystore.app_id

    def health(self) -> Health:
        if self._last_error:
            return Health(HealthStatus.DEGRADED, self._last_error)
        return Health()

    # ------------------------------------------------------------------ polling
    async def _run(self, ts: int) -> None:
        await self.poll()

    async def poll(self) -> int:
        """Read and handle snapshots until caught up (or ``max_pages``); returns how many."""
        try:
            handled = await self._poll()
        except MixinError as exc:
            self._last_error = f"mixin: {exc}"
            raise
        self._last_error = ""
        return handled

    async def _poll(self) -> int:
        handled = 0
        limit = self._page
        for _ in range(self._max_pages):
            cursor = read_cursor(self._db)
            page = await self._client.snapshots(
                offset=cursor.position if cursor else self._start_offset, limit=limit, order="ASC"
            )
            page.sort(key=lambda s: (s.created_at_ns, s.snapshot_id))
            fresh = [s for s in page if not self._done(s.snapshot_id)]
            for snapshot in fresh:
                await self._handle(snapshot)
                handled += 1
            if len(page) < limit:
                return handled  # caught up
            if not fresh and cursor and page[-1].created_at_ns <= cursor.position_ns:
                # A full page at the cursor's own timestamp: widen the page to get past it.
                if limit >= MAX_PAGE:
                    raise WatcherStuck(f"more than {MAX_PAGE} snapshots at {cursor.position}")
                limit = min(MAX_PAGE, limit * 2)
        return handled

    def _done(self, snapshot_id: str) -> bool:
        with self._db.read() as conn:
            status = conn.execute(_GET_ROW, {"sid": snapshot_id}).scalar()
        return status in _DONE

    # ------------------------------------------------------------------ one snapshot
    async def _handle(self, snapshot: Snapshot) -> None:
        kind = self._kind(snapshot)
        self._m_snapshots.labels(kind).inc()
        if kind != "transfer":
            self._record(snapshot, kind)
            return
        credit = await self._credit_for(snapshot)
        self._store_received(snapshot, credit)
        reference = await self._ledger.credit_deposit(credit)
        now = self._time.time_ns()
        with self._db.begin() as conn:
            conn.execute(
                sa.update(mixin_snapshots)
                .where(mixin_snapshots.c.snapshot_id == snapshot.snapshot_id)
                .values(status="credited", credited_at=now, ledger_ref=reference)
            )
            _move_cursor(conn, SNAPSHOT_CURSOR, snapshot, now)
        self._m_credits.labels(str(credit.flagged).lower()).inc()
        if credit.flagged:
            self._log.warning(
                "mixin_deposit_flagged",
                snapshot_id=snapshot.snapshot_id,
                user_id=credit.user_id,
                flags=sorted(credit.flags),
            )

    def _kind(self, snapshot: Snapshot) -> str:
        if snapshot.amount < 0:
            return "outgoing"
        if snapshot.amount > 0 and snapshot.deposit is not None:
            return "chain"
        if snapshot.amount > 0 and snapshot.opponent_id and snapshot.opponent_id != self.app_id:
            return "transfer"
        return "other"

    async def _credit_for(self, snapshot: Snapshot) -> DepositCredit:
        """The credit for a snapshot; a retry re-uses what was stored, so its payload is equal."""
        memo = decode_memo(snapshot.memo)
        with self._db.read() as conn:
            stored = conn.execute(
                sa.select(mixin_snapshots.c.units, mixin_snapshots.c.flags).where(
                    mixin_snapshots.c.snapshot_id == snapshot.snapshot_id
                )
            ).first()
        if stored is not None:
            return self._credit(
                snapshot, stored.units, memo, {DepositFlag(f) for f in stored.flags.split(",") if f}
            )
        units, dust = split_units(snapshot.amount, MIXIN_PRECISION)
        flags: set[DepositFlag] = set()
        if memo.status.value in _MEMO_FLAGS:
            flags.add(_MEMO_FLAGS[memo.status.value])
        if dust:
            flags.add(DepositFlag.AMOUNT_TRUNCATED)
        if not await self._asset_known(snapshot.asset_id):
            flags.add(DepositFlag.UNKNOWN_ASSET)
        return self._credit(snapshot, units, memo, flags)

    @staticmethod
    def _credit(
        snapshot: Snapshot, units: int, memo: DecodedMemo, flags: set[DepositFlag]
    ) -> DepositCredit:
        return DepositCredit(
            snapshot_id=snapshot.snapshot_id,
            user_id=snapshot.opponent_id,
            asset_id=snapshot.asset_id,
            units=units,
            memo=memo,
            flags=frozenset(flags),
            transaction_hash=snapshot.transaction_hash,
            created_at_ns=snapshot.created_at_ns,
        )

    async def _asset_known(self, asset_id: str) -> bool:
        """Whether the configuration lists the asset; first sight records it either way."""
        known = self._known is None or asset_id in self._known
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(mixin_assets.c.known).where(mixin_assets.c.asset_id == asset_id)
            ).first()
        if row is not None:
            return known
        symbol, chain_id, precision = "", "", MIXIN_PRECISION
        try:
            info = await self._client.asset(asset_id)
            symbol, chain_id, precision = info.symbol, info.chain_id, info.precision
        except MixinError as exc:  # metadata is nice to have; the credit must not wait on it
            self._log.warning("mixin_asset_lookup_failed", asset_id=asset_id, error=str(exc))
        with self._db.begin() as conn:
            if (
                conn.execute(
                    sa.select(mixin_assets.c.asset_id).where(mixin_assets.c.asset_id == asset_id)
                ).first()
                is None
            ):
                conn.execute(
                    sa.insert(mixin_assets).values(
                        asset_id=asset_id,
                        symbol=symbol,
                        chain_id=chain_id,
                        precision=precision,
                        known=known,
                        first_seen_at=self._time.time_ns(),
                    )
                )
        return known

    def _row(self, snapshot: Snapshot, kind: str, status: str, **values: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "snapshot_id": snapshot.snapshot_id,
            "kind": kind,
            "status": status,
            "user_id": snapshot.opponent_id,
            "asset_id": snapshot.asset_id,
            "units": split_units(snapshot.amount, MIXIN_PRECISION)[0],
            "memo_hex": snapshot.memo,
            "memo_status": "",
            "memo": "{}",
            "flags": "",
            "request_id": snapshot.request_id,
            "transaction_hash": snapshot.transaction_hash,
            "deposit_hash": snapshot.deposit.deposit_hash if snapshot.deposit else "",
            "created_at_ns": snapshot.created_at_ns,
            "recorded_at": self._time.time_ns(),
        }
        row.update(values)
        return row

    def _store_received(self, snapshot: Snapshot, credit: DepositCredit) -> None:
        with self._db.begin() as conn:
            if conn.execute(_GET_ROW, {"sid": snapshot.snapshot_id}).first() is not None:
                return  # received before a crash: the ledger's key makes the retry safe
            conn.execute(
                sa.insert(mixin_snapshots).values(
                    self._row(
                        snapshot,
                        "transfer",
                        "received",
                        units=credit.units,
                        memo_status=credit.memo.status.value,
                        memo=json.dumps(credit.memo.to_payload(), sort_keys=True),
                        flags=",".join(sorted(f.value for f in credit.flags)),
                    )
                )
            )

    def _record(self, snapshot: Snapshot, kind: str) -> None:
        """Snapshots that credit nobody: chain deposits, our outgoing transfers, the rest."""
        now = self._time.time_ns()
        with self._db.begin() as conn:
            if conn.execute(_GET_ROW, {"sid": snapshot.snapshot_id}).first() is None:
                conn.execute(
                    sa.insert(mixin_snapshots).values(self._row(snapshot, kind, "recorded"))
                )
                if kind == "chain" and snapshot.deposit is not None:
                    append_event(
                        conn,
                        "mixin_snapshot",
                        snapshot.snapshot_id,
                        CHAIN_DEPOSIT_EVENT,
                        {
                            "snapshot_id": snapshot.snapshot_id,
                            "asset_id": snapshot.asset_id,
                            "units": str(split_units(snapshot.amount, MIXIN_PRECISION)[0]),
                            "deposit_hash": snapshot.deposit.deposit_hash,
                            "deposit_index": snapshot.deposit.deposit_index,
                            "sender": snapshot.deposit.sender,
                            "destination": snapshot.deposit.destination,
                        },
                        now,
                    )
                if kind == "outgoing" and snapshot.request_id:
                    confirm_from_snapshot(
                        conn,
                        snapshot.request_id,
                        snapshot.snapshot_id,
                        snapshot.transaction_hash,
                        now,
                    )
            _move_cursor(conn, SNAPSHOT_CURSOR, snapshot, now)
