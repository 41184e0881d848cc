"""Fault injection: each category fires independently at its configured rate.

Categories (per stream message, per REST call or per published diff, as named):

* ``drop`` / ``dup`` / ``reorder`` — a stream message is lost, sent twice, or held back and sent
  after the next one (per message, per subscriber);
* ``gap`` — the venue burns an update id, so the next diff does not follow the previous one
  (per published diff);
* ``disconnect`` — the stream connection is closed (per stream message);
* ``timeout`` — an order mutation is executed, then answered with ``-1007`` "execution status
  unknown" (per create/cancel);
* ``error5xx`` — a request is refused with 503 ``-1008`` before anything happens (per REST call);
* ``ratelimit`` — a request is refused with 429 and ``Retry-After`` (per REST call);
* ``stale`` — a depth snapshot is served from an older state, with its older update id.

Every decision is drawn from the category's own seeded stream and counted, so a test can check
that a category fired at its rate and a failing seed replays the same faults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from hufimm.core.errors import InvalidInput
from hufimm.core.rng import SeededRng


@dataclass(frozen=True)
class FaultConfig:
    drop: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    gap: float = 0.0
    disconnect: float = 0.0
    timeout: float = 0.0
    error5xx: float = 0.0
    ratelimit: float = 0.0
    stale: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInput(f"fault rate {f.name}={value} must be within [0, 1]")

    @classmethod
    def all_on(cls) -> FaultConfig:
        """Every category at a rate that shows up within minutes but leaves trading possible."""
        return cls(
            drop=0.01,
            dup=0.01,
            reorder=0.01,
            gap=0.002,
            disconnect=0.0005,
            timeout=0.02,
            error5xx=0.02,
            ratelimit=0.01,
            stale=0.02,
        )

    @classmethod
    def parse(cls, text: str | None) -> FaultConfig:
        """``"drop=0.01,dup=0.01,gap=0.001"`` → a config (unknown names are refused);
        ``"all"`` turns every category on at :meth:`all_on`'s rates."""
        if not text:
            return cls()
        if text.strip() == "all":
            return cls.all_on()
        names = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in text.split(","):
            name, sep, raw = part.strip().partition("=")
            if not sep or name not in names:
                raise InvalidInput(
                    f"--faults: expected NAME=RATE with NAME in {sorted(names)}, got {part!r}"
                )
            try:
                values[name] = float(raw)
            except ValueError:
                raise InvalidInput(f"--faults: {name} rate {raw!r} is not a number") from None
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class FaultCounter:
    trials: int = 0
    hits: int = 0

    @property
    def rate(self) -> float:
        return self.hits / self.trials if self.trials else 0.0


@dataclass
class FaultInjector:
    """Draws fault decisions from per-category seeded streams and counts them."""

    config: FaultConfig
    rng: SeededRng
    counters: dict[str, FaultCounter] = field(default_factory=dict)
    _streams: dict[str, SeededRng] = field(default_factory=dict)

    def fires(self, category: str) -> bool:
        rate = getattr(self.config, category)
        counter = self.counters.get(category)
        if counter is None:
            counter = self.counters[category] = FaultCounter()
        counter.trials += 1
        if rate <= 0:
            return False
        stream = self._streams.get(category)
        if stream is None:
            stream = self._streams[category] = self.rng.child(f"fault/{category}")
        hit = stream.chance(rate)
        if hit:
            counter.hits += 1
        return hit

    def observed(self) -> Mapping[str, FaultCounter]:
        return dict(self.counters)
