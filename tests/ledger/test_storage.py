"""Storage guarantees: exact huge amounts, append-only tables, and verify catching tampering."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from hufimm.ledger import (
    Applied,
    DepositCredit,
    Lock,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    WithdrawDebit,
    verify,
)
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from tests.ledger.conftest import Harness

TEN_24 = 10**24
OVER_INT64 = 2**63 + 12_345


def test_amounts_of_10_24_units_and_sums_beyond_2_63_are_exact(harness: Harness) -> None:
    for i, amount in enumerate([TEN_24, TEN_24 + 1, OVER_INT64, OVER_INT64]):
        out = harness.submit(
            DepositCredit(idempotency_key=f"big-{i}", owner="whale", asset_id="MEME", amount=amount)
        )
        assert isinstance(out, Applied)
    total = 2 * TEN_24 + 1 + 2 * OVER_INT64
    assert total > 2**64
    assert harness.ledger.balance("whale", "MEME").available == total
    assert harness.ledger.balance("custody:mixin", "MEME").available == -total
    out = harness.submit(
        Lock(
            idempotency_key="lock-big",
            owner="whale",
            order_id="ob",
            asset_id="MEME",
            amount=TEN_24 + 3,
            shares=SharesSpec("pool-meme", "MEME", "USDT", Decimal("0.000000000001")),
        )
    )
    assert isinstance(out, Applied)
    assert out.shares_minted == (TEN_24 + 3) // 10**12  # floor(units * price), exact
    out = harness.submit(
        WithdrawDebit(
            idempotency_key="wd-big", owner="whale", asset_id="MEME", amount=OVER_INT64, fee=1
        )
    )
    assert isinstance(out, Applied)
    assert out.balance("whale", "MEME").available == total - TEN_24 - 3 - OVER_INT64 - 1
    # The same values come back from a cold start (read model + entries' running balances).
    harness.reopen()
    again = harness.submit(
        WithdrawDebit(
            idempotency_key="wd-big", owner="whale", asset_id="MEME", amount=OVER_INT64, fee=1
        )
    )
    assert again.original == out  # type: ignore[union-attr]
    page = harness.ledger.entries("whale", limit=10)
    assert {e.amount for e in page.entries} >= {TEN_24, OVER_INT64, -OVER_INT64}
    harness.check()
    if not harness.db.is_sqlite:  # PostgreSQL sums NUMERIC exactly, too
        with harness.db.read() as conn:
            assert conn.execute(sa.text("SELECT sum(amount) FROM ledger_entries")).scalar() == 0
            big = conn.execute(sa.text("SELECT max(amount) FROM ledger_entries")).scalar_one()
        assert int(big) == TEN_24 + 3


def test_a_batch_of_several_statement_blocks_stores_every_amount_as_exact_text(
    harness: Harness,
) -> None:
    # More rows than SQLite's multi-row statements take at once, plus a remainder, in one batch;
    # small amounts are bound as integers there and must land as the same decimal text.
    amounts = [OVER_INT64 if i % 50 == 7 else i + 1 for i in range(150)]
    outcomes = harness.submit_all(
        [
            DepositCredit(idempotency_key=f"many-{i}", owner=f"u{i % 70}", asset_id="A", amount=a)
            for i, a in enumerate(amounts)
        ]
    )
    assert all(isinstance(out, Applied) for out in outcomes)
    for k in range(70):
        expected = sum(a for i, a in enumerate(amounts) if i % 70 == k)
        assert harness.ledger.balance(f"u{k}", "A").available == expected
    assert harness.ledger.balance("custody:mixin", "A").available == -sum(amounts)
    with harness.db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar_one() == 300
        if harness.db.is_sqlite:
            not_text = conn.execute(
                sa.text(
                    "SELECT count(*) FROM ledger_entries WHERE typeof(amount) != 'text'"
                    " OR typeof(available_after) != 'text' OR typeof(locked_after) != 'text'"
                )
            ).scalar_one()
            assert not_text == 0
            stored = conn.execute(
                sa.text("SELECT amount FROM ledger_entries WHERE amount LIKE '-%' LIMIT 1")
            ).scalar_one()
            assert stored.startswith("-") and stored.lstrip("-").isdigit()
    harness.check()


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("ledger_journals", "UPDATE ledger_journals SET status = 'rejected'"),
        ("ledger_journals", "DELETE FROM ledger_journals"),
        ("ledger_entries", "UPDATE ledger_entries SET amount = '0'"),
        ("ledger_entries", "DELETE FROM ledger_entries"),
        ("ledger_share_entries", "UPDATE ledger_share_entries SET shares = '1'"),
        ("ledger_share_entries", "DELETE FROM ledger_share_entries"),
    ],
)
def test_ledger_tables_refuse_update_and_delete(harness: Harness, table: str, change: str) -> None:
    harness.submit(DepositCredit(idempotency_key="d", owner="u", asset_id="A", amount=100))
    harness.submit(
        Lock(
            idempotency_key="l",
            owner="u",
            order_id="o",
            asset_id="A",
            amount=100,
            shares=SharesSpec("p", "B", "A", Decimal(1)),
        )
    )
    with pytest.raises(DBAPIError, match="append-only"), harness.db.begin() as conn:
        conn.execute(sa.text(change))
    with harness.db.read() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
    harness.check()


@pytest.mark.pg
def test_postgresql_refuses_truncate(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        upgrade(db)
        for table in ("ledger_journals", "ledger_entries", "ledger_share_entries"):
            with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {table}"))
    finally:
        db.dispose()


def test_verify_catches_a_tampered_read_model(harness: Harness) -> None:
    harness.submit(DepositCredit(idempotency_key="d", owner="u", asset_id="A", amount=100))
    harness.check()
    with harness.db.begin() as conn:  # the read model is not append-only; verify watches it
        conn.execute(sa.text("UPDATE ledger_balances SET available = '1000' WHERE owner = 'u'"))
    report = verify(harness.db)
    assert not report.ok
    assert any("read model: u A" in v for v in report.violations)


def test_verify_catches_unbalanced_and_negative_history(db: Database) -> None:
    with db.begin() as conn:  # rows a buggy writer might have produced
        conn.execute(
            sa.text(
                "INSERT INTO ledger_journals (journal_id, idempotency_key, payload_hash, type,"
                " status, ref_type, ref_id, created_at, first_entry_id, entry_count) VALUES"
                " (1, 'k1', 'h', 'DEPOSIT_CREDIT', 'applied', '', '', 1, 1, 1),"
                " (2, 'k2', 'h', 'FEE_DEBIT', 'applied', '', '', 2, 2, 2)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ledger_entries (entry_id, journal_id, owner, asset_id, order_id,"
                " amount, type, available_after, locked_after) VALUES"
                " (1, 1, 'u', 'A', NULL, '5', 'DEPOSIT_CREDIT', '5', '0'),"
                " (2, 2, 'u', 'A', NULL, '-9', 'FEE_DEBIT', '-4', '0'),"
                " (3, 2, 'fees', 'A', NULL, '9', 'FEE_DEBIT', '9', '0')"
            )
        )
    report = verify(db)
    assert not report.ok
    text = "\n".join(report.violations)
    assert "journal 1: A postings sum to 5" in text
    assert "journal 2: u A negative" in text
    assert "read model: u A is None" in text


def test_a_distributed_clearing_account_is_zero(harness: Harness) -> None:
    harness.submit(
        RewardReceipt(idempotency_key="r", campaign="c", cycle=3, asset_id="A", amount=10)
    )
    report = verify(harness.db)
    assert report.ok and report.undistributed_clearing == 1
    harness.submit(
        RewardCredit(
            idempotency_key="rc",
            campaign="c",
            cycle=3,
            asset_id="A",
            credits=(("u", 7),),
            treasury_amount=3,
        )
    )
    report = verify(harness.db)
    assert report.ok and report.undistributed_clearing == 0
