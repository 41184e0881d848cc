"""Joining campaigns: a policy picks them, a safety gate vets them, the joiner enrolls and joins.

* :class:`JoinPolicy` — configured markets and campaign types, not ended, not full (the oracle
  says so at check time), daily reward at least the configured minimum.
* :class:`SafetyGate` — refuses, and reports, any join that would need an on-chain transaction
  (a DEX campaign trades from the wallet itself; an exchange the launcher does not list as an
  enabled CEX) or an exchange key that can trade or withdraw.  A key's permissions come from a
  :class:`KeyInspector` when the exchange layer provides one; otherwise the operator must have
  declared the key read-only, or the gate refuses (fail closed).
* :class:`Joiner` — enrolls the read-only key once per exchange (an upsert; re-posted only when
  the key changes), checks the join status, joins, treats "already joined" as success, retries
  "Campaign not found" (the oracle's index lags fresh escrows) later, and stores ``joined_at``
  as the oracle reports it, because trades before it do not count.  Recording the join rebuilds
  the campaign's score mirror from our stored fills in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Connection, delete, select

from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.hufi.errors import HufiError, HufiRejected
from hufimm.hufi.estimator import JOINED, rebuild_scores
from hufimm.hufi.launcher import CampaignLauncherClient
from hufimm.hufi.models import ExchangeInfo
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.hufi.records import JOINABLE, CampaignRecord, load_campaign
from hufimm.hufi.settings import HufiExchangeKey, HufiSettings
from hufimm.hufi.tables import campaigns, key_enrollments, participations, upsert
from hufimm.store.db import Database

PENDING, REFUSED, CLOSED = "pending", "refused", "closed"

#: Oracle join refusals that close the campaign for us (nothing to retry).
_CLOSING = (
    "Campaign has reached the maximum number of participants",
    "Campaign already finished",
    "Campaign cancelled",
    "Joining the campaign is limited",
)
_NOT_FOUND_YET = "Campaign not found"
_NO_KEY = "Exchange API key not found"
_KEY_REFUSED = "Provided API key can't be authorized on exchange"


@dataclass(frozen=True)
class KeyPermissions:
    can_read_trades: bool
    can_trade: bool
    can_withdraw: bool


class KeyInspector(Protocol):
    """Asks an exchange what a key may do (``None`` when the venue cannot tell)."""

    async def inspect(self, exchange: str, api_key: str, secret: str) -> KeyPermissions | None: ...


@dataclass(frozen=True)
class GateVerdict:
    allowed: bool
    reason: str = ""


class SafetyGate:
    def __init__(self, inspector: KeyInspector | None = None) -> None:
        self._inspector = inspector

    async def check(
        self,
        campaign: CampaignRecord,
        exchanges: Sequence[ExchangeInfo],
        key: HufiExchangeKey | None,
    ) -> GateVerdict:
        venue = next((e for e in exchanges if e.name == campaign.exchange_name), None)
        if venue is None or not venue.enabled:
            return GateVerdict(False, f"exchange {campaign.exchange_name} is not an enabled venue")
        if venue.type != "cex":
            return GateVerdict(
                False, f"{campaign.exchange_name} is a DEX: taking part needs on-chain transactions"
            )
        if key is None:
            return GateVerdict(False, f"no read-only key configured for {campaign.exchange_name}")
        permissions = None
        if self._inspector is not None:
            permissions = await self._inspector.inspect(
                key.exchange, key.api_key.get_secret_value(), key.secret_key.get_secret_value()
            )
        if permissions is None:
            if not key.read_only:
                return GateVerdict(
                    False,
                    f"cannot establish that the {key.exchange} key is read-only "
                    "(declare read_only = true for a key you created without trade rights)",
                )
            return GateVerdict(True)
        if permissions.can_trade or permissions.can_withdraw:
            return GateVerdict(False, f"the {key.exchange} key can trade or withdraw")
        return GateVerdict(True)


@dataclass(frozen=True)
class JoinPolicy:
    campaign_types: frozenset[str]
    min_daily_reward: Decimal

    @classmethod
    def from_settings(cls, settings: HufiSettings) -> JoinPolicy:
        return cls(frozenset(settings.campaign_types), settings.min_daily_reward)

    def skip_reason(self, campaign: CampaignRecord, now_ns: int) -> str | None:
        """Why we would not join ``campaign`` (``None``: join it)."""
        if not campaign.matches_market:
            return "not a market we make"
        if campaign.type not in self.campaign_types:
            return f"type {campaign.type} not joined"
        if campaign.lifecycle not in JOINABLE or campaign.end_ns <= now_ns:
            return f"campaign is {campaign.lifecycle}"
        daily = campaign.daily_reward()
        if daily is None:
            return "fees not known yet"
        if daily < self.min_daily_reward:
            return f"daily reward {daily} below {self.min_daily_reward}"
        return None


@dataclass(frozen=True)
class JoinResult:
    state: str  # joined | pending | refused | closed
    detail: str = ""
    joined_at_ns: int | None = None


def key_fingerprint(key: HufiExchangeKey) -> str:
    material = (
        f"{key.exchange}\n{key.api_key.get_secret_value()}\n{key.secret_key.get_secret_value()}"
    )
    return hashlib.sha256(material.encode()).hexdigest()


class Joiner:
    def __init__(
        self,
        db: Database,
        oracle: RecordingOracleClient,
        launcher: CampaignLauncherClient,
        time: TimeSource,
        metrics: Metrics,
        settings: HufiSettings,
        gate: SafetyGate,
    ) -> None:
        self._db = db
        self._oracle = oracle
        self._launcher = launcher
        self._time = time
        self._settings = settings
        self._policy = JoinPolicy.from_settings(settings)
        self._gate = gate
        self._log = get_logger("hufi.joiner")
        self._m_joins = metrics.counter("hufi_joins_total", "Join attempts by result", ["result"])
        self._m_refused = metrics.counter(
            "hufi_join_refused_total", "Joins the safety gate refused", ["exchange"]
        )

    @property
    def wallet(self) -> str:
        return self._oracle.wallet

    def _now(self) -> int:
        return self._time.time_ns()

    # ------------------------------------------------------------------ the job
    async def run_once(self) -> list[tuple[str, JoinResult]]:
        """Join every campaign the policy wants and that is due; returns what happened."""
        now = self._now()
        with self._db.read() as conn:
            candidates = [
                CampaignRecord.from_row(row)
                for row in conn.execute(
                    select(campaigns)
                    .where(campaigns.c.matches_market.is_(True))
                    .order_by(campaigns.c.chain_id, campaigns.c.address)
                )
            ]
            states = {
                (row.chain_id, row.address): row
                for row in conn.execute(
                    select(participations).where(participations.c.wallet == self.wallet)
                )
            }
        due = []
        for campaign in candidates:
            if self._policy.skip_reason(campaign, now) is not None:
                continue
            known = states.get(campaign.key)
            retryable = known is None or known.state in (PENDING, REFUSED)
            if not retryable or (known is not None and known.next_attempt_ns > now):
                continue
            due.append(campaign)
        if not due:
            return []
        exchanges = await self._launcher.exchanges()
        return [(c.address, await self._join(c, exchanges)) for c in due]

    async def join_campaign(self, chain_id: int, address: str) -> JoinResult:
        """Join one campaign now (``hufimm hufi join``): the gate applies, the policy does not."""
        with self._db.read() as conn:
            campaign = load_campaign(conn, chain_id, address)
        if campaign is None:
            details = await self._launcher.campaign(chain_id, address)
            raise HufiRejected(
                "join",
                404,
                f"campaign {details.campaign.address} is not synced yet; run a campaign sync first",
            )
        return await self._join(campaign, await self._launcher.exchanges())

    # ------------------------------------------------------------------ one campaign
    async def _join(
        self, campaign: CampaignRecord, exchanges: Sequence[ExchangeInfo]
    ) -> JoinResult:
        key = self._settings.key_for(campaign.exchange_name)
        verdict = await self._gate.check(campaign, exchanges, key)
        if not verdict.allowed:
            self._m_refused.labels(campaign.exchange_name).inc()
            self._log.warning(
                "hufi_join_refused_by_gate", campaign=campaign.address, reason=verdict.reason
            )
            return self._record(campaign, REFUSED, verdict.reason, retry=True)
        assert key is not None
        try:
            await self._ensure_key(key)
            status = await self._oracle.check_join_status(campaign.chain_id, campaign.address)
            if status.status == "already_joined" and status.joined_at_ns is not None:
                return self._record_joined(campaign, status.joined_at_ns, None)
            if status.status == "join_closed":
                return self._record(campaign, CLOSED, f"join closed: {status.reason}")
            outcome = await self._oracle.join(campaign.chain_id, campaign.address)
            joined_at = self._now()
            after = await self._oracle.check_join_status(campaign.chain_id, campaign.address)
            if after.joined_at_ns is not None:
                joined_at = after.joined_at_ns  # the oracle's own time is what counts
            return self._record_joined(campaign, joined_at, outcome.ro_campaign_id)
        except HufiRejected as exc:
            return self._refusal(campaign, key, exc)
        except HufiError as exc:
            self._log.warning("hufi_join_failed", campaign=campaign.address, error=str(exc))
            return self._record(campaign, PENDING, str(exc), retry=True)

    def _refusal(
        self, campaign: CampaignRecord, key: HufiExchangeKey, exc: HufiRejected
    ) -> JoinResult:
        message = exc.message
        if message == _NOT_FOUND_YET:
            return self._record(campaign, PENDING, "not indexed by the oracle yet", retry=True)
        if message.startswith(_CLOSING):
            return self._record(campaign, CLOSED, message)
        if message == _NO_KEY:
            self._forget_key(key)  # enrolled again on the next attempt
            return self._record(campaign, PENDING, message, retry=True)
        if message.startswith(_KEY_REFUSED):
            self._store_key(key, None, REFUSED, message)
            return self._record(campaign, PENDING, message, retry=True)
        self._log.warning("hufi_join_rejected", campaign=campaign.address, error=str(exc))
        return self._record(campaign, PENDING, str(exc), retry=True)

    # ------------------------------------------------------------------ key enrolment
    async def _ensure_key(self, key: HufiExchangeKey) -> None:
        fingerprint = key_fingerprint(key)
        with self._db.read() as conn:
            row = conn.execute(
                select(key_enrollments).where(
                    key_enrollments.c.wallet == self.wallet,
                    key_enrollments.c.exchange == key.exchange,
                )
            ).first()
        if row is not None and row.fingerprint == fingerprint and row.state == "enrolled":
            return
        extras = {name: value.get_secret_value() for name, value in key.extras.items()}
        try:
            key_id = await self._oracle.enroll_exchange_key(
                key.exchange,
                key.api_key.get_secret_value(),
                key.secret_key.get_secret_value(),
                extras,
            )
        except HufiRejected as exc:
            missing = exc.details.get("missing_permissions")
            detail = f"{exc.message}: missing {missing}" if missing else exc.message
            self._store_key(key, None, REFUSED, detail)
            raise
        self._store_key(key, key_id, "enrolled", None)
        self._log.info("hufi_key_enrolled", exchange=key.exchange)

    def _store_key(
        self, key: HufiExchangeKey, key_id: str | None, state: str, detail: str | None
    ) -> None:
        with self._db.begin() as conn:
            upsert(
                conn,
                key_enrollments,
                {
                    "wallet": self.wallet,
                    "exchange": key.exchange,
                    "fingerprint": key_fingerprint(key),
                    "key_id": key_id,
                    "state": state,
                    "detail": detail,
                    "updated_ns": self._now(),
                },
                ("wallet", "exchange"),
            )

    def _forget_key(self, key: HufiExchangeKey) -> None:
        with self._db.begin() as conn:
            conn.execute(
                delete(key_enrollments).where(
                    key_enrollments.c.wallet == self.wallet,
                    key_enrollments.c.exchange == key.exchange,
                )
            )

    # ------------------------------------------------------------------ records
    def _record(
        self, campaign: CampaignRecord, state: str, detail: str, *, retry: bool = False
    ) -> JoinResult:
        now = self._now()
        with self._db.begin() as conn:
            attempts = self._attempts(conn, campaign) + 1
            delay = self._settings.join_retry_s * min(2 ** (attempts - 1), 24) if retry else 0
            upsert(
                conn,
                participations,
                {
                    "chain_id": campaign.chain_id,
                    "address": campaign.address,
                    "wallet": self.wallet,
                    "state": state,
                    "joined_at_ns": None,
                    "ro_campaign_id": None,
                    "attempts": attempts,
                    "last_error": detail,
                    "next_attempt_ns": now + round(delay * NS_PER_SECOND),
                    "updated_ns": now,
                },
                ("chain_id", "address", "wallet"),
            )
        self._m_joins.labels(state).inc()
        return JoinResult(state, detail)

    def _attempts(self, conn: Connection, campaign: CampaignRecord) -> int:
        row = conn.execute(
            select(participations.c.attempts).where(
                participations.c.chain_id == campaign.chain_id,
                participations.c.address == campaign.address,
                participations.c.wallet == self.wallet,
            )
        ).first()
        return 0 if row is None else int(row.attempts)

    def _record_joined(
        self, campaign: CampaignRecord, joined_at_ns: int, ro_id: str | None
    ) -> JoinResult:
        now = self._now()
        with self._db.begin() as conn:
            attempts = self._attempts(conn, campaign) + 1
            upsert(
                conn,
                participations,
                {
                    "chain_id": campaign.chain_id,
                    "address": campaign.address,
                    "wallet": self.wallet,
                    "state": JOINED,
                    "joined_at_ns": joined_at_ns,
                    "ro_campaign_id": ro_id,
                    "attempts": attempts,
                    "last_error": None,
                    "next_attempt_ns": 0,
                    "updated_ns": now,
                },
                ("chain_id", "address", "wallet"),
            )
            rebuild_scores(conn, campaign.chain_id, campaign.address, self.wallet, now)
        self._m_joins.labels(JOINED).inc()
        self._log.info("hufi_joined", campaign=campaign.address, joined_at_ns=joined_at_ns)
        return JoinResult(JOINED, "", joined_at_ns)
