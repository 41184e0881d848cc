"""The engine's commands: the demo's report, pools, and `run`'s clean failures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, hufimm

BTC = "c6d0c728-2624-429b-8e0d-d9d19b6592fa"
USDT = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
VOLATILE = {"tick_ms", "database"}


def _demo(tmp_path: Path, name: str, *extra: str) -> dict[str, object]:
    result = hufimm(
        "demo",
        "--minutes",
        "2",
        "--json",
        "--db",
        f"sqlite:///{tmp_path / name}",
        *extra,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout)
    return report


@pytest.mark.slow
def test_demo_reports_and_replays_from_its_seed(tmp_path: Path) -> None:
    first = _demo(tmp_path, "a.db", "--fast", "--seed", "3")
    for key in (
        "orders_placed",
        "fills",
        "maker_volume",
        "taker_volume",
        "intents_by_status",
        "duplicate_orders",
        "reconciliation",
        "ledger_verified",
        "tick_ms",
    ):
        assert key in first
    assert first["duplicate_orders"] == 0
    assert first["ledger_verified"] is True
    assert isinstance(first["reconciliation"], dict) and first["reconciliation"]["mismatches"] == 0
    assert isinstance(first["orders_placed"], int) and first["orders_placed"] > 0
    assert isinstance(first["tick_ms"], dict) and set(first["tick_ms"]) == {"p50", "p99"}
    again = _demo(tmp_path, "b.db", "--fast", "--seed", "3")
    assert {k: v for k, v in first.items() if k not in VOLATILE} == {
        k: v for k, v in again.items() if k not in VOLATILE
    }
    # The production path (ccxt over loopback HTTP) tells the same story.
    over_http = _demo(tmp_path, "c.db", "--seed", "3")
    assert over_http["mode"] == "ccxt over loopback HTTP"
    for key in ("orders_placed", "fills", "maker_volume", "intents_by_status"):
        assert over_http[key] == first[key]


def create_pool(
    tmp_path: Path, db: str, pool: str, symbol: str, *params: str
) -> subprocess.CompletedProcess[str]:
    args = [
        "pool",
        "create",
        pool,
        "--exchange",
        "binance",
        "--account",
        "main",
        "--symbol",
        symbol,
        "--base-asset",
        BTC,
        "--quote-asset",
        USDT,
    ]
    for param in params:
        args += ["--param", param]
    return hufimm(*args, "--db", db, cwd=tmp_path)


def test_demo_refuses_a_bad_fault_spec(tmp_path: Path) -> None:
    assert_one_line_error(hufimm("demo", "--faults", "drop=lots", cwd=tmp_path), "--faults")
    assert_one_line_error(hufimm("demo", "--faults", "gravity=0.1", cwd=tmp_path), "--faults")


def test_pools_are_created_listed_and_validated(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pools.db'}"
    made = create_pool(tmp_path, db, "p1", "BTC/USDT", "bid_spread=0.002", "order_levels=2")
    assert made.returncode == 0, made.stderr
    assert_one_line_error(
        create_pool(tmp_path, db, "p2", "ETH/USDT", "bid_spread=-1"), "bid_spread"
    )
    funded = hufimm(
        "pool",
        "fund",
        "p1",
        "--user",
        "11111111-2222-4333-8444-555555555555",
        "--order",
        "o1",
        "--base",
        "0.5",
        "--quote",
        "30000",
        "--price",
        "60000",
        "--deposit-first",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert funded.returncode == 0, funded.stderr
    listed = json.loads(hufimm("pool", "list", "--json", "--db", db, cwd=tmp_path).stdout)
    assert listed == [
        {
            "pool_id": "p1",
            "market": "binance/main/BTC/USDT",
            "status": "active",
            "locked_base": "0.50000000",
            "locked_quote": "30000.00000000",
        }
    ]
    verified = hufimm("ledger", "verify", "--db", db, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_run_fails_cleanly_without_keys_pools_or_network(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'run.db'}"
    assert_one_line_error(hufimm("run", "--db", db, cwd=tmp_path), "exchange.api_key")
    config = tmp_path / "hufimm.toml"
    config.write_text('[exchange]\napi_key = "k"\nsecret = "s"\n')
    run = ("--config", str(config), "run", "--db", db)
    assert_one_line_error(hufimm(*run, cwd=tmp_path), "no active pool")
    assert create_pool(tmp_path, db, "p1", "BTC/USDT").returncode == 0
    # No network here: the exchange cannot be reached, and that is one clear line.
    assert_one_line_error(hufimm(*run, cwd=tmp_path), "unreachable")
