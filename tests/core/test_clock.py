"""The tick clock: deterministic order, overrun accounting, isolated failures, jobs."""

from __future__ import annotations

from itertools import pairwise

from hufimm.core.clock import Clock, HealthStatus, Phase, TickComponent
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual


class Recorder(TickComponent):
    """Appends (name, ts, draw) to a shared log; draws from its own seeded stream."""

    def __init__(self, name: str, phase: Phase, log: list[tuple[str, int, int]], rng: SeededRng):
        self.name = name
        self.phase = phase
        self._log = log
        self._rng = rng.child(name)

    async def on_tick(self, ts: int) -> None:
        self._log.append((self.name, ts, self._rng.randint(0, 10**6)))


def _run(seed: int, names_in_registration_order: list[tuple[str, Phase]]) -> list[object]:
    time_source = VirtualTimeSource()
    clock = Clock(time_source, Metrics(), tick_size_s=1.0, trace_limit=1000)
    log: list[tuple[str, int, int]] = []
    rng = SeededRng(seed)
    for name, phase in names_in_registration_order:
        clock.register(Recorder(name, phase, log, rng))
    run_virtual(clock.run(ticks=50), time_source)
    return [log, list(clock.trace)]


def test_same_seed_and_components_give_identical_tick_logs() -> None:
    components = [
        ("exec", Phase.EXECUTION),
        ("book", Phase.TRACKERS),
        ("mm-b", Phase.STRATEGY),
        ("mm-a", Phase.STRATEGY),
    ]
    first = _run(7, components)
    assert first == _run(7, list(reversed(components)))  # registration order does not matter
    assert first != _run(8, components)
    log = first[0]
    assert isinstance(log, list)
    assert [entry[0] for entry in log[:4]] == ["book", "mm-a", "mm-b", "exec"]
    ticks = sorted({entry[1] for entry in log})
    assert len(ticks) == 50
    assert all(b - a == NS_PER_SECOND for a, b in pairwise(ticks))


class Slow(TickComponent):
    name = "slow"
    phase = Phase.STRATEGY

    def __init__(self, time_source: VirtualTimeSource, pause_s: float, on_tick_no: int) -> None:
        self._time = time_source
        self._pause = pause_s
        self._when = on_tick_no
        self.seen: list[int] = []

    async def on_tick(self, ts: int) -> None:
        self.seen.append(ts)
        if len(self.seen) == self._when:
            await self._time.sleep(self._pause)


def test_overrun_skips_grid_ticks_and_counts_them() -> None:
    time_source = VirtualTimeSource()
    metrics = Metrics()
    clock = Clock(time_source, metrics, tick_size_s=1.0)
    slow = Slow(time_source, 2.5, on_tick_no=3)
    clock.register(slow)
    run_virtual(clock.run(ticks=6), time_source)
    steps = [(b - a) // NS_PER_SECOND for a, b in pairwise(slow.seen)]
    assert steps == [1, 1, 3, 1, 1]  # tick 3 ran 2.5 s: grid points +1 and +2 were skipped
    assert clock.skipped_ticks == 2
    assert metrics.value("ticks_skipped_total") == 2
    assert metrics.value("ticks_total") == 6
    assert metrics.value("tick_duration_seconds_count") == 6


class Flaky(TickComponent):
    name = "flaky"
    phase = Phase.TRACKERS

    def __init__(self, fail_on: set[int]) -> None:
        self.calls = 0
        self._fail_on = fail_on

    async def on_tick(self, ts: int) -> None:
        self.calls += 1
        if self.calls in self._fail_on:
            raise RuntimeError(f"boom {self.calls}")


class Counter(TickComponent):
    name = "counter"
    phase = Phase.EXECUTION

    def __init__(self) -> None:
        self.calls = 0

    async def on_tick(self, ts: int) -> None:
        self.calls += 1


def test_component_exception_is_counted_and_the_clock_goes_on() -> None:
    time_source = VirtualTimeSource()
    metrics = Metrics()
    clock = Clock(time_source, metrics)
    flaky, counter = Flaky({2, 3, 5}), Counter()
    clock.register_all([flaky, counter])
    run_virtual(clock.run(ticks=5), time_source)
    assert counter.calls == 5 and flaky.calls == 5
    assert clock.errors_of("flaky") == 3
    assert metrics.value("tick_component_errors_total", {"component": "flaky"}) == 3
    health = clock.health()
    assert health["flaky"].status is HealthStatus.DEGRADED
    assert "boom 5" in health["flaky"].reason
    assert health["counter"].ok
    run_virtual(clock.run(ticks=1), time_source)
    assert clock.health()["flaky"].ok  # recovered on the next clean tick


def test_scheduled_jobs_run_at_their_own_cadence() -> None:
    time_source = VirtualTimeSource()
    clock = Clock(time_source, Metrics(), tick_size_s=1.0)
    runs: dict[str, list[int]] = {"every5": [], "every60": []}

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def action(ts: int) -> None:
            runs[name].append(ts)

        return action

    clock.schedule("every5", 5, recorder("every5"))
    clock.schedule("every60", 60, recorder("every60"), run_at_start=False)
    run_virtual(clock.run(ticks=121), time_source)
    five = runs["every5"]
    assert len(five) == 25
    assert all(b - a == 5 * NS_PER_SECOND for a, b in pairwise(five))
    assert len(runs["every60"]) == 2
    assert runs["every60"][0] - five[0] == 60 * NS_PER_SECOND


def test_nonsense_tick_size_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="positive"):
        Clock(VirtualTimeSource(), Metrics(), tick_size_s=-1)
