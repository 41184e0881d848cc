"""Metrics owned by the application.

Every component receives the app's :class:`Metrics` and asks it for instruments by name; the
registry is never the process-global one, so tests build as many apps as they like without
"duplicated timeseries" errors and read exactly the figures their own app produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)

#: Buckets for durations measured in seconds (ticks, commits, requests).
DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """A private Prometheus registry plus get-or-create accessors."""

    def __init__(self, namespace: str = "hufimm") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.namespace = namespace
        self._instruments: dict[str, MetricWrapperBase] = {}

    def _get(self, kind: type[M], name: str, doc: str, labels: Sequence[str], **kw: object) -> M:
        existing = self._instruments.get(name)
        if existing is not None:
            if not isinstance(existing, kind):
                raise TypeError(f"metric {name} already registered as {type(existing).__name__}")
            return existing
        metric = kind(
            name,
            doc,
            labelnames=tuple(labels),
            namespace=self.namespace,
            registry=self.registry,
            **kw,  # type: ignore[arg-type]
        )
        self._instruments[name] = metric
        return metric

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return self._get(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, doc, labels)

    def histogram(
        self,
        name: str,
        doc: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> Histogram:
        return self._get(Histogram, name, doc, labels, buckets=tuple(buckets))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (``0.0`` when it was never touched); for tests and reports."""
        sample = self.registry.get_sample_value(f"{self.namespace}_{name}", labels or {})
        return 0.0 if sample is None else sample

    def exposition(self) -> bytes:
        """The registry in Prometheus text format, for ``/metrics``."""
        return generate_latest(self.registry)
