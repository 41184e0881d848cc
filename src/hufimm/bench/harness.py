"""The benchmark registry, runner and report."""

from __future__ import annotations

import importlib
import json
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: name -> "module:function"; imported only when that benchmark runs.
BENCHMARKS: dict[str, str] = {
    "clock": "hufimm.bench.core_bench:run_clock",
    "outbox": "hufimm.bench.core_bench:run_outbox",
    "book": "hufimm.bench.book_bench:run",
    "mixin": "hufimm.bench.mixin_bench:run_mixin",
    "matching": "hufimm.bench.exchange_bench:run_matching",
    "diffstream": "hufimm.bench.exchange_bench:run_diff_stream",
    "hufi-estimator": "hufimm.bench.hufi_bench:run_estimator",
    "hufi-clients": "hufimm.bench.hufi_bench:run_clients",
    "ledger": "hufimm.bench.ledger_bench:run",
    "tick": "hufimm.bench.tick_bench:run",
}


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    pg_dsn: str | None = None
    workdir: Path = Path(".bench")


@dataclass(frozen=True)
class Figure:
    """One measured number: what, under which case, and (optionally) a peer's figure."""

    bench: str
    case: str
    metric: str
    value: float
    unit: str
    peer: str | None = None
    peer_value: float | None = None
    goal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``samples`` (``q`` in 0..1)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return float(ordered[index])


def _load(name: str) -> Callable[[BenchOptions], list[Figure]]:
    target = BENCHMARKS[name]
    module_name, _, func = target.partition(":")
    fn: Callable[[BenchOptions], list[Figure]] = getattr(importlib.import_module(module_name), func)
    return fn


def run_benchmarks(names: Sequence[str], options: BenchOptions) -> list[Figure]:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise KeyError(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    options.workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    for name in names:
        figures.extend(_load(name)(options))
    return figures


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def print_table(figures: Sequence[Figure], console: Console | None = None) -> None:
    table = Table(title="hufimm benchmarks")
    for column in ("bench", "case", "metric", "value", "unit", "peer", "peer value", "goal"):
        table.add_column(column, justify="right" if "value" in column else "left")
    for f in figures:
        table.add_row(
            f.bench,
            f.case,
            f.metric,
            _fmt(f.value),
            f.unit,
            f.peer or "",
            _fmt(f.peer_value),
            f.goal or "",
        )
    (console or Console(width=160)).print(table)


def write_json(figures: Sequence[Figure], path: Path) -> None:
    document = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "figures": [asdict(f) for f in figures],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True))
