"""The shadow order tracker on SQLite and PostgreSQL: write-first composition, the monotonic
state machine under any delivery order, fills recorded once and reconciled against cumulative
quantity, exposure, cancel before ack, and the lost-order protocol."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hufimm.core.errors import Conflict
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import VirtualTimeSource
from hufimm.market import FILL_EVENT, Fill, Order, OrderStatus, OrderUpdate, Side
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from hufimm.tracking import OrderTracker, TrackedOrder, TrackedStatus
from hufimm.tracking.events import ORDER_STATE_EVENT
from hufimm.tracking.settings import LostOrderSettings

EX, ACC, SYM = "simex", "mm", "BTC/USDT"
D = Decimal


def got(tracker: OrderTracker, client_order_id: str) -> TrackedOrder:
    order = tracker.order(client_order_id)
    assert order is not None, client_order_id
    return order


def tracker(db: Database, time_source: VirtualTimeSource, **lost: float) -> OrderTracker:
    settings = LostOrderSettings(
        **{"confirmations": 3, "min_interval_s": 5, "min_age_s": 20, **lost}
    )
    return OrderTracker(db, time_source, Metrics(), settings, client_id_prefix="hm")


def pending(t: OrderTracker, db: Database, cid: str, side: Side = Side.BUY, qty: str = "1") -> None:
    with db.begin() as conn:
        t.record_pending(conn, f"intent-{cid}", cid, EX, ACC, SYM, side, D("100"), D(qty))


def venue_order(
    cid: str | None,
    status: OrderStatus,
    filled: str = "0",
    order_id: str = "7",
    side: Side = Side.BUY,
    qty: str = "1",
) -> Order:
    return Order(
        symbol=SYM,
        order_id=order_id,
        client_order_id=cid,
        side=side,
        price=D("100"),
        qty=D(qty),
        filled_qty=D(filled),
        filled_quote=D(filled) * 100,
        status=status,
        post_only=False,
        created_ns=None,
        updated_ns=None,
    )


def fill(
    trade_id: str, qty: str, order_id: str = "7", cid: str | None = None, side: Side = Side.BUY
) -> Fill:
    return Fill(
        exchange=EX,
        account=ACC,
        symbol=SYM,
        trade_id=trade_id,
        order_id=order_id,
        client_order_id=cid,
        side=side,
        price=D("100"),
        qty=D(qty),
        quote_qty=D(qty) * 100,
        fee=D("0.001"),
        fee_asset="BTC",
        is_maker=True,
        ts_ns=1,
    )


def events(db: Database, event_type: str) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(
            select(outbox_events.c.payload)
            .where(outbox_events.c.event_type == event_type)
            .order_by(outbox_events.c.event_id)
        ).all()
    return [json.loads(r.payload) for r in rows]


def test_pending_order_is_written_in_the_callers_transaction(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    with pytest.raises(RuntimeError), db.begin() as conn:  # noqa: PT012 (the caller's txn)
        t.record_pending(conn, "i-1", "hm1", EX, ACC, SYM, Side.BUY, D("100"), D("1"))
        raise RuntimeError("the intent's write failed")
    assert t.order("hm1") is None and events(db, ORDER_STATE_EVENT) == []

    pending(t, db, "hm1")
    order = t.order("hm1")
    assert order is not None and order.status is TrackedStatus.PENDING_SUBMIT
    assert order.intent_id == "intent-hm1" and order.exchange_order_id is None
    pending(t, db, "hm1")  # idempotent
    with pytest.raises(Conflict), db.begin() as conn:
        t.record_pending(conn, "intent-hm1", "hm1", EX, ACC, SYM, Side.SELL, D("100"), D("1"))
    assert [e["status"] for e in events(db, ORDER_STATE_EVENT)] == ["PENDING_SUBMIT"]


def test_late_and_duplicated_updates_never_move_an_order_backwards(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    pending(t, db, "hm1")
    t.mark_unknown("hm1", "timeout")
    assert got(t, "hm1").status is TrackedStatus.UNKNOWN
    t.apply_update(EX, ACC, OrderUpdate(venue_order("hm1", OrderStatus.PARTIALLY_FILLED, "0.4"), 1))
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.NEW))  # late REST answer
    order = t.order("hm1")
    assert order is not None
    assert (order.status, order.filled_qty) == (TrackedStatus.PARTIALLY_FILLED, D("0.4"))
    assert order.exchange_order_id == "7"
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.FILLED, "1"))
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.PARTIALLY_FILLED, "0.7"))
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.CANCELED, "0.4"))
    order = t.order("hm1")
    assert order is not None
    assert (order.status, order.filled_qty) == (TrackedStatus.FILLED, D("1"))
    assert order.terminal_at is not None
    assert [e["status"] for e in events(db, ORDER_STATE_EVENT)] == [
        "PENDING_SUBMIT",
        "UNKNOWN",
        "PARTIALLY_FILLED",
        "FILLED",
    ]


HISTORY = [
    (OrderStatus.NEW, "0"),
    (OrderStatus.PARTIALLY_FILLED, "0.25"),
    (OrderStatus.PARTIALLY_FILLED, "0.5"),
    (OrderStatus.PARTIALLY_FILLED, "0.75"),
]


@settings(max_examples=40)
@given(
    data=st.data(),
    ending=st.sampled_from([(OrderStatus.FILLED, "1"), (OrderStatus.CANCELED, "0.75")]),
)
def test_any_delivery_order_ends_in_the_venues_final_state(
    db: Database, data: st.DataObject, ending: tuple[OrderStatus, str]
) -> None:
    time_source = VirtualTimeSource()
    t = tracker(db, time_source)
    cid = f"hm{data.draw(st.integers(0, 10**12))}x{ending[0].value[:2]}"
    with db.begin() as conn:
        t.record_pending(conn, None, cid, EX, ACC, SYM, Side.BUY, D("100"), D("1"))
    observations = [*HISTORY, ending]
    picks = data.draw(st.lists(st.sampled_from(observations), min_size=0, max_size=12))
    delivered = data.draw(st.permutations([*observations, *picks]))  # all of them, some twice
    for status, filled in delivered:
        t.apply_order(EX, ACC, venue_order(cid, status, filled, order_id=cid))
    order = t.order(cid)
    assert order is not None
    assert order.status is TrackedStatus(ending[0].name)
    assert order.filled_qty == D(ending[1])


def test_fills_are_recorded_once_and_explain_cumulative_quantity(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    pending(t, db, "hm1")
    # A fill from REST trade history before any ack: no client id, the order's id unknown.
    assert t.apply_fill(fill("100", "0.25"), source="rest")
    assert got(t, "hm1").fills_qty == 0
    # The ack names the venue id: the fill is linked and proves cumulative quantity.
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.NEW))
    order = t.order("hm1")
    assert order is not None
    assert (order.status, order.filled_qty, order.fills_qty) == (
        TrackedStatus.PARTIALLY_FILLED,
        D("0.25"),
        D("0.25"),
    )
    # The same trade again from the stream, with a client id: ignored.
    assert not t.apply_fill(fill("100", "0.25", cid="hm1"))
    # The venue reports more traded than our fills explain: a shortfall until backfilled.
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.PARTIALLY_FILLED, "0.75"))
    assert got(t, "hm1").missing_fill_qty == D("0.5")
    assert t.apply_fill(fill("101", "0.5", cid="hm1"))
    assert t.apply_fill(fill("102", "0.25"))  # the rest, without an order update: FILLED
    order = t.order("hm1")
    assert order is not None
    assert (order.status, order.filled_qty, order.fills_qty, order.missing_fill_qty) == (
        TrackedStatus.FILLED,
        D("1"),
        D("1"),
        D(0),
    )
    assert order.fills_quote == D("100") and order.fees == {"BTC": D("0.003")}
    fill_events = events(db, FILL_EVENT)
    assert [e["trade_id"] for e in fill_events] == ["100", "101", "102"]
    assert all(e["client_order_id"] in (None, "hm1") for e in fill_events)
    assert Fill.from_payload(fill_events[1]) == fill("101", "0.5", cid="hm1")
    assert [f.trade_id for f in t.fills(EX, ACC, SYM)] == ["100", "101", "102"]
    assert all(f.client_order_id == "hm1" for f in t.fills(EX, ACC, SYM))


def test_one_trade_between_two_of_our_orders_is_two_fills(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    pending(t, db, "hmb", Side.BUY)
    pending(t, db, "hms", Side.SELL)
    t.apply_order(EX, ACC, venue_order("hmb", OrderStatus.NEW, order_id="1"))
    t.apply_order(EX, ACC, venue_order("hms", OrderStatus.NEW, order_id="2", side=Side.SELL))
    assert t.apply_fill(fill("55", "1", order_id="1"))
    assert t.apply_fill(fill("55", "1", order_id="2", side=Side.SELL))
    assert not t.apply_fill(fill("55", "1", order_id="2", side=Side.SELL))
    assert got(t, "hmb").status is TrackedStatus.FILLED
    assert got(t, "hms").status is TrackedStatus.FILLED
    with db.read() as conn:
        count = conn.execute(
            select(func.count()).where(outbox_events.c.event_type == FILL_EVENT)
        ).scalar_one()
    assert count == 2


def test_exposure_counts_every_live_order_until_it_is_declared_lost(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    pending(t, db, "hm-open")
    t.apply_order(EX, ACC, venue_order("hm-open", OrderStatus.PARTIALLY_FILLED, "0.5", "1"))
    pending(t, db, "hm-unknown")
    t.mark_unknown("hm-unknown", "timeout")
    pending(t, db, "hm-pending", Side.SELL, "2")
    pending(t, db, "hm-cancel", Side.SELL, "3")
    t.request_cancel("hm-cancel")
    pending(t, db, "hm-rejected")
    t.mark_rejected("hm-rejected", "insufficient funds")
    exposure = t.exposure(EX, ACC, SYM)
    assert (exposure.quote, exposure.base, exposure.orders) == (D("150"), D("5"), 4)
    assert exposure.by_status[TrackedStatus.PENDING_CANCEL] == 1
    # The never-sent order: definitively not found three times over time → LOST, released.
    time_source.advance(30)
    for _ in range(3):
        t.record_not_found("hm-pending", definitive=True)
        time_source.advance(5)
    assert got(t, "hm-pending").status is TrackedStatus.LOST
    assert t.exposure(EX, ACC, SYM).base == D("3")


def test_lost_needs_consecutive_definitive_answers_spread_over_time(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    pending(t, db, "hm1")

    def status() -> TrackedStatus:
        order = t.order("hm1")
        assert order is not None
        return order.status

    # Young orders and rapid-fire answers do not count beyond one per interval.
    for _ in range(10):
        t.record_not_found("hm1", definitive=True)
    assert got(t, "hm1").not_found_count == 1
    # Network errors never count, and never reset.
    for _ in range(50):
        time_source.advance(6)
        t.record_not_found("hm1", definitive=False)
    assert got(t, "hm1").not_found_count == 1
    t.record_not_found("hm1", definitive=True)
    assert status() is TrackedStatus.PENDING_SUBMIT
    # A sighting resets the count.
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.NEW))
    assert got(t, "hm1").not_found_count == 0
    for expected in (1, 2):
        time_source.advance(6)
        t.record_not_found("hm1", definitive=True)
        assert got(t, "hm1").not_found_count == expected
    assert status() is TrackedStatus.OPEN
    time_source.advance(6)
    t.record_not_found("hm1", definitive=True)
    assert status() is TrackedStatus.LOST
    assert "not found 3 times" in (got(t, "hm1").reason or "")
    # The venue's word beats our inference.
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.PARTIALLY_FILLED, "0.5"))
    assert status() is TrackedStatus.PARTIALLY_FILLED


def test_cancel_before_ack_by_client_id(db: Database, time_source: VirtualTimeSource) -> None:
    t = tracker(db, time_source)
    pending(t, db, "hm1")
    order = t.request_cancel("hm1")
    assert order.status is TrackedStatus.PENDING_CANCEL and order.cancel_requested_at is not None
    # The ack (and a late "open" report) arrive after we asked to cancel: still pending cancel.
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.NEW))
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.PARTIALLY_FILLED, "0.1"))
    order = t.order("hm1")
    assert order is not None
    assert (order.status, order.filled_qty) == (TrackedStatus.PENDING_CANCEL, D("0.1"))
    assert t.open_orders(EX, ACC, SYM)[0].client_order_id == "hm1"
    t.apply_order(EX, ACC, venue_order("hm1", OrderStatus.CANCELED, "0.1"))
    assert got(t, "hm1").status is TrackedStatus.CANCELED
    assert t.open_orders(EX, ACC, SYM) == []
    # Terminal orders ignore late cancels and rejects.
    assert t.request_cancel("hm1").status is TrackedStatus.CANCELED
    assert t.mark_rejected("hm1", "late").status is TrackedStatus.CANCELED


def test_adopting_an_orphan_links_its_earlier_fills(
    db: Database, time_source: VirtualTimeSource
) -> None:
    t = tracker(db, time_source)
    assert t.is_ours("hm123") and not t.is_ours("manual-1") and not t.is_ours(None)
    assert t.apply_fill(fill("9", "0.2", order_id="44"), source="rest")
    assert t.apply_order(EX, ACC, venue_order("hm-orphan", OrderStatus.NEW, order_id="44")) is None
    adopted = t.adopt(EX, ACC, venue_order("hm-orphan", OrderStatus.PARTIALLY_FILLED, "0.2", "44"))
    assert adopted.origin == "adopted" and adopted.intent_id is None
    assert (adopted.status, adopted.fills_qty) == (TrackedStatus.PARTIALLY_FILLED, D("0.2"))
    assert t.exposure(EX, ACC, SYM).quote == D("80")
