"""Reconciliation of one exchange account against the shadow tracker, on the clock.

Each run:

1. reads balances, every tracked market's open orders, then balances again (the two balance
   reads bracket the order reads, so the balance check below compares one consistent moment);
2. applies the venue's open orders; an open order of ours the tracker never saw (our client-id
   prefix) is adopted or cancelled by policy; an order we asked to cancel that is still open
   after ``recancel_after_s`` is cancelled again;
3. looks up each live tracked order the open lists lack (by client id): the answer resolves it,
   or a definitive not-found feeds the lost-order protocol;
4. backfills fills from trade history since the cursor, then lists orders whose venue-reported
   cumulative quantity is still not explained by recorded fills;
5. checks balance sanity: locked balances against what the open orders reserve, and the
   tracker's exposure against what the account holds (a mismatch counts once it persisted for
   ``balance_mismatch_runs`` runs, since fills move balances between reads);
6. writes a summary row (found / did / problems), emits metrics, and sets each market's health:
   unhealthy while a problem it could not resolve (or a read it could not make) remains.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import insert, select

from hufimm.core.clock import Health, HealthStatus, ScheduledJob
from hufimm.core.errors import HufimmError
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.money import MONEY_CONTEXT
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.market import Balance, ExchangeRejected, ExchangeRetryable, Order, RejectReason, Side
from hufimm.store.db import Database
from hufimm.tracking.market_health import NEVER_RECONCILED, MarketHealth, MarketHealthBoard
from hufimm.tracking.model import TrackedStatus
from hufimm.tracking.settings import ReconcileSettings, UnknownOrderPolicy
from hufimm.tracking.sync import AccountSync, Lookups
from hufimm.tracking.tables import tracking_reconciliations

_log = get_logger("tracking.reconcile")
ACCOUNT = "*"  # problems that concern the whole account (every market)
ZERO = Decimal(0)


@dataclass
class ReconcileReport:
    run_id: int
    outcome: str  # clean | resolved | unresolved | incomplete
    found: dict[str, int] = field(default_factory=dict)
    did: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)  # by symbol, "*" = account


@dataclass(frozen=True)
class ReconcileRun:
    """A stored summary row."""

    run_id: int
    exchange: str
    account: str
    started_at: int
    finished_at: int
    outcome: str
    found: dict[str, int]
    did: dict[str, int]
    problems: dict[str, list[str]]


def recent_runs(db: Database, limit: int = 20, exchange: str | None = None) -> list[ReconcileRun]:
    """The latest reconciliation summaries, newest first."""
    table = tracking_reconciliations
    statement = select(table).order_by(table.c.run_id.desc()).limit(limit)
    if exchange is not None:
        statement = statement.where(table.c.exchange == exchange)
    with db.read() as conn:
        rows = conn.execute(statement).all()
    return [
        ReconcileRun(
            r.run_id,
            r.exchange,
            r.account,
            r.started_at,
            r.finished_at,
            r.outcome,
            json.loads(r.found),
            json.loads(r.did),
            json.loads(r.problems),
        )
        for r in rows
    ]


class Reconciler(ScheduledJob):
    """Reconciles one account's markets; a clock job running :meth:`run` every
    ``interval_s`` (phase JOBS), whose health shows the last run's outcome."""

    def __init__(
        self,
        sync: AccountSync,
        symbols: Sequence[str],
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        settings: ReconcileSettings | None = None,
    ) -> None:
        self._sync = sync
        self._connector = sync.connector
        self._orders = sync.orders
        self.exchange = sync.exchange
        self.account = sync.account
        self.settings = settings or ReconcileSettings()
        super().__init__(
            f"reconcile:{self.exchange}:{self.account}", self.settings.interval_s, self._job
        )
        self.symbols = list(dict.fromkeys(symbols))
        self._db = db
        self._time = time_source
        self.board = MarketHealthBoard(db)
        # Write-through copy of this account's verdicts: the reconciler is their only writer,
        # so it drops the copy after each of its commits and reloads it on the next read.
        self._verdicts: dict[str, MarketHealth] | None = None
        self._balance_strikes = 0
        self.completed_runs = 0
        self.last_report: ReconcileReport | None = None
        self._m_runs = metrics.counter(
            "tracking_reconcile_runs_total",
            "Reconciliation runs",
            ["exchange", "account", "outcome"],
        )
        self._m_found = metrics.counter(
            "tracking_reconcile_found_total", "What reconciliation found", ["exchange", "kind"]
        )
        self._m_did = metrics.counter(
            "tracking_reconcile_actions_total", "What reconciliation did", ["exchange", "kind"]
        )
        self._m_unhealthy = metrics.gauge(
            "tracking_market_unhealthy",
            "1 while reconciliation holds a market unhealthy",
            ["exchange", "account", "symbol"],
        )

    async def start(self) -> None:
        """Fail closed until the first run: no market is healthy before it was reconciled."""
        now = self._time.time_ns()
        self.board.mark_unknown(
            self.exchange, self.account, self.symbols, "not reconciled yet", now
        )
        self._verdicts = None
        for symbol in self.symbols:
            self._m_unhealthy.labels(self.exchange, self.account, symbol).set(1)

    async def _job(self, ts: int) -> None:
        await self.run(ts)

    def health(self) -> Health:
        report = self.last_report
        if report is None:
            return Health(HealthStatus.DEGRADED, "not reconciled yet")
        details = {"run_id": report.run_id, "outcome": report.outcome, "found": report.found}
        if report.outcome in ("unresolved", "incomplete"):
            first = next(iter(report.problems.items()), ("", [""]))
            reason = f"{report.outcome}: {first[0]}: {first[1][0]}"
            return Health(HealthStatus.DEGRADED, reason, details | {"problems": report.problems})
        return Health(HealthStatus.OK, "", details)

    def market_health(self, symbol: str) -> MarketHealth:
        """The market's last verdict (the executors ask every tick: one query per commit)."""
        if self._verdicts is None:
            self._verdicts = self.board.of_account(self.exchange, self.account)
        verdict = self._verdicts.get(symbol)
        return verdict if verdict is not None else MarketHealth(False, NEVER_RECONCILED, None)

    # ------------------------------------------------------------------ the run
    async def run(self, ts: int | None = None) -> ReconcileReport:
        started = self._time.time_ns()
        found: Counter[str] = Counter()
        did: Counter[str] = Counter()
        problems: dict[str, list[str]] = defaultdict(list)
        incomplete = False

        before = await self._read_balances(problems)
        venue_open: dict[str, list[Order]] = {}
        unlisted: list[str] = []
        for symbol in self.symbols:
            try:
                venue_open[symbol] = await self._connector.fetch_open_orders(symbol)
            except HufimmError as exc:
                problems[symbol].append(f"open orders unreadable: {exc}")
                incomplete = True
                if not (isinstance(exc, ExchangeRetryable) and exc.rate_limited):
                    unlisted.append(symbol)  # still ask order by order (unless throttled)
        sent_at = self._time.time_ns()
        after = await self._read_balances(problems)
        incomplete = incomplete or before is None or after is None
        if after is not None:
            self._sync.balances.apply(self.exchange, self.account, after, sent_at, "rest")

        for symbol, opens in venue_open.items():
            incomplete |= await self._orders_of(symbol, opens, found, did, problems)
        for symbol in unlisted:
            lookups = await self._sync.look_up_missing(symbol, [])
            did["resolved_by_lookup"] += len(lookups.resolved)
            self._judge_missing(symbol, lookups, found, did, problems)
        for symbol in self.symbols:
            try:
                did["fills_backfilled"] += await self._sync.backfill_fills(symbol)
            except HufimmError as exc:
                problems[symbol].append(f"trade history unreadable: {exc}")
                incomplete = True
                continue
            for order in self._orders.orders_missing_fills(self.exchange, self.account, symbol):
                found["fills_short"] += 1
                problems[symbol].append(
                    f"{order.client_order_id}: {order.missing_fill_qty} traded without a fill"
                )
        if before is not None and after is not None and len(venue_open) == len(self.symbols):
            self._check_balances(before, after, venue_open, found, problems)

        outcome = (
            "incomplete"
            if incomplete
            else "unresolved"
            if any(problems.values())
            else "resolved"
            if +did
            else "clean"
        )
        report = self._record(started, outcome, found, did, problems)
        self.completed_runs += 1
        self.last_report = report
        if outcome != "clean":
            _log.info(
                "reconciliation",
                account=self.account,
                outcome=outcome,
                found=dict(found),
                did=dict(+did),
                problems={k: v[:3] for k, v in problems.items() if v},
            )
        return report

    async def _read_balances(self, problems: dict[str, list[str]]) -> dict[str, Balance] | None:
        try:
            return await self._connector.fetch_balances()
        except HufimmError as exc:
            problems[ACCOUNT].append(f"balances unreadable: {exc}")
            return None

    async def _orders_of(
        self,
        symbol: str,
        opens: list[Order],
        found: Counter[str],
        did: Counter[str],
        problems: dict[str, list[str]],
    ) -> bool:
        """Steps 2 and 3 for one market; returns whether a read failed."""
        found["venue_open"] += len(opens)
        _, unknown, foreign = self._sync.apply_open(opens)
        found["foreign_open"] += len(foreign)
        if self.settings.dedicated_accounts:
            for order in foreign:  # someone else trades this account: budgets mean nothing
                problems[symbol].append(
                    f"foreign open order {order.client_order_id or order.order_id} "
                    "on a dedicated account"
                )
        failed = False
        for order in unknown:
            found["unknown_ours"] += 1
            failed |= await self._handle_orphan(symbol, order, did, problems)
        open_ids = {o.client_order_id for o in opens}
        now = self._time.time_ns()
        recancel_ns = self.settings.recancel_after_s * NS_PER_SECOND
        for tracked in self._orders.open_orders(self.exchange, self.account, symbol):
            asked = tracked.cancel_requested_at
            if (
                tracked.status is TrackedStatus.PENDING_CANCEL
                and tracked.client_order_id in open_ids
                and asked is not None
                and now - asked >= recancel_ns
            ):
                found["cancel_not_done"] += 1
                if await self._cancel(symbol, tracked.client_order_id, problems):
                    did["recancelled"] += 1
        lookups = await self._sync.look_up_missing(symbol, opens)
        found["missing_on_venue"] += len(lookups.resolved) + len(lookups.not_found)
        did["resolved_by_lookup"] += len(lookups.resolved)
        return self._judge_missing(symbol, lookups, found, did, problems) or failed

    def _judge_missing(
        self,
        symbol: str,
        lookups: Lookups,
        found: Counter[str],
        did: Counter[str],
        problems: dict[str, list[str]],
    ) -> bool:
        """Step 3's verdicts; returns whether a lookup got no answer."""
        now = self._time.time_ns()
        failed = False
        min_age_ns = self._orders.lost.min_age_s * NS_PER_SECOND
        for missing in lookups.not_found:
            if missing.status is TrackedStatus.LOST:
                did["declared_lost"] += 1
            elif now - missing.created_at < min_age_ns:
                found["not_yet_visible"] += 1
            else:
                confirmations = self._orders.lost.confirmations
                problems[symbol].append(
                    f"{missing.client_order_id} not found on the venue "
                    f"({missing.not_found_count}/{confirmations})"
                )
        for client_order_id, error in lookups.failed:
            problems[symbol].append(f"lookup of {client_order_id} failed: {error}")
            failed = True
        return failed

    async def _handle_orphan(
        self, symbol: str, order: Order, did: Counter[str], problems: dict[str, list[str]]
    ) -> bool:
        self._orders.adopt(self.exchange, self.account, order)
        if self.settings.unknown_order_policy is UnknownOrderPolicy.ADOPT:
            did["adopted"] += 1
            return False
        assert order.client_order_id is not None
        self._orders.request_cancel(order.client_order_id)
        if await self._cancel(symbol, order.client_order_id, problems):
            did["orphans_cancelled"] += 1
        return False

    async def _cancel(
        self, symbol: str, client_order_id: str, problems: dict[str, list[str]]
    ) -> bool:
        try:
            result = await self._connector.cancel_order(symbol, client_order_id)
        except ExchangeRejected as exc:
            if exc.reason is RejectReason.NOT_FOUND:
                return True  # not open any more: the next lookup says how it ended
            problems[symbol].append(f"cancel of {client_order_id} refused: {exc}")
            return False
        except HufimmError as exc:
            problems[symbol].append(f"cancel of {client_order_id} failed: {exc}")
            return False
        self._orders.apply_order(self.exchange, self.account, result)
        return True

    # ------------------------------------------------------------------ balances
    def _check_balances(
        self,
        before: dict[str, Balance],
        after: dict[str, Balance],
        venue_open: dict[str, list[Order]],
        found: Counter[str],
        problems: dict[str, list[str]],
    ) -> None:
        if before != after:
            found["balances_moving"] += 1  # fills between the reads: no consistent moment
            return
        ctx = MONEY_CONTEXT
        reserved: dict[str, Decimal] = defaultdict(lambda: ZERO)
        committed: dict[str, Decimal] = defaultdict(lambda: ZERO)
        assets: set[str] = set()
        for symbol, opens in venue_open.items():
            rules = self._connector.rules(symbol)
            assets |= {rules.base, rules.quote}
            for order in opens:
                if order.side is Side.BUY:
                    value = ctx.multiply(order.price, order.remaining_qty)
                    reserved[rules.quote] = ctx.add(reserved[rules.quote], value)
                else:
                    reserved[rules.base] = ctx.add(reserved[rules.base], order.remaining_qty)
            exposure = self._orders.exposure(self.exchange, self.account, symbol)
            committed[rules.quote] = ctx.add(committed[rules.quote], exposure.quote)
            committed[rules.base] = ctx.add(committed[rules.base], exposure.base)
        mismatches = []
        for asset in sorted(assets):
            balance = after.get(asset, Balance(asset, ZERO, ZERO))
            if balance.free < 0 or balance.locked < 0:
                mismatches.append(
                    f"{asset} negative ({balance.free} free, {balance.locked} locked)"
                )
            if balance.locked < reserved[asset] or (
                self.settings.dedicated_accounts and balance.locked != reserved[asset]
            ):
                mismatches.append(
                    f"{asset} locked {balance.locked} but open orders reserve {reserved[asset]}"
                )
            if committed[asset] > balance.total:
                mismatches.append(
                    f"{asset}: tracked orders commit {committed[asset]}, account holds "
                    f"{balance.total}"
                )
        if not mismatches:
            self._balance_strikes = 0
            return
        found["balance_mismatch"] += 1
        self._balance_strikes += 1
        if self._balance_strikes >= self.settings.balance_mismatch_runs:
            problems[ACCOUNT].extend(mismatches)

    # ------------------------------------------------------------------ the record
    def _record(
        self,
        started: int,
        outcome: str,
        found: Counter[str],
        did: Counter[str],
        problems: dict[str, list[str]],
    ) -> ReconcileReport:
        now = self._time.time_ns()
        kept = {k: v for k, v in problems.items() if v}
        with self._db.begin() as conn:
            run_id = conn.execute(
                insert(tracking_reconciliations).returning(tracking_reconciliations.c.run_id),
                {
                    "exchange": self.exchange,
                    "account": self.account,
                    "started_at": started,
                    "finished_at": now,
                    "outcome": outcome,
                    "found": json.dumps(dict(sorted(found.items()))),
                    "did": json.dumps(dict(sorted((+did).items()))),
                    "problems": json.dumps(kept, sort_keys=True),
                },
            ).scalar_one()
            account_wide = kept.get(ACCOUNT, [])
            for symbol in self.symbols:
                reasons = kept.get(symbol, []) + account_wide
                healthy = not reasons
                reason = "; ".join(reasons[:3]) + (" …" if len(reasons) > 3 else "")
                self.board.set(
                    conn, self.exchange, self.account, symbol, healthy, reason, now, run_id
                )
                self._m_unhealthy.labels(self.exchange, self.account, symbol).set(
                    0 if healthy else 1
                )
        self._verdicts = None  # committed: the next read sees the new verdicts
        self._m_runs.labels(self.exchange, self.account, outcome).inc()
        for kind, count in found.items():
            if count:
                self._m_found.labels(self.exchange, kind).inc(count)
        for kind, count in did.items():
            if count:
                self._m_did.labels(self.exchange, kind).inc(count)
        return ReconcileReport(int(run_id), outcome, dict(found), dict(+did), kept)
