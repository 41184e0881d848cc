"""Durable intents: numbering, derived ids, the status machine and its log."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from hufimm.core.ids import IdFactory
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.market.types import Side
from hufimm.store.db import Database
from hufimm.strategy.intents import (
    IllegalTransition,
    IntentDraft,
    IntentKind,
    IntentStatus,
    IntentStore,
    client_order_id_for,
)


def _draft(instance: str, price: str = "100.01") -> IntentDraft:
    return IntentDraft(
        instance,
        IntentKind.CREATE_LIMIT_ORDER,
        "binance",
        "acct",
        "BTC/USDT",
        Side.BUY,
        Decimal(price),
        Decimal("0.5"),
        mixin_order_id="pool-1",
    )


def _store() -> IntentStore:
    return IntentStore(IdFactory(VirtualTimeSource(), SeededRng(1)))


def test_intents_are_numbered_per_instance_and_ids_survive_a_restart(db: Database) -> None:
    with db.begin() as conn:
        first = _store().create_many(conn, [_draft("mm-a"), _draft("mm-b"), _draft("mm-a")], 1)
    assert [(i.strategy_instance_id, i.seq) for i in first] == [
        ("mm-a", 1),
        ("mm-b", 1),
        ("mm-a", 2),
    ]
    with db.begin() as conn:  # a fresh store (process restart) continues from the database
        later = _store().create_many(conn, [_draft("mm-a")], 2)
    assert later[0].seq == 3
    again = IdFactory(VirtualTimeSource(), SeededRng(99)).derive("intent", "mm-a", 1)
    assert first[0].intent_id == str(again)  # derived, not random
    assert first[0].client_order_id == client_order_id_for(again)
    assert re.fullmatch(r"hm[a-z0-9]{16}", first[0].client_order_id or "")
    with db.read() as conn:
        stored = IntentStore.get(conn, first[0].intent_id)
    assert stored == first[0]
    assert stored is not None and stored.price == Decimal("100.01")


def test_status_machine_is_enforced_and_logged(db: Database) -> None:
    store = _store()
    with db.begin() as conn:
        (intent,) = store.create_many(conn, [_draft("mm-a")], 10)
    with db.begin() as conn:
        assert store.transition(
            conn, intent.intent_id, IntentStatus.NEW, IntentStatus.SENT, "placing", 11
        )
        # A racing second writer that still believes the intent is NEW loses cleanly.
        assert not store.transition(
            conn, intent.intent_id, IntentStatus.NEW, IntentStatus.DONE, "superseded", 11
        )
        assert store.transition(
            conn,
            intent.intent_id,
            IntentStatus.SENT,
            IntentStatus.UNKNOWN,
            "timeout after send",
            12,
        )
        assert store.transition(
            conn,
            intent.intent_id,
            IntentStatus.UNKNOWN,
            IntentStatus.ACKED,
            "found by client id",
            13,
        )
        with pytest.raises(IllegalTransition):
            store.transition(
                conn, intent.intent_id, IntentStatus.ACKED, IntentStatus.SENT, "no", 14
            )
    with db.read() as conn:
        history = IntentStore.history(conn, intent.intent_id)
        counts = IntentStore.counts_by_status(conn)
    assert [(f, t) for f, t, _, _ in history] == [
        (None, "NEW"),
        ("NEW", "SENT"),
        ("SENT", "UNKNOWN"),
        ("UNKNOWN", "ACKED"),
    ]
    assert [at for _, _, at, _ in history] == [10, 11, 12, 13]
    assert counts == {"ACKED": 1}


def test_pending_intents_come_back_in_order(db: Database) -> None:
    store = _store()
    with db.begin() as conn:
        made = store.create_many(conn, [_draft("mm-a", p) for p in ("1", "2", "3")], 5)
        store.transition(conn, made[1].intent_id, IntentStatus.NEW, IntentStatus.SENT, None, 6)
    with db.read() as conn:
        pending = IntentStore.with_status(conn, [IntentStatus.NEW], "binance", "acct", "BTC/USDT")
        by_client = IntentStore.by_client_order_id(conn, made[2].client_order_id or "")
    assert [i.price for i in pending] == [Decimal("1"), Decimal("3")]
    assert by_client is not None and by_client.intent_id == made[2].intent_id
