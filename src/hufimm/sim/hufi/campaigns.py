"""Simulated HuFi campaigns: the escrows the launcher lists and the oracle scores.

A :class:`SimCampaign` holds what the chain and the manifest say about one escrow, in the
launcher's units (base-unit integers, token address, times in nanoseconds here and rendered as
ISO strings or millisecond epochs on the wire).  Campaigns come from :func:`default_campaigns`
(a few active market-making campaigns on Polygon), :func:`generate_campaigns` (seeded bulk) or
:func:`load_campaigns` (a JSON file in the launcher's own shape).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from hufimm.core.money import from_units, to_decimal
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND
from hufimm.sim.hufi.wire import decimal_text, iso_ms, ms, parse_iso

DAY_NS = 86_400 * NS_PER_SECOND

MARKET_MAKING = "MARKET_MAKING"
COMPETITIVE_MARKET_MAKING = "COMPETITIVE_MARKET_MAKING"
THRESHOLD_MARKET_MAKING = "THRESHOLD_MARKET_MAKING"
HOLDING = "HOLDING"
THRESHOLD = "THRESHOLD"
CAMPAIGN_TYPES = (
    MARKET_MAKING,
    COMPETITIVE_MARKET_MAKING,
    THRESHOLD_MARKET_MAKING,
    HOLDING,
    THRESHOLD,
)
MM_TYPES = (MARKET_MAKING, COMPETITIVE_MARKET_MAKING, THRESHOLD_MARKET_MAKING)

STATUSES = ("active", "to_cancel", "cancelled", "completed")

_PAIR = re.compile(r"^[\dA-Z]{2,10}/[\dA-Z]{3,10}$")
_TOKEN = re.compile(r"^[\dA-Z]{2,10}$")
_REQUIRED_DETAILS = {
    MARKET_MAKING: ("daily_volume_target",),
    COMPETITIVE_MARKET_MAKING: ("rewards_distribution", "minimum_volume_required"),
    THRESHOLD_MARKET_MAKING: ("minimum_volume_target", "max_participants"),
    HOLDING: ("daily_balance_target",),
    THRESHOLD: ("minimum_balance_target",),
}

#: Fund tokens by chain: (address, symbol, decimals).
FUND_TOKENS: dict[int, tuple[str, str, int]] = {
    137: ("0xc2132D05D31c914a87C6611C10748AEb04B58e8F", "USDT0", 6),
    1: ("0xdAC17F958D2ee523a2206206994597C13D831ec7", "USDT", 6),
    80002: ("0x0E1fB03d02F3205108DE0c6a2b0B6B68e13D767e", "USDT", 6),
    11155111: ("0x6A3267e048B80FC2Fbd52510508c1eb884F0fDb1", "USDT", 6),
}


def sim_address(*parts: object) -> str:
    """A deterministic checksummed address named by ``parts`` (escrows, oracles, launchers)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()
    return str(to_checksum_address("0x" + digest[:40]))


