"""Typed HuFi records in exact units.

The launcher speaks base units (integer strings), token addresses and millisecond epochs; the
oracle speaks token units as JSON numbers and token symbols.  The models keep each in its own
unit — ``int`` base units where the launcher uses them, ``Decimal`` where the oracle does — and
times as epoch nanoseconds.  Each ``parse_*`` function reads one JSON value strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hufimm.core.money import from_units
from hufimm.hufi.fields import FieldError, Fields, as_decimal

MARKET_MAKING = "MARKET_MAKING"
COMPETITIVE_MARKET_MAKING = "COMPETITIVE_MARKET_MAKING"
THRESHOLD_MARKET_MAKING = "THRESHOLD_MARKET_MAKING"
HOLDING = "HOLDING"
THRESHOLD = "THRESHOLD"
#: Campaign types scored on traded volume (the ones a market maker can earn in).
VOLUME_TYPES = frozenset({MARKET_MAKING, COMPETITIVE_MARKET_MAKING, THRESHOLD_MARKET_MAKING})

CL_STATUSES = ("active", "to_cancel", "cancelled", "completed")


@dataclass(frozen=True)
class Campaign:
    """A campaign as the launcher lists it (base units, token address, ns times)."""

    chain_id: int
    address: str
    type: str
    exchange_name: str
    symbol: str
    details: Mapping[str, Any]
    start_ns: int
    end_ns: int
    fund_amount: int
    fund_token: str
    fund_token_symbol: str
    fund_token_decimals: int
    balance: int
    amount_paid: int
    status: str
    launcher: str
    exchange_oracle: str
    recording_oracle: str
    reputation_oracle: str
    intermediate_results_url: str | None
    final_results_url: str | None
    created_ns: int | None
    cancellation_requested_ns: int | None
    finalized_ns: int | None

    @property
    def key(self) -> tuple[int, str]:
        return (self.chain_id, self.address.lower())

    def detail(self, name: str) -> Decimal | None:
        """A numeric detail (``daily_volume_target``...) exactly, or ``None`` when absent."""
        value = self.details.get(name)
        return None if value is None else as_decimal(value, f"details.{name}")

    @property
    def fund_decimal(self) -> Decimal:
        return from_units(self.fund_amount, self.fund_token_decimals)


@dataclass(frozen=True)
class CampaignFees:
    """Only the details route has these: oracle fee percents and the funds reserved so far."""

    exchange_oracle_percent: Decimal
    recording_oracle_percent: Decimal
    reputation_oracle_percent: Decimal
    reserved_funds: int

    @property
    def total_percent(self) -> Decimal:
        return (
            self.exchange_oracle_percent
            + self.recording_oracle_percent
            + self.reputation_oracle_percent
        )


@dataclass(frozen=True)
class CampaignDetails:
    campaign: Campaign
    fees: CampaignFees


@dataclass(frozen=True)
class CampaignPage:
    has_more: bool
    campaigns: list[Campaign]
    #: Items of the page we could not read, with the reason (the rest of the page still counts).
    rejected: list[str]


@dataclass(frozen=True)
class ExchangeInfo:
    name: str
    display_name: str
    type: str  # "cex" | "dex"
    enabled: bool


@dataclass(frozen=True)
class DailyPaidAmount:
    date: str
    amount: int  # base units, grouped by payout transaction date


@dataclass(frozen=True)
class JoinStatus:
    status: str  # already_joined | can_join | join_closed | not_available
    joined_at_ns: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class JoinOutcome:
    """A join that holds: freshly joined (``ro_campaign_id`` set) or already joined before."""

    already_joined: bool
    ro_campaign_id: str | None


@dataclass(frozen=True)
class JoinedCampaign:
    """A campaign we joined, as the oracle lists it (token units, token symbol)."""

    chain_id: int
    address: str
    type: str
    exchange_name: str
    symbol: str
    start_ns: int
    end_ns: int
    details: Mapping[str, Any]
    fund_amount: Decimal
    fund_amount_net: Decimal | None
    fund_token: str
    status: str
    processing_status: str | None
    cancellation_requested_ns: int | None


@dataclass(frozen=True)
class JoinedPage:
    has_more: bool
    campaigns: list[JoinedCampaign]


@dataclass(frozen=True)
class LeaderboardEntry:
    address: str
    score: Decimal
    result: Decimal
    estimated_reward: Decimal
    estimated_reward_gross: Decimal


@dataclass(frozen=True)
class Leaderboard:
    """The oracle's view of the current partial cycle ``[cycle_start, updated_at)``."""

    entries: list[LeaderboardEntry]
    total: Decimal
    updated_ns: int | None

    def entry_for(self, address: str) -> LeaderboardEntry | None:
        return next((e for e in self.entries if e.address.lower() == address.lower()), None)


