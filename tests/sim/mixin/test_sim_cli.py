"""``hufimm sim mixin`` serves the simulator and prints a usable keystore."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

# The `sim` command group is another module's; register the command the way it will.
_PROGRAM = (
    "import typer\n"
    "from hufimm.cli.sim_mixin import mixin\n"
    "app = typer.Typer()\n"
    "app.callback()(lambda: None)\n"
    "app.command(name='mixin')(mixin)\n"
    "app()\n"
)


def test_sim_mixin_command_serves_on_loopback() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", _PROGRAM, "mixin", "--port", "0", "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("simulated Mixin at http://127.0.0.1:")
        keystore = json.loads(process.stdout.readline())
        assert {"base_url", "app_id", "session_id", "session_private_key"} <= set(keystore)
        made = httpx.post(keystore["base_url"] + "/_sim/users", json={"full_name": "x"}, timeout=10)
        assert made.json()["data"]["app_id"]
        unsigned = httpx.get(keystore["base_url"] + "/safe/me", timeout=10).json()
        assert unsigned["error"]["code"] == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
