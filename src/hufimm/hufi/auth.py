"""One authenticated session per wallet, shared by every caller in the process.

The oracle keeps one refresh token per wallet and rotates the login nonce on every success, so
two owners of one wallet undo each other's tokens.  :class:`WalletSession` is the single owner
here: callers ask it for an access token; it renews about a minute before the JWT expires
(read from the payload without verifying it), one renewal at a time under a lock, by refresh
first and by a fresh nonce → signature → login when the refresh is refused.  A login refused
with ``Invalid signature`` (another process consumed the nonce first) is retried after a
jittered wait; a login that keeps failing cools down with growing waits instead of hammering
the oracle.  The refresh token can be persisted (encrypted) through a :class:`TokenStore` so a
restart resumes the session instead of logging in again.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Protocol

from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.hufi.errors import (
    HufiAuthError,
    HufiError,
    HufiProtocolError,
    HufiRejected,
    HufiUnavailable,
)
from hufimm.hufi.fields import FieldError
from hufimm.hufi.models import Tokens, parse_tokens
from hufimm.hufi.signing import WalletSigner
from hufimm.hufi.transport import HufiHttp


class TokenStore(Protocol):
    """Where a session keeps its refresh token between runs (encrypted at rest)."""

    def load(self, wallet: str, oracle_url: str) -> tuple[str, int] | None:
        """``(refresh_token, expires_ns)`` saved earlier, or ``None``."""
        ...

    def save(self, wallet: str, oracle_url: str, refresh_token: str, expires_ns: int) -> None: ...

    def clear(self, wallet: str, oracle_url: str) -> None: ...


@dataclass(frozen=True)
class AuthPolicy:
    renew_before_s: int = 60
    #: The oracle's refresh-token lifetime; only a hint (a refused refresh falls back to login).
    refresh_ttl_s: int = 3600
    login_attempts: int = 3
    cooldown_base_s: float = 30.0
    cooldown_max_s: float = 600.0


def jwt_lifetime_s(token: str) -> int:
    """Seconds from ``iat`` to ``exp`` of a JWT, read without verifying the signature.

    The lifetime, not ``exp`` itself, is applied to our own clock: a skewed oracle clock then
    cannot make every token look expired (a renewal loop) or eternal.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded))
    if not isinstance(payload, dict):
        raise ValueError("JWT payload is not an object")
    exp, iat = payload.get("exp"), payload.get("iat")
    if isinstance(exp, bool) or not isinstance(exp, int):
        raise ValueError("JWT has no integer exp")
    if isinstance(iat, bool) or not isinstance(iat, int) or iat >= exp:
        raise ValueError("JWT has no integer iat before exp")
    return exp - iat


