"""Each command type: what it posts, and every reason it can be refused (both backends)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.errors import Conflict, InvalidInput
from hufimm.ledger import (
    CUSTODY_MIXIN,
    FEES,
    TREASURY,
    Adjustment,
    Applied,
    Balance,
    BurnShares,
    DepositCredit,
    Duplicate,
    FeeDebit,
    Lock,
    MintShares,
    MmRealizedPnl,
    Rejected,
    RejectReason,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    Unlock,
    WithdrawDebit,
)
from tests.ledger.conftest import Harness

BTC, USDT = "btc-asset", "usdt-asset"
SPEC = SharesSpec("pool-1", BTC, USDT, Decimal("2.5"))


def applied(outcome: object) -> Applied:
    assert isinstance(outcome, Applied), outcome
    return outcome


def rejected(outcome: object, reason: RejectReason) -> None:
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason is reason, outcome


def deposit(h: Harness, key: str, owner: str, asset: str, amount: int) -> Applied:
    return applied(
        h.submit(DepositCredit(idempotency_key=key, owner=owner, asset_id=asset, amount=amount))
    )


def test_deposit_withdraw_fee_move_between_custody_user_and_fees(harness: Harness) -> None:
    first = deposit(harness, "dep-1", "alice", USDT, 1_000)
    assert first.balances == (  # sorted by (owner, asset)
        Balance("alice", USDT, 1_000, 0),
        Balance(CUSTODY_MIXIN, USDT, -1_000, 0),
    )
    out = applied(
        harness.submit(
            WithdrawDebit(idempotency_key="wd-1", owner="alice", asset_id=USDT, amount=300, fee=7)
        )
    )
    assert out.balance("alice", USDT) == Balance("alice", USDT, 693, 0)
    assert out.balance(CUSTODY_MIXIN, USDT).available == -700
    assert out.balance(FEES, USDT).available == 7
    applied(
        harness.submit(FeeDebit(idempotency_key="fee-1", owner="alice", asset_id=USDT, amount=3))
    )
    assert harness.ledger.balance("alice", USDT) == Balance("alice", USDT, 690, 0)
    assert harness.ledger.balance(FEES, USDT).available == 10
    journal = harness.ledger.journal(out.journal_id)
    assert journal is not None
    assert {(e.owner, e.amount, e.type) for e in journal.entries} == {
        ("alice", -300, "WITHDRAW_DEBIT"),
        (CUSTODY_MIXIN, 300, "WITHDRAW_DEBIT"),
        ("alice", -7, "FEE_DEBIT"),
        (FEES, 7, "FEE_DEBIT"),
    }
    harness.check()


@pytest.mark.parametrize("amount", [0, -5])
def test_invalid_amounts_are_rejected_and_recorded(harness: Harness, amount: int) -> None:
    cmd = DepositCredit(idempotency_key="dep-bad", owner="alice", asset_id=USDT, amount=amount)
    rejected(harness.submit(cmd), RejectReason.INVALID_AMOUNT)
    again = harness.submit(cmd)
    assert isinstance(again, Duplicate) and isinstance(again.original, Rejected)
    journal = harness.ledger.journal_by_key("dep-bad")
    assert journal is not None and journal.status == "rejected" and not journal.entries
    harness.check()


def test_insufficient_and_unknown_accounts(harness: Harness) -> None:
    rejected(
        harness.submit(WithdrawDebit(idempotency_key="w0", owner="bob", asset_id=USDT, amount=1)),
        RejectReason.UNKNOWN_ACCOUNT,
    )
    deposit(harness, "d1", "bob", USDT, 10)
    rejected(
        harness.submit(
            WithdrawDebit(idempotency_key="w1", owner="bob", asset_id=USDT, amount=10, fee=1)
        ),
        RejectReason.INSUFFICIENT_AVAILABLE,
    )
    rejected(
        harness.submit(FeeDebit(idempotency_key="f1", owner="bob", asset_id=USDT, amount=11)),
        RejectReason.INSUFFICIENT_AVAILABLE,
    )
    # A rejection never flips, even after the funds arrive.
    deposit(harness, "d2", "bob", USDT, 100)
    again = harness.submit(
        WithdrawDebit(idempotency_key="w1", owner="bob", asset_id=USDT, amount=10, fee=1)
    )
    assert isinstance(again, Duplicate) and isinstance(again.original, Rejected)
    assert harness.ledger.balance("bob", USDT).available == 110
    harness.check()


def test_lock_unlock_and_shares_follow_the_order(harness: Harness) -> None:
    deposit(harness, "d-btc", "carol", BTC, 10)
    deposit(harness, "d-usdt", "carol", USDT, 1_000)
    applied(
        harness.submit(
            Lock(idempotency_key="l1", owner="carol", order_id="o1", asset_id=USDT, amount=400)
        )
    )
    minted = applied(
        harness.submit(
            Lock(
                idempotency_key="l2",
                owner="carol",
                order_id="o1",
                asset_id=BTC,
                amount=3,
                shares=SPEC,
            )
        )
    )
    assert minted.shares_minted == 400 + 7  # 400 quote + floor(3 * 2.5)
    assert minted.balances == (Balance("carol", BTC, 7, 3),)
    assert {(f.asset_id, f.amount) for f in harness.ledger.locks("o1")} == {(USDT, 400), (BTC, 3)}

    rejected(  # more funds while in market making would make the shares wrong
        harness.submit(
            Lock(idempotency_key="l3", owner="carol", order_id="o1", asset_id=BTC, amount=1)
        ),
        RejectReason.SHARES_OUTSTANDING,
    )
    rejected(
        harness.submit(
            Unlock(idempotency_key="u0", owner="carol", order_id="o1", asset_id=BTC, amount=3)
        ),
        RejectReason.SHARES_OUTSTANDING,
    )
    paused = applied(
        harness.submit(BurnShares(idempotency_key="pause", owner="carol", order_id="o1"))
    )
    assert paused.shares_burned == 407 and paused.balances == ()
    rejected(
        harness.submit(BurnShares(idempotency_key="pause-2", owner="carol", order_id="o1")),
        RejectReason.NO_SHARES,
    )
    resumed = applied(
        harness.submit(
            MintShares(
                idempotency_key="resume",
                owner="carol",
                order_id="o1",
                shares=SharesSpec("pool-1", BTC, USDT, Decimal("3")),
            )
        )
    )
    assert resumed.shares_minted == 409
    rejected(
        harness.submit(
            Unlock(
                idempotency_key="u1",
                owner="carol",
                order_id="o1",
                asset_id=BTC,
                amount=4,
                burn_shares=True,
            )
        ),
        RejectReason.INSUFFICIENT_LOCKED,
    )
    withdrawn = applied(
        harness.submit(
            Unlock(
                idempotency_key="u2",
                owner="carol",
                order_id="o1",
                asset_id=BTC,
                amount=3,
                burn_shares=True,
            )
        )
    )
    assert withdrawn.shares_burned == 409
    assert withdrawn.balances == (Balance("carol", BTC, 10, 0),)
    kinds = [(s.kind.value, s.shares) for s in harness.ledger.order_shares("o1")]
    assert kinds == [("MINT", 407), ("BURN", 407), ("MINT", 409), ("BURN", 409)]
    harness.check()


def test_orders_belong_to_one_user(harness: Harness) -> None:
    deposit(harness, "d1", "dave", USDT, 10)
    deposit(harness, "d2", "erin", USDT, 10)
    applied(
        harness.submit(
            Lock(idempotency_key="l1", owner="dave", order_id="o9", asset_id=USDT, amount=5)
        )
    )
    rejected(
        harness.submit(
            Lock(idempotency_key="l2", owner="erin", order_id="o9", asset_id=USDT, amount=5)
        ),
        RejectReason.ORDER_OWNER_MISMATCH,
    )
    rejected(
        harness.submit(
            Unlock(idempotency_key="u1", owner="erin", order_id="o9", asset_id=USDT, amount=5)
        ),
        RejectReason.ORDER_OWNER_MISMATCH,
    )
    rejected(
        harness.submit(
            Unlock(idempotency_key="u2", owner="dave", order_id="nope", asset_id=USDT, amount=5)
        ),
        RejectReason.UNKNOWN_ACCOUNT,
    )
    rejected(
        harness.submit(
            Unlock(idempotency_key="u3", owner="dave", order_id="o9", asset_id=BTC, amount=5)
        ),
        RejectReason.UNKNOWN_ACCOUNT,
    )
    rejected(
        harness.submit(
            MintShares(
                idempotency_key="m1",
                owner="dave",
                order_id="o9",
                shares=SharesSpec("p", BTC, "other", Decimal(1)),
            )
        ),
        RejectReason.INVALID_AMOUNT,  # nothing locked in the pool's assets: worth no shares
    )
    harness.check()


def test_reward_receipt_and_multi_leg_credit_empty_the_clearing_account(harness: Harness) -> None:
    credit = RewardCredit(
        idempotency_key="alloc-c1-0",
        campaign="c1",
        cycle=0,
        asset_id=USDT,
        credits=(("u1", 600), ("u2", 300)),
        treasury_amount=100,
    )
    rejected(harness.submit(credit), RejectReason.UNKNOWN_ACCOUNT)  # nothing received yet
    receipt = RewardReceipt(
        idempotency_key="rcpt-1", campaign="c1", cycle=1, asset_id=USDT, amount=1_000
    )
    applied(harness.submit(receipt))
    short = RewardCredit(
        idempotency_key="alloc-c1-1-short",
        campaign="c1",
        cycle=1,
        asset_id=USDT,
        credits=(("u1", 600), ("u2", 300)),
        treasury_amount=99,
    )
    rejected(harness.submit(short), RejectReason.CLEARING_MISMATCH)
    full = RewardCredit(
        idempotency_key="alloc-c1-1",
        campaign="c1",
        cycle=1,
        asset_id=USDT,
        credits=(("u1", 600), ("u2", 300)),
        treasury_amount=100,
    )
    out = applied(harness.submit(full))
    assert out.balance("rewards:c1:1", USDT).available == 0
    assert out.balance(TREASURY, USDT).available == 100
    journal = harness.ledger.journal(out.journal_id)
    assert journal is not None and len(journal.entries) == 4
    assert sum(e.amount for e in journal.entries) == 0
    rejected(  # distributing again finds an empty clearing account
        harness.submit(
            RewardCredit(
                idempotency_key="alloc-again",
                campaign="c1",
                cycle=1,
                asset_id=USDT,
                credits=(("u1", 1),),
            )
        ),
        RejectReason.CLEARING_MISMATCH,
    )
    report = harness.ledger  # the verify report counts the distributed clearing account as done
    assert report.balance("rewards:c1:1", USDT).total == 0
    harness.check()


def test_pnl_and_adjustments(harness: Harness) -> None:
    rejected(
        harness.submit(
            MmRealizedPnl(idempotency_key="p0", pool_id="pool", asset_id=USDT, amount=-5)
        ),
        RejectReason.UNKNOWN_ACCOUNT,
    )
    applied(
        harness.submit(
            MmRealizedPnl(idempotency_key="p1", pool_id="pool", asset_id=USDT, amount=50)
        )
    )
    rejected(
        harness.submit(
            MmRealizedPnl(idempotency_key="p2", pool_id="pool", asset_id=USDT, amount=-51)
        ),
        RejectReason.INSUFFICIENT_AVAILABLE,
    )
    applied(
        harness.submit(
            MmRealizedPnl(idempotency_key="p3", pool_id="pool", asset_id=USDT, amount=-20)
        )
    )
    assert harness.ledger.balance(TREASURY, USDT).available == 30
    assert harness.ledger.balance("pnl:pool", USDT).available == -30
    out = applied(
        harness.submit(
            Adjustment(
                idempotency_key="adj-1",
                owner="frank",
                asset_id=USDT,
                amount=25,
                reason="missed deposit, ticket 42",
                admin="ops",
            )
        )
    )
    assert out.balance("frank", USDT).available == 25
    rejected(
        harness.submit(
            Adjustment(
                idempotency_key="adj-2",
                owner="frank",
                asset_id=USDT,
                amount=-26,
                reason="reverse",
                admin="ops",
            )
        ),
        RejectReason.INSUFFICIENT_AVAILABLE,
    )
    journal = harness.ledger.journal(out.journal_id)
    assert journal is not None and journal.memo == "ops: missed deposit, ticket 42"
    harness.check()


def test_same_key_other_payload_is_a_conflict(harness: Harness) -> None:
    deposit(harness, "dep-x", "gina", USDT, 5)
    with pytest.raises(Conflict):
        harness.submit(
            DepositCredit(idempotency_key="dep-x", owner="gina", asset_id=USDT, amount=6)
        )
    with pytest.raises(Conflict):  # the key is taken whatever the command type
        harness.submit(FeeDebit(idempotency_key="dep-x", owner="gina", asset_id=USDT, amount=5))
    assert harness.ledger.balance("gina", USDT).available == 5
    harness.check()


def test_command_shape_is_checked_at_construction() -> None:
    with pytest.raises(InvalidInput):
        DepositCredit(idempotency_key="k", owner="treasury", asset_id=USDT, amount=1)
    with pytest.raises(InvalidInput):
        DepositCredit(idempotency_key="k", owner="u", asset_id=USDT, amount=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        DepositCredit(idempotency_key="", owner="u", asset_id=USDT, amount=1)
    with pytest.raises(InvalidInput):
        Adjustment(idempotency_key="k", owner="u", asset_id=USDT, amount=1, reason=" ", admin="a")
    with pytest.raises(InvalidInput):
        Adjustment(
            idempotency_key="k", owner="rewards:c:1", asset_id=USDT, amount=1, reason="r", admin="a"
        )
    with pytest.raises(InvalidInput):
        RewardCredit(
            idempotency_key="k", campaign="c", cycle=0, asset_id=USDT, credits=(("u", 1), ("u", 2))
        )
    with pytest.raises(InvalidInput):
        SharesSpec("p", BTC, USDT, Decimal("-1"))
    with pytest.raises(InvalidInput):
        Lock(idempotency_key="k", owner="custody:mixin", order_id="o", asset_id=BTC, amount=1)
