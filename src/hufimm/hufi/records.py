"""Our stored view of a campaign (``hufi_campaigns``) and what follows from it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, select

from hufimm.hufi import cycles, scoring
from hufimm.hufi.tables import campaigns

#: Derived lifecycle: launcher status plus where "now" is relative to the dates.
UPCOMING, RUNNING, FINISHED = "upcoming", "running", "finished"
TO_CANCEL, CANCELLED, COMPLETED = "to_cancel", "cancelled", "completed"
JOINABLE = (UPCOMING, RUNNING)


def lifecycle(status: str, start_ns: int, end_ns: int, now_ns: int) -> str:
    """``active`` only means "not finalised": split it by the dates (completed = paid out)."""
    if status != "active":
        return status
    if now_ns < start_ns:
        return UPCOMING
    return RUNNING if now_ns < end_ns else FINISHED


@dataclass(frozen=True)
class CampaignRecord:
    chain_id: int
    address: str
    type: str
    exchange_name: str
    symbol: str
    status: str
    lifecycle: str
    details: Mapping[str, Any]
    start_ns: int
    end_ns: int
    cancellation_requested_ns: int | None
    fund_amount: int
    fund_token_symbol: str
    fund_token_decimals: int
    fee_percent_total: Decimal | None
    intermediate_results_url: str | None
    matches_market: bool

    @classmethod
    def from_row(cls, row: Row[Any]) -> CampaignRecord:
        fees = (
            row.exchange_oracle_fee_percent,
            row.recording_oracle_fee_percent,
            row.reputation_oracle_fee_percent,
        )
        return cls(
            chain_id=row.chain_id,
            address=row.address,
            type=row.type,
            exchange_name=row.exchange_name,
            symbol=row.symbol,
            status=row.status,
            lifecycle=row.lifecycle,
            details=json.loads(row.details),
            start_ns=row.start_ns,
            end_ns=row.end_ns,
            cancellation_requested_ns=row.cancellation_requested_ns,
            fund_amount=row.fund_amount,
            fund_token_symbol=row.fund_token_symbol,
            fund_token_decimals=row.fund_token_decimals,
            fee_percent_total=None if any(f is None for f in fees) else scoring.exact_sum(fees),
            intermediate_results_url=row.intermediate_results_url,
            matches_market=row.matches_market,
        )

    @property
    def key(self) -> tuple[int, str]:
        return (self.chain_id, self.address)

    @property
    def cycles_limit_ns(self) -> int:
        return cycles.cycles_limit_ns(self.end_ns, self.cancellation_requested_ns)

    def cycle_count(self) -> int:
        return cycles.cycle_count(self.start_ns, self.end_ns, self.cancellation_requested_ns)

    def cycle_bounds(self, index: int) -> tuple[int, int]:
        return cycles.cycle_bounds(
            self.start_ns, self.end_ns, index, self.cancellation_requested_ns
        )

    def current_cycle(self, now_ns: int) -> int | None:
        index = cycles.cycle_index(self.start_ns, now_ns)
        return index if 0 <= index < self.cycle_count() else None

    def daily_reward(self) -> Decimal | None:
        """Net fund over the duration in days, or ``None`` until the fee percents are known."""
        if self.fee_percent_total is None:
            return None
        net = scoring.fund_amount_net(
            self.fund_amount, self.fund_token_decimals, self.fee_percent_total
        )
        days = cycles.duration_days(self.start_ns, self.end_ns)
        return scoring.daily_reward(net, days, self.fund_token_decimals)


def load_campaign(conn: Connection, chain_id: int, address: str) -> CampaignRecord | None:
    row = conn.execute(
        select(campaigns).where(campaigns.c.chain_id == chain_id, campaigns.c.address == address)
    ).first()
    return None if row is None else CampaignRecord.from_row(row)


def details_json(details: Mapping[str, Any]) -> str:
    """Details as JSON with numbers kept as exact strings."""
    return json.dumps(dict(details), sort_keys=True, separators=(",", ":"), default=str)
