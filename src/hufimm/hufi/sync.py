"""Campaign sync: the launcher's campaigns mirrored into ``hufi_campaigns``, with history.

Each run lists every ``active`` and ``to_cancel`` campaign of the configured chains (all pages,
the launcher's paging quirk handled by the client), upserts them keyed by ``(chain_id,
address)``, and asks the details route about campaigns it knew as open that the listing no
longer shows (they completed, were cancelled, or lost their manifest).  Every change of status
or derived lifecycle (upcoming → running → finished → completed, cancellations) is recorded
with the time it was observed.  Campaigns on a market we make also get their details (oracle
fee percents) so the joiner and the estimator can compute the daily reward.

A listing is applied only when complete: a page that fails leaves the mirror as it was, so a
campaign is never taken for gone because the launcher hiccuped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, insert, select

from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import TimeSource
from hufimm.hufi.errors import HufiRejected
from hufimm.hufi.estimator import rebuild_scores
from hufimm.hufi.launcher import CampaignLauncherClient
from hufimm.hufi.models import Campaign, CampaignFees
from hufimm.hufi.records import details_json, lifecycle
from hufimm.hufi.settings import HufiMarket
from hufimm.hufi.tables import campaigns, status_history, upsert
from hufimm.store.db import Database

OPEN_STATUSES = ("active", "to_cancel")


@dataclass
class SyncReport:
    listed: int = 0
    inserted: int = 0
    changes: int = 0
    rejected: list[str] = field(default_factory=list)
    truncated_chains: list[int] = field(default_factory=list)
    details_fetched: int = 0
    detail_errors: list[str] = field(default_factory=list)


class CampaignSync:
    def __init__(
        self,
        db: Database,
        launcher: CampaignLauncherClient,
        time: TimeSource,
        metrics: Metrics,
        *,
        chains: Sequence[int],
        markets: Sequence[HufiMarket],
        wallet: str | None = None,
        page_size: int = 100,
    ) -> None:
        self._db = db
        self._launcher = launcher
        self._time = time
        self._chains = list(chains)
        self._markets = {(m.exchange, m.symbol) for m in markets}
        self._wallet = wallet
        self._page_size = page_size
        self._log = get_logger("hufi.sync")
        self._m_campaigns = metrics.gauge(
            "hufi_campaigns", "Mirrored campaigns by lifecycle", ["lifecycle"]
        )
        self._m_rejected = metrics.counter(
            "hufi_campaigns_rejected_total", "Launcher items we could not read"
        )
        self._m_changes = metrics.counter(
            "hufi_campaign_status_changes_total", "Recorded campaign status/lifecycle changes"
        )

    def matches(self, exchange_name: str, symbol: str) -> bool:
        return (exchange_name.lower(), symbol.upper()) in self._markets

    async def sync_once(self) -> SyncReport:
        report = SyncReport()
        listed: list[Campaign] = []
        for chain_id in self._chains:
            listing = await self._launcher.all_campaigns(
                chain_id, statuses=OPEN_STATUSES, page_size=self._page_size
            )
            listed.extend(listing.campaigns)
            report.rejected.extend(listing.rejected)
            if listing.truncated:
                report.truncated_chains.append(chain_id)
                self._log.warning("hufi_listing_truncated", chain_id=chain_id)
        report.listed = len(listed)
        self._m_rejected.inc(len(report.rejected))
        for problem in report.rejected:
            self._log.warning("hufi_campaign_unreadable", problem=problem)

        now = self._time.time_ns()
        with self._db.begin() as conn:
            for campaign in listed:
                self._apply(conn, campaign, None, now, report)
            seen = {(c.chain_id, c.address) for c in listed}
            vanished = [
                (row.chain_id, row.address)
                for row in conn.execute(
                    select(campaigns.c.chain_id, campaigns.c.address).where(
                        campaigns.c.status.in_(OPEN_STATUSES),
                        campaigns.c.chain_id.in_(self._chains),
                    )
                )
                if (row.chain_id, row.address) not in seen
            ]
            need_fees = [
                (row.chain_id, row.address)
                for row in conn.execute(
                    select(campaigns.c.chain_id, campaigns.c.address).where(
                        campaigns.c.matches_market.is_(True),
                        campaigns.c.exchange_oracle_fee_percent.is_(None),
                    )
                )
            ]
        for chain_id, address in dict.fromkeys([*vanished, *need_fees]):
            await self._refresh_details(chain_id, address, report)
        self._update_gauges()
        return report

    async def sync_campaign(self, chain_id: int, address: str) -> SyncReport:
        """Mirror one campaign from the details route (for a join asked for by address)."""
        details = await self._launcher.campaign(chain_id, address)
        report = SyncReport(listed=1, details_fetched=1)
        with self._db.begin() as conn:
            self._apply(conn, details.campaign, details.fees, self._time.time_ns(), report)
        return report

    async def _refresh_details(self, chain_id: int, address: str, report: SyncReport) -> None:
        try:
            details = await self._launcher.campaign(chain_id, address)
        except HufiRejected as exc:
            report.detail_errors.append(str(exc))
            self._log.warning("hufi_campaign_details_refused", address=address, error=str(exc))
            return
        report.details_fetched += 1
        with self._db.begin() as conn:
            self._apply(conn, details.campaign, details.fees, self._time.time_ns(), report)

    def _apply(
        self,
        conn: Connection,
        campaign: Campaign,
        fees: CampaignFees | None,
        now: int,
        report: SyncReport,
    ) -> None:
        previous = conn.execute(
            select(
                campaigns.c.status,
                campaigns.c.lifecycle,
                campaigns.c.first_seen_ns,
                campaigns.c.cancellation_requested_ns,
            ).where(
                campaigns.c.chain_id == campaign.chain_id, campaigns.c.address == campaign.address
            )
        ).first()
        state = lifecycle(campaign.status, campaign.start_ns, campaign.end_ns, now)
        values = {
            "chain_id": campaign.chain_id,
            "address": campaign.address,
            "type": campaign.type,
            "exchange_name": campaign.exchange_name,
            "symbol": campaign.symbol,
            "status": campaign.status,
            "lifecycle": state,
            "details": details_json(campaign.details),
            "start_ns": campaign.start_ns,
            "end_ns": campaign.end_ns,
            "cancellation_requested_ns": campaign.cancellation_requested_ns,
            "finalized_ns": campaign.finalized_ns,
            "created_ns": campaign.created_ns,
            "fund_amount": campaign.fund_amount,
            "balance": campaign.balance,
            "amount_paid": campaign.amount_paid,
            "fund_token": campaign.fund_token,
            "fund_token_symbol": campaign.fund_token_symbol,
            "fund_token_decimals": campaign.fund_token_decimals,
            "launcher": campaign.launcher,
            "exchange_oracle": campaign.exchange_oracle,
            "recording_oracle": campaign.recording_oracle,
            "reputation_oracle": campaign.reputation_oracle,
            "intermediate_results_url": campaign.intermediate_results_url,
            "final_results_url": campaign.final_results_url,
            "matches_market": self.matches(campaign.exchange_name, campaign.symbol),
            "first_seen_ns": now if previous is None else previous.first_seen_ns,
            "updated_ns": now,
        }
        if fees is not None:
            values.update(
                exchange_oracle_fee_percent=fees.exchange_oracle_percent,
                recording_oracle_fee_percent=fees.recording_oracle_percent,
                reputation_oracle_fee_percent=fees.reputation_oracle_percent,
                reserved_funds=fees.reserved_funds,
            )
        upsert(conn, campaigns, values, ("chain_id", "address"))
        if previous is None:
            report.inserted += 1
        if previous is None or (previous.status, previous.lifecycle) != (campaign.status, state):
            conn.execute(
                insert(status_history).values(
                    chain_id=campaign.chain_id,
                    address=campaign.address,
                    status=campaign.status,
                    lifecycle=state,
                    previous_lifecycle=None if previous is None else previous.lifecycle,
                    observed_ns=now,
                )
            )
            report.changes += 1
            self._m_changes.inc()
        cancelled_now = (
            previous is not None
            and previous.cancellation_requested_ns != campaign.cancellation_requested_ns
        )
        if cancelled_now and self._wallet is not None:
            # The last cycle now ends at the cancellation: fills after it no longer count.
            rebuild_scores(conn, campaign.chain_id, campaign.address, self._wallet, now)

    def _update_gauges(self) -> None:
        with self._db.read() as conn:
            rows = conn.execute(select(campaigns.c.lifecycle)).all()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.lifecycle] = counts.get(row.lifecycle, 0) + 1
        for state in ("upcoming", "running", "finished", "to_cancel", "cancelled", "completed"):
            self._m_campaigns.labels(state).set(counts.get(state, 0))