@dataclass(frozen=True)
class EnrolledKey:
    exchange_name: str
    api_key: str
    is_valid: bool
    missing_permissions: list[str]


@dataclass(frozen=True)
class KeyValidation:
    is_valid: bool
    missing_permissions: list[str]


@dataclass(frozen=True)
class UserProfile:
    id: str
    evm_address: str
    preferences: Mapping[str, Any]


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class ResultOutcome:
    address: str
    score: Decimal
    total_volume: Decimal | None


@dataclass(frozen=True)
class ResultsCycle:
    from_ns: int
    to_ns: int
    reserved_funds: Decimal
    total_volume: Decimal | None
    batches: list[tuple[str, list[ResultOutcome]]]

    def outcome_for(self, address: str) -> ResultOutcome | None:
        for _, outcomes in self.batches:
            for outcome in outcomes:
                if outcome.address.lower() == address.lower():
                    return outcome
        return None


@dataclass(frozen=True)
class ResultsFile:
    chain_id: int
    address: str
    cycles: list[ResultsCycle]


# ---------------------------------------------------------------------- parsing
def parse_campaign(fields: Fields) -> Campaign:
    details = fields.data.get("details") or {}
    if not isinstance(details, dict):
        raise FieldError(f"{fields.where}.details", "expected an object")
    return Campaign(
        chain_id=fields.integer("chain_id"),
        address=fields.text("address"),
        type=fields.text("type"),
        exchange_name=fields.text("exchange_name"),
        symbol=fields.text("symbol"),
        details=details,
        start_ns=fields.iso_ns("start_date"),
        end_ns=fields.iso_ns("end_date"),
        fund_amount=fields.units("fund_amount"),
        fund_token=fields.text("fund_token"),
        fund_token_symbol=fields.text("fund_token_symbol"),
        fund_token_decimals=fields.integer("fund_token_decimals"),
        balance=fields.units("balance"),
        amount_paid=fields.units("amount_paid"),
        status=fields.text("status"),
        launcher=fields.text("launcher"),
        exchange_oracle=fields.text("exchange_oracle"),
        recording_oracle=fields.text("recording_oracle"),
        reputation_oracle=fields.text("reputation_oracle"),
        intermediate_results_url=fields.opt_text("intermediate_results_url"),
        final_results_url=fields.opt_text("final_results_url"),
        created_ns=fields.opt_ms_ns("created_at"),
        cancellation_requested_ns=fields.opt_ms_ns("cancellation_requested_at"),
        finalized_ns=fields.opt_ms_ns("finalized_at"),
    )


def parse_campaign_page(data: Any) -> CampaignPage:
    page = Fields(data)
    campaigns: list[Campaign] = []
    rejected: list[str] = []
    for item in page.items("results"):
        try:
            campaigns.append(parse_campaign(item))
        except FieldError as exc:
            rejected.append(str(exc))
    return CampaignPage(page.flag("has_more"), campaigns, rejected)


def parse_campaign_details(data: Any) -> CampaignDetails:
    fields = Fields(data)
    fees = CampaignFees(
        exchange_oracle_percent=fields.number("exchange_oracle_fee_percent"),
        recording_oracle_percent=fields.number("recording_oracle_fee_percent"),
        reputation_oracle_percent=fields.number("reputation_oracle_fee_percent"),
        reserved_funds=fields.units("reserved_funds"),
    )
    return CampaignDetails(parse_campaign(fields), fees)


def parse_exchanges(data: Any) -> list[ExchangeInfo]:
    if not isinstance(data, list):
        raise FieldError("response", "expected a list of exchanges")
    result = []
    for i, item in enumerate(data):
        fields = Fields(item, f"[{i}]")
        result.append(
            ExchangeInfo(
                fields.text("name"),
                fields.opt_text("display_name") or fields.text("name"),
                fields.text("type"),
                fields.flag("enabled"),
            )
        )
    return result


