"""Durable order intents: what a strategy decided, written before anything is sent.

An intent is the unit of idempotency between the strategy and the execution worker.  Its id is
derived from ``(strategy instance, sequence number)`` and the client order id of the order it
creates is derived from the intent id, so after a crash the worker finds the same order on the
venue under the same client id instead of placing a second one.  Sequence numbers come from a
per-instance counter advanced in the same transaction as the intents it numbers.

Status machine (every transition is logged with its time and reason)::

    NEW -> SENT -> ACKED | FAILED | UNKNOWN ;  UNKNOWN -> ACKED | FAILED
    ACKED | FAILED -> DONE ;  NEW -> DONE (superseded before it was sent)
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from hufimm.core.ids import IdFactory
from hufimm.core.money import to_decimal
from hufimm.market.types import Side
from hufimm.store.db import Database
from hufimm.strategy.tables import intent_transitions, intents, strategy_counters

#: Default prefix of every client order id we send; reconciliation recognises our orders by it
#: (the tracker's ``client_id_prefix`` setting must match what the store is given).
CLIENT_ID_PREFIX = "hm"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class IntentKind(enum.StrEnum):
    CREATE_LIMIT_ORDER = "CREATE_LIMIT_ORDER"
    CANCEL_ORDER = "CANCEL_ORDER"
    REPLACE_ORDER = "REPLACE_ORDER"
    STOP_EXECUTOR = "STOP_EXECUTOR"


class IntentStatus(enum.StrEnum):
    NEW = "NEW"
    SENT = "SENT"
    ACKED = "ACKED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"
    DONE = "DONE"


#: What the engine reads every tick, kept in memory by a caching store (FAILED intents wait
#: for an operator and DONE ones are history: neither is kept, so the copy stays small).
_KEPT = frozenset({IntentStatus.NEW, IntentStatus.SENT, IntentStatus.UNKNOWN, IntentStatus.ACKED})

ALLOWED: dict[IntentStatus, frozenset[IntentStatus]] = {
    IntentStatus.NEW: frozenset({IntentStatus.SENT, IntentStatus.DONE}),
    IntentStatus.SENT: frozenset({IntentStatus.ACKED, IntentStatus.FAILED, IntentStatus.UNKNOWN}),
    IntentStatus.UNKNOWN: frozenset({IntentStatus.ACKED, IntentStatus.FAILED}),
    IntentStatus.ACKED: frozenset({IntentStatus.DONE}),
    IntentStatus.FAILED: frozenset({IntentStatus.DONE}),
    IntentStatus.DONE: frozenset(),
}


class IllegalTransition(ValueError):
    """A transition the status machine does not allow (a programming error, never retried)."""


def client_order_id_for(intent_id: uuid.UUID, prefix: str = CLIENT_ID_PREFIX) -> str:
    """``prefix`` + 16 base-36 digits of the intent id: with the two-letter prefix, 18
    characters of ``[a-z0-9]``, which every venue we know accepts; recomputable from the intent
    after a crash."""
    value = intent_id.int
    digits = []
    for _ in range(16):
        value, digit = divmod(value, 36)
        digits.append(_BASE36[digit])
    return prefix + "".join(reversed(digits))


@dataclass(frozen=True, slots=True)
class IntentDraft:
    """What an executor wants; the store numbers it and derives its ids."""

    strategy_instance_id: str
    kind: IntentKind
    exchange: str
    account: str
    symbol: str
    side: Side | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    target_client_order_id: str | None = None
    mixin_order_id: str | None = None
    reason: str | None = None
    post_only: bool = True  # a maker-only order unless a strategy deliberately takes


@dataclass(frozen=True, slots=True)
class Intent:
    intent_id: str
    strategy_instance_id: str
    seq: int
    kind: IntentKind
    exchange: str
    account: str
    symbol: str
    side: Side | None
    price: Decimal | None
    qty: Decimal | None
    client_order_id: str | None
    target_client_order_id: str | None
    mixin_order_id: str | None
    status: IntentStatus
    reason: str | None
    created_at: int
    updated_at: int
    post_only: bool = True


def _row_to_intent(row: Any) -> Intent:
    return Intent(
        intent_id=row.intent_id,
        strategy_instance_id=row.strategy_instance_id,
        seq=row.seq,
        kind=IntentKind(row.kind),
        exchange=row.exchange,
        account=row.account,
        symbol=row.symbol,
        side=None if row.side is None else Side(row.side),
        price=None if row.price is None else to_decimal(row.price),
        qty=None if row.qty is None else to_decimal(row.qty),
        client_order_id=row.client_order_id,
        target_client_order_id=row.target_client_order_id,
        mixin_order_id=row.mixin_order_id,
        status=IntentStatus(row.status),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        post_only=bool(row.post_only),
    )


_WITH_STATUS = (
    select(intents)
    .where(
        intents.c.status.in_(bindparam("statuses", expanding=True)),
        (bindparam("exchange", type_=intents.c.exchange.type) == None)  # noqa: E711
        | (intents.c.exchange == bindparam("exchange")),
        (bindparam("account", type_=intents.c.account.type) == None)  # noqa: E711
        | (intents.c.account == bindparam("account")),
        (bindparam("symbol", type_=intents.c.symbol.type) == None)  # noqa: E711
        | (intents.c.symbol == bindparam("symbol")),
    )
    .order_by(intents.c.created_at, intents.c.strategy_instance_id, intents.c.seq)
    .limit(bindparam("limit"))
)
_INSERT_INTENT = insert(intents)
_BY_ID = select(intents).where(intents.c.intent_id == bindparam("intent_id"))
_BY_CLIENT_ID = select(intents).where(intents.c.client_order_id == bindparam("cid"))
_GET_COUNTER = select(strategy_counters.c.next_seq).where(
    strategy_counters.c.strategy_instance_id == bindparam("instance")
)
_INSERT_COUNTER = insert(strategy_counters)
_SET_COUNTER = (
    update(strategy_counters)
    .where(strategy_counters.c.strategy_instance_id == bindparam("b_instance"))
    .values(next_seq=bindparam("b_next"))
)
_INSERT_TRANSITION = insert(intent_transitions)
_SET_STATUS = (
    update(intents)
    .where(intents.c.intent_id == bindparam("b_id"), intents.c.status == bindparam("b_from"))
    .values(status=bindparam("b_to"), reason=bindparam("b_reason"), updated_at=bindparam("b_at"))
)


class IntentStore:
    """Writes and reads intents; every write takes the caller's connection (one transaction)."""

    def __init__(
        self, ids: IdFactory, client_id_prefix: str = CLIENT_ID_PREFIX, *, cache: bool = False
    ) -> None:
        self._ids = ids
        self._prefix = client_id_prefix
        self._next_seq: dict[str, int] = {}
        # Write-through copy of every intent not DONE yet (see ``unfinished``), for the single
        # writer of the intents table only; None until first read (or when turned off).
        self._cache = cache
        self._unfinished: dict[str, Intent] | None = None

    def _allocate(self, conn: Connection, counts: dict[str, int]) -> dict[str, int]:
        """Reserve ``counts[instance]`` sequence numbers per instance (one counter write for
        all of them); returns each instance's first."""
        first: dict[str, int] = {}
        for instance in counts:
            cached = self._next_seq.get(instance)
            if cached is None:
                stored = conn.execute(_GET_COUNTER, {"instance": instance}).scalar()
                if stored is None:
                    conn.execute(_INSERT_COUNTER, {"strategy_instance_id": instance, "next_seq": 1})
                    stored = 1
                cached = int(stored)
            first[instance] = cached
        conn.execute(
            _SET_COUNTER,
            [{"b_instance": i, "b_next": first[i] + n} for i, n in counts.items()],
        )
        for instance, n in counts.items():
            self._next_seq[instance] = first[instance] + n
        return first

    def forget_cache(self) -> None:
        """Drop cached counters (after a failed transaction the database is the truth)."""
        self._next_seq.clear()

    def create_many(
        self, conn: Connection, drafts: Sequence[IntentDraft], now: int
    ) -> list[Intent]:
        """Persist ``drafts`` in order as NEW intents, numbered per strategy instance."""
        if not drafts:
            return []
        by_instance: dict[str, int] = {}
        for draft in drafts:
            by_instance[draft.strategy_instance_id] = (
                by_instance.get(draft.strategy_instance_id, 0) + 1
            )
        next_of = self._allocate(conn, by_instance)
        created: list[Intent] = []
        rows: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        for draft in drafts:
            seq = next_of[draft.strategy_instance_id]
            next_of[draft.strategy_instance_id] = seq + 1
            intent_uuid = self._ids.derive("intent", draft.strategy_instance_id, seq)
            client_id = (
                client_order_id_for(intent_uuid, self._prefix)
                if draft.kind in (IntentKind.CREATE_LIMIT_ORDER, IntentKind.REPLACE_ORDER)
                else None
            )
            intent = Intent(
                intent_id=str(intent_uuid),
                strategy_instance_id=draft.strategy_instance_id,
                seq=seq,
                kind=draft.kind,
                exchange=draft.exchange,
                account=draft.account,
                symbol=draft.symbol,
                side=draft.side,
                price=draft.price,
                qty=draft.qty,
                client_order_id=client_id,
                target_client_order_id=draft.target_client_order_id,
                mixin_order_id=draft.mixin_order_id,
                status=IntentStatus.NEW,
                reason=draft.reason,
                created_at=now,
                updated_at=now,
                post_only=draft.post_only,
            )
            created.append(intent)
            rows.append(
                {
                    "intent_id": intent.intent_id,
                    "strategy_instance_id": intent.strategy_instance_id,
                    "seq": seq,
                    "kind": intent.kind.value,
                    "exchange": intent.exchange,
                    "account": intent.account,
                    "symbol": intent.symbol,
                    "side": None if intent.side is None else intent.side.value,
                    "price": None if intent.price is None else str(intent.price),
                    "qty": None if intent.qty is None else str(intent.qty),
                    "client_order_id": client_id,
                    "target_client_order_id": intent.target_client_order_id,
                    "mixin_order_id": intent.mixin_order_id,
                    "status": IntentStatus.NEW.value,
                    "reason": intent.reason,
                    "created_at": now,
                    "updated_at": now,
                    "post_only": draft.post_only,
                }
            )
            log.append(
                {
                    "intent_id": intent.intent_id,
                    "from_status": None,
                    "to_status": IntentStatus.NEW.value,
                    "at": now,
                    "reason": draft.reason,
                }
            )
        conn.execute(_INSERT_INTENT, rows)
        conn.execute(_INSERT_TRANSITION, log)
        self._after_commit(
            conn, lambda unfinished: unfinished.update((i.intent_id, i) for i in created)
        )
        return created

    def transition(
        self,
        conn: Connection,
        intent_id: str,
        from_status: IntentStatus,
        to_status: IntentStatus,
        reason: str | None,
        now: int,
    ) -> bool:
        """Move one intent if it is still in ``from_status``; ``False`` if it was not."""
        if to_status not in ALLOWED[from_status]:
            raise IllegalTransition(f"{from_status} -> {to_status} is not allowed")
        moved = conn.execute(
            _SET_STATUS,
            {
                "b_id": intent_id,
                "b_from": from_status.value,
                "b_to": to_status.value,
                "b_reason": reason,
                "b_at": now,
            },
        ).rowcount
        if moved != 1:
            return False
        conn.execute(
            _INSERT_TRANSITION,
            {
                "intent_id": intent_id,
                "from_status": from_status.value,
                "to_status": to_status.value,
                "at": now,
                "reason": reason,
            },
        )

        def moved_to(unfinished: dict[str, Intent]) -> None:
            intent = unfinished.pop(intent_id, None)
            if intent is not None and to_status in _KEPT:
                unfinished[intent_id] = dataclasses.replace(
                    intent, status=to_status, reason=reason, updated_at=now
                )

        self._after_commit(conn, moved_to)
        return True

    def _after_commit(self, conn: Connection, change: Callable[[dict[str, Intent]], None]) -> None:
        """Apply ``change`` to the copy of unfinished intents once ``conn`` commits."""
        if not self._cache:
            return
        if not Database.after_commit(conn, lambda: self._apply(change)):
            self._cache, self._unfinished = False, None  # a commit we cannot see: stop trusting

    def _apply(self, change: Callable[[dict[str, Intent]], None]) -> None:
        if self._unfinished is not None:
            change(self._unfinished)

    def unfinished(
        self,
        db: Database,
        statuses: Iterable[IntentStatus],
        exchange: str | None = None,
        account: str | None = None,
        symbol: str | None = None,
        limit: int | None = None,
    ) -> list[Intent]:
        """:meth:`with_status`, read from the copy this store keeps of the intents still in
        play (NEW, SENT, UNKNOWN, ACKED; one read of the table the first time) when it caches
        and only those are asked for, else from the table."""
        wanted = frozenset(statuses)
        if not self._cache or not wanted <= _KEPT:
            with db.read() as conn:
                return self.with_status(conn, wanted, exchange, account, symbol, limit)
        if self._unfinished is None:
            with db.read() as conn:
                loaded = self.with_status(conn, _KEPT)
            self._unfinished = {i.intent_id: i for i in loaded}
        found = sorted(
            (
                i
                for i in self._unfinished.values()
                if i.status in wanted
                and (exchange is None or i.exchange == exchange)
                and (account is None or i.account == account)
                and (symbol is None or i.symbol == symbol)
            ),
            key=lambda i: (i.created_at, i.strategy_instance_id, i.seq),
        )
        return found if limit is None else found[:limit]

    # ------------------------------------------------------------------ reads
    @staticmethod
    def get(conn: Connection, intent_id: str) -> Intent | None:
        row = conn.execute(_BY_ID, {"intent_id": intent_id}).first()
        return None if row is None else _row_to_intent(row)

    @staticmethod
    def by_client_order_id(conn: Connection, client_order_id: str) -> Intent | None:
        row = conn.execute(_BY_CLIENT_ID, {"cid": client_order_id}).first()
        return None if row is None else _row_to_intent(row)

    @staticmethod
    def with_status(
        conn: Connection,
        statuses: Iterable[IntentStatus],
        exchange: str | None = None,
        account: str | None = None,
        symbol: str | None = None,
        limit: int | None = None,
    ) -> list[Intent]:
        """Intents in any of ``statuses``, oldest first (per instance, by sequence)."""
        params: dict[str, Any] = {
            "statuses": [s.value for s in statuses],
            "exchange": exchange,
            "account": account,
            "symbol": symbol,
            "limit": 2**62 if limit is None else limit,
        }
        rows = conn.execute(_WITH_STATUS, params)
        return [_row_to_intent(row) for row in rows]

    @staticmethod
    def history(conn: Connection, intent_id: str) -> list[tuple[str | None, str, int, str | None]]:
        rows = conn.execute(
            select(
                intent_transitions.c.from_status,
                intent_transitions.c.to_status,
                intent_transitions.c.at,
                intent_transitions.c.reason,
            )
            .where(intent_transitions.c.intent_id == intent_id)
            .order_by(intent_transitions.c.id)
        )
        return [(r.from_status, r.to_status, r.at, r.reason) for r in rows]

    @staticmethod
    def counts_by_status(conn: Connection) -> dict[str, int]:
        rows = conn.execute(select(intents.c.status, func.count()).group_by(intents.c.status))
        return {status: int(count) for status, count in rows}
