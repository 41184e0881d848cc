"""``hufimm sim exchange`` serves the simulated exchange on 127.0.0.1 and prints its URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_sim_exchange_command_serves_and_prints_its_url(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[account]]\napi_key = "k1"\nsecret = "s1"\nbalances = { BTC = "1", ETH = "2" }\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUFIMM_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hufimm",
            "sim",
            "exchange",
            "--port",
            "0",
            "--symbols",
            "BTC/USDT,ETH/USDT",
            "--seed",
            "5",
            "--accounts",
            str(accounts),
            "--faults",
            "drop=0.01,gap=0.001",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # blocks until the server is listening
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/api/v3/exchangeInfo", timeout=10) as response:
            info = json.load(response)
            assert response.headers["X-MBX-USED-WEIGHT-1M"] == "20"
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sim_exchange_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hufimm",
            "sim",
            "exchange",
            "--accounts",
            str(tmp_path / "no.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --accounts: no such file: {tmp_path / 'no.toml'}"
    ]
