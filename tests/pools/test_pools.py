"""Pools: rows, validation, and a budget that is exactly what the ledger locked for them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.errors import Conflict, InvalidInput, NotFound
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import VirtualTimeSource
from hufimm.ledger import Ledger, verify
from hufimm.pools import FundingRefused, PoolStore, StrategyConfig, fund_pool
from hufimm.store.db import Database

BTC = "c6d0c728-2624-429b-8e0d-d9d19b6592fa"
USDT = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
ALICE = "11111111-2222-4333-8444-555555555555"
BOB = "66666666-7777-4888-8999-aaaaaaaaaaaa"


def _store(db: Database) -> PoolStore:
    return PoolStore(db, VirtualTimeSource())


def test_pools_are_validated_and_unique_per_market(db: Database) -> None:
    store = _store(db)
    pool = store.create("p1", "sim", "mm", "BTC/USDT", BTC, USDT, StrategyConfig())
    assert pool.instance_id == "pool:p1"
    assert store.get("p1").strategy == StrategyConfig()
    with pytest.raises(Conflict):
        store.create("p2", "sim", "mm", "BTC/USDT", BTC, USDT, StrategyConfig())
    with pytest.raises(InvalidInput, match="symbol"):
        store.create("p3", "sim", "mm", "BTCUSDT", BTC, USDT, StrategyConfig())
    with pytest.raises(NotFound):
        store.get("nope")
    store.set_status("p1", "stopped")
    assert store.active() == []


def test_strategy_config_refuses_nonsense_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match="bid_spred: unknown parameter"):
        StrategyConfig.parse({"bid_spred": "0.01"})
    with pytest.raises(InvalidInput, match="negative"):
        StrategyConfig.parse({"bid_spread": "-0.01"})
    with pytest.raises(InvalidInput, match="order_refresh_time_s"):
        StrategyConfig.parse({"order_refresh_time_s": 0})
    config = StrategyConfig.parse({"bid_spread": "0.005", "order_levels": 3})
    assert config.executor_config("i", "p", "sim", "mm", "BTC/USDT").quoting.order_levels == 3


async def test_funding_locks_once_and_the_budget_is_the_sum_of_locks(db: Database) -> None:
    time_source = VirtualTimeSource()
    store = PoolStore(db, time_source)
    pool = store.create("p1", "sim", "mm", "BTC/USDT", BTC, USDT, StrategyConfig())
    ledger = Ledger(db, time_source, Metrics())
    await ledger.start()
    try:
        for _ in range(2):  # idempotent: the second run changes nothing
            await fund_pool(
                ledger,
                store,
                pool,
                user_id=ALICE,
                order_id="o-alice",
                base_units=50_000_000,
                quote_units=5_000_000_000_000,
                share_price=Decimal("100000"),
                deposit_first=True,
            )
        await fund_pool(
            ledger,
            store,
            pool,
            user_id=BOB,
            order_id="o-bob",
            base_units=0,
            quote_units=1_000_000_000,
            share_price=Decimal("100000"),
            deposit_first=True,
        )
        budget = store.budget(ledger, pool)
        assert (budget.base_units, budget.quote_units) == (50_000_000, 5_001_000_000_000)
        assert sorted(store.orders_of("p1")) == [("o-alice", ALICE), ("o-bob", BOB)]
        with pytest.raises(FundingRefused, match="unknown_account"):  # Bob never held BTC
            await fund_pool(
                ledger,
                store,
                pool,
                user_id=BOB,
                order_id="o-bob-2",
                base_units=1,
                quote_units=0,
                share_price=Decimal("100000"),
            )
        with pytest.raises(Conflict):
            store.join("p1", "o-alice", BOB)
    finally:
        await ledger.stop()
    assert verify(db).ok
