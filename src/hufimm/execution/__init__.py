"""The execution worker: turns durable intents into exchange calls, idempotently."""

from hufimm.execution.worker import INTENT_EVENT, ExecutionWorker

__all__ = ["INTENT_EVENT", "ExecutionWorker"]
