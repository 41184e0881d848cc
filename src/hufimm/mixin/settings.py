"""The ``mixin`` settings section: which Mixin, which bot, and its keys (secrets, never logged)."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
from pydantic import BaseModel, Field, SecretStr, field_validator

from hufimm.core.errors import ConfigError
from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import TimeSource
from hufimm.mixin.client import DEFAULT_BASE_URL, MixinClient
from hufimm.mixin.keystore import Keystore


class MixinSettings(BaseModel):
    base_url: Annotated[str, Field(description="Mixin API (or the simulator's URL)")] = (
        DEFAULT_BASE_URL
    )
    app_id: Annotated[str, Field(description="The bot's user id (keystore app_id)")] = ""
    session_id: Annotated[str, Field(description="The bot's session id")] = ""
    session_private_key: Annotated[
        SecretStr | None, Field(description="Hex Ed25519 seed that signs API requests")
    ] = None
    spend_private_key: Annotated[
        SecretStr | None, Field(description="Hex Ed25519 seed that signs transfers")
    ] = None
    oauth_client_secret: Annotated[
        SecretStr | None, Field(description="OAuth client secret (web login)")
    ] = None
    request_timeout_s: Annotated[float, Field(gt=0, description="HTTP timeout per request")] = 10.0
    poll_interval_s: Annotated[float, Field(gt=0, description="Snapshot polling interval")] = 5.0
    transfer_retry_s: Annotated[
        float, Field(gt=0, description="Retry interval of blocked transfers")
    ] = 30.0
    known_assets: Annotated[
        list[str] | None,
        Field(description="Assets the service expects; others are credited and flagged"),
    ] = None
    deposits_since: Annotated[
        str | None,
        Field(description="RFC 3339 time the deposit watcher starts at on its first run"),
    ] = None

    @field_validator("app_id", "session_id")
    @classmethod
    def _uuid_or_empty(cls, value: str) -> str:
        if value:
            uuid.UUID(value)
        return value

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self.session_id and self.session_private_key)

    def keystore(self) -> Keystore:
        if not self.configured or self.session_private_key is None:
            raise ConfigError("mixin", "app_id, session_id and session_private_key are required")
        spend = self.spend_private_key.get_secret_value() if self.spend_private_key else None
        return Keystore.from_hex(
            self.app_id, self.session_id, self.session_private_key.get_secret_value(), spend
        )

    def client(
        self,
        time_source: TimeSource,
        ids: IdFactory,
        metrics: Metrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> MixinClient:
        return MixinClient(
            self.keystore(),
            time_source,
            ids,
            base_url=self.base_url,
            timeout_s=self.request_timeout_s,
            transport=transport,
            metrics=metrics,
        )
