"""Structured logging.

JSON lines in production (one object per event, easy to ship), a readable console renderer in a
terminal.  Timestamps come from the injected :class:`TimeSource`, so a virtual-time run logs
virtual times and two runs of one seed log the same lines.  Secrets never reach a log: fields
whose name looks secret are masked by a processor, whatever the caller passed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from hufimm.core.timesource import TimeSource, ns_to_datetime

LogFormat = Literal["console", "json"]

_SECRET_WORDS = (
    "secret",
    "password",
    "private_key",
    "api_key",
    "_token",
    "spend_key",
    "session_seed",
    "jwt",
)


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        lowered = key.lower()
        if any(word in lowered for word in _SECRET_WORDS):
            event[key] = "***"
    return event


def _timestamper(time_source: TimeSource) -> structlog.types.Processor:
    def stamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["ts"] = ns_to_datetime(time_source.time_ns()).isoformat()
        return event

    return stamp


def configure_logging(
    time_source: TimeSource, fmt: LogFormat = "console", level: str = "INFO"
) -> None:
    """Configure structlog for this process (stderr, so stdout stays for command output)."""
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _timestamper(time_source),
            _mask_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A bound logger tagged with the component name."""
    return structlog.get_logger(component=name)
