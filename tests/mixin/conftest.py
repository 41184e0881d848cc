"""A simulated Mixin served on loopback, a bot keystore, and a client signed as the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.mixin.client import MixinClient
from hufimm.mixin.keystore import Keystore
from hufimm.sim.mixin import MixinSimApp, MixinWorld, SimAsset, UserKeys, serve_loopback
from hufimm.sim.mixin.records import ETH_CHAIN


@dataclass
class MixinEnv:
    world: MixinWorld
    app: MixinSimApp
    bot: UserKeys
    keystore: Keystore
    ids: IdFactory
    time: RealTimeSource
    base_url: str
    metrics: Metrics

    def client(self, timeout_s: float = 5.0) -> MixinClient:
        return MixinClient(
            self.keystore,
            self.time,
            self.ids,
            base_url=self.base_url,
            timeout_s=timeout_s,
            metrics=self.metrics,
        )


def keystore_of(keys: UserKeys) -> Keystore:
    return Keystore.from_hex(
        keys.user_id, keys.session_id, keys.session_private_key, keys.spend_private_key
    )


@pytest.fixture
async def mixin_env() -> AsyncIterator[MixinEnv]:
    """Real time on both sides: the JWT's iat/exp are checked against the simulator's clock."""
    time_source = RealTimeSource()
    world = MixinWorld(time_source, seed=11)
    bot = world.add_user("hufimm bot")
    app = MixinSimApp(world)
    async with serve_loopback(app) as base_url:
        yield MixinEnv(
            world=world,
            app=app,
            bot=bot,
            keystore=keystore_of(bot),
            ids=IdFactory(time_source, SeededRng(5)),
            time=time_source,
            base_url=base_url,
            metrics=Metrics(),
        )


#: An asset the bot has never heard of (deposits of it are credited and flagged).
ODD_ASSET = "0d0e0a0d-0000-4000-8000-00000000beef"


@pytest.fixture
def users(mixin_env: MixinEnv) -> list[str]:
    """Four users of the simulated Mixin, plus an unknown asset they may send."""
    mixin_env.world.add_asset(SimAsset(ODD_ASSET, ETH_CHAIN, "ODD", "Odd token", "0xodd"))
    return [mixin_env.world.add_user(f"user {i}").user_id for i in range(4)]
