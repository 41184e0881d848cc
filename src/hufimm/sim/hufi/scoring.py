"""The recording oracle's arithmetic: cycles, scores, reward pools and reward shares.

This is the simulated *oracle's* own implementation, written from the protocol reference and
kept apart from the product's estimator on purpose: the two are independent computations of
the same formulas, and tests hold them to exact agreement.  Everything is ``Decimal`` in
token units; every pool step truncates to the fund token's decimals like the real oracle.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from hufimm.core.money import MONEY_CONTEXT, from_units
from hufimm.market import Side
from hufimm.sim.hufi.campaigns import (
    COMPETITIVE_MARKET_MAKING,
    DAY_NS,
    MARKET_MAKING,
    THRESHOLD_MARKET_MAKING,
    SimCampaign,
)
from hufimm.sim.hufi.exchange_view import SimTrade

MAKER_WEIGHT = Decimal(1)
TAKER_BUY_WEIGHT = Decimal("0.42")
TAKER_SELL_WEIGHT = Decimal("0.1")
#: Digits kept of the leaderboard's untruncated reward estimates (the real one sends floats).
ESTIMATE_EXPONENT = Decimal("1e-18")


def dsum(values: Iterable[Decimal]) -> Decimal:
    """An exact sum (the default context would round past 28 digits)."""
    total = Decimal(0)
    for value in values:
        total = MONEY_CONTEXT.add(total, value)
    return total


def trade_weight(trade: SimTrade) -> Decimal:
    if trade.is_maker:
        return MAKER_WEIGHT
    return TAKER_BUY_WEIGHT if trade.side is Side.BUY else TAKER_SELL_WEIGHT


def truncate(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), decimal.ROUND_DOWN, MONEY_CONTEXT)


def cycles_limit_ns(campaign: SimCampaign) -> int:
    """Where the last cycle ends: the end date, or the cancellation request if earlier."""
    if campaign.cancellation_requested_ns is not None:
        return min(campaign.end_ns, campaign.cancellation_requested_ns)
    return campaign.end_ns


def cycle_count(campaign: SimCampaign) -> int:
    span = cycles_limit_ns(campaign) - campaign.start_ns
    return max(0, -(-span // DAY_NS))


def cycle_bounds(campaign: SimCampaign, index: int) -> tuple[int, int]:
    start = campaign.start_ns + index * DAY_NS
    return start, min(start + DAY_NS, cycles_limit_ns(campaign))


def duration_days(campaign: SimCampaign) -> int:
    return -(-(campaign.end_ns - campaign.start_ns) // DAY_NS)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One participant's result in a cycle (or in the leaderboard's partial cycle)."""

    address: str
    score: Decimal
    total_volume: Decimal


def measure(trades: Sequence[SimTrade]) -> tuple[Decimal, Decimal]:
    """``(score, volume)`` of a participant's trades: ``Σ w·cost`` and ``Σ cost``, exactly."""
    score = Decimal(0)
    volume = Decimal(0)
    for trade in trades:
        volume = MONEY_CONTEXT.add(volume, trade.cost)
        score = MONEY_CONTEXT.add(score, MONEY_CONTEXT.multiply(trade_weight(trade), trade.cost))
    return score, volume


def type_score(campaign: SimCampaign, score: Decimal, volume: Decimal) -> Decimal:
    """Threshold market making scores 1 or 0; the other trade types keep ``Σ w·cost``."""
    if campaign.type == THRESHOLD_MARKET_MAKING:
        target = Decimal(campaign.details["minimum_volume_target"])
        return Decimal(1) if volume >= target else Decimal(0)
    return score


def fund_amount_net(campaign: SimCampaign) -> Decimal:
    decimals = campaign.fund_token_decimals
    fund = from_units(campaign.fund_amount, decimals)
    share = MONEY_CONTEXT.subtract(Decimal(100), campaign.fee_percent_total)
    return truncate(
        MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(fund, share), Decimal(100)), decimals
    )


def daily_reward(campaign: SimCampaign) -> Decimal:
    net = fund_amount_net(campaign)
    return truncate(
        MONEY_CONTEXT.divide(net, Decimal(duration_days(campaign))), campaign.fund_token_decimals
    )


def reward_pool(campaign: SimCampaign, outcomes: Sequence[Outcome]) -> Decimal:
    """The cycle's pool in token units, by campaign type (truncated)."""
    daily = daily_reward(campaign)
    decimals = campaign.fund_token_decimals
    if campaign.type == MARKET_MAKING:
        progress = dsum(o.total_volume for o in outcomes)
        target = Decimal(campaign.details["daily_volume_target"])
        if progress >= target:
            return daily
        return truncate(
            MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(daily, progress), target), decimals
        )
    if campaign.type == THRESHOLD_MARKET_MAKING:
        eligible = sum(1 for o in outcomes if o.score > 0)
        seats = int(campaign.details.get("max_participants") or 1)
        if eligible >= seats:
            return daily
        return truncate(
            MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(daily, Decimal(eligible)), Decimal(seats)),
            decimals,
        )
    if campaign.type == COMPETITIVE_MARKET_MAKING:
        minimum = Decimal(campaign.details["minimum_volume_required"])
        return daily if any(o.total_volume >= minimum for o in outcomes) else Decimal(0)
    raise ValueError(f"the simulated oracle does not score {campaign.type} campaigns")


def estimated_rewards(
    campaign: SimCampaign, outcomes: Sequence[Outcome], pool: Decimal
) -> list[Decimal]:
    """Each outcome's share of ``pool`` as the leaderboard estimates it (same order)."""
    if campaign.type == COMPETITIVE_MARKET_MAKING:
        return _competitive_shares(campaign, outcomes, pool)
    total = dsum(o.score for o in outcomes)
    if total == 0:
        return [Decimal(0) for _ in outcomes]
    return [
        MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(pool, o.score), total).quantize(
            ESTIMATE_EXPONENT, decimal.ROUND_DOWN, MONEY_CONTEXT
        )
        for o in outcomes
    ]


def _competitive_shares(
    campaign: SimCampaign, outcomes: Sequence[Outcome], pool: Decimal
) -> list[Decimal]:
    minimum = Decimal(campaign.details["minimum_volume_required"])
    slots = sorted(
        (Decimal(str(p)) for p in campaign.details["rewards_distribution"]), reverse=True
    )
    eligible = sorted(
        (i for i, o in enumerate(outcomes) if o.score > 0 and o.total_volume >= minimum),
        key=lambda i: -outcomes[i].score,
    )
    shares = [Decimal(0) for _ in outcomes]
    rank = 0
    while rank < len(eligible):
        tied = [i for i in eligible[rank:] if outcomes[i].score == outcomes[eligible[rank]].score]
        percent = dsum(slots[rank : rank + len(tied)])
        each = truncate(
            MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(pool, percent), Decimal(100 * len(tied))),
            campaign.fund_token_decimals,
        )
        for i in tied:
            shares[i] = each
        rank += len(tied)
    return shares
