"""The overlapped writer on real threads: batch k+1 is prepared while batch k commits.

A seeded stream of commands goes through a real event loop with small batches and several chunks
in flight, while commits fail at seeded points (the batch prepared behind a failed one must be
thrown away and redone).  Every outcome equals the model's, in order, and the ledger verifies.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from hufimm.core.errors import Conflict
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.ledger import Applied, Duplicate, Ledger, Outcome, Rejected, verify
from hufimm.store.db import Database
from tests.ledger.kill_worker import seeded_commands
from tests.ledger.model import LedgerModel


class FlakyCommits:
    """Fails some commits (called on the commit thread): only every fifth commit may fail, so
    the writer's recovery of a failed batch (one commit per request, at most four here) always
    succeeds and every command gets a definite outcome to compare with the model."""

    def __init__(self, seed: int, rate: float) -> None:
        self._rng = SeededRng(seed).child("flaky-commits")
        self._rate = rate
        self._lock = threading.Lock()
        self._calls = 0
        self.failures = 0

    def __call__(self) -> None:
        with self._lock:
            self._calls += 1
            if self._calls % 5 == 0 and self._rng.chance(self._rate):
                self.failures += 1
                raise RuntimeError("simulated commit failure")


def check(model: LedgerModel, cmd: object, outcome: Outcome, originals: dict[str, Outcome]) -> None:
    kind, expected = model.submit(cmd, 0)  # type: ignore[arg-type]
    key = cmd.idempotency_key  # type: ignore[attr-defined]
    if kind == "duplicate":
        assert isinstance(outcome, Duplicate) and outcome.original == originals[key]
        return
    assert kind == "new" and expected is not None
    if expected.reason is None:
        assert isinstance(outcome, Applied), (cmd, outcome)
        assert tuple(tuple(b) for b in outcome.balances) == expected.balances
    else:
        assert isinstance(outcome, Rejected) and outcome.reason is expected.reason, (cmd, outcome)
    originals[key] = outcome


@pytest.mark.parametrize("cache", [1_000_000, 30])
async def test_overlapped_batches_match_the_model_despite_failed_commits(
    db: Database, cache: int
) -> None:
    commands = seeded_commands(seed=7, count=2000)
    flaky = FlakyCommits(seed=7, rate=0.6)
    ledger = Ledger(db, RealTimeSource(), max_batch=50, state_limit=cache, before_commit=flaky)
    await ledger.start()
    try:
        chunks = [commands[i : i + 25] for i in range(0, len(commands), 25)]
        futures = [asyncio.ensure_future(ledger.submit_many(chunk)) for chunk in chunks]
        results = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await ledger.stop()
    assert flaky.failures > 3
    model = LedgerModel()
    originals: dict[str, Outcome] = {}
    for chunk, outcomes in zip(chunks, results, strict=True):
        assert not isinstance(outcomes, BaseException | Conflict), outcomes
        for cmd, outcome in zip(chunk, outcomes, strict=True):
            check(model, cmd, outcome, originals)
    for (owner, asset), (available, locked) in model.accounts.items():
        assert tuple(ledger.balance(owner, asset))[2:] == (available, locked)
    report = verify(db)
    assert report.ok, report.violations