@dataclass
class SimCampaign:
    """One escrow as the chain and its manifest describe it."""

    chain_id: int
    address: str
    type: str
    exchange_name: str
    symbol: str
    details: dict[str, Any]
    start_ns: int
    end_ns: int
    fund_amount: int  # base units of the fund token
    fund_token: str
    fund_token_symbol: str
    fund_token_decimals: int
    launcher: str
    exchange_oracle: str
    recording_oracle: str
    reputation_oracle: str
    created_ns: int
    exchange_oracle_fee_percent: Decimal = Decimal(1)
    recording_oracle_fee_percent: Decimal = Decimal(1)
    reputation_oracle_fee_percent: Decimal = Decimal(1)
    status: str = "active"
    amount_paid: int = 0
    reserved_funds: int = 0
    cancellation_requested_ns: int | None = None
    finalized_ns: int | None = None
    intermediate_results_url: str | None = None
    final_results_url: str | None = None
    #: False for an escrow whose manifest the launcher cannot read (it silently drops it).
    manifest_valid: bool = True
    #: When the HUMAN subgraph shows the escrow; joining earlier fails with "Campaign not found".
    indexed_at_ns: int = 0
    daily_paid: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, str]:
        return (self.chain_id, self.address.lower())

    @property
    def balance(self) -> int:
        return self.fund_amount - self.amount_paid

    @property
    def fee_percent_total(self) -> Decimal:
        return (
            self.exchange_oracle_fee_percent
            + self.recording_oracle_fee_percent
            + self.reputation_oracle_fee_percent
        )

    def manifest_ok(self) -> bool:
        if not self.manifest_valid or self.type not in CAMPAIGN_TYPES:
            return False
        pattern = _PAIR if self.type in MM_TYPES else _TOKEN
        if not pattern.match(self.symbol) or self.end_ns <= self.start_ns:
            return False
        return all(name in self.details for name in _REQUIRED_DETAILS[self.type])

    def launcher_json(self, *, with_details: bool = False) -> dict[str, Any]:
        """The launcher's ``CampaignData`` (plus the details route's extra fields)."""
        body: dict[str, Any] = {
            "chain_id": self.chain_id,
            "address": self.address,
            "type": self.type,
            "exchange_name": self.exchange_name,
            "symbol": self.symbol,
            "details": self.details,
            "start_date": iso_ms(self.start_ns),
            "end_date": iso_ms(self.end_ns),
            "fund_amount": str(self.fund_amount),
            "fund_token": self.fund_token,
            "fund_token_symbol": self.fund_token_symbol,
            "fund_token_decimals": self.fund_token_decimals,
            "balance": str(self.balance),
            "amount_paid": str(self.amount_paid),
            "status": self.status,
            "launcher": self.launcher,
            "exchange_oracle": self.exchange_oracle,
            "recording_oracle": self.recording_oracle,
            "reputation_oracle": self.reputation_oracle,
            "intermediate_results_url": self.intermediate_results_url,
            "final_results_url": self.final_results_url,
            "created_at": ms(self.created_ns),
            "cancellation_requested_at": ms(self.cancellation_requested_ns),
            "finalized_at": ms(self.finalized_ns),
        }
        if with_details:
            body["exchange_oracle_fee_percent"] = self.exchange_oracle_fee_percent
            body["recording_oracle_fee_percent"] = self.recording_oracle_fee_percent
            body["reputation_oracle_fee_percent"] = self.reputation_oracle_fee_percent
            body["reserved_funds"] = str(self.reserved_funds)
        return body


@dataclass(frozen=True)
class CampaignDefaults:
    """The oracles and launcher every simulated campaign names unless told otherwise."""

    recording_oracle: str = sim_address("sim-hufi", "recording-oracle")
    exchange_oracle: str = sim_address("sim-hufi", "exchange-oracle")
    reputation_oracle: str = sim_address("sim-hufi", "reputation-oracle")
    launcher: str = sim_address("sim-hufi", "launcher")


def new_campaign(
    defaults: CampaignDefaults,
    *,
    name: str,
    chain_id: int,
    type: str,
    exchange_name: str,
    symbol: str,
    details: dict[str, Any],
    start_ns: int,
    end_ns: int,
    fund_units: int,
    created_ns: int,
    **overrides: Any,
) -> SimCampaign:
    """A campaign on ``chain_id`` funded with that chain's USDT, oracles from ``defaults``."""
    token, token_symbol, decimals = FUND_TOKENS.get(chain_id, FUND_TOKENS[137])
    campaign = SimCampaign(
        chain_id=chain_id,
        address=sim_address("escrow", chain_id, name),
        type=type,
        exchange_name=exchange_name,
        symbol=symbol,
        details=details,
        start_ns=start_ns,
        end_ns=end_ns,
        fund_amount=fund_units,
        fund_token=token,
        fund_token_symbol=token_symbol,
        fund_token_decimals=decimals,
        launcher=defaults.launcher,
        exchange_oracle=defaults.exchange_oracle,
        recording_oracle=defaults.recording_oracle,
        reputation_oracle=defaults.reputation_oracle,
        created_ns=created_ns,
    )
    for key, value in overrides.items():
        if not hasattr(campaign, key):
            raise TypeError(f"SimCampaign has no field {key!r}")
        setattr(campaign, key, value)
    return campaign


