"""SIGKILL a process that is submitting commands, restart it, resubmit everything: each command is
applied exactly once and ``hufimm ledger verify`` passes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from hufimm.core.rng import SeededRng
from hufimm.store.db import Database
from tests.ledger.kill_worker import CHUNK, seeded_commands
from tests.ledger.model import LedgerModel

ROOT = Path(__file__).resolve().parents[2]
COUNT = 1200
SEED = 20260101


def _worker(url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUFIMM_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.ledger.kill_worker import main; main()",
            url,
            str(SEED),
            str(COUNT),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _run_until(url: str, kill_after: int | None) -> list[str]:
    """Run the worker; SIGKILL it right after it reports chunk ``kill_after`` (0: at start)."""
    proc = _worker(url)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.strip())
            progress = lines[-1]
            if kill_after is not None and progress in ("started", f"done {kill_after}"):
                if progress == "started" and kill_after != 0:
                    continue
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    if kill_after is not None:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 0, lines[-5:]
    return lines


@pytest.mark.slow
def test_sigkill_at_seeded_points_then_resubmit_everything(db: Database) -> None:
    url = db.url.render_as_string(hide_password=False)
    commands = seeded_commands(SEED, COUNT)
    chunks = -(-len(commands) // CHUNK)
    rng = SeededRng(SEED).child("kill-points")
    points = [0, *sorted(rng.randint(1, chunks - 5) for _ in range(2))]
    for point in points:
        _run_until(url, point)
    summary = _run_until(url, None)[-1].split()
    assert summary[0] == "summary"
    applied, rejected, duplicates = (int(x) for x in summary[1:])
    assert applied + rejected + duplicates == len(commands)

    # Exactly once: one journal per distinct key, and the state is the model's after the list.
    model = LedgerModel()
    for cmd in commands:
        model.submit(cmd, 0)
    with db.read() as conn:
        journals = conn.execute(text("SELECT count(*) FROM ledger_journals")).scalar_one()
        balances = {
            (r.owner, r.asset_id): (int(r.available), int(r.locked))
            for r in conn.execute(text("SELECT * FROM ledger_balances"))
        }
    assert journals == len({c.idempotency_key for c in commands}) == len(model.records)
    expected = {k: (v[0], v[1]) for k, v in model.accounts.items()}
    assert balances == expected

    verify = subprocess.run(
        [sys.executable, "-m", "hufimm", "ledger", "verify", "--db", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "verdict: OK" in verify.stdout
