"""The oracle's scoring formulas, for our own estimate of score, pool and reward.

Weights per trade: maker 1.0 (either side), taker buy 0.42, taker sell 0.1, times the trade's
quote cost.  Pools and rewards are truncated to the fund token's decimals at every step, as the
oracle and the reputation oracle do.  All arithmetic runs in the exact money context.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hufimm.core.money import MONEY_CONTEXT, from_units
from hufimm.hufi.fields import as_decimal
from hufimm.hufi.models import COMPETITIVE_MARKET_MAKING, MARKET_MAKING, THRESHOLD_MARKET_MAKING
from hufimm.market import Side

MAKER_WEIGHT = Decimal(1)
TAKER_BUY_WEIGHT = Decimal("0.42")
TAKER_SELL_WEIGHT = Decimal("0.1")
ZERO = Decimal(0)


def weight(side: Side, is_maker: bool) -> Decimal:
    if is_maker:
        return MAKER_WEIGHT
    return TAKER_BUY_WEIGHT if side is Side.BUY else TAKER_SELL_WEIGHT


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    total = ZERO
    for value in values:
        total = MONEY_CONTEXT.add(total, value)
    return total


def truncate(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), decimal.ROUND_DOWN, MONEY_CONTEXT)


@dataclass(frozen=True)
class CycleTotals:
    """Quote cost by weight class; the score is their weighted sum, exactly."""

    maker_cost: Decimal = ZERO
    taker_buy_cost: Decimal = ZERO
    taker_sell_cost: Decimal = ZERO
    fills: int = 0

    def add(self, side: Side, is_maker: bool, cost: Decimal) -> CycleTotals:
        if is_maker:
            return CycleTotals(
                MONEY_CONTEXT.add(self.maker_cost, cost),
                self.taker_buy_cost,
                self.taker_sell_cost,
                self.fills + 1,
            )
        if side is Side.BUY:
            return CycleTotals(
                self.maker_cost,
                MONEY_CONTEXT.add(self.taker_buy_cost, cost),
                self.taker_sell_cost,
                self.fills + 1,
            )
        return CycleTotals(
            self.maker_cost,
            self.taker_buy_cost,
            MONEY_CONTEXT.add(self.taker_sell_cost, cost),
            self.fills + 1,
        )

    @property
    def volume(self) -> Decimal:
        return exact_sum((self.maker_cost, self.taker_buy_cost, self.taker_sell_cost))

    @property
    def score(self) -> Decimal:
        # Σ w·cost == Σ_class w·Σ cost exactly, since nothing is rounded at 200 digits.
        return exact_sum(
            (
                MONEY_CONTEXT.multiply(MAKER_WEIGHT, self.maker_cost),
                MONEY_CONTEXT.multiply(TAKER_BUY_WEIGHT, self.taker_buy_cost),
                MONEY_CONTEXT.multiply(TAKER_SELL_WEIGHT, self.taker_sell_cost),
            )
        )


def detail(details: Mapping[str, Any], name: str) -> Decimal:
    return as_decimal(details.get(name), f"details.{name}")


def campaign_score(campaign_type: str, details: Mapping[str, Any], totals: CycleTotals) -> Decimal:
    """The score the oracle gives these totals: 1/0 for threshold MM, ``Σ w·cost`` otherwise."""
    if campaign_type == THRESHOLD_MARKET_MAKING:
        return Decimal(1) if totals.volume >= detail(details, "minimum_volume_target") else ZERO
    return totals.score


def fund_amount_net(fund_units: int, decimals: int, fee_percent_total: Decimal) -> Decimal:
    fund = from_units(fund_units, decimals)
    share = MONEY_CONTEXT.subtract(Decimal(100), fee_percent_total)
    return truncate(
        MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(fund, share), Decimal(100)), decimals
    )


def daily_reward(net: Decimal, duration_days: int, decimals: int) -> Decimal:
    return truncate(MONEY_CONTEXT.divide(net, Decimal(duration_days)), decimals)


@dataclass(frozen=True)
class Participant:
    score: Decimal
    volume: Decimal


def reward_pool(
    campaign_type: str,
    details: Mapping[str, Any],
    daily: Decimal,
    decimals: int,
    participants: Sequence[Participant],
) -> Decimal:
    """The cycle's pool from everyone's results (token units, truncated)."""
    if campaign_type == MARKET_MAKING:
        progress = exact_sum(p.volume for p in participants)
        target = detail(details, "daily_volume_target")
        if progress >= target:
            return daily
        return truncate(
            MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(daily, progress), target), decimals
        )
    if campaign_type == THRESHOLD_MARKET_MAKING:
        eligible = sum(1 for p in participants if p.score > 0)
        seats = int(details.get("max_participants") or 1)
        if eligible >= seats:
            return daily
        return truncate(
            MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(daily, Decimal(eligible)), Decimal(seats)),
            decimals,
        )
    if campaign_type == COMPETITIVE_MARKET_MAKING:
        minimum = detail(details, "minimum_volume_required")
        return daily if any(p.volume >= minimum for p in participants) else ZERO
    raise ValueError(f"no reward estimate for {campaign_type} campaigns")


def participant_reward(
    campaign_type: str,
    details: Mapping[str, Any],
    pool: Decimal,
    decimals: int,
    ours: Participant,
    others: Sequence[Participant],
) -> Decimal:
    """Our payout from ``pool`` (the reputation oracle's rule, truncated)."""
    everyone = [ours, *others]
    if campaign_type != COMPETITIVE_MARKET_MAKING:
        total = exact_sum(p.score for p in everyone)
        if total == 0:
            return ZERO
        return truncate(
            MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(pool, ours.score), total), decimals
        )
    minimum = detail(details, "minimum_volume_required")
    if not (ours.score > 0 and ours.volume >= minimum):
        return ZERO
    slots = sorted(
        (as_decimal(p, "details.rewards_distribution") for p in details["rewards_distribution"]),
        reverse=True,
    )
    eligible = [p for p in everyone if p.score > 0 and p.volume >= minimum]
    above = sum(1 for p in eligible if p.score > ours.score)
    tied = sum(1 for p in eligible if p.score == ours.score)
    percent = exact_sum(slots[above : above + tied])
    return truncate(
        MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(pool, percent), Decimal(100 * tied)), decimals
    )
