"""Simulated HuFi services: the Campaign Launcher and the Recording Oracle as ASGI apps.

Build a :class:`HufiWorld` on an :class:`ExchangeLedgerView` (the simulated exchange, or the
in-memory :class:`TradeBook`), then either talk to ``world.launcher_app()`` and
``world.oracle_app()`` in-process through ``httpx.ASGITransport`` or serve both on loopback with
:func:`serve_hufi`.
"""

from hufimm.sim.hufi.campaigns import (
    CampaignDefaults,
    SimCampaign,
    default_campaigns,
    generate_campaigns,
    load_campaigns,
    new_campaign,
    sim_address,
)
from hufimm.sim.hufi.exchange_view import (
    ENROLMENT_PERMISSIONS,
    SPOT_TRADE,
    VIEW_ACCOUNT_BALANCE,
    VIEW_DEPOSIT_ADDRESS,
    VIEW_SPOT_TRADING_HISTORY,
    ExchangeLedgerView,
    ExchangeUnavailable,
    KeyCheck,
    SimTrade,
    TradeBook,
)
from hufimm.sim.hufi.faults import Fault, FaultPlan
from hufimm.sim.hufi.oracle import OracleConfig, RecordedResults, RecordingOracle, ResultsSink
from hufimm.sim.hufi.server import HufiUrls, serve_hufi
from hufimm.sim.hufi.world import HufiWorld

__all__ = [
    "ENROLMENT_PERMISSIONS",
    "SPOT_TRADE",
    "VIEW_ACCOUNT_BALANCE",
    "VIEW_DEPOSIT_ADDRESS",
    "VIEW_SPOT_TRADING_HISTORY",
    "CampaignDefaults",
    "ExchangeLedgerView",
    "ExchangeUnavailable",
    "Fault",
    "FaultPlan",
    "HufiUrls",
    "HufiWorld",
    "KeyCheck",
    "OracleConfig",
    "RecordedResults",
    "RecordingOracle",
    "ResultsSink",
    "SimCampaign",
    "SimTrade",
    "TradeBook",
    "default_campaigns",
    "generate_campaigns",
    "load_campaigns",
    "new_campaign",
    "serve_hufi",
    "sim_address",
]
