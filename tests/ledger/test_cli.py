"""``hufimm ledger verify | balances | history`` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hufimm.ledger import DepositCredit, Lock
from hufimm.store.db import Database
from tests.cli.test_cli import hufimm
from tests.ledger.conftest import Harness


def _url(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def test_verify_exits_0_then_1_once_the_read_model_is_tampered_with(
    harness: Harness, tmp_path: Path
) -> None:
    harness.submit(DepositCredit(idempotency_key="d", owner="alice", asset_id="A", amount=5))
    ok = hufimm("ledger", "verify", "--db", _url(harness.db), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "journals: 1 (1 applied, 0 rejected)" in ok.stdout and "verdict: OK" in ok.stdout
    with harness.db.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_balances SET available = '6' WHERE owner = 'alice'"))
    bad = hufimm("ledger", "verify", "--db", _url(harness.db), cwd=tmp_path)
    assert bad.returncode == 1
    assert "verdict: 1 violation(s)" in bad.stdout
    assert "read model: alice A is (6, 0), the fold says (5, 0)" in bad.stdout


def test_balances_and_history(harness: Harness, tmp_path: Path) -> None:
    for i in range(3):
        harness.submit(
            DepositCredit(idempotency_key=f"d{i}", owner="bob", asset_id="A", amount=10**8)
        )
    harness.submit(Lock(idempotency_key="l", owner="bob", order_id="o7", asset_id="A", amount=5))
    out = hufimm("ledger", "balances", "--user", "bob", "--db", _url(harness.db), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "299999995" in out.stdout and "3.00000000" in out.stdout
    history = hufimm(
        "ledger",
        "history",
        "--user",
        "bob",
        "--limit",
        "2",
        "--db",
        _url(harness.db),
        cwd=tmp_path,
    )
    assert history.returncode == 0, history.stderr
    assert "locked:o7" in history.stdout and "more: --before" in history.stdout
    nobody = hufimm(
        "ledger", "balances", "--user", "nobody", "--db", _url(harness.db), cwd=tmp_path
    )
    assert "nobody has no balances" in nobody.stdout
