"""The engine's intent store keeps unfinished intents in memory, written through on commit.

The executors and the execution worker read unfinished intents several times a tick; the copy
must answer exactly what the table answers: after creates and transitions, never with what a
rolled-back transaction wrote, after a restart (a new store reads the table), and not at all
once a write went through a transaction whose commit it cannot observe.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.ids import IdFactory
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.market.types import Side
from hufimm.store.db import Database
from hufimm.strategy.intents import Intent, IntentDraft, IntentKind, IntentStatus, IntentStore

S = IntentStatus
UNFINISHED = [S.NEW, S.SENT, S.ACKED, S.FAILED, S.UNKNOWN]


def _draft(instance: str, symbol: str = "BTC/USDT", price: str = "100.10") -> IntentDraft:
    return IntentDraft(
        instance,
        IntentKind.CREATE_LIMIT_ORDER,
        "binance",
        "acct",
        symbol,
        Side.SELL,
        Decimal(price),
        Decimal("0.50"),
        mixin_order_id="pool-1",
    )


def _store(cache: bool) -> IntentStore:
    return IntentStore(IdFactory(VirtualTimeSource(), SeededRng(1)), cache=cache)


def _same(db: Database, cached: IntentStore, **where: object) -> list[Intent]:
    """Every query the engine makes, from the copy and from the table, must agree."""
    queries: list[tuple[list[IntentStatus], dict[str, object]]] = [
        ([S.NEW, S.SENT, S.UNKNOWN], {}),
        ([S.NEW], {"exchange": "binance", "account": "acct", "limit": 2}),
        ([S.UNKNOWN], {"exchange": "binance", "account": "acct"}),
        ([S.ACKED], {"exchange": "binance", "account": "acct", "symbol": "ETH/USDT"}),
        (UNFINISHED, where),
    ]
    for statuses, filters in queries:
        with db.read() as conn:
            table = IntentStore.with_status(conn, statuses, **filters)  # type: ignore[arg-type]
        assert cached.unfinished(db, statuses, **filters) == table  # type: ignore[arg-type]
    with db.read() as conn:
        return IntentStore.with_status(conn, UNFINISHED)


def test_unfinished_intents_from_the_copy_match_the_table(db: Database) -> None:
    cached = _store(cache=True)
    assert _same(db, cached) == []
    with db.begin() as conn:
        a, b, c = cached.create_many(
            conn, [_draft("mm-a"), _draft("mm-b", "ETH/USDT"), _draft("mm-a", price="99.9")], 5
        )
    assert len(_same(db, cached)) == 3
    with db.begin() as conn:
        assert cached.transition(conn, a.intent_id, S.NEW, S.SENT, "sending", 6)
        assert cached.transition(conn, a.intent_id, S.SENT, S.UNKNOWN, "timeout", 6)
        assert cached.transition(conn, b.intent_id, S.NEW, S.SENT, "sending", 6)
        assert cached.transition(conn, b.intent_id, S.SENT, S.ACKED, "NEW", 7)
        assert not cached.transition(conn, c.intent_id, S.SENT, S.ACKED, "not SENT", 7)
    rows = _same(db, cached)
    assert {(i.intent_id, i.status, i.reason) for i in rows} == {
        (a.intent_id, S.UNKNOWN, "timeout"),
        (b.intent_id, S.ACKED, "NEW"),
        (c.intent_id, S.NEW, None),
    }

    def rolled_back() -> None:
        with db.begin() as conn:
            cached.create_many(conn, [_draft("mm-c")], 8)
            cached.transition(conn, b.intent_id, S.ACKED, S.DONE, "finished", 8)
            raise RuntimeError("the transaction fails after the writes")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert _same(db, cached) == rows
    with db.begin() as conn:
        cached.transition(conn, b.intent_id, S.ACKED, S.DONE, "finished", 9)
    assert [i.intent_id for i in _same(db, cached)] == [a.intent_id, c.intent_id]
    # DONE and FAILED are not kept: asking for them reads the table.
    with db.begin() as conn:
        assert cached.transition(conn, c.intent_id, S.NEW, S.SENT, "sending", 10)
        assert cached.transition(conn, c.intent_id, S.SENT, S.FAILED, "rejected", 10)
    assert [i.intent_id for i in _same(db, cached)] == [a.intent_id, c.intent_id]
    assert [i.intent_id for i in cached.unfinished(db, [S.DONE])] == [b.intent_id]
    assert [i.intent_id for i in cached.unfinished(db, [S.FAILED, S.UNKNOWN])] == [
        a.intent_id,
        c.intent_id,
    ]
    assert [i.intent_id for i in cached.unfinished(db, [S.NEW, S.SENT, S.UNKNOWN])] == [a.intent_id]
    # A restart (a new store) starts from the table.
    assert _same(db, _store(cache=True)) == _same(db, cached)


def test_a_write_outside_database_begin_turns_the_copy_off(db: Database) -> None:
    cached = _store(cache=True)
    with db.begin() as conn:
        (a,) = cached.create_many(conn, [_draft("mm-a")], 1)
    assert len(_same(db, cached)) == 1
    with db.engine.begin() as raw:  # its commit cannot be observed
        cached.transition(raw, a.intent_id, S.NEW, S.DONE, "retired", 2)
    assert _same(db, cached) == []
