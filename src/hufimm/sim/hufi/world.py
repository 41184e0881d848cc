"""The simulated HuFi world: the escrows on chain, the launcher's view and the oracle's state.

One :class:`HufiWorld` backs both ASGI apps (:meth:`launcher_app`, :meth:`oracle_app`), the
way the real launcher and oracle both read the same escrows.  Tests and scenarios drive it
directly: add campaigns, cancel or complete them, arm faults, read request logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.sim.hufi.campaigns import CampaignDefaults, SimCampaign
from hufimm.sim.hufi.exchange_view import ExchangeLedgerView
from hufimm.sim.hufi.faults import FaultMiddleware, FaultPlan
from hufimm.sim.hufi.launcher_app import build_launcher_app
from hufimm.sim.hufi.oracle import OracleConfig, RecordingOracle, ResultsSink
from hufimm.sim.hufi.oracle_app import build_oracle_app


@dataclass(frozen=True)
class ExchangeEntry:
    """An exchange as the launcher's ``/exchanges`` lists it."""

    name: str
    display_name: str
    type: str = "cex"
    enabled: bool = True


DEFAULT_EXCHANGES = (
    *(
        ExchangeEntry(name, name.upper() if len(name) <= 4 else name.capitalize())
        for name in ("bigone", "bitmart", "bybit", "gate", "htx", "kraken", "kucoin", "mexc", "xt")
    ),
    ExchangeEntry("hyperliquid", "Hyperliquid", "dex"),
    ExchangeEntry("pancakeswap", "PancakeSwap", "dex"),
)


class HufiWorld:
    """Campaigns, the recording oracle and the fault plans of both services."""

    def __init__(
        self,
        time: TimeSource,
        rng: SeededRng,
        view: ExchangeLedgerView,
        *,
        chains: tuple[int, ...] = (1, 137, 80002, 11155111),
        exchanges: Iterable[ExchangeEntry] = DEFAULT_EXCHANGES,
        oracle_config: OracleConfig | None = None,
        results_sink: ResultsSink | None = None,
        defaults: CampaignDefaults | None = None,
    ) -> None:
        self.time = time
        self.chains = chains
        self.exchanges = list(exchanges)
        self.defaults = defaults or CampaignDefaults()
        self.campaigns: dict[tuple[int, str], SimCampaign] = {}
        self.oracle = RecordingOracle(
            time,
            rng.child("oracle"),
            view,
            self.campaigns,
            config=oracle_config,
            results_sink=results_sink,
            address=self.defaults.recording_oracle,
        )
        self.launcher_faults = FaultPlan()
        self.oracle_faults = FaultPlan()

    # ------------------------------------------------------------------ campaigns
    def add_campaigns(self, campaigns: Iterable[SimCampaign]) -> None:
        for campaign in campaigns:
            if campaign.key in self.campaigns:
                raise ValueError(f"campaign {campaign.chain_id}-{campaign.address} already exists")
            self.campaigns[campaign.key] = campaign

    def campaign(self, chain_id: int, address: str) -> SimCampaign:
        return self.campaigns[(chain_id, address.lower())]

    def listing(self, chain_id: int) -> list[SimCampaign]:
        """A chain's escrows newest first, invalid manifests included (the launcher filters)."""
        found = [c for c in self.campaigns.values() if c.chain_id == chain_id]
        return sorted(found, key=lambda c: (-c.created_ns, c.address))

    def request_cancellation(self, chain_id: int, address: str) -> None:
        campaign = self.campaign(chain_id, address)
        campaign.status = "to_cancel"
        campaign.cancellation_requested_ns = self.time.time_ns()

    def finish(self, chain_id: int, address: str, status: str = "completed") -> None:
        """What the reputation oracle does after the last payout (``completed``/``cancelled``)."""
        campaign = self.campaign(chain_id, address)
        campaign.status = status
        campaign.finalized_ns = self.time.time_ns()

    # ------------------------------------------------------------------ apps
    def launcher_app(self) -> FaultMiddleware:
        return FaultMiddleware(build_launcher_app(self), self.launcher_faults, self.time)

    def oracle_app(self) -> FaultMiddleware:
        return FaultMiddleware(build_oracle_app(self), self.oracle_faults, self.time)
