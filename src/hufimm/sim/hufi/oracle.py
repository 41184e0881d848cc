"""The simulated recording oracle's state and rules, independent of HTTP.

It keeps users (one nonce and one refresh token each), their exchange keys, campaign
participations, the leaderboards and the cumulative results files, all on the injected clock.
Its periodic jobs (leaderboard refresh every 10 minutes, recording every 30) are evaluated
lazily: before answering, :meth:`RecordingOracle.catch_up` applies every job run due by now, so
a test that jumps the clock a day sees exactly what the real oracle's cron would have left.

Payouts on a chain come later: each recorded results file is handed to a :class:`ResultsSink`
(the ``storeResults(url, hash, fundsToReserve)`` call of the real oracle), the seam where a
simulated reputation oracle and escrow plug in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from hufimm.core.ids import IdFactory
from hufimm.core.money import MONEY_CONTEXT, from_units, to_units
from hufimm.core.money import Rounding as MoneyRounding
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_MS, NS_PER_SECOND, TimeSource
from hufimm.sim.hufi import scoring
from hufimm.sim.hufi.campaigns import (
    DAY_NS,
    MM_TYPES,
    THRESHOLD,
    THRESHOLD_MARKET_MAKING,
    SimCampaign,
    token_units_text,
)
from hufimm.sim.hufi.exchange_view import (
    ENROLMENT_PERMISSIONS,
    MARKET_MAKING_PERMISSIONS,
    VIEW_DEPOSIT_ADDRESS,
    ExchangeLedgerView,
    ExchangeUnavailable,
    KeyCheck,
)
from hufimm.sim.hufi.tokens import JwtIssuer, nonce_message, recover_signer
from hufimm.sim.hufi.wire import dumps, iso_ms

#: ``ESCROW_BULK_PAYOUT_MAX_ITEMS``: outcomes per batch in a results file.
BATCH_SIZE = 99
SIGNUP_NONCE = "signup"
_EXTRAS_RULES = {"bitmart": ("api_key_memo",), "kucoin": ("passphrase",)}
_PASSPHRASE = re.compile(r"^\S{7,32}$")


class OracleError(Exception):
    """A refusal with the oracle's status code, message and optional ``details``."""

    def __init__(self, status: int, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = dict(details) if details else None


class ResultsSink(Protocol):
    """Receives each results file the oracle anchors (the on-chain ``storeResults`` seam)."""

    def results_stored(
        self, campaign: SimCampaign, url: str, sha256_hex: str, funds_to_reserve: int
    ) -> None: ...


@dataclass
class StoredResults:
    campaign: tuple[int, str]
    url: str
    sha256_hex: str
    funds_to_reserve: int


class RecordedResults:
    """The default sink: remembers every ``storeResults`` call (and reserves the funds)."""

    def __init__(self) -> None:
        self.calls: list[StoredResults] = []

    def results_stored(
        self, campaign: SimCampaign, url: str, sha256_hex: str, funds_to_reserve: int
    ) -> None:
        campaign.reserved_funds += funds_to_reserve
        self.calls.append(StoredResults(campaign.key, url, sha256_hex, funds_to_reserve))


@dataclass(frozen=True)
class OracleConfig:
    access_ttl_s: int = 600
    refresh_ttl_s: int = 3600
    leaderboard_interval_s: int = 600
    recording_interval_s: int = 1800
    supported_exchanges: tuple[str, ...] = (
        "bigone",
        "bitmart",
        "bybit",
        "gate",
        "htx",
        "kraken",
        "kucoin",
        "mexc",
        "xt",
    )
    dex_exchanges: tuple[str, ...] = ("hyperliquid", "pancakeswap")


@dataclass
class User:
    id: str
    address: str
    nonce: str
    preferences: dict[str, Any] = field(default_factory=dict)


@dataclass
class ApiKey:
    id: str
    exchange: str
    api_key: str
    secret: str
    extras: dict[str, str]
    account: str | None
    is_valid: bool
    missing_permissions: list[str]


@dataclass
class Participation:
    user_id: str
    joined_ns: int


@dataclass
class OracleCampaign:
    """A campaign the oracle has stored (it stores one when the first participant joins)."""

    id: str
    campaign: SimCampaign
    participants: list[Participation] = field(default_factory=list)
    recorded_cycles: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Leaderboard:
    updated_ns: int | None
    rows: list[tuple[scoring.Outcome, Decimal, Decimal]]  # outcome, estimate, gross estimate
    total: Decimal


class RecordingOracle:
    """Wallet auth, keys, joining and scoring of the simulated recording oracle."""

    def __init__(
        self,
        time: TimeSource,
        rng: SeededRng,
        view: ExchangeLedgerView,
        campaigns: Mapping[tuple[int, str], SimCampaign],
        *,
        config: OracleConfig | None = None,
        results_sink: ResultsSink | None = None,
        address: str,
    ) -> None:
        self._time = time
        self._rng = rng.child("nonces")
        self._ids = IdFactory(time, rng.child("ids"))
        self._batch_ids = IdFactory(time, rng.child("batches"))
        self._jwt = JwtIssuer(rng.child("jwt"))
        self.view = view
        self.campaigns = campaigns
        self.config = config or OracleConfig()
        self.results_sink: ResultsSink = results_sink or RecordedResults()
        self.address = address
        self.results_base_url = "http://oracle.sim"
        self.files: dict[str, bytes] = {}
        self.users: dict[str, User] = {}
        self._users_by_id: dict[str, User] = {}
        self._refresh: dict[str, tuple[str, int]] = {}  # token -> (user id, expires ns)
        self._refresh_of_user: dict[str, str] = {}
        self.keys: dict[tuple[str, str], ApiKey] = {}  # (user id, exchange)
        self.stored: dict[tuple[int, str], OracleCampaign] = {}
        self._leaderboards: dict[tuple[int, str], tuple[int, Leaderboard]] = {}
        self.logins = 0
        self.refreshes = 0

    # ------------------------------------------------------------------ time
    def now_ns(self) -> int:
        return self._time.time_ns()

    def _grid(self, interval_s: int) -> int:
        step = interval_s * NS_PER_SECOND
        return self.now_ns() // step * step

    # ------------------------------------------------------------------ auth
    def nonce_for(self, address: str) -> str:
        user = self.users.get(address.lower())
        return SIGNUP_NONCE if user is None else user.nonce

    def authenticate(self, address: str, signature: str) -> tuple[str, str]:
        user = self.users.get(address.lower())
        nonce = SIGNUP_NONCE if user is None else user.nonce
        signer = recover_signer(nonce_message(nonce), signature)
        if signer is None or signer.lower() != address.lower():
            raise OracleError(401, "Invalid signature")
        if user is None:
            user = User(str(self._ids.fresh_uuid()), signer, self._new_nonce())
            self.users[address.lower()] = user
            self._users_by_id[user.id] = user
        user.nonce = self._new_nonce()
        self.logins += 1
        return self._issue(user)

    def refresh(self, refresh_token: str) -> tuple[str, str]:
        entry = self._refresh.get(refresh_token)
        if entry is None:
            raise OracleError(401, "Refresh token is not valid")
        user_id, expires = entry
        if expires <= self.now_ns():
            self._drop_refresh(user_id)
            raise OracleError(401, "Refresh token expired")
        self.refreshes += 1
        return self._issue(self._users_by_id[user_id])

    def logout(self, user: User, refresh_token: str) -> None:
        entry = self._refresh.get(refresh_token)
        if entry is not None and entry[0] == user.id:
            self._drop_refresh(user.id)

    def user_for(self, access_token: str) -> User | None:
        claims = self._jwt.verify(access_token, self.now_ns() // NS_PER_SECOND)
        return None if claims is None else self._users_by_id.get(claims.user_id)

    def _new_nonce(self) -> str:
        return self._rng.randbytes(16).hex()

    def _issue(self, user: User) -> tuple[str, str]:
        now_s = self.now_ns() // NS_PER_SECOND
        access = self._jwt.issue(user.id, user.address, now_s, now_s + self.config.access_ttl_s)
        self._drop_refresh(user.id)  # one refresh token per user
        token = str(self._ids.fresh_uuid())
        expires = self.now_ns() + self.config.refresh_ttl_s * NS_PER_SECOND
        self._refresh[token] = (user.id, expires)
        self._refresh_of_user[user.id] = token
        return access, token

    def _drop_refresh(self, user_id: str) -> None:
        old = self._refresh_of_user.pop(user_id, None)
        if old is not None:
            self._refresh.pop(old, None)

    # ------------------------------------------------------------------ exchange keys
    def enabled_exchanges(self) -> list[str]:
        return list(self.config.supported_exchanges)

    def upsert_key(
        self, user: User, exchange: str, api_key: str, secret: str, extras: Mapping[str, str]
    ) -> str:
        if exchange in self.config.dex_exchanges:
            raise OracleError(400, f"Exchange API keys are not used for DEX: {exchange}")
        if exchange not in self.config.supported_exchanges:
            raise OracleError(400, f"Exchange is not supported: {exchange}")
        self._check_extras(exchange, extras)
        check = self._check_key(exchange, api_key, secret, extras)
        missing = [p for p in ENROLMENT_PERMISSIONS if p not in check.permissions]
        if check.account is not None and VIEW_DEPOSIT_ADDRESS not in missing:
            address = self._deposit_address(exchange, check.account)
            if address is None:
                missing.append(VIEW_DEPOSIT_ADDRESS)
        if check.account is None or missing:
            raise OracleError(
                422,
                "Provided API key can't be authorized on exchange",
                {"missing_permissions": missing or list(ENROLMENT_PERMISSIONS)},
            )
        existing = self.keys.get((user.id, exchange))
        key_id = existing.id if existing is not None else str(self._ids.fresh_uuid())
        self.keys[(user.id, exchange)] = ApiKey(
            key_id, exchange, api_key, secret, dict(extras), check.account, True, []
        )
        return key_id

    def _check_extras(self, exchange: str, extras: Mapping[str, str]) -> None:
        for name in _EXTRAS_RULES.get(exchange, ()):
            value = extras.get(name)
            if not value:
                raise OracleError(422, "Incomplete credentials supplied for exchange")
            if name == "passphrase" and not _PASSPHRASE.match(value):
                raise OracleError(
                    400,
                    "Validation error",
                    {
                        "validation_errors": [
                            "extras.passphrase must be 7-32 characters without spaces"
                        ]
                    },
                )
            if name == "api_key_memo" and len(value) > 32:
                raise OracleError(
                    400,
                    "Validation error",
                    {
                        "validation_errors": [
                            "extras.api_key_memo must be shorter than or equal to 32 characters"
                        ]
                    },
                )

    def _check_key(
        self, exchange: str, api_key: str, secret: str, extras: Mapping[str, str]
    ) -> KeyCheck:
        try:
            return self.view.check_key(exchange, api_key, secret, extras)
        except ExchangeUnavailable as exc:
            raise OracleError(503, f"Exchange is not reachable: {exc}") from None

    def _deposit_address(self, exchange: str, account: str) -> str | None:
        try:
            return self.view.deposit_address(exchange, account, "ETH")
        except ExchangeUnavailable as exc:
            raise OracleError(503, f"Exchange is not reachable: {exc}") from None

    def list_keys(self, user: User) -> list[ApiKey]:
        return [key for (owner, _), key in sorted(self.keys.items()) if owner == user.id]

    def revalidate_key(self, user: User, exchange: str) -> ApiKey:
        key = self.keys.get((user.id, exchange))
        if key is None:
            raise OracleError(404, "Exchange API key not found")
        check = self._check_key(exchange, key.api_key, key.secret, key.extras)
        missing = [p for p in ENROLMENT_PERMISSIONS if p not in check.permissions]
        key.account = check.account
        key.is_valid = check.account is not None and not missing
        key.missing_permissions = (
            missing if check.account is not None else list(ENROLMENT_PERMISSIONS)
        )
        return key

    def delete_key(self, user: User, exchange: str) -> None:
        """Removes the key and the user from every active campaign on that exchange."""
        if self.keys.pop((user.id, exchange), None) is None:
            raise OracleError(404, "Exchange API key not found")
        for stored in self.stored.values():
            campaign = stored.campaign
            if campaign.exchange_name == exchange and campaign.status in ("active", "to_cancel"):
                stored.participants = [p for p in stored.participants if p.user_id != user.id]

    # ------------------------------------------------------------------ campaigns
    def _visible(self, chain_id: int, address: str) -> SimCampaign | None:
        campaign = self.campaigns.get((chain_id, address.lower()))
        if campaign is None or campaign.indexed_at_ns > self.now_ns():
            return None
        return campaign

    def _participation(self, user: User, key: tuple[int, str]) -> Participation | None:
        stored = self.stored.get(key)
        if stored is None:
            return None
        return next((p for p in stored.participants if p.user_id == user.id), None)

    def check_join_status(self, user: User, chain_id: int, address: str) -> dict[str, Any]:
        key = (chain_id, address.lower())
        stored = self.stored.get(key)
        if stored is None:
            return {"status": "not_available"}
        joined = self._participation(user, key)
        if joined is not None:
            return {"status": "already_joined", "joined_at": iso_ms(joined.joined_ns)}
        campaign = stored.campaign
        if campaign.status != "active" or campaign.end_ns <= self.now_ns():
            return {"status": "join_closed", "reason": "ended"}
        if self._is_full(stored):
            return {"status": "join_closed", "reason": "max_participants_reached"}
        return {"status": "can_join"}

    def _is_full(self, stored: OracleCampaign) -> bool:
        campaign = stored.campaign
        if campaign.type not in (THRESHOLD_MARKET_MAKING, THRESHOLD):
            return False
        seats = campaign.details.get("max_participants")
        return seats is not None and len(stored.participants) >= int(seats)

    def join(self, user: User, chain_id: int, address: str) -> str:
        """The oracle's join checks, in its order; not idempotent (a repeat is a 422)."""
        now = self.now_ns()
        campaign = self._visible(chain_id, address)
        if campaign is None:
            raise OracleError(422, "Campaign not found")
        if campaign.recording_oracle.lower() != self.address.lower():
            raise OracleError(422, f"Invalid recording oracle address: {campaign.recording_oracle}")
        if not campaign.manifest_ok():
            raise OracleError(422, "Invalid manifest")
        if (
            campaign.exchange_name
            not in self.config.supported_exchanges + self.config.dex_exchanges
        ):
            raise OracleError(422, f"Exchange not supported: {campaign.exchange_name}")
        stored = self.stored.get(campaign.key)
        if stored is not None and self._participation(user, campaign.key) is not None:
            raise OracleError(422, "User has already joined the campaign")
        if campaign.status in ("to_cancel", "cancelled"):
            raise OracleError(422, "Campaign cancelled")
        if campaign.status == "completed" or campaign.end_ns <= now:
            raise OracleError(422, "Campaign already finished")
        if campaign.exchange_name not in self.config.dex_exchanges:
            self._check_join_key(user, campaign)
        stored = self._store(campaign)
        if self._is_full(stored):
            raise OracleError(
                422,
                "Campaign has reached the maximum number of participants. "
                f"Total: {len(stored.participants)}",
            )
        # The real oracle keeps joined_at as a JS Date: millisecond precision, which is also
        # all that check-join-status reports, so that is the instant trades count from.
        stored.participants.append(Participation(user.id, now // NS_PER_MS * NS_PER_MS))
        return stored.id

    def _check_join_key(self, user: User, campaign: SimCampaign) -> None:
        key = self.keys.get((user.id, campaign.exchange_name))
        if key is None:
            raise OracleError(422, "Exchange API key not found")
        needed = (
            MARKET_MAKING_PERMISSIONS
            if campaign.type in MM_TYPES
            else ("VIEW_ACCOUNT_BALANCE", VIEW_DEPOSIT_ADDRESS)
        )
        check = self._check_key(campaign.exchange_name, key.api_key, key.secret, key.extras)
        missing = [p for p in needed if p not in check.permissions]
        if check.account is None:
            missing = list(needed)
        if missing:
            key.is_valid = False
            key.missing_permissions = missing
            raise OracleError(
                422,
                f"Provided API key can't be authorized on exchange. Missing: {', '.join(missing)}",
            )

    def _store(self, campaign: SimCampaign) -> OracleCampaign:
        stored = self.stored.get(campaign.key)
        if stored is None:
            stored = OracleCampaign(str(self._ids.fresh_uuid()), campaign)
            self.stored[campaign.key] = stored
        return stored

    def joined_campaigns(self, user: User) -> list[tuple[OracleCampaign, Participation]]:
        found = []
        for stored in self.stored.values():
            joined = self._participation(user, stored.campaign.key)
            if joined is not None:
                found.append((stored, joined))
        return sorted(found, key=lambda item: -item[0].campaign.created_ns)

    def processing_status(self, campaign: SimCampaign) -> str:
        if campaign.status == "active" and campaign.end_ns <= self.now_ns():
            return "pending_completion"
        if campaign.status == "to_cancel":
            return "pending_cancellation"
        return campaign.status

    # ------------------------------------------------------------------ scoring
    def _outcomes(
        self, stored: OracleCampaign, cycle_start: int, window_end: int
    ) -> list[scoring.Outcome]:
        """Participants' results for ``[cycle_start, window_end)``, sybils dropped."""
        campaign = stored.campaign
        seen: set[str] = set()
        outcomes = []
        for participant in stored.participants:
            since = max(cycle_start, participant.joined_ns)
            if since >= window_end:
                continue
            user = self._users_by_id[participant.user_id]
            key = self.keys.get((user.id, campaign.exchange_name))
            if key is None or key.account is None:
                continue  # no key: this participant's cycle is skipped
            try:
                deposit = self.view.deposit_address(campaign.exchange_name, key.account, "ETH")
                trades = self.view.trades(
                    campaign.exchange_name, key.account, campaign.symbol, since, window_end
                )
            except ExchangeUnavailable:
                continue  # an access error skips that participant's cycle
            if deposit is None or deposit.lower() in seen:
                continue  # anti-sybil: one deposit address counts once per cycle
            seen.add(deposit.lower())
            score, volume = scoring.measure(trades)
            outcomes.append(
                scoring.Outcome(user.address, scoring.type_score(campaign, score, volume), volume)
            )
        if campaign.type == THRESHOLD_MARKET_MAKING and campaign.details.get("max_participants"):
            outcomes = [o for o in outcomes if o.score > 0]
        return outcomes

    def leaderboard(self, chain_id: int, address: str) -> Leaderboard:
        key = (chain_id, address.lower())
        stored = self.stored.get(key)
        if stored is None:
            return Leaderboard(None, [], Decimal(0))
        campaign = stored.campaign
        if campaign.status in ("completed", "cancelled"):
            raise OracleError(422, "Campaign already finished")
        refreshed = self._grid(self.config.leaderboard_interval_s)
        cached = self._leaderboards.get(key)
        if cached is not None and cached[0] == refreshed:
            return cached[1]
        board = self._compute_leaderboard(stored, refreshed)
        self._leaderboards[key] = (refreshed, board)
        return board

    def _compute_leaderboard(self, stored: OracleCampaign, refreshed: int) -> Leaderboard:
        campaign = stored.campaign
        count = scoring.cycle_count(campaign)
        if refreshed < campaign.start_ns or count == 0 or campaign.type not in MM_TYPES:
            return Leaderboard(refreshed, [], Decimal(0))
        index = min((refreshed - campaign.start_ns) // DAY_NS, count - 1)
        cycle_start, cycle_end = scoring.cycle_bounds(campaign, index)
        outcomes = self._outcomes(stored, cycle_start, min(refreshed, cycle_end))
        pool = scoring.reward_pool(campaign, outcomes)
        estimates = scoring.estimated_rewards(campaign, outcomes, pool)
        net = scoring.fund_amount_net(campaign)
        gross_factor = (
            MONEY_CONTEXT.divide(
                from_units(campaign.fund_amount, campaign.fund_token_decimals), net
            )
            if net
            else Decimal(0)
        )
        rows = [
            (
                o,
                est,
                MONEY_CONTEXT.multiply(est, gross_factor).quantize(
                    scoring.ESTIMATE_EXPONENT, context=MONEY_CONTEXT
                ),
            )
            for o, est in zip(outcomes, estimates, strict=True)
        ]
        rows.sort(key=lambda row: -row[0].score)
        total = scoring.dsum(o.total_volume for o in outcomes)
        return Leaderboard(refreshed, rows, total)

    def catch_up(self) -> None:
        """Run the recording job as of its latest grid time: record every elapsed cycle."""
        recorded_at = self._grid(self.config.recording_interval_s)
        for stored in self.stored.values():
            campaign = stored.campaign
            if campaign.status not in ("active", "to_cancel") or campaign.type not in MM_TYPES:
                continue
            self._record(stored, recorded_at)

    def _record(self, stored: OracleCampaign, recorded_at: int) -> None:
        campaign = stored.campaign
        new_entries = []
        funds = 0
        while stored.recorded_cycles < scoring.cycle_count(campaign):
            start, end = scoring.cycle_bounds(campaign, stored.recorded_cycles)
            if end > recorded_at:
                break
            outcomes = self._outcomes(stored, start, end)
            pool = scoring.reward_pool(campaign, outcomes)
            funds += to_units(pool, campaign.fund_token_decimals, MoneyRounding.FLOOR)
            new_entries.append(self._results_entry(campaign, start, end, outcomes, pool))
            stored.recorded_cycles += 1
        if not new_entries:
            return
        stored.results.extend(new_entries)
        document = {
            "chain_id": campaign.chain_id,
            "address": campaign.address,
            "exchange": campaign.exchange_name,
            "symbol": campaign.symbol,
            "results": stored.results,
        }
        body = dumps(document)
        digest = hashlib.sha256(body).hexdigest()
        path = f"{campaign.address}/{digest}.json"
        self.files[path] = body
        url = f"{self.results_base_url}/results/{path}"
        campaign.intermediate_results_url = url
        self.results_sink.results_stored(campaign, url, digest, funds)

    def _results_entry(
        self,
        campaign: SimCampaign,
        start: int,
        end: int,
        outcomes: Iterable[scoring.Outcome],
        pool: Decimal,
    ) -> dict[str, Any]:
        outcomes = list(outcomes)
        rows = [
            {"address": o.address, "score": o.score, "total_volume": o.total_volume}
            for o in outcomes
        ]
        batches = [
            {"id": str(self._batch_ids.fresh_uuid()), "results": rows[i : i + BATCH_SIZE]}
            for i in range(0, len(rows), BATCH_SIZE)
        ]
        entry: dict[str, Any] = {
            "from": iso_ms(start),
            "to": iso_ms(end),
            "reserved_funds": token_units_text(
                to_units(pool, campaign.fund_token_decimals, MoneyRounding.FLOOR),
                campaign.fund_token_decimals,
            ),
            "total_volume": scoring.dsum(o.total_volume for o in outcomes),
        }
        if campaign.type == THRESHOLD_MARKET_MAKING:
            entry["total_score"] = scoring.dsum(o.score for o in outcomes)
        entry["participants_outcomes_batches"] = batches
        return entry
