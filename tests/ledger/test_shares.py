"""Share values and share-time: exact, additive over windows, equal to a brute-force count."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hufimm.core.errors import OutcomeUnknown
from hufimm.ledger import (
    Applied,
    DepositCredit,
    Rejected,
    RejectReason,
    RewardCredit,
    RewardReceipt,
    ShareEntry,
    ShareKind,
    owners_of,
    share_ns,
    share_value,
)
from tests.ledger.conftest import Harness


@st.composite
def histories(draw: st.DrawFn) -> list[ShareEntry]:
    """Share entries of a few orders, in ledger order: each order alternates mint and burn."""
    entries: list[ShareEntry] = []
    outstanding: dict[str, int] = {}
    now = 0
    for n in range(draw(st.integers(0, 25))):
        now += draw(st.integers(0, 30))
        order = draw(st.sampled_from(["a", "b", "c"]))
        if order in outstanding:
            kind, shares = ShareKind.BURN, outstanding.pop(order)
        else:
            kind, shares = ShareKind.MINT, draw(st.integers(1, 10**30))
            outstanding[order] = shares
        entries.append(
            ShareEntry(
                n + 1,
                n + 1,
                order,
                f"user-{order}",
                "pool",
                kind,
                shares,
                Decimal(1) if kind is ShareKind.MINT else None,
                now,
            )
        )
    return entries


def brute_force(entries: list[ShareEntry], start: int, end: int) -> dict[str, int]:
    """Sum, over every nanosecond of the window, of what each order holds at that instant."""
    weights: dict[str, int] = {}
    for t in range(start, end):
        held: dict[str, int] = {}
        for e in entries:
            if e.created_at > t:
                break
            if e.kind is ShareKind.MINT:
                held[e.order_id] = e.shares
            else:
                held.pop(e.order_id, None)
        for order, shares in held.items():
            weights[order] = weights.get(order, 0) + shares
    return weights


windows = st.tuples(st.integers(-10, 400), st.integers(0, 400)).map(lambda w: (w[0], w[0] + w[1]))


@given(histories(), windows)
def test_share_time_equals_the_brute_force_count(
    entries: list[ShareEntry], window: tuple[int, int]
) -> None:
    start, end = window
    assert share_ns(entries, start, end) == brute_force(entries, start, end)


@given(histories(), st.lists(st.integers(-10, 800), min_size=3, max_size=3).map(sorted))
def test_share_time_adds_up_over_adjacent_windows(
    entries: list[ShareEntry], cuts: list[int]
) -> None:
    a, b, c = cuts
    left, right, whole = share_ns(entries, a, b), share_ns(entries, b, c), share_ns(entries, a, c)
    for order in whole.keys() | left.keys() | right.keys():
        assert left.get(order, 0) + right.get(order, 0) == whole.get(order, 0)
    assert share_ns(entries, b, b) == {}


@given(histories())
def test_owners_of_maps_every_order_to_its_user(entries: list[ShareEntry]) -> None:
    owners = owners_of(entries)
    assert owners == {e.order_id: f"user-{e.order_id}" for e in entries}
    assert set(share_ns(entries, -10, 10**6)) <= set(owners)


def test_impossible_histories_are_refused() -> None:
    def entry(n: int, kind: ShareKind, shares: int, at: int) -> ShareEntry:
        return ShareEntry(n, n, "o", "u", "p", kind, shares, None, at)

    with pytest.raises(ValueError, match="never minted"):
        share_ns([entry(1, ShareKind.BURN, 5, 0)], 0, 10)
    with pytest.raises(ValueError, match="twice"):
        share_ns([entry(1, ShareKind.MINT, 5, 0), entry(2, ShareKind.MINT, 5, 1)], 0, 10)
    with pytest.raises(ValueError, match="burned 4 of 5"):
        share_ns([entry(1, ShareKind.MINT, 5, 0), entry(2, ShareKind.BURN, 4, 1)], 0, 10)
    with pytest.raises(ValueError, match="back in time"):
        share_ns([entry(1, ShareKind.MINT, 5, 3), entry(2, ShareKind.BURN, 5, 1)], 0, 10)
    with pytest.raises(ValueError, match="ends before"):
        share_ns([], 10, 0)


@given(
    st.integers(0, 10**40),
    st.integers(0, 10**30),
    st.decimals(
        min_value=Decimal("1e-20"),
        max_value=Decimal("1e12"),
        places=20,
        allow_nan=False,
        allow_infinity=False,
    ),
)
def test_share_value_is_the_exact_floor(base: int, quote: int, price: Decimal) -> None:
    assert share_value(base, quote, price) == quote + math.floor(base * Fraction(price))


def test_a_multi_leg_distribution_is_all_or_nothing(harness: Harness) -> None:
    users = [f"holder-{i:04d}" for i in range(500)]
    assert isinstance(
        harness.submit(
            RewardReceipt(
                idempotency_key="rcv", campaign="c9", cycle=2, asset_id="R", amount=500 * 1000 + 17
            )
        ),
        Applied,
    )
    credit = RewardCredit(
        idempotency_key="alloc-c9-2",
        campaign="c9",
        cycle=2,
        asset_id="R",
        credits=tuple((u, 1000) for u in users),
        treasury_amount=17,
    )
    harness.crash_next_commit()
    with pytest.raises(OutcomeUnknown):
        harness.submit(credit)
    harness.reopen()
    assert harness.ledger.balance("rewards:c9:2", "R").available == 500 * 1000 + 17
    assert all(harness.ledger.balance(u, "R").total == 0 for u in users[:5] + users[-5:])
    bad = RewardCredit(
        idempotency_key="alloc-bad",
        campaign="c9",
        cycle=2,
        asset_id="R",
        credits=(*((u, 1000) for u in users[:-1]), (users[-1], 0)),
        treasury_amount=1017,
    )
    refused = harness.submit(bad)
    assert isinstance(refused, Rejected) and refused.reason is RejectReason.INVALID_AMOUNT
    assert harness.ledger.balance(users[0], "R").total == 0
    out = harness.submit(credit)
    assert isinstance(out, Applied) and len(out.balances) == 502
    journal = harness.ledger.journal(out.journal_id)
    assert journal is not None and len(journal.entries) == 502
    assert harness.ledger.balance("rewards:c9:2", "R").available == 0
    assert harness.ledger.balance(users[123], "R").available == 1000
    # Later activity of one holder does not disturb the distribution's record.
    harness.submit(DepositCredit(idempotency_key="later", owner=users[0], asset_id="R", amount=1))
    harness.check()
