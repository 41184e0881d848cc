"""The tick clock.

A :class:`Clock` calls ``on_tick(ts)`` on its components in a fixed order: by phase
(trackers, then strategies, then execution, then scheduled jobs) and by name inside a phase, so
two runs with the same components and seed do the same thing in the same order.  Ticks sit on a
grid of ``tick_size``; a tick that runs past the next grid point skips the missed points and
counts them (never silently).  A component that raises is logged, counted and shown as degraded
in its health; the clock goes on with the others.
"""

from __future__ import annotations

import abc
import enum
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND, Stopwatch, TimeSource


class Phase(enum.IntEnum):
    """Where in a tick a component runs (DESIGN §3)."""

    TRACKERS = 0
    STRATEGY = 1
    EXECUTION = 2
    JOBS = 3


class HealthStatus(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class Health:
    status: HealthStatus = HealthStatus.OK
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is HealthStatus.OK


class TickComponent(abc.ABC):
    """Something the clock drives: subclasses set ``name`` and ``phase``, implement ``on_tick``."""

    name: str
    phase: Phase

    async def start(self) -> None:
        """Acquire resources; raising here stops start-up (fail closed)."""

    async def stop(self) -> None:
        """Release resources; called in reverse order of start."""

    def health(self) -> Health:
        return Health()

    @abc.abstractmethod
    async def on_tick(self, ts: int) -> None:
        """Do this tick's work; ``ts`` is the tick's grid time in epoch nanoseconds."""


class ScheduledJob(TickComponent):
    """Runs ``action(ts)`` every ``interval_s`` seconds of clock time, on the clock's ticks."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        action: Callable[[int], Awaitable[None]],
        phase: Phase = Phase.JOBS,
        run_at_start: bool = True,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"job {name}: interval must be positive, got {interval_s}")
        self.name = name
        self.phase = phase
        self.interval_ns = round(interval_s * NS_PER_SECOND)
        self._action = action
        self._next_due: int | None = None
        self._run_at_start = run_at_start
        self.runs = 0

    async def on_tick(self, ts: int) -> None:
        if self._next_due is None:
            self._next_due = ts if self._run_at_start else ts + self.interval_ns
        if ts < self._next_due:
            return
        # Next due time stays on the job's own grid even when a run is late.
        late_by = ts - self._next_due
        self._next_due += (late_by // self.interval_ns + 1) * self.interval_ns
        self.runs += 1
        await self._action(ts)


@dataclass(frozen=True, slots=True)
class TickTrace:
    """What one tick did, for determinism checks and the demo's log."""

    ts: int
    components: tuple[str, ...]
    errors: tuple[str, ...]
    skipped_before: int


@dataclass
class _ComponentState:
    errors: int = 0
    last_error: str = ""
    last_error_ts: int | None = None
    failed_last_tick: bool = False


class Clock:
    """Drives registered components tick by tick in real or virtual time."""

    def __init__(
        self,
        time_source: TimeSource,
        metrics: Metrics,
        tick_size_s: float = 1.0,
        trace_limit: int = 0,
    ) -> None:
        if not tick_size_s > 0:
            raise ValueError(f"tick_size must be positive, got {tick_size_s}")
        self._time = time_source
        self.tick_ns = round(tick_size_s * NS_PER_SECOND)
        self._components: list[TickComponent] = []
        self._state: dict[str, _ComponentState] = {}
        self._running = False
        self._stop_requested = False
        self._started: list[TickComponent] = []
        self.ticks = 0
        self.skipped_ticks = 0
        self.trace: deque[TickTrace] = deque(maxlen=trace_limit or None)
        self._trace_on = trace_limit > 0
        self.tick_cost_ns: deque[int] = deque(maxlen=100_000)
        self._log = get_logger("clock")
        self._m_tick = metrics.histogram("tick_duration_seconds", "Real time one tick took")
        self._m_skipped = metrics.counter("ticks_skipped_total", "Grid ticks skipped by overruns")
        self._m_ticks = metrics.counter("ticks_total", "Ticks run")
        self._m_errors = metrics.counter(
            "tick_component_errors_total", "Exceptions raised by components", ["component"]
        )
        self._m_component = metrics.histogram(
            "component_tick_seconds", "Real time a component's on_tick took", ["component"]
        )

    # ------------------------------------------------------------------ registration
    def register(self, component: TickComponent) -> None:
        if component.name in self._state:
            raise ValueError(f"a component named {component.name!r} is already registered")
        if self._running:
            raise RuntimeError("register components before the clock starts")
        self._components.append(component)
        self._components.sort(key=lambda c: (int(c.phase), c.name))
        self._state[component.name] = _ComponentState()

    def register_all(self, components: Iterable[TickComponent]) -> None:
        for component in components:
            self.register(component)

    def schedule(
        self,
        name: str,
        interval_s: float,
        action: Callable[[int], Awaitable[None]],
        phase: Phase = Phase.JOBS,
        run_at_start: bool = True,
    ) -> ScheduledJob:
        job = ScheduledJob(name, interval_s, action, phase, run_at_start)
        self.register(job)
        return job

    @property
    def components(self) -> tuple[TickComponent, ...]:
        return tuple(self._components)

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, Health]:
        """Each component's own health, degraded when its last tick raised."""
        report: dict[str, Health] = {}
        for component in self._components:
            state = self._state[component.name]
            own = component.health()
            if state.failed_last_tick and own.ok:
                own = Health(
                    HealthStatus.DEGRADED,
                    f"last tick raised: {state.last_error}",
                    {"errors": state.errors},
                )
            report[component.name] = own
        return report

    def errors_of(self, name: str) -> int:
        return self._state[name].errors

    # ------------------------------------------------------------------ running
    async def start(self) -> None:
        self._running = True
        for component in self._components:
            await component.start()
            self._started.append(component)

    async def stop(self) -> None:
        for component in reversed(self._started):
            try:
                await component.stop()
            except Exception as exc:  # stopping the rest matters more than one failure
                self._log.error("component_stop_failed", name=component.name, error=repr(exc))
        self._started.clear()
        self._running = False

    def request_stop(self) -> None:
        """Finish the current tick, then return from :meth:`run`."""
        self._stop_requested = True

    async def tick(self, ts: int, skipped_before: int = 0) -> None:
        """Run one tick at grid time ``ts`` (public for tests and benchmarks)."""
        watch = Stopwatch()
        errors: list[str] = []
        for component in self._components:
            component_watch = Stopwatch()
            state = self._state[component.name]
            try:
                await component.on_tick(ts)
            except Exception as exc:
                state.errors += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                state.last_error_ts = ts
                state.failed_last_tick = True
                errors.append(component.name)
                self._m_errors.labels(component.name).inc()
                self._log.error(
                    "component_tick_failed",
                    name=component.name,
                    ts=ts,
                    error=state.last_error,
                    exc_info=True,
                )
            else:
                state.failed_last_tick = False
            self._m_component.labels(component.name).observe(
                component_watch.elapsed_ns() / NS_PER_SECOND
            )
        cost = watch.elapsed_ns()
        self.tick_cost_ns.append(cost)
        self._m_tick.observe(cost / NS_PER_SECOND)
        self._m_ticks.inc()
        self.ticks += 1
        if self._trace_on:
            self.trace.append(
                TickTrace(
                    ts, tuple(c.name for c in self._components), tuple(errors), skipped_before
                )
            )

    async def run(self, *, ticks: int | None = None, until_ns: int | None = None) -> None:
        """Start components, tick on the grid until told to stop, then stop them.

        ``ticks`` bounds the number of ticks, ``until_ns`` the grid time (exclusive).
        """
        await self.start()
        try:
            now = self._time.time_ns()
            next_tick = math.ceil(now / self.tick_ns) * self.tick_ns
            done = 0
            skipped = 0
            self._stop_requested = False
            while not self._stop_requested:
                if ticks is not None and done >= ticks:
                    break
                if until_ns is not None and next_tick >= until_ns:
                    break
                wait = next_tick - self._time.time_ns()
                if wait > 0:
                    await self._time.sleep(wait / NS_PER_SECOND)
                await self.tick(next_tick, skipped)
                done += 1
                next_tick += self.tick_ns
                now = self._time.time_ns()
                skipped = 0
                if now > next_tick:
                    skipped = math.ceil((now - next_tick) / self.tick_ns)
                    next_tick += skipped * self.tick_ns
                    self.skipped_ticks += skipped
                    self._m_skipped.inc(skipped)
                    self._log.warning("tick_overrun", skipped=skipped, now=now)
        finally:
            await self.stop()
