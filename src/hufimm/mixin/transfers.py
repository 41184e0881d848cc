"""Sending assets from the bot to a Mixin user: durable, idempotent, never twice.

A transfer is a row in ``mixin_transfers`` keyed by its request id (uuid5 of the caller's own id,
e.g. a withdrawal id), written before Mixin hears of it::

    PENDING ──submit answered──▶ SUBMITTED ──snapshot / lookup──▶ CONFIRMED
       │  ╲                                                  ▲
       │   ╲ timeout, 5xx after sending                      │
       │    ▶ UNKNOWN ──GET /safe/transactions/:request_id───┘ (or back to PENDING on 404)
       ▼
     FAILED  (Mixin refused for good; the caller compensates)

While PENDING the row may be *blocked* (``blocked_reason``): not enough unreserved bot funds, the
recipient has no Safe account yet, Mixin unreachable.  Blocked rows are retried by the resume
job; an operator tops up or waits, nothing crashes and nothing is lost.

The unsigned raw, the selected inputs (reserved in ``mixin_transfer_inputs``) and the request id
are persisted before the first call that could register the transaction, so every retry sends
the same bytes under the same id and Mixin deduplicates it.  A new raw is only ever built when
Mixin says nothing is registered under the id.  That is what makes a second transfer for one
request impossible.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from hufimm.core.clock import Health, HealthStatus
from hufimm.core.errors import Conflict, InvalidInput, NotFound
from hufimm.core.ids import IdFactory
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.mixin import errors as codes
from hufimm.mixin.client import MixinClient
from hufimm.mixin.errors import (
    MixinDefinitive,
    MixinError,
    MixinNotFound,
    MixinOutcomeUnknown,
    MixinProtocolError,
)
from hufimm.mixin.kernel import decode_transaction, sign_inputs, transaction_hash
from hufimm.mixin.models import GhostKeyRequest, TransactionRequest
from hufimm.mixin.tables import mixin_transfer_inputs, mixin_transfers
from hufimm.mixin.txbuilder import Payee, Selection, Shortfall, build_transaction, select_inputs
from hufimm.store.db import Database
from hufimm.store.outbox import append_event

TRANSFER_AGGREGATE = "mixin_transfer"
TRANSFER_CONFIRMED = "mixin.transfer.confirmed"
TRANSFER_FAILED = "mixin.transfer.failed"
TRANSFER_CHANGED = "mixin.transfer.changed"


class TransferStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"

    @property
    def final(self) -> bool:
        return self in (TransferStatus.CONFIRMED, TransferStatus.FAILED)


class BlockedReason(enum.StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"  # the operator must top up the bot
    TOO_MANY_INPUTS = "too_many_inputs"  # the operator must consolidate small outputs
    RECIPIENT_NOT_REGISTERED = "recipient_not_registered"  # 10404: keep the debt, retry
    INPUTS_LOCKED = "inputs_locked"
    MIXIN_UNAVAILABLE = "mixin_unavailable"


@dataclass(frozen=True, slots=True)
class TransferRecord:
    request_id: str
    kind: str
    ref_id: str
    recipient_id: str
    asset_id: str
    units: int
    memo_hex: str
    status: TransferStatus
    blocked_reason: BlockedReason | None
    tx_hash: str | None
    snapshot_id: str | None
    error_code: int | None
    error: str | None
    attempts: int
    has_raw: bool

    @classmethod
    def from_row(cls, row: Any) -> TransferRecord:
        return cls(
            request_id=row.request_id,
            kind=row.kind,
            ref_id=row.ref_id,
            recipient_id=row.recipient_id,
            asset_id=row.asset_id,
            units=row.units,
            memo_hex=row.memo_hex,
            status=TransferStatus(row.status),
            blocked_reason=BlockedReason(row.blocked_reason) if row.blocked_reason else None,
            tx_hash=row.tx_hash,
            snapshot_id=row.snapshot_id,
            error_code=row.error_code,
            error=row.error,
            attempts=row.attempts,
            has_raw=row.raw_unsigned is not None,
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "kind": self.kind,
            "ref_id": self.ref_id,
            "recipient_id": self.recipient_id,
            "asset_id": self.asset_id,
            "units": str(self.units),
            "status": self.status.value,
            "blocked_reason": self.blocked_reason.value if self.blocked_reason else None,
            "tx_hash": self.tx_hash,
            "snapshot_id": self.snapshot_id,
            "error_code": self.error_code,
            "error": self.error,
        }


_SELECT = sa.select(mixin_transfers).where(mixin_transfers.c.request_id == sa.bindparam("rid"))
_INPUTS = (
    sa.select(mixin_transfer_inputs)
    .where(mixin_transfer_inputs.c.request_id == sa.bindparam("rid"))
    .order_by(mixin_transfer_inputs.c.position)
)
_RESERVED = sa.select(mixin_transfer_inputs.c.output_id)


def _load(conn: Connection, request_id: str) -> Any:
    return conn.execute(_SELECT, {"rid": request_id}).first()


def confirm_from_snapshot(
    conn: Connection, request_id: str, snapshot_id: str, tx_hash: str, now_ns: int
) -> bool:
    """Mark our transfer CONFIRMED because its outgoing snapshot appeared (watcher's call).

    Runs in the caller's transaction, with the snapshot cursor.  ``False`` when the request id is
    not one of our transfers or it already was final.
    """
    row = _load(conn, request_id)
    if row is None or TransferStatus(row.status).final:
        return False
    _set(
        conn,
        row,
        now_ns,
        status=TransferStatus.CONFIRMED,
        snapshot_id=snapshot_id,
        tx_hash=row.tx_hash or tx_hash,
        finished_at=now_ns,
        blocked_reason=None,
    )
    return True


def _set(conn: Connection, row: Any, now_ns: int, **values: Any) -> TransferRecord:
    """Update a transfer row; a status change also goes to the outbox in the same transaction."""
    if "status" in values:
        values["status"] = TransferStatus(values["status"]).value
    conn.execute(
        sa.update(mixin_transfers)
        .where(mixin_transfers.c.request_id == row.request_id)
        .values(updated_at=now_ns, **values)
    )
    record = TransferRecord.from_row(_load(conn, row.request_id))
    new_status = values.get("status")
    if new_status is not None and new_status != row.status:
        event = {
            TransferStatus.CONFIRMED: TRANSFER_CONFIRMED,
            TransferStatus.FAILED: TRANSFER_FAILED,
        }.get(record.status, TRANSFER_CHANGED)
        append_event(conn, TRANSFER_AGGREGATE, row.request_id, event, record.to_payload(), now_ns)
    return record


class TransferService:
    """Drives transfers from the bot to Mixin users through their state machine."""

    def __init__(
        self,
        db: Database,
        client: MixinClient,
        ids: IdFactory,
        time_source: TimeSource,
        metrics: Metrics,
        *,
        retry_interval_s: float = 30.0,
        batch_size: int = 50,
    ) -> None:
        self._db = db
        self._client = client
        self._ids = ids
        self._time = time_source
        self._retry_ns = round(retry_interval_s * NS_PER_SECOND)
        self._batch = batch_size
        # One transfer at a time per process (the reference's "one payout worker"); across
        # processes the input reservations' primary key keeps selections apart.
        self._lock = asyncio.Lock()
        self._log = get_logger("mixin.transfers")
        self._m_status = metrics.counter(
            "mixin_transfer_transitions_total", "Transfer status changes", ["status"]
        )
        self._m_blocked = metrics.gauge(
            "mixin_transfers_blocked", "Pending transfers that cannot proceed", ["reason"]
        )

    @property
    def app_id(self) -> str:
        return self._client.keystore.app_id

    # ------------------------------------------------------------------ intents
    def request_id_for(self, kind: str, ref_id: str) -> str:
        """The Mixin request id of the transfer for ``(kind, ref_id)``: the same on every retry."""
        return self._ids.derive_str("mixin_transfer", kind, ref_id)

    def enqueue(
        self,
        kind: str,
        ref_id: str,
        recipient_id: str,
        asset_id: str,
        units: int,
        memo: bytes = b"",
    ) -> TransferRecord:
        """Write the transfer intent (idempotent); :class:`Conflict` if the id means another one."""
        if units <= 0:
            raise InvalidInput(f"transfer amount must be positive, got {units} units")
        if len(memo) > 256:
            raise InvalidInput("memo longer than Mixin's 256-byte extra")
        request_id = self.request_id_for(kind, ref_id)
        now = self._time.time_ns()
        values = {
            "request_id": request_id,
            "kind": kind,
            "ref_id": ref_id,
            "recipient_id": recipient_id,
            "asset_id": asset_id,
            "units": units,
            "memo_hex": memo.hex(),
        }
        with self._db.begin() as conn:
            row = _load(conn, request_id)
            if row is None:
                conn.execute(
                    sa.insert(mixin_transfers).values(
                        status=TransferStatus.PENDING.value,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                        next_attempt_at=now,
                        **values,
                    )
                )
                row = _load(conn, request_id)
                append_event(
                    conn,
                    TRANSFER_AGGREGATE,
                    request_id,
                    TRANSFER_CHANGED,
                    TransferRecord.from_row(row).to_payload(),
                    now,
                )
            elif any(getattr(row, k) != v for k, v in values.items()):
                raise Conflict(f"transfer {kind}:{ref_id} already exists with other details")
            return TransferRecord.from_row(row)

    async def transfer(
        self,
        kind: str,
        ref_id: str,
        recipient_id: str,
        asset_id: str,
        units: int,
        memo: bytes = b"",
    ) -> TransferRecord:
        """Enqueue and drive as far as it goes now; the resume job finishes what is left."""
        record = self.enqueue(kind, ref_id, recipient_id, asset_id, units, memo)
        return await self.drive(record.request_id)

    def get(self, request_id: str) -> TransferRecord | None:
        with self._db.read() as conn:
            row = _load(conn, request_id)
        return None if row is None else TransferRecord.from_row(row)

    def list(self, statuses: Sequence[TransferStatus] = ()) -> list[TransferRecord]:
        query = sa.select(mixin_transfers).order_by(mixin_transfers.c.created_at)
        if statuses:
            query = query.where(mixin_transfers.c.status.in_([s.value for s in statuses]))
        with self._db.read() as conn:
            return [TransferRecord.from_row(r) for r in conn.execute(query)]

    def health(self) -> Health:
        blocked = [t for t in self.list([TransferStatus.PENDING]) if t.blocked_reason]
        unknown = self.list([TransferStatus.UNKNOWN])
        for reason in BlockedReason:
            self._m_blocked.labels(reason.value).set(
                sum(1 for t in blocked if t.blocked_reason is reason)
            )
        if blocked or unknown:
            reasons = sorted({t.blocked_reason.value for t in blocked if t.blocked_reason})
            return Health(
                HealthStatus.DEGRADED,
                f"{len(blocked)} transfer(s) blocked ({', '.join(reasons) or '-'}),"
                f" {len(unknown)} unknown",
                {"blocked": len(blocked), "unknown": len(unknown)},
            )
        return Health()

    # ------------------------------------------------------------------ the resume job
    async def on_schedule(self, ts: int) -> None:
        """For ``clock.schedule("mixin_transfers", interval, service.on_schedule)``."""
        await self.resume()

    async def resume(self) -> int:
        """Drive every unfinished transfer that is due; returns how many were driven."""
        now = self._time.time_ns()
        with self._db.read() as conn:
            due = conn.execute(
                sa.select(mixin_transfers.c.request_id)
                .where(
                    mixin_transfers.c.status.in_(
                        [
                            TransferStatus.PENDING.value,
                            TransferStatus.UNKNOWN.value,
                            TransferStatus.SUBMITTED.value,
                        ]
                    ),
                    mixin_transfers.c.next_attempt_at <= now,
                )
                .order_by(mixin_transfers.c.created_at)
                .limit(self._batch)
            ).scalars()
            request_ids = list(due)
        for request_id in request_ids:
            await self.drive(request_id)
        return len(request_ids)

    # ------------------------------------------------------------------ the state machine
    async def drive(self, request_id: str) -> TransferRecord:
        """Move one transfer forward as far as Mixin lets it right now."""
        async with self._lock:
            return await self._drive(request_id)

    async def _drive(self, request_id: str) -> TransferRecord:
        with self._db.begin() as conn:
            row = _load(conn, request_id)
            if row is None:
                raise NotFound(f"no transfer {request_id}")
            status = TransferStatus(row.status)
            if status.final:
                return TransferRecord.from_row(row)
            row = self._touch(conn, row)
        try:
            if status in (TransferStatus.UNKNOWN, TransferStatus.SUBMITTED) or (
                row.raw_unsigned is not None
            ):
                registered = await self._lookup(request_id)
                if registered is not None and registered.state != "unspent":
                    return self._record_outcome(request_id, registered)
                if status is TransferStatus.SUBMITTED and registered is None:
                    return self._mark(request_id, TransferStatus.UNKNOWN, error="lost after submit")
                if registered is None and row.raw_unsigned is None:
                    row = await self._build(row)
                elif registered is None:
                    self._mark(request_id, TransferStatus.PENDING)
            else:
                row = await self._build(row)
            if row is None:
                return self._current(request_id)
            return await self._register_and_submit(request_id)
        except (MixinOutcomeUnknown, MixinProtocolError) as exc:
            # No answer, or one we cannot read: Mixin may hold the transaction; read it first.
            return self._mark(request_id, TransferStatus.UNKNOWN, error=str(exc))
        except (MixinDefinitive, MixinNotFound) as exc:
            return self._fail(request_id, exc)
        except MixinError as exc:  # retryable: nothing happened, try again later
            return self._block(request_id, self._reason_for(exc), exc)

    def _touch(self, conn: Connection, row: Any) -> Any:
        conn.execute(
            sa.update(mixin_transfers)
            .where(mixin_transfers.c.request_id == row.request_id)
            .values(
                attempts=row.attempts + 1, next_attempt_at=self._time.time_ns() + self._retry_ns
            )
        )
        return _load(conn, row.request_id)

    async def _lookup(self, request_id: str) -> TransactionRequest | None:
        try:
            return await self._client.transaction(request_id)
        except MixinNotFound:
            return None

    async def _build(self, row: Any) -> Any:
        """Select inputs, get ghost keys, persist the unsigned raw; ``None`` when blocked."""
        recipient = await self._client.user(row.recipient_id)
        if not recipient.has_safe:
            self._block(row.request_id, BlockedReason.RECIPIENT_NOT_REGISTERED, None)
            return None
        outputs = await self._client.all_outputs(asset=row.asset_id)
        with self._db.read() as conn:
            reserved = set(conn.execute(_RESERVED).scalars())
        choice = select_inputs(outputs, row.units, reserved)
        if isinstance(choice, Shortfall):
            reason = (
                BlockedReason.TOO_MANY_INPUTS
                if choice.too_many_inputs
                else BlockedReason.INSUFFICIENT_FUNDS
            )
            self._block(
                row.request_id,
                reason,
                None,
                detail=f"need {choice.needed} units, {choice.available} unreserved",
            )
            return None
        payees = [Payee((row.recipient_id,), row.units)]
        change = choice.change(row.units)
        if change > 0:
            payees.append(Payee((self.app_id,), change))
        keys = await self._client.ghost_keys(
            [
                GhostKeyRequest(
                    payee.members, index, self._ids.derive_str("mixin_ghost", row.request_id, index)
                )
                for index, payee in enumerate(payees)
            ]
        )
        tx = build_transaction(row.asset_id, choice, payees, keys, bytes.fromhex(row.memo_hex))
        return self._persist_raw(row, choice, tx.unsigned_bytes())

    def _persist_raw(self, row: Any, choice: Selection, raw: bytes) -> Any:
        now = self._time.time_ns()
        try:
            with self._db.begin() as conn:
                conn.execute(
                    sa.insert(mixin_transfer_inputs),
                    [
                        {
                            "output_id": o.output_id,
                            "request_id": row.request_id,
                            "position": position,
                            "transaction_hash": o.transaction_hash,
                            "output_index": o.output_index,
                            "units": o.units,
                            "sequence": o.sequence,
                        }
                        for position, o in enumerate(choice.inputs)
                    ],
                )
                _set(
                    conn,
                    row,
                    now,
                    raw_unsigned=raw.hex(),
                    tx_hash=transaction_hash(raw).hex(),
                    blocked_reason=None,
                )
                return _load(conn, row.request_id)
        except IntegrityError:
            # Another process reserved one of these outputs first: choose again next time.
            self._block(row.request_id, BlockedReason.INPUTS_LOCKED, None, detail="reserve race")
            return None

    async def _register_and_submit(self, request_id: str) -> TransferRecord:
        with self._db.read() as conn:
            row = _load(conn, request_id)
        raw = bytes.fromhex(row.raw_unsigned)
        requests = await self._client.create_transaction_requests([(request_id, raw.hex())])
        registered = self._only(requests, request_id)
        if registered.state != "unspent":
            return self._record_outcome(request_id, registered)
        if registered.transaction_hash and registered.transaction_hash != row.tx_hash:
            raise MixinProtocolError("Mixin hashed our raw differently")
        tx = decode_transaction(raw)
        if len(registered.views) != len(tx.inputs):
            raise MixinProtocolError(f"{len(registered.views)} views for {len(tx.inputs)} inputs")
        signatures = sign_inputs(
            registered.views, self._client.keystore.require_spend_seed(), transaction_hash(raw)
        )
        signed = tx.with_signatures([{0: s} for s in signatures]).encode()
        with self._db.begin() as conn:
            _set(conn, row, self._time.time_ns(), raw_signed=signed.hex())
        submitted = await self._client.submit_transactions([(request_id, signed.hex())])
        return self._record_outcome(request_id, self._only(submitted, request_id))

    @staticmethod
    def _only(requests: Sequence[TransactionRequest], request_id: str) -> TransactionRequest:
        for request in requests:
            if request.request_id == request_id:
                return request
        raise MixinProtocolError(f"answer does not mention request {request_id}")

    # ------------------------------------------------------------------ recording outcomes
    def _current(self, request_id: str) -> TransferRecord:
        record = self.get(request_id)
        assert record is not None
        return record

    def _record_outcome(self, request_id: str, registered: TransactionRequest) -> TransferRecord:
        now = self._time.time_ns()
        if registered.state == "spent" or registered.snapshot_id:
            status, extra = TransferStatus.CONFIRMED, {"finished_at": now}
        elif registered.state == "signed":
            status, extra = TransferStatus.SUBMITTED, {}
        else:
            status, extra = TransferStatus.PENDING, {}
        with self._db.begin() as conn:
            row = _load(conn, request_id)
            if TransferStatus(row.status).final:
                return TransferRecord.from_row(row)
            record = _set(
                conn,
                row,
                now,
                status=status,
                blocked_reason=None,
                tx_hash=registered.transaction_hash or row.tx_hash,
                snapshot_id=registered.snapshot_id or row.snapshot_id,
                submitted_at=row.submitted_at or now,
                **extra,
            )
        self._m_status.labels(status.value).inc()
        return record

    def _mark(self, request_id: str, status: TransferStatus, error: str = "") -> TransferRecord:
        now = self._time.time_ns()
        with self._db.begin() as conn:
            row = _load(conn, request_id)
            if TransferStatus(row.status).final:
                return TransferRecord.from_row(row)
            record = _set(conn, row, now, status=status, error=error or row.error)
        if status is TransferStatus.UNKNOWN:
            self._log.warning("mixin_transfer_unknown", request_id=request_id, error=error)
        self._m_status.labels(status.value).inc()
        return record

    def _block(
        self,
        request_id: str,
        reason: BlockedReason,
        exc: MixinError | None,
        detail: str = "",
    ) -> TransferRecord:
        now = self._time.time_ns()
        with self._db.begin() as conn:
            row = _load(conn, request_id)
            if TransferStatus(row.status).final:
                return TransferRecord.from_row(row)
            record = _set(
                conn,
                row,
                now,
                blocked_reason=reason.value,
                error_code=exc.code if exc else None,
                error=str(exc) if exc else detail,
                next_attempt_at=now + self._retry_ns,
            )
        self._log.warning(
            "mixin_transfer_blocked", request_id=request_id, reason=reason.value, detail=detail
        )
        return record

    def _fail(self, request_id: str, exc: MixinError) -> TransferRecord:
        """Mixin refused for good.  Inputs are released only if nothing was registered."""
        now = self._time.time_ns()
        with self._db.begin() as conn:
            row = _load(conn, request_id)
            if TransferStatus(row.status).final:
                return TransferRecord.from_row(row)
            if row.raw_signed is None:
                conn.execute(
                    sa.delete(mixin_transfer_inputs).where(
                        mixin_transfer_inputs.c.request_id == request_id
                    )
                )
            record = _set(
                conn,
                row,
                now,
                status=TransferStatus.FAILED,
                error_code=exc.code,
                error=str(exc),
                finished_at=now,
            )
        self._log.error("mixin_transfer_failed", request_id=request_id, code=exc.code)
        self._m_status.labels(TransferStatus.FAILED.value).inc()
        return record

    @staticmethod
    def _reason_for(exc: MixinError) -> BlockedReason:
        if exc.code in (codes.INSUFFICIENT_BALANCE, codes.INSUFFICIENT_FEE):
            return BlockedReason.INSUFFICIENT_FUNDS
        if exc.code == codes.RECIPIENT_NOT_REGISTERED:
            return BlockedReason.RECIPIENT_NOT_REGISTERED
        if exc.code in (codes.INPUT_LOCKED, codes.LOCKED_BY_ANOTHER):
            return BlockedReason.INPUTS_LOCKED
        return BlockedReason.MIXIN_UNAVAILABLE


def transfer_inputs(db: Database, request_id: str) -> list[dict[str, Any]]:
    """The outputs a transfer reserved, in input order (for the CLI and audits)."""
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(_INPUTS, {"rid": request_id})]


def describe(record: TransferRecord) -> str:
    return json.dumps(record.to_payload(), sort_keys=True)