class WalletSession:
    """The auth owner of one wallet on one recording oracle."""

    def __init__(
        self,
        http: HufiHttp,
        signer: WalletSigner,
        *,
        time: TimeSource,
        metrics: Metrics,
        policy: AuthPolicy | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self._http = http
        self._signer = signer
        self._time = time
        self.policy = policy or AuthPolicy()
        self._store = store
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._access_exp_ns = 0
        self._refresh: str | None = None
        self._refresh_exp_ns = 0
        self._loaded = False
        self._login_failures = 0
        self._next_login_ns = 0
        self._log = get_logger("hufi.auth")
        self._m_auth = metrics.counter(
            "hufi_auth_total", "Oracle auth operations by kind and outcome", ["kind", "outcome"]
        )

    @property
    def address(self) -> str:
        return self._signer.address

    def _now(self) -> int:
        return self._time.time_ns()

    def _fresh(self) -> bool:
        margin = self.policy.renew_before_s * NS_PER_SECOND
        return self._access is not None and self._now() < self._access_exp_ns - margin

    async def access_token(self) -> str:
        """A token valid for at least ``renew_before_s`` more seconds (renewing if needed)."""
        if self._fresh():
            assert self._access is not None
            return self._access
        async with self._lock:
            if not self._fresh():  # another caller may have renewed while we waited
                await self._renew()
            assert self._access is not None
            return self._access

    def invalidate(self, token: str) -> None:
        """The oracle refused ``token``: the next caller renews (unless someone already did)."""
        if token == self._access:
            self._access = None
            self._access_exp_ns = 0

    async def logout(self) -> None:
        async with self._lock:
            if self._access is not None and self._refresh is not None:
                response = await self._http.request(
                    "POST",
                    "/auth/logout",
                    op="logout",
                    body={"refresh_token": self._refresh},
                    headers={"authorization": f"Bearer {self._access}"},
                )
                if response.status >= 400 and response.status != 401:
                    raise response.rejected()
            self._access = self._refresh = None
            if self._store is not None:
                self._store.clear(self.address, self._http.base_url)

    # ------------------------------------------------------------------ renewal
    async def _renew(self) -> None:
        self._load_stored()
        if self._refresh is not None and self._now() < self._refresh_exp_ns:
            try:
                await self._refresh_tokens()
                return
            except HufiRejected as exc:
                self._m_auth.labels("refresh", "refused").inc()
                self._log.info("hufi_refresh_refused", reason=exc.message)
                self._refresh = None
            except HufiUnavailable:
                self._m_auth.labels("refresh", "unavailable").inc()
                if self._access is not None and self._now() < self._access_exp_ns:
                    return  # keep using the still-valid token; renew on a later call
                raise
        await self._login()

    def _load_stored(self) -> None:
        if self._loaded or self._store is None:
            return
        self._loaded = True
        saved = self._store.load(self.address, self._http.base_url)
        if saved is not None and self._refresh is None:
            self._refresh, self._refresh_exp_ns = saved

    async def _refresh_tokens(self) -> None:
        response = await self._http.request(
            "POST", "/auth/refresh", op="refresh", body={"refresh_token": self._refresh}
        )
        if response.status >= 400:
            raise response.rejected()
        self._accept(response.request, response.json())
        self._m_auth.labels("refresh", "ok").inc()

    async def _login(self) -> None:
        now = self._now()
        if now < self._next_login_ns:
            wait = (self._next_login_ns - now) / NS_PER_SECOND
            raise HufiAuthError(
                "POST /auth",
                401,
                f"login cooling down for {wait:.0f} s after {self._login_failures} failed logins",
            )
        last: HufiError | None = None
        for attempt in range(1, self.policy.login_attempts + 1):
            try:
                await self._login_once()
            except HufiRejected as exc:
                last = exc
                self._m_auth.labels("login", "refused").inc()
                if exc.status != 401:
                    break  # a validation error will not pass on a retry
                if attempt < self.policy.login_attempts:
                    # The nonce we signed was consumed by another owner of this wallet.
                    await self._http.sleep_backoff(attempt)
            else:
                self._login_failures = 0
                self._next_login_ns = 0
                self._m_auth.labels("login", "ok").inc()
                return
        self._login_failures += 1
        cooldown = min(
            self.policy.cooldown_max_s,
            self.policy.cooldown_base_s * 2 ** (self._login_failures - 1),
        )
        self._next_login_ns = self._now() + round(cooldown * NS_PER_SECOND)
        assert last is not None
        raise HufiAuthError("POST /auth", 401, f"login refused: {last.reason}") from last

    async def _login_once(self) -> None:
        address = self.address
        response = await self._http.request(
            "POST", "/auth/nonce", op="nonce", body={"address": address}
        )
        if response.status >= 400:
            raise response.rejected()
        data = response.json()
        nonce = data.get("nonce") if isinstance(data, dict) else None
        if not isinstance(nonce, str):
            raise HufiProtocolError(response.request, "response has no string nonce")
        signature = self._signer.sign_nonce(nonce)
        response = await self._http.request(
            "POST", "/auth", op="login", body={"address": address, "signature": signature}
        )
        if response.status >= 400:
            raise response.rejected()
        self._accept(response.request, response.json())

    def _accept(self, request: str, data: object) -> None:
        try:
            tokens: Tokens = parse_tokens(data)
            lifetime_s = jwt_lifetime_s(tokens.access_token)
        except (FieldError, ValueError) as exc:
            raise HufiProtocolError(request, f"unreadable tokens: {exc}") from None
        self._access = tokens.access_token
        self._access_exp_ns = self._now() + lifetime_s * NS_PER_SECOND
        self._refresh = tokens.refresh_token
        self._refresh_exp_ns = self._now() + self.policy.refresh_ttl_s * NS_PER_SECOND
        if self._store is not None:
            self._store.save(self.address, self._http.base_url, self._refresh, self._refresh_exp_ns)
