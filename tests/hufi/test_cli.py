"""``hufimm sim hufi`` served in a subprocess; ``hufimm hufi campaigns|join|score`` against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hufi.support import wallet_key

_SIM = (
    "import typer\n"
    "from hufimm.cli import main\n"
    "from hufimm.cli import app\n"
    "from hufimm.cli.sim_hufi import hufi\n"
    "sim = typer.Typer()\n"
    "sim.command('hufi')(hufi)\n"
    "app.add_typer(sim, name='sim')\n"
    "main()\n"
)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUFIMM_")}
    env.update(extra)
    return env


@pytest.fixture
def sim_urls(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``hufimm sim hufi --port 0`` (registered as the lead will) in a child process."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SIM, "sim", "hufi", "--port", "0"],
        cwd=tmp_path,
        env=_env({}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        launcher = process.stdout.readline().strip()
        oracle = process.stdout.readline().strip()
        assert launcher.startswith("launcher: http://127.0.0.1:"), launcher
        assert oracle.startswith("oracle: http://127.0.0.1:"), oracle
        yield launcher.split(" ", 1)[1], oracle.split(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def _hufimm(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hufimm", *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_campaigns_join_and_score_against_the_served_simulation(
    tmp_path: Path, sim_urls: tuple[str, str]
) -> None:
    launcher, oracle = sim_urls
    env = {
        "HUFIMM_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "HUFIMM_HUFI__LAUNCHER_URL": launcher,
        "HUFIMM_HUFI__ORACLE_URL": oracle,
        "HUFIMM_HUFI__WALLET_PRIVATE_KEY": wallet_key("cli"),
        "HUFIMM_HUFI__MARKETS": '[{"exchange": "mexc", "symbol": "HMT/USDT"}]',
        "HUFIMM_HUFI__EXCHANGE_KEYS": json.dumps(
            [
                {
                    "exchange": "mexc",
                    "api_key": "demo-key",
                    "secret_key": "demo-secret",
                    "read_only": True,
                }
            ]
        ),
    }
    listed = _hufimm("hufi", "campaigns", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    campaigns = json.loads(listed.stdout)
    assert len(campaigns) == 3
    assert {c["lifecycle"] for c in campaigns} == {"running"}
    assert {c["chain_id"] for c in campaigns} == {137}
    ours = next(c for c in campaigns if c["matches_market"])
    assert (ours["exchange"], ours["symbol"]) == ("mexc", "HMT/USDT")

    running = _hufimm(
        "hufi", "campaigns", "--no-sync", "--status", "running", cwd=tmp_path, env=env
    )
    assert running.returncode == 0 and "HuFi campaigns (3)" in running.stdout

    joined = _hufimm("hufi", "join", ours["address"].lower(), cwd=tmp_path, env=env)
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.startswith(f"{ours['address']}: joined (joined at ")
    again = _hufimm("hufi", "join", ours["address"], cwd=tmp_path, env=env)
    assert again.returncode == 0 and ": joined" in again.stdout  # already joined is success

    score = _hufimm("hufi", "score", "--campaign", ours["address"], "--json", cwd=tmp_path, env=env)
    assert score.returncode == 0, score.stderr
    cycles = json.loads(score.stdout)["cycles"]
    assert [c["cycle"] for c in cycles] == list(range(30))
    assert cycles[0]["score"] == "0"
    one = _hufimm(
        "hufi", "score", "--campaign", ours["address"], "--cycle", "31", cwd=tmp_path, env=env
    )
    assert one.returncode == 2 and one.stderr.strip() == "error: cycle 31 is outside 0..29"

    gated = _hufimm(
        "hufi",
        "join",
        next(c for c in campaigns if c["exchange"] == "bybit")["address"],
        cwd=tmp_path,
        env=env,
    )
    assert gated.returncode == 1
    assert "refused — no read-only key configured for bybit" in gated.stdout


def test_bad_address_is_one_line(tmp_path: Path) -> None:
    result = _hufimm(
        "hufi",
        "score",
        "--campaign",
        "0x123",
        cwd=tmp_path,
        env={"HUFIMM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: not an address: '0x123'"
