"""The joiner: policy, safety gate, key enrolment, join outcomes, stored joined_at."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND
from hufimm.hufi.joiner import KeyPermissions
from hufimm.hufi.tables import key_enrollments, participations
from hufimm.sim.hufi import ENROLMENT_PERMISSIONS, SPOT_TRADE, SimCampaign, new_campaign
from hufimm.sim.hufi.campaigns import DAY_NS, THRESHOLD_MARKET_MAKING
from hufimm.sim.hufi.world import HufiWorld
from hufimm.store.db import Database
from tests.hufi.support import (
    SteppingTime,
    asgi_service,
    in_process_world,
    service_settings,
    wallet_key,
)


def _add(world: HufiWorld, time: SteppingTime, name: str, **overrides: Any) -> SimCampaign:
    now = time.time_ns()
    fields: dict[str, Any] = {
        "chain_id": 137,
        "type": "MARKET_MAKING",
        "exchange_name": "mexc",
        "symbol": "HMT/USDT",
        "details": {"daily_volume_target": Decimal(5000)},
        "start_ns": now + 3600 * NS_PER_SECOND,
        "end_ns": now + 5 * DAY_NS,
        "fund_units": 5_000 * 10**6,
        "created_ns": now,
    }
    fields.update(overrides)
    campaign = new_campaign(world.defaults, name=name, **fields)
    world.add_campaigns([campaign])
    return campaign


def _states(db: Database) -> dict[str, tuple[str, int | None, str | None]]:
    with db.read() as conn:
        rows = conn.execute(select(participations)).all()
    return {r.address: (r.state, r.joined_at_ns, r.last_error) for r in rows}


class _Inspector:
    def __init__(self, permissions: KeyPermissions | None) -> None:
        self.permissions = permissions
        self.calls = 0

    async def inspect(self, exchange: str, api_key: str, secret: str) -> KeyPermissions | None:
        self.calls += 1
        return self.permissions


async def test_policy_gate_enrolment_and_join_outcomes(db: Database) -> None:
    time, book, world = in_process_world()
    book.add_account("mexc", "ours", eth_address="0x" + "ab" * 20)
    book.issue_key("mexc", "ours", "key-ours", "secret-ours", ENROLMENT_PERMISSIONS)
    joinable = _add(world, time, "joinable")
    second = _add(world, time, "second")
    lagging = _add(world, time, "lagging", indexed_at_ns=time.time_ns() + 300 * NS_PER_SECOND)
    small = _add(world, time, "small", fund_units=10 * 10**6)
    dex = _add(world, time, "dex", exchange_name="pancakeswap")
    no_key = _add(world, time, "no-key", exchange_name="gate")
    other_market = _add(world, time, "other", symbol="ETH/USDT")
    settings = service_settings(
        min_daily_reward=Decimal(100),
        markets=[
            {"exchange": "mexc", "symbol": "HMT/USDT"},
            {"exchange": "gate", "symbol": "HMT/USDT"},
            {"exchange": "pancakeswap", "symbol": "HMT/USDT"},
        ],
    )
    metrics = Metrics()
    service = asgi_service(settings, db, time, world, metrics)
    assert service.joiner is not None
    await service.sync.sync_once()
    results = dict(await service.joiner.run_once())

    assert results[joinable.address].state == "joined"
    assert results[second.address].state == "joined"
    assert results[lagging.address].state == "pending"  # "Campaign not found": retried later
    assert "pancakeswap is a DEX" in results[dex.address].detail
    assert results[no_key.address].detail == "no read-only key configured for gate"
    assert small.address not in results and other_market.address not in results
    assert metrics.value("hufi_join_refused_total", {"exchange": "pancakeswap"}) == 1
    assert world.oracle_faults.count("POST", "/exchange-api-keys") == 1  # enrolled once
    states = _states(db)
    # joined_at is the oracle's own time of the join (its check-join-status answer).
    stored = world.oracle.stored[joinable.key].participants[0].joined_ns
    assert states[joinable.address][:2] == ("joined", stored // 1_000_000 * 1_000_000)

    # Nothing is due again until the retry time; then the lagging campaign joins.
    assert await service.joiner.run_once() == []
    time.advance(settings.join_retry_s + 1)
    again = dict(await service.joiner.run_once())
    assert again[lagging.address].state == "joined"
    assert world.oracle_faults.count("POST", "/campaigns/join") == 4
    assert world.oracle_faults.count("DELETE") == 0
    await service.aclose()


async def test_already_joined_is_success_and_full_campaigns_close(db: Database) -> None:
    time, book, world = in_process_world()
    book.add_account("mexc", "ours", eth_address="0x" + "ab" * 20)
    book.issue_key("mexc", "ours", "key-ours", "secret-ours", ENROLMENT_PERMISSIONS)
    book.add_account("mexc", "rival", eth_address="0x" + "cd" * 20)
    book.issue_key("mexc", "rival", "key-rival", "secret-rival", ENROLMENT_PERMISSIONS)
    earlier = _add(world, time, "earlier")
    full = _add(
        world,
        time,
        "full",
        type=THRESHOLD_MARKET_MAKING,
        details={"minimum_volume_target": Decimal(10), "max_participants": 1},
    )
    types = ["MARKET_MAKING", THRESHOLD_MARKET_MAKING]
    service = asgi_service(service_settings(campaign_types=types), db, time, world, Metrics())
    rival = asgi_service(
        service_settings(
            wallet_private_key=wallet_key("rival"),
            exchange_keys=[
                {"exchange": "mexc", "api_key": "key-rival", "secret_key": "secret-rival"}
            ],
        ),
        db,
        time,
        world,
        Metrics(),
    )
    assert service.joiner is not None and service.oracle is not None and rival.oracle is not None
    # We joined "earlier" in a previous run; a rival wallet took the only seat of "full".
    await service.oracle.enroll_exchange_key("mexc", "key-ours", "secret-ours")
    await service.oracle.join(137, earlier.address)
    first_join = world.oracle.stored[earlier.key].participants[0].joined_ns
    await rival.oracle.enroll_exchange_key("mexc", "key-rival", "secret-rival")
    await rival.oracle.join(137, full.address)
    time.advance(60)
    await service.sync.sync_once()
    results = dict(await service.joiner.run_once())
    assert results[earlier.address].state == "joined"
    assert results[earlier.address].joined_at_ns == first_join // 1_000_000 * 1_000_000
    assert results[full.address].state == "closed"
    assert results[full.address].detail == "join closed: max_participants_reached"
    assert world.oracle_faults.count("POST", "/campaigns/join") == 2  # ours once, the rival's
    await service.aclose()
    await rival.aclose()


async def test_the_gate_refuses_a_key_that_can_trade(db: Database) -> None:
    time, book, world = in_process_world()
    book.add_account("mexc", "ours", eth_address="0x" + "ab" * 20)
    book.issue_key("mexc", "ours", "key-ours", "secret-ours", (*ENROLMENT_PERMISSIONS, SPOT_TRADE))
    campaign = _add(world, time, "tempting")
    inspector = _Inspector(KeyPermissions(can_read_trades=True, can_trade=True, can_withdraw=False))
    metrics = Metrics()
    service = asgi_service(service_settings(), db, time, world, metrics, key_inspector=inspector)
    assert service.joiner is not None
    await service.sync.sync_once()
    results = dict(await service.joiner.run_once())
    assert results[campaign.address].state == "refused"
    assert results[campaign.address].detail == "the mexc key can trade or withdraw"
    assert inspector.calls == 1
    assert world.oracle_faults.count("POST", "/exchange-api-keys") == 0
    assert world.oracle_faults.count("POST", "/campaigns/join") == 0
    assert metrics.value("hufi_join_refused_total", {"exchange": "mexc"}) == 1
    with db.read() as conn:
        assert conn.execute(select(key_enrollments)).first() is None

    # Without an inspector, an undeclared key is refused too (fail closed).
    undeclared = service_settings(
        exchange_keys=[{"exchange": "mexc", "api_key": "key-ours", "secret_key": "secret-ours"}]
    )
    strict = asgi_service(undeclared, db, time, world, Metrics())
    assert strict.joiner is not None
    time.advance(3600)
    refused = dict(await strict.joiner.run_once())
    assert "cannot establish that the mexc key is read-only" in refused[campaign.address].detail
    await service.aclose()
    await strict.aclose()
