"""``hufimm tracking``: orders, reconciliation runs and market health, read from the database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from hufimm.cli import app
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import VirtualTimeSource
from hufimm.market import Side
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.tracking import MarketHealthBoard, OrderTracker


def test_orders_reconciliations_and_health(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(db_url)
    upgrade(db)
    time_source = VirtualTimeSource()
    orders = OrderTracker(db, time_source, Metrics())
    with db.begin() as conn:
        orders.record_pending(
            conn, "i-1", "hm000001", "simex", "mm", "BTC/USDT", Side.BUY, Decimal("100"), Decimal(1)
        )
        MarketHealthBoard(db).set(
            conn, "simex", "mm", "BTC/USDT", False, "hm000001 not found (1/3)", 5
        )
    orders.mark_unknown("hm000001", "timeout after sending")
    db.dispose()
    runner = CliRunner()
    env = {"HUFIMM_DATABASE_URL": db_url}

    listed = runner.invoke(app, ["tracking", "orders", "--live"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "hm000001" in listed.output and "UNKNOWN" in listed.output
    assert "timeout after sending" in listed.output and "1 of 1 order(s)" in listed.output

    health = runner.invoke(app, ["tracking", "health", "--db", db_url])
    assert health.exit_code == 0, health.output
    assert "UNHEALTHY: hm000001 not found (1/3)" in health.output

    runs = runner.invoke(app, ["tracking", "reconciliations"], env=env)
    assert runs.exit_code == 0 and "0 run(s)" in runs.output

    missing = runner.invoke(
        app, ["tracking", "orders", "--db", f"sqlite:///{tmp_path / 'empty.db'}"]
    )
    assert missing.exit_code != 0 and "hufimm db upgrade" in str(missing.exception)
