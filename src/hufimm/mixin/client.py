"""A thin, exact async client of Mixin's Safe API.

Every request is signed over the exact bytes sent: the body is serialized once and passed as
``content``, the query string is built once and sent as part of the URL (never ``params=``, whose
encoding could differ), and the client checks that httpx did not re-encode the target before
sending it.  Answers are unwrapped from the ``{data}`` / ``{error}`` envelope into typed models
or typed errors (:mod:`hufimm.mixin.errors`): a failure before the request left is retryable; a
timeout or a 5xx after it left is an unknown outcome for writes and retryable for reads (a read
has no effect to be unsure about).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.mixin.auth import sign_request
from hufimm.mixin.errors import (
    MixinDefinitive,
    MixinError,
    MixinOutcomeUnknown,
    MixinProtocolError,
    MixinUnavailable,
    error_from_envelope,
)
from hufimm.mixin.kernel import members_hash
from hufimm.mixin.keystore import Keystore
from hufimm.mixin.models import (
    AssetInfo,
    DepositEntry,
    GhostKeyRequest,
    GhostKeys,
    OAuthToken,
    PendingDeposit,
    Snapshot,
    TransactionRequest,
    User,
    UtxoOutput,
    WithdrawalFee,
    parse,
    parse_list,
)

DEFAULT_BASE_URL = "https://api.mixin.one"
MAX_PAGE = 500
Query = Sequence[tuple[str, str | int]]

# Errors raised before any byte reached the server: nothing can have happened.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def encode_body(payload: Any) -> bytes:
    """The one serialization of a JSON body: compact, the same bytes signed and sent."""
    if payload is None:
        return b""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class MixinClient:
    """Talks to one Mixin API endpoint as one bot (``keystore``)."""

    def __init__(
        self,
        keystore: Keystore,
        time_source: TimeSource,
        ids: IdFactory,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.keystore = keystore
        self._time = time_source
        self._ids = ids
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self._m_requests = (metrics or Metrics()).counter(
            "mixin_requests_total",
            "Mixin API requests by endpoint and outcome",
            ["endpoint", "outcome"],
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MixinClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ transport
    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        payload: Any = None,
        endpoint: str = "",
        bearer: str | None = None,
        sign: bool = True,
    ) -> Any:
        """Send one request and return the envelope's ``data``; raises a :class:`MixinError`."""
        method = method.upper()
        body = encode_body(payload)
        uri = self._base_path + path
        if query:
            uri += "?" + urlencode([(k, str(v)) for k, v in query], quote_via=quote)
        request_id = str(self._ids.fresh_uuid())
        headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        elif sign:
            now_s = self._time.time_ns() // NS_PER_SECOND
            token = sign_request(self.keystore, method, uri, body, now_s=now_s, jti=request_id)
            headers["Authorization"] = f"Bearer {token}"
        url = urlsplit(self.base_url)._replace(path="", query="").geturl() + uri
        outgoing = self._http.build_request(method, url, content=body, headers=headers)
        if outgoing.url.raw_path.decode() != uri:
            # The signature covers `uri`; a re-encoded target would be rejected as a bad sig.
            raise MixinProtocolError(f"httpx would send {outgoing.url.raw_path!r}, signed {uri!r}")
        label = endpoint or path
        try:
            response = await self._http.send(outgoing)
        except _NOT_SENT as exc:
            self._m_requests.labels(label, "unavailable").inc()
            raise MixinUnavailable(f"{method} {path}: {exc!r}", request_id=request_id) from exc
        except httpx.TransportError as exc:
            self._m_requests.labels(label, "unknown").inc()
            raise self._ambiguous(method, f"{method} {path}: {exc!r}", request_id) from exc
        try:
            data = self._unwrap(method, path, response, request_id)
        except MixinError as exc:
            self._m_requests.labels(label, type(exc).__name__).inc()
            raise
        self._m_requests.labels(label, "ok").inc()
        return data

    def _ambiguous(self, method: str, message: str, request_id: str, status: int = 0) -> MixinError:
        if method == "GET":
            return MixinUnavailable(message, status=status, request_id=request_id)
        return MixinOutcomeUnknown(message, status=status, request_id=request_id)

    def _unwrap(self, method: str, path: str, response: httpx.Response, request_id: str) -> Any:
        status = response.status_code
        if status >= 500:
            raise self._ambiguous(method, f"{method} {path}: HTTP {status}", request_id, status)
        try:
            document = response.json()
        except ValueError:
            raise MixinDefinitive(
                f"{method} {path}: HTTP {status} with a non-JSON body", status=status
            ) from None
        if not isinstance(document, dict):
            raise MixinProtocolError(f"{method} {path}: the envelope is not an object")
        error = document.get("error")
        if isinstance(error, dict) and int(error.get("code") or 0) > 0:
            raise error_from_envelope(error, request_id)
        if "data" not in document:
            raise MixinProtocolError(f"{method} {path}: no data in the envelope (HTTP {status})")
        return document["data"]

    # ------------------------------------------------------------------ users
    async def me(self) -> User:
        return parse(User.from_json, await self.request("GET", "/safe/me", endpoint="me"))

    async def user(self, user_id: str) -> User:
        data = await self.request("GET", f"/users/{user_id}", endpoint="users")
        return parse(User.from_json, data)

    async def users(self, user_ids: Sequence[str]) -> list[User]:
        data = await self.request("POST", "/users/fetch", payload=list(user_ids), endpoint="users")
        return parse_list(User.from_json, data)

    # ------------------------------------------------------------------ snapshots
    async def snapshots(
        self,
        *,
        offset: str | None = None,
        limit: int = MAX_PAGE,
        asset: str | None = None,
        opponent: str | None = None,
        order: str = "ASC",
    ) -> list[Snapshot]:
        """One page of the bot's snapshots from ``offset`` (a ``created_at``, inclusive)."""
        query: list[tuple[str, str | int]] = []
        if asset:
            query.append(("asset", asset))
        if opponent:
            query.append(("opponent", opponent))
        if offset:
            query.append(("offset", offset))
        query += [("limit", min(limit, MAX_PAGE)), ("order", order)]
        data = await self.request("GET", "/safe/snapshots", query=query, endpoint="snapshots")
        return parse_list(Snapshot.from_json, data)

    async def snapshot(self, snapshot_id: str) -> Snapshot:
        data = await self.request("GET", f"/safe/snapshots/{snapshot_id}", endpoint="snapshot")
        return parse(Snapshot.from_json, data)

    # ------------------------------------------------------------------ outputs
    async def outputs(
        self,
        *,
        asset: str | None = None,
        state: str = "unspent",
        offset: int | None = None,
        limit: int = MAX_PAGE,
        members: Sequence[str] | None = None,
        threshold: int = 1,
    ) -> list[UtxoOutput]:
        """One page of the bot's outputs, ascending by ``sequence`` from ``offset``."""
        query: list[tuple[str, str | int]] = [
            ("members", members_hash(members or [self.keystore.app_id])),
            ("threshold", threshold),
        ]
        if asset:
            query.append(("asset", asset))
        if state:
            query.append(("state", state))
        if offset is not None:
            query.append(("offset", offset))
        query += [("limit", min(limit, MAX_PAGE)), ("order", "ASC")]
        data = await self.request("GET", "/safe/outputs", query=query, endpoint="outputs")
        return parse_list(UtxoOutput.from_json, data)

    async def all_outputs(self, *, asset: str, state: str = "unspent") -> list[UtxoOutput]:
        """Every output of an asset in that state, oldest first (pages deduplicated by id)."""
        seen: dict[str, UtxoOutput] = {}
        offset: int | None = None
        while True:
            page = await self.outputs(asset=asset, state=state, offset=offset)
            fresh = [o for o in page if o.output_id not in seen]
            for output in fresh:
                seen[output.output_id] = output
            if len(page) < MAX_PAGE or not fresh:
                break
            offset = max(o.sequence for o in page)
        return sorted(seen.values(), key=lambda o: o.sequence)

    # ------------------------------------------------------------------ transactions
    async def ghost_keys(self, requests: Sequence[GhostKeyRequest]) -> list[GhostKeys]:
        payload = [r.to_json() for r in requests]
        data = await self.request("POST", "/safe/keys", payload=payload, endpoint="keys")
        keys = parse_list(GhostKeys.from_json, data)
        if len(keys) != len(requests):
            raise MixinProtocolError(f"asked {len(requests)} ghost keys, got {len(keys)}")
        return keys

    async def create_transaction_requests(
        self, items: Sequence[tuple[str, str]]
    ) -> list[TransactionRequest]:
        """Register unsigned raws ``[(request_id, raw_hex)]``; Mixin answers with the views."""
        payload = [{"request_id": rid, "raw": raw} for rid, raw in items]
        data = await self.request(
            "POST", "/safe/transaction/requests", payload=payload, endpoint="tx_requests"
        )
        return parse_list(TransactionRequest.from_json, data)

    async def submit_transactions(
        self, items: Sequence[tuple[str, str]]
    ) -> list[TransactionRequest]:
        """Submit signed raws ``[(request_id, signed_raw_hex)]``."""
        payload = [{"request_id": rid, "raw": raw} for rid, raw in items]
        data = await self.request("POST", "/safe/transactions", payload=payload, endpoint="submit")
        return parse_list(TransactionRequest.from_json, data)

    async def transaction(self, request_id: str) -> TransactionRequest:
        """The transaction registered under ``request_id``; :class:`MixinNotFound` if none."""
        data = await self.request("GET", f"/safe/transactions/{request_id}", endpoint="tx_lookup")
        return parse(TransactionRequest.from_json, data)

    # ------------------------------------------------------------------ deposits and assets
    async def deposit_entries(
        self, chain_id: str, members: Sequence[str] | None = None, threshold: int = 1
    ) -> list[DepositEntry]:
        payload = {
            "members": list(members or [self.keystore.app_id]),
            "threshold": threshold,
            "chain_id": chain_id,
        }
        data = await self.request(
            "POST", "/safe/deposit/entries", payload=payload, endpoint="deposit_entries"
        )
        return parse_list(DepositEntry.from_json, data)

    async def deposit_address(self, chain_id: str) -> DepositEntry:
        """The bot's own primary deposit entry on a chain."""
        entries = await self.deposit_entries(chain_id)
        primary = [e for e in entries if e.is_primary] or entries
        if not primary:
            raise MixinProtocolError(f"no deposit entry for chain {chain_id}")
        return primary[0]

    async def pending_deposits(
        self,
        *,
        asset: str | None = None,
        destination: str | None = None,
        tag: str | None = None,
        offset: str | None = None,
        limit: int = MAX_PAGE,
    ) -> list[PendingDeposit]:
        query: list[tuple[str, str | int]] = [
            (k, v) for k, v in (("asset", asset), ("destination", destination), ("tag", tag)) if v
        ]
        if offset:
            query.append(("offset", offset))
        query.append(("limit", min(limit, MAX_PAGE)))
        data = await self.request("GET", "/safe/deposits", query=query, endpoint="deposits")
        return parse_list(PendingDeposit.from_json, data)

    async def asset(self, asset_id: str) -> AssetInfo:
        data = await self.request("GET", f"/safe/assets/{asset_id}", endpoint="asset")
        return parse(AssetInfo.from_json, data)

    async def assets(self, asset_ids: Sequence[str]) -> list[AssetInfo]:
        data = await self.request(
            "POST", "/safe/assets/fetch", payload=list(asset_ids), endpoint="assets"
        )
        return parse_list(AssetInfo.from_json, data)

    async def withdrawal_fees(self, asset_id: str, destination: str = "") -> list[WithdrawalFee]:
        query = [("destination", destination)] if destination else None
        data = await self.request(
            "GET", f"/safe/assets/{asset_id}/fees", query=query, endpoint="fees"
        )
        return parse_list(WithdrawalFee.from_json, data)

    # ------------------------------------------------------------------ OAuth (web login)
    async def oauth_exchange(
        self, code: str, client_secret: str, *, code_verifier: str | None = None
    ) -> OAuthToken:
        """Trade the code a user's browser brought back for their access token."""
        payload: dict[str, str] = {
            "client_id": self.keystore.app_id,
            "code": code,
            "client_secret": client_secret,
        }
        if code_verifier:
            payload["code_verifier"] = code_verifier
        data = await self.request(
            "POST", "/oauth/token", payload=payload, endpoint="oauth", sign=False
        )
        return parse(OAuthToken.from_json, data)

    async def oauth_profile(self, access_token: str) -> User:
        """Who the access token belongs to (the web login's answer)."""
        data = await self.request("GET", "/me", endpoint="oauth_me", bearer=access_token)
        return parse(User.from_json, data)
