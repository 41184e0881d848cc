"""The score estimator: our fills, scored per campaign and cycle the way the oracle scores them.

:class:`ScoreEstimator` is an outbox consumer of fill events.  Each fill on a market we make is
kept once per matching campaign (``hufi_score_fills``, keyed by trade and order) if it falls
inside the campaign's cycles, and — when we had joined before it happened — added to its
cycle's totals (``hufi_score_cycles``: maker / taker-buy / taker-sell cost, volume, score).
Fills are kept even before we join, so when the joiner records ``joined_at`` the totals are
rebuilt exactly from the stored fills (:func:`rebuild_scores`), whatever order the join and
the fills arrived in.  Everything runs in the receipt's transaction: an event's effect happens
exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hufimm.hufi import cycles
from hufimm.hufi.models import VOLUME_TYPES
from hufimm.hufi.records import CampaignRecord, load_campaign
from hufimm.hufi.scoring import CycleTotals
from hufimm.hufi.settings import HufiMarket
from hufimm.hufi.tables import campaigns, participations, score_cycles, score_fills
from hufimm.market import FILL_EVENT, Fill, Side
from hufimm.store.outbox import OutboxEvent

JOINED = "joined"


# The fill path is hot: its statements are built once.
_CAMPAIGNS_FOR_MARKET = select(campaigns).where(
    campaigns.c.exchange_name == bindparam("exchange"),
    campaigns.c.symbol == bindparam("symbol"),
    campaigns.c.type.in_(sorted(VOLUME_TYPES)),
)
_JOINED_AT = select(participations.c.joined_at_ns).where(
    participations.c.chain_id == bindparam("chain_id"),
    participations.c.address == bindparam("address"),
    participations.c.wallet == bindparam("wallet"),
    participations.c.state == JOINED,
)
_CYCLE_KEY = and_(
    score_cycles.c.chain_id == bindparam("k_chain_id"),
    score_cycles.c.address == bindparam("k_address"),
    score_cycles.c.cycle == bindparam("k_cycle"),
)
_SELECT_CYCLE = select(score_cycles).where(_CYCLE_KEY)
_UPDATE_CYCLE = update(score_cycles).where(_CYCLE_KEY)
_INSERT_CYCLE = insert(score_cycles)
_INSERT_FILL = {
    name: dialect.insert(score_fills).on_conflict_do_nothing().returning(score_fills.c.cycle)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _campaigns_for(conn: Connection, exchange: str, symbol: str) -> list[CampaignRecord]:
    rows = conn.execute(_CAMPAIGNS_FOR_MARKET, {"exchange": exchange, "symbol": symbol}).all()
    return [CampaignRecord.from_row(row) for row in rows]


def joined_at(conn: Connection, chain_id: int, address: str, wallet: str) -> int | None:
    row = conn.execute(
        _JOINED_AT, {"chain_id": chain_id, "address": address, "wallet": wallet}
    ).first()
    return None if row is None else row.joined_at_ns


def _add_to_cycle(
    conn: Connection,
    campaign: CampaignRecord,
    cycle: int,
    side: Side,
    maker: bool,
    cost: Decimal,
    now: int,
) -> None:
    key = {"k_chain_id": campaign.chain_id, "k_address": campaign.address, "k_cycle": cycle}
    row = conn.execute(_SELECT_CYCLE, key).first()
    before = (
        CycleTotals()
        if row is None
        else CycleTotals(row.maker_cost, row.taker_buy_cost, row.taker_sell_cost, row.fills)
    )
    after = before.add(side, maker, cost)
    values = {
        "maker_cost": after.maker_cost,
        "taker_buy_cost": after.taker_buy_cost,
        "taker_sell_cost": after.taker_sell_cost,
        "volume": after.volume,
        "score": after.score,
        "fills": after.fills,
        "updated_ns": now,
    }
    if row is None:
        start, end = campaign.cycle_bounds(cycle)
        conn.execute(
            _INSERT_CYCLE,
            {
                "chain_id": campaign.chain_id,
                "address": campaign.address,
                "cycle": cycle,
                "start_ns": start,
                "end_ns": end,
                **values,
            },
        )
    else:
        conn.execute(_UPDATE_CYCLE, {**key, **values})


def rebuild_scores(conn: Connection, chain_id: int, address: str, wallet: str, now_ns: int) -> None:
    """Recompute a campaign's cycle totals from its stored fills (after a join or cancellation)."""
    campaign = load_campaign(conn, chain_id, address)
    if campaign is None:
        return
    conn.execute(
        delete(score_cycles).where(
            score_cycles.c.chain_id == chain_id, score_cycles.c.address == address
        )
    )
    since = joined_at(conn, chain_id, address, wallet)
    if since is None:
        return
    limit = campaign.cycles_limit_ns
    rows = conn.execute(
        select(score_fills)
        .where(
            score_fills.c.chain_id == chain_id,
            score_fills.c.address == address,
            score_fills.c.ts_ns >= since,
            score_fills.c.ts_ns < limit,
        )
        .order_by(score_fills.c.ts_ns, score_fills.c.trade_key)
    ).all()
    totals: dict[int, CycleTotals] = {}
    for row in rows:
        totals[row.cycle] = totals.get(row.cycle, CycleTotals()).add(
            Side(row.side), row.is_maker, row.cost
        )
    for cycle, total in sorted(totals.items()):
        start, end = campaign.cycle_bounds(cycle)
        conn.execute(
            insert(score_cycles).values(
                chain_id=chain_id,
                address=address,
                cycle=cycle,
                start_ns=start,
                end_ns=end,
                maker_cost=total.maker_cost,
                taker_buy_cost=total.taker_buy_cost,
                taker_sell_cost=total.taker_sell_cost,
                volume=total.volume,
                score=total.score,
                fills=total.fills,
                updated_ns=now_ns,
            )
        )