def parse_daily_paid(data: Any) -> list[DailyPaidAmount]:
    return [
        DailyPaidAmount(item.text("date"), item.units("amount"))
        for item in Fields(data).items("results")
    ]


def parse_join_status(data: Any) -> JoinStatus:
    fields = Fields(data)
    status = fields.text("status")
    if status not in ("already_joined", "can_join", "join_closed", "not_available"):
        raise FieldError("response.status", f"unknown join status {status!r}")
    joined = fields.iso_ns("joined_at") if status == "already_joined" else None
    return JoinStatus(status, joined, fields.opt_text("reason"))


def parse_joined_campaign(fields: Fields) -> JoinedCampaign:
    details = fields.data.get("details") or {}
    return JoinedCampaign(
        chain_id=fields.integer("chain_id"),
        address=fields.text("address"),
        type=fields.text("type"),
        exchange_name=fields.text("exchange_name"),
        symbol=fields.text("symbol"),
        start_ns=fields.iso_ns("start_date"),
        end_ns=fields.iso_ns("end_date"),
        details=details if isinstance(details, dict) else {},
        fund_amount=fields.number("fund_amount"),
        fund_amount_net=fields.opt_number("fund_amount_net"),
        fund_token=fields.text("fund_token"),
        status=fields.text("status"),
        processing_status=fields.opt_text("processing_status"),
        cancellation_requested_ns=fields.opt_ms_ns("cancellation_requested_at"),
    )


def parse_joined_page(data: Any) -> JoinedPage:
    page = Fields(data)
    return JoinedPage(
        page.flag("has_more"), [parse_joined_campaign(item) for item in page.items("results")]
    )


def parse_leaderboard(data: Any) -> Leaderboard:
    board = Fields(data)
    entries = [
        LeaderboardEntry(
            address=item.text("address"),
            score=item.number("score"),
            result=item.number("result"),
            estimated_reward=item.number("estimated_reward"),
            estimated_reward_gross=item.opt_number("estimated_reward_gross")
            or item.number("estimated_reward"),
        )
        for item in board.items("data")
    ]
    total = board.opt_number("total") or Decimal(0)
    return Leaderboard(entries, total, board.opt_iso_ns("updated_at"))


def parse_keys(data: Any) -> list[EnrolledKey]:
    if not isinstance(data, list):
        raise FieldError("response", "expected a list of keys")
    keys = []
    for i, item in enumerate(data):
        fields = Fields(item, f"[{i}]")
        missing = fields.data.get("missing_permissions") or []
        keys.append(
            EnrolledKey(
                fields.text("exchange_name"),
                fields.text("api_key"),
                fields.flag("is_valid"),
                [str(m) for m in missing] if isinstance(missing, list) else [],
            )
        )
    return keys


def parse_key_validation(data: Any) -> KeyValidation:
    fields = Fields(data)
    missing = fields.data.get("missing_permissions") or []
    return KeyValidation(
        fields.flag("is_valid"), [str(m) for m in missing] if isinstance(missing, list) else []
    )


def parse_profile(data: Any) -> UserProfile:
    fields = Fields(data)
    preferences = fields.data.get("preferences") or {}
    return UserProfile(
        fields.text("id"),
        fields.text("evm_address"),
        preferences if isinstance(preferences, dict) else {},
    )


def parse_tokens(data: Any) -> Tokens:
    fields = Fields(data)
    return Tokens(fields.text("access_token"), fields.text("refresh_token"))


def parse_results_file(data: Any) -> ResultsFile:
    document = Fields(data)
    cycles = []
    for entry in document.items("results"):
        batches = []
        for batch in entry.items("participants_outcomes_batches"):
            outcomes = [
                ResultOutcome(
                    row.text("address"), row.number("score"), row.opt_number("total_volume")
                )
                for row in batch.items("results")
            ]
            batches.append((batch.text("id"), outcomes))
        cycles.append(
            ResultsCycle(
                from_ns=entry.iso_ns("from"),
                to_ns=entry.iso_ns("to"),
                reserved_funds=entry.number("reserved_funds"),
                total_volume=entry.opt_number("total_volume"),
                batches=batches,
            )
        )
    return ResultsFile(document.integer("chain_id"), document.text("address"), cycles)
