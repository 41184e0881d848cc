"""The simulated Mixin Safe API: world state, ASGI app, fault hooks and a loopback server."""

from hufimm.sim.mixin.app import MixinSimApp
from hufimm.sim.mixin.errors import SimError
from hufimm.sim.mixin.faults import Fault, FaultKind, FaultPlan
from hufimm.sim.mixin.records import SimAsset, UserKeys, format_amount
from hufimm.sim.mixin.server import serve_loopback
from hufimm.sim.mixin.world import MixinWorld

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "MixinSimApp",
    "MixinWorld",
    "SimAsset",
    "SimError",
    "UserKeys",
    "format_amount",
    "serve_loopback",
]
