"""Our score mirror against the oracle's numbers: snapshots, differences and an alarm.

Two comparisons, each written as a per-cycle snapshot in ``hufi_score_snapshots``:

* ``leaderboard`` — the oracle's partial cycle ``[cycle_start, updated_at)``: our score over
  exactly that window (from our stored fills, from ``joined_at`` on) against our row, plus the
  pool and our reward estimated from everyone's rows;
* ``results`` — each completed cycle in the oracle's results file (SHA-256 checked): our cycle
  totals against our outcome, with the reward computed from the recorded pool.

A relative difference above ``tolerance`` raises the alarm metric and is logged; the oracle's
scores are the ones that pay, so a drift means our fills or our formula disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, insert, select

from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.money import MONEY_CONTEXT
from hufimm.core.timesource import TimeSource
from hufimm.hufi import cycles, scoring
from hufimm.hufi.errors import HufiRejected
from hufimm.hufi.estimator import JOINED, window_totals
from hufimm.hufi.models import Leaderboard, ResultsFile
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.hufi.records import CampaignRecord
from hufimm.hufi.scoring import CycleTotals, Participant
from hufimm.hufi.tables import campaigns, participations, score_cycles, score_snapshots
from hufimm.store.db import Database

LEADERBOARD, RESULTS = "leaderboard", "results"


@dataclass(frozen=True)
class Snapshot:
    address: str
    cycle: int
    source: str
    window_end_ns: int
    our_score: Decimal
    oracle_score: Decimal
    score_diff: Decimal
    estimated_reward: Decimal | None
    oracle_estimated_reward: Decimal | None
    alarm: bool


def relative_difference(ours: Decimal, theirs: Decimal) -> Decimal:
    """``|ours − theirs| / max(|ours|, |theirs|)``; 0 when both are 0."""
    scale = max(abs(ours), abs(theirs))
    if scale == 0:
        return Decimal(0)
    return MONEY_CONTEXT.divide(abs(MONEY_CONTEXT.subtract(ours, theirs)), scale)


class ScoreReconciler:
    def __init__(
        self,
        db: Database,
        oracle: RecordingOracleClient,
        time: TimeSource,
        metrics: Metrics,
        *,
        tolerance: Decimal,
    ) -> None:
        self._db = db
        self._oracle = oracle
        self._time = time
        self._tolerance = tolerance
        self._checked_results: dict[tuple[int, str], str] = {}
        self.alarms = 0
        self._log = get_logger("hufi.reconcile")
        self._m_ratio = metrics.gauge(
            "hufi_score_diff_ratio", "Relative score difference vs the oracle", ["campaign"]
        )
        self._m_alarm = metrics.gauge(
            "hufi_score_alarm", "1 while our score differs beyond tolerance", ["campaign"]
        )
        self._m_alarms = metrics.counter(
            "hufi_score_alarms_total", "Score checks beyond tolerance", ["source"]
        )
        self._m_checks = metrics.counter("hufi_score_checks_total", "Score checks", ["source"])

    @property
    def wallet(self) -> str:
        return self._oracle.wallet

    def _joined(self) -> list[tuple[CampaignRecord, int]]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(campaigns, participations.c.joined_at_ns)
                .join(
                    participations,
                    (participations.c.chain_id == campaigns.c.chain_id)
                    & (participations.c.address == campaigns.c.address),
                )
                .where(participations.c.wallet == self.wallet, participations.c.state == JOINED)
                .order_by(campaigns.c.chain_id, campaigns.c.address)
            ).all()
        return [(CampaignRecord.from_row(row), int(row.joined_at_ns)) for row in rows]

    async def run_once(self) -> list[Snapshot]:
        snapshots: list[Snapshot] = []
        for campaign, joined_at in self._joined():
            if campaign.status in ("active", "to_cancel"):
                try:
                    board = await self._oracle.leaderboard(campaign.chain_id, campaign.address)
                except HufiRejected as exc:
                    self._log.info(
                        "hufi_leaderboard_refused", campaign=campaign.address, error=str(exc)
                    )
                else:
                    snapshot = self._check_leaderboard(campaign, joined_at, board)
                    if snapshot is not None:
                        snapshots.append(snapshot)
            url = campaign.intermediate_results_url
            if url and self._checked_results.get(campaign.key) != url:
                results = await self._oracle.results_file(url)
                snapshots.extend(self._check_results(campaign, results))
                self._checked_results[campaign.key] = url
        return snapshots

    # ------------------------------------------------------------------ leaderboard
    def _check_leaderboard(
        self, campaign: CampaignRecord, joined_at: int, board: Leaderboard
    ) -> Snapshot | None:
        refreshed = board.updated_ns
        count = campaign.cycle_count()
        if refreshed is None or refreshed <= campaign.start_ns or count == 0:
            return None
        cycle = min(cycles.cycle_index(campaign.start_ns, refreshed), count - 1)
        cycle_start, cycle_end = campaign.cycle_bounds(cycle)
        until = min(refreshed, cycle_end)
        with self._db.read() as conn:
            if self._has_snapshot(conn, campaign, cycle, LEADERBOARD, until):
                return None
            ours = (
                window_totals(
                    conn, campaign.chain_id, campaign.address, max(cycle_start, joined_at), until
                )
                if max(cycle_start, joined_at) < until
                else CycleTotals()
            )
        entry = board.entry_for(self.wallet)
        others = [
            Participant(e.score, e.result)
            for e in board.entries
            if e.address.lower() != self.wallet.lower()
        ]
        our_score = scoring.campaign_score(campaign.type, campaign.details, ours)
        pool, reward = self._estimate(campaign, Participant(our_score, ours.volume), others, None)
        return self._store(
            campaign,
            cycle,
            LEADERBOARD,
            until,
            ours,
            our_score,
            Decimal(0) if entry is None else entry.score,
            market_volume=board.total,
            others=others,
            pool=pool,
            reward=reward,
            oracle_reward=None if entry is None else entry.estimated_reward,
        )

    # ------------------------------------------------------------------ results files
    def _check_results(self, campaign: CampaignRecord, results: ResultsFile) -> list[Snapshot]:
        snapshots = []
        for entry in results.cycles:
            cycle = cycles.cycle_index(campaign.start_ns, entry.from_ns)
            with self._db.read() as conn:
                if self._has_snapshot(conn, campaign, cycle, RESULTS, None):
                    continue
                row = conn.execute(
                    select(score_cycles).where(
                        score_cycles.c.chain_id == campaign.chain_id,
                        score_cycles.c.address == campaign.address,
                        score_cycles.c.cycle == cycle,
                    )
                ).first()
            ours = (
                CycleTotals()
                if row is None
                else CycleTotals(row.maker_cost, row.taker_buy_cost, row.taker_sell_cost, row.fills)
            )
            outcome = entry.outcome_for(self.wallet)
            others = [
                Participant(o.score, o.total_volume or Decimal(0))
                for _, batch in entry.batches
                for o in batch
                if o.address.lower() != self.wallet.lower()
            ]
            our_score = scoring.campaign_score(campaign.type, campaign.details, ours)
            _, reward = self._estimate(
                campaign, Participant(our_score, ours.volume), others, entry.reserved_funds
            )
            snapshots.append(
                self._store(
                    campaign,
                    cycle,
                    RESULTS,
                    entry.to_ns,
                    ours,
                    our_score,
                    Decimal(0) if outcome is None else outcome.score,
                    market_volume=entry.total_volume,
                    others=others,
                    pool=entry.reserved_funds,
                    reward=reward,
                    oracle_reward=None,
                )
            )
        return snapshots

    # ------------------------------------------------------------------ shared
    def _estimate(
        self,
        campaign: CampaignRecord,
        ours: Participant,
        others: list[Participant],
        pool: Decimal | None,
    ) -> tuple[Decimal | None, Decimal | None]:
        decimals = campaign.fund_token_decimals
        if pool is None:
            daily = campaign.daily_reward()
            if daily is None:
                return None, None
            pool = scoring.reward_pool(
                campaign.type, campaign.details, daily, decimals, [ours, *others]
            )
        reward = scoring.participant_reward(
            campaign.type, campaign.details, pool, decimals, ours, others
        )
        return pool, reward

    def _has_snapshot(
        self,
        conn: Connection,
        campaign: CampaignRecord,
        cycle: int,
        source: str,
        window_end: int | None,
    ) -> bool:
        query = select(score_snapshots.c.id).where(
            score_snapshots.c.chain_id == campaign.chain_id,
            score_snapshots.c.address == campaign.address,
            score_snapshots.c.cycle == cycle,
            score_snapshots.c.source == source,
        )
        if window_end is not None:
            query = query.where(score_snapshots.c.window_end_ns == window_end)
        return conn.execute(query.limit(1)).first() is not None

    def _store(
        self,
        campaign: CampaignRecord,
        cycle: int,
        source: str,
        window_end: int,
        ours: CycleTotals,
        our_score: Decimal,
        oracle_score: Decimal,
        *,
        market_volume: Decimal | None,
        others: list[Participant],
        pool: Decimal | None,
        reward: Decimal | None,
        oracle_reward: Decimal | None,
    ) -> Snapshot:
        diff = MONEY_CONTEXT.subtract(our_score, oracle_score)
        ratio = relative_difference(our_score, oracle_score)
        alarm = ratio > self._tolerance
        label = f"{campaign.chain_id}-{campaign.address}"
        self._m_checks.labels(source).inc()
        self._m_ratio.labels(label).set(float(ratio))
        self._m_alarm.labels(label).set(1 if alarm else 0)
        if alarm:
            self.alarms += 1
            self._m_alarms.labels(source).inc()
            self._log.warning(
                "hufi_score_mismatch",
                campaign=label,
                cycle=cycle,
                source=source,
                ours=str(our_score),
                oracle=str(oracle_score),
                ratio=str(ratio),
            )
        with self._db.begin() as conn:
            conn.execute(
                insert(score_snapshots).values(
                    chain_id=campaign.chain_id,
                    address=campaign.address,
                    cycle=cycle,
                    source=source,
                    taken_ns=self._time.time_ns(),
                    window_end_ns=window_end,
                    our_score=our_score,
                    our_volume=ours.volume,
                    oracle_score=oracle_score,
                    market_volume=market_volume,
                    others_score=scoring.exact_sum(p.score for p in others),
                    reward_pool=pool,
                    estimated_reward=reward,
                    oracle_estimated_reward=oracle_reward,
                    score_diff=diff,
                    alarm=alarm,
                )
            )
        return Snapshot(
            campaign.address,
            cycle,
            source,
            window_end,
            our_score,
            oracle_score,
            diff,
            reward,
            oracle_reward,
            alarm,
        )