def default_campaigns(now_ns: int, defaults: CampaignDefaults) -> list[SimCampaign]:
    """A few running market-making campaigns on Polygon, started a day ago, 30 days long."""
    start = (now_ns // DAY_NS - 1) * DAY_NS
    markets = [
        ("mexc", "HMT/USDT", 50_000, 30_000),
        ("bybit", "ETH/USDT", 2_000_000, 60_000),
        ("gate", "HMT/USDT", 20_000, 9_000),
    ]
    return [
        new_campaign(
            defaults,
            name=f"default-{exchange}-{symbol}",
            chain_id=137,
            type=MARKET_MAKING,
            exchange_name=exchange,
            symbol=symbol,
            details={"daily_volume_target": Decimal(target)},
            start_ns=start,
            end_ns=start + 30 * DAY_NS,
            fund_units=fund * 10**6,
            created_ns=start - DAY_NS,
        )
        for exchange, symbol, target, fund in markets
    ]


def generate_campaigns(
    rng: SeededRng,
    defaults: CampaignDefaults,
    *,
    count: int,
    chain_id: int,
    now_ns: int,
    exchanges: tuple[str, ...] = ("mexc", "bybit", "gate", "kucoin"),
    symbols: tuple[str, ...] = ("HMT/USDT", "ETH/USDT", "BTC/USDT"),
) -> list[SimCampaign]:
    """``count`` seeded market-making campaigns created one hour apart (newest last)."""
    campaigns = []
    for index in range(count):
        start = now_ns - rng.randint(0, 10) * DAY_NS
        campaigns.append(
            new_campaign(
                defaults,
                name=f"gen-{chain_id}-{rng.seed}-{index}",
                chain_id=chain_id,
                type=MARKET_MAKING,
                exchange_name=rng.choice(exchanges),
                symbol=rng.choice(symbols),
                details={"daily_volume_target": Decimal(rng.randint(1, 100) * 1000)},
                start_ns=start,
                end_ns=start + rng.randint(1, 30) * DAY_NS,
                fund_units=rng.randint(100, 100_000) * 10**6,
                created_ns=now_ns - (count - index) * 3600 * NS_PER_SECOND,
            )
        )
    return campaigns


def load_campaigns(path: Path, defaults: CampaignDefaults, now_ns: int) -> list[SimCampaign]:
    """Campaigns from a JSON list in the launcher's shape (``fund_amount`` in base units).

    Missing oracles, token and address are filled in; ``start_date``/``end_date`` are ISO.
    """
    try:
        items = json.loads(path.read_text(), parse_float=Decimal)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read campaigns from {path}: {exc}") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of campaigns")
    campaigns = []
    for index, item in enumerate(items):
        try:
            campaigns.append(_from_json(item, index, defaults, now_ns))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: campaign #{index}: {exc!r}") from None
    return campaigns


def _from_json(
    item: dict[str, Any], index: int, defaults: CampaignDefaults, now_ns: int
) -> SimCampaign:
    chain_id = int(item["chain_id"])
    optional: dict[str, Any] = {
        key: item[key]
        for key in ("status", "recording_oracle", "launcher", "exchange_oracle")
        if key in item
    }
    for key in (
        "exchange_oracle_fee_percent",
        "recording_oracle_fee_percent",
        "reputation_oracle_fee_percent",
    ):
        if key in item:
            optional[key] = to_decimal(str(item[key]))
    campaign = new_campaign(
        defaults,
        name=f"file-{index}",
        chain_id=chain_id,
        type=str(item["type"]),
        exchange_name=str(item["exchange_name"]),
        symbol=str(item["symbol"]),
        details=dict(item.get("details", {})),
        start_ns=parse_iso(str(item["start_date"])),
        end_ns=parse_iso(str(item["end_date"])),
        fund_units=int(item["fund_amount"]),
        created_ns=now_ns,
        **optional,
    )
    if "address" in item:
        campaign.address = str(to_checksum_address(str(item["address"])))
    if "fund_token_decimals" in item:
        campaign.fund_token_decimals = int(item["fund_token_decimals"])
    if "fund_token_symbol" in item:
        campaign.fund_token_symbol = str(item["fund_token_symbol"])
    return campaign


def token_units_text(units: int, decimals: int) -> str:
    """Base units as a decimal string in token units (``reserved_funds`` in results files)."""
    return decimal_text(from_units(units, decimals))
