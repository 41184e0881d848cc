"""``hufimm mixin`` commands against a simulated Mixin served on loopback from another thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hufimm.cli import app
from hufimm.core.timesource import RealTimeSource
from hufimm.sim.mixin import MixinSimApp, MixinWorld, UserKeys, serve_loopback
from hufimm.sim.mixin.records import ETH_CHAIN, USDT_ERC20
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade


class ThreadedSim:
    """The simulator in its own thread and event loop, so the CLI can run ``asyncio.run``."""

    def __init__(self) -> None:
        self.world = MixinWorld(RealTimeSource(), seed=21)
        self.bot: UserKeys = self.world.add_user("bot")
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve_loopback(MixinSimApp(self.world)) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedSim:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def hook(self, path: str, body: dict[str, object]) -> dict[str, object]:
        """World changes go through the HTTP hooks: the world belongs to the server thread."""
        data: dict[str, object] = httpx.post(self.url + path, json=body).json()["data"]
        return data

    def env(self, db_url: str) -> dict[str, str]:
        return {
            "HUFIMM_DATABASE_URL": db_url,
            "HUFIMM_MIXIN__BASE_URL": self.url,
            "HUFIMM_MIXIN__APP_ID": self.bot.user_id,
            "HUFIMM_MIXIN__SESSION_ID": self.bot.session_id,
            "HUFIMM_MIXIN__SESSION_PRIVATE_KEY": self.bot.session_private_key,
            "HUFIMM_MIXIN__SPEND_PRIVATE_KEY": self.bot.spend_private_key,
        }


@pytest.fixture
def served() -> Iterator[ThreadedSim]:
    with ThreadedSim() as sim:
        yield sim


def test_snapshots_transfer_and_deposit_address(served: ThreadedSim, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    database = Database(db_url)
    upgrade(database)
    database.dispose()
    runner = CliRunner()
    env = served.env(db_url)
    user = served.hook("/_sim/users", {"full_name": "Ivy"})["app_id"]
    served.hook(
        "/_sim/transfers",
        {
            "sender_id": user,
            "recipient_id": served.bot.user_id,
            "asset_id": USDT_ERC20,
            "amount": "4",
        },
    )

    listed = runner.invoke(app, ["mixin", "snapshots"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "1 snapshot(s)" in listed.output and user in listed.output

    refused = runner.invoke(
        app,
        [
            "mixin",
            "transfer",
            "--user",
            user,
            "--asset",
            USDT_ERC20,
            "--amount",
            "1.5",
            "--ref",
            "t1",
        ],
        env=env,
        input="n\n",
    )
    assert refused.exit_code != 0

    sent = runner.invoke(
        app,
        [
            "mixin",
            "transfer",
            "--user",
            user,
            "--asset",
            USDT_ERC20,
            "--amount",
            "1.5",
            "--ref",
            "t1",
            "--yes",
        ],
        env=env,
    )
    assert sent.exit_code == 0, sent.output
    assert "CONFIRMED" in sent.output
    again = runner.invoke(
        app,
        [
            "mixin",
            "transfer",
            "--user",
            user,
            "--asset",
            USDT_ERC20,
            "--amount",
            "1.5",
            "--ref",
            "t1",
            "--yes",
        ],
        env=env,
    )
    assert "CONFIRMED" in again.output
    balances = httpx.get(f"{served.url}/_sim/balances/{user}").json()["data"]
    assert balances == {USDT_ERC20: "1.5"}

    address = runner.invoke(app, ["mixin", "deposit-address", "--chain", ETH_CHAIN], env=env)
    assert address.exit_code == 0 and address.output.strip().startswith("0x")


def test_too_many_decimals_is_refused(served: ThreadedSim, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "mixin",
            "transfer",
            "--user",
            served.bot.user_id,
            "--asset",
            USDT_ERC20,
            "--amount",
            "0.000000001",
            "--yes",
        ],
        env=served.env(f"sqlite:///{tmp_path / 'x.db'}"),
    )
    assert result.exit_code != 0
    assert "at most 8 decimals" in str(result.exception)