def window_totals(
    conn: Connection, chain_id: int, address: str, since_ns: int, until_ns: int
) -> CycleTotals:
    """Our totals over ``[since, until)`` from the stored fills (for partial-cycle checks)."""
    rows = conn.execute(
        select(score_fills.c.side, score_fills.c.is_maker, score_fills.c.cost).where(
            score_fills.c.chain_id == chain_id,
            score_fills.c.address == address,
            score_fills.c.ts_ns >= since_ns,
            score_fills.c.ts_ns < until_ns,
        )
    ).all()
    totals = CycleTotals()
    for row in rows:
        totals = totals.add(Side(row.side), row.is_maker, row.cost)
    return totals


class ScoreEstimator:
    """Outbox consumer of our fills (``FILL_EVENT``) feeding the per-cycle score mirror."""

    name = "hufi.score"

    def __init__(self, markets: Sequence[HufiMarket], wallet: str | None) -> None:
        self._markets = list(markets)
        self._wallet = wallet

    def market_for(self, fill: Fill) -> HufiMarket | None:
        for market in self._markets:
            if market.fill_venue != fill.exchange or market.symbol != fill.symbol.upper():
                continue
            if market.account is None or market.account == fill.account:
                return market
        return None

    def handle(self, conn: Connection, event: OutboxEvent) -> None:
        if event.event_type != FILL_EVENT:
            return
        fill = Fill.from_payload(event.payload)
        market = self.market_for(fill)
        if market is None:
            return
        for campaign in _campaigns_for(conn, market.exchange, market.symbol):
            self._record(conn, campaign, fill, event.created_at)

    def _record(self, conn: Connection, campaign: CampaignRecord, fill: Fill, now: int) -> None:
        if not campaign.start_ns <= fill.ts_ns < campaign.cycles_limit_ns:
            return
        cycle = cycles.cycle_index(campaign.start_ns, fill.ts_ns)
        stored = conn.execute(
            _INSERT_FILL[conn.dialect.name],
            {
                "chain_id": campaign.chain_id,
                "address": campaign.address,
                # A trade has one fill per order in it: both of ours when we trade with
                # ourselves, and the oracle's trade history counts both.
                "trade_key": f"{fill.exchange}:{fill.symbol}:{fill.trade_id}:{fill.order_id}",
                "cycle": cycle,
                "ts_ns": fill.ts_ns,
                "side": fill.side.value,
                "is_maker": fill.is_maker,
                "cost": fill.quote_qty,
            },
        ).first()
        if stored is None or self._wallet is None:
            return  # a fill we already had (another event for the same trade)
        since = joined_at(conn, campaign.chain_id, campaign.address, self._wallet)
        if since is not None and fill.ts_ns >= since:
            _add_to_cycle(conn, campaign, cycle, fill.side, fill.is_maker, fill.quote_qty, now)
