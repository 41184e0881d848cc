"""Client of the Recording Oracle: keys, joining, joined campaigns, leaderboards, results files.

Authenticated calls take their token from the wallet's shared :class:`WalletSession`.  A 401
on a call invalidates that token and the call is tried again with a renewed one, at most
``auth_retries`` times, with a jittered wait in between, so a server that rejects every token
produces a clear :class:`HufiAuthError` instead of a loop.

There is deliberately no method for ``DELETE /exchange-api-keys/{exchange}``: the oracle would
remove the wallet from every active campaign on that exchange.  Enrolment is an upsert, so a
changed key is simply posted again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from hufimm.hufi.auth import WalletSession
from hufimm.hufi.errors import HufiAuthError, HufiProtocolError
from hufimm.hufi.fields import FieldError, Fields
from hufimm.hufi.launcher import read
from hufimm.hufi.models import (
    EnrolledKey,
    JoinedCampaign,
    JoinedPage,
    JoinOutcome,
    JoinStatus,
    KeyValidation,
    Leaderboard,
    ResultsFile,
    UserProfile,
    parse_join_status,
    parse_joined_page,
    parse_key_validation,
    parse_keys,
    parse_leaderboard,
    parse_profile,
    parse_results_file,
)
from hufimm.hufi.transport import HufiHttp, HufiResponse, QueryValue

ALREADY_JOINED = "User has already joined the campaign"


class RecordingOracleClient:
    def __init__(self, http: HufiHttp, session: WalletSession, *, auth_retries: int = 2) -> None:
        self.http = http
        self.session = session
        self._auth_retries = auth_retries

    @property
    def wallet(self) -> str:
        return self.session.address

    async def _authed(
        self,
        method: str,
        path: str,
        *,
        op: str,
        params: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> HufiResponse:
        for attempt in range(self._auth_retries + 1):
            token = await self.session.access_token()
            response = await self.http.request(
                method,
                path,
                op=op,
                params=params,
                body=body,
                headers={"authorization": f"Bearer {token}"},
            )
            if response.status != 401:
                return response
            self.session.invalidate(token)
            if attempt < self._auth_retries:
                await self.http.sleep_backoff(attempt + 1)
        raise HufiAuthError(
            response.request,
            401,
            f"the oracle refused {self._auth_retries + 1} fresh access tokens in a row",
        )

    # ------------------------------------------------------------------ account
    async def me(self) -> UserProfile:
        return read(await self._authed("GET", "/me", op="me"), parse_profile)

    async def enroll_exchange_key(
        self,
        exchange: str,
        api_key: str,
        secret_key: str,
        extras: Mapping[str, str] | None = None,
    ) -> str:
        """Upsert our read-only key for ``exchange``; returns the oracle's key id.

        A key without the needed permissions is refused with 422 and
        ``details.missing_permissions`` (raised as :class:`HufiRejected`).
        """
        body: dict[str, Any] = {
            "exchange_name": exchange,
            "api_key": api_key,
            "secret_key": secret_key,
        }
        if extras:
            body["extras"] = dict(extras)
        response = await self._authed("POST", "/exchange-api-keys", op="enroll_key", body=body)
        return read(response, lambda data: Fields(data).text("id"))

    async def exchange_keys(self) -> list[EnrolledKey]:
        return read(await self._authed("GET", "/exchange-api-keys", op="list_keys"), parse_keys)

    async def key_exchanges(self) -> list[str]:
        response = await self._authed("GET", "/exchange-api-keys/exchanges", op="key_exchanges")
        return read(response, _string_list)

    async def revalidate_exchange_key(self, exchange: str) -> KeyValidation:
        response = await self._authed(
            "POST", f"/exchange-api-keys/{exchange}/revalidate", op="revalidate_key"
        )
        return read(response, parse_key_validation)

    # ------------------------------------------------------------------ campaigns
    async def check_join_status(self, chain_id: int, address: str) -> JoinStatus:
        response = await self._authed(
            "POST",
            "/campaigns/check-join-status",
            op="check_join_status",
            body={"chain_id": chain_id, "address": address},
        )
        return read(response, parse_join_status)

    async def join(self, chain_id: int, address: str) -> JoinOutcome:
        """Join; "already joined" counts as success (the oracle's join is not idempotent)."""
        response = await self._authed(
            "POST",
            "/campaigns/join",
            op="join",
            body={"chain_id": chain_id, "address": address},
        )
        if response.status == 422:
            refusal = response.rejected()
            if refusal.message == ALREADY_JOINED:
                return JoinOutcome(already_joined=True, ro_campaign_id=None)
            raise refusal
        ro_id = read(response, lambda data: Fields(data).text("id"))
        return JoinOutcome(already_joined=False, ro_campaign_id=ro_id)

    async def joined_campaigns_page(
        self,
        *,
        chain_id: int | None = None,
        statuses: Sequence[str] = (),
        limit: int = 100,
        skip: int = 0,
    ) -> JoinedPage:
        params: dict[str, QueryValue] = {"limit": limit}
        if chain_id is not None:
            params["chain_id"] = chain_id
        if statuses:
            params["status"] = list(statuses)
        if skip:
            params["skip"] = skip
        response = await self._authed("GET", "/campaigns", op="joined_campaigns", params=params)
        return read(response, parse_joined_page)

    async def joined_campaigns(
        self, *, chain_id: int | None = None, statuses: Sequence[str] = (), page_size: int = 100
    ) -> list[JoinedCampaign]:
        found: list[JoinedCampaign] = []
        skip = 0
        while True:
            page = await self.joined_campaigns_page(
                chain_id=chain_id, statuses=statuses, limit=page_size, skip=skip
            )
            found.extend(page.campaigns)
            if not page.campaigns or not page.has_more:
                return found
            skip += page_size

    async def leaderboard(self, chain_id: int, address: str) -> Leaderboard:
        """Public; the current partial cycle.  Finished campaigns are refused with 422."""
        response = await self.http.request(
            "GET", f"/campaigns/{chain_id}-{address}/leaderboard", op="leaderboard"
        )
        return read(response, parse_leaderboard)

    async def results_file(self, url: str) -> ResultsFile:
        """A results file by URL; its SHA-256 must match the ``<sha256>.json`` name."""
        response = await self.http.request("GET", url, op="results_file")
        if response.status >= 400:
            raise response.rejected()
        expected = url.rsplit("/", 1)[-1].removesuffix(".json").lower()
        digest = hashlib.sha256(response.body).hexdigest()
        if len(expected) == 64 and digest != expected:
            raise HufiProtocolError(response.request, f"sha256 {digest} != name {expected}")
        try:
            return parse_results_file(response.json())
        except FieldError as exc:
            raise HufiProtocolError(response.request, str(exc)) from None


def _string_list(data: Any) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        raise FieldError("response", "expected a list of strings")
    return list(data)
