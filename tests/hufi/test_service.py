"""The HuFi jobs on the clock: failures back off and show in health, never stop the engine."""

from __future__ import annotations

from decimal import Decimal

from hufimm.core.clock import Clock, HealthStatus
from hufimm.core.metrics import Metrics
from hufimm.sim.hufi import Fault, new_campaign
from hufimm.sim.hufi.campaigns import DAY_NS
from hufimm.store.db import Database
from hufimm.store.outbox import OutboxDispatcher
from tests.hufi.support import asgi_service, in_process_world, service_settings


async def test_jobs_back_off_on_a_5xx_storm_and_recover(db: Database) -> None:
    time, _, world = in_process_world()
    now = time.time_ns()
    world.add_campaigns(
        [
            new_campaign(
                world.defaults,
                name="svc",
                chain_id=137,
                type="MARKET_MAKING",
                exchange_name="mexc",
                symbol="HMT/USDT",
                details={"daily_volume_target": Decimal(100)},
                start_ns=now,
                end_ns=now + DAY_NS,
                fund_units=10**8,
                created_ns=now,
            )
        ]
    )
    metrics = Metrics()
    service = asgi_service(service_settings(sync_interval_s=60.0), db, time, world, metrics)
    clock = Clock(time, metrics)
    service.register(clock, OutboxDispatcher(db, time, metrics))
    assert [c.name for c in clock.components] == ["hufi.campaigns", "hufi.join", "hufi.scores"]
    world.launcher_faults.add(Fault("status", path="/", status=503, times=-1))
    for _ in range(30):  # 30 simulated minutes of ticks, one a minute
        await clock.tick(time.time_ns())
        time.advance(60)
    failures = metrics.value("hufi_job_failures_total", {"job": "hufi.campaigns"})
    assert 1 <= failures < 10  # backed off: far fewer runs than the 30 due
    assert service.health().status is HealthStatus.DEGRADED
    assert clock.errors_of("hufi.campaigns") == 0  # handled, not an engine error
    requests_during_storm = world.launcher_faults.count("GET", "/campaigns")
    world.launcher_faults.clear()
    for _ in range(120):
        await clock.tick(time.time_ns())
        time.advance(60)
    assert service.health().status is HealthStatus.OK
    assert world.launcher_faults.count("GET", "/campaigns") > requests_during_storm
    assert world.oracle_faults.count("DELETE") == 0
    await service.aclose()
