"""The ``hufi`` settings section: services, wallet, markets we make, keys, join policy.

Secrets (the wallet key, exchange API secrets, the at-rest encryption key) are ``SecretStr``:
masked in ``config show`` and never logged.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from hufimm.hufi.models import MARKET_MAKING, VOLUME_TYPES


class HufiMarket(BaseModel):
    """A market we can make, named as HuFi names it, and where our fills for it come from."""

    model_config = {"extra": "forbid"}

    exchange: str = Field(description="HuFi exchange name (mexc, bybit, gate, ...)")
    symbol: str = Field(description="BASE/QUOTE as in the campaign")
    venue: str | None = Field(
        default=None, description="Our connector's exchange id (default: exchange)"
    )
    account: str | None = Field(
        default=None, description="Our exchange account whose fills count (default: any)"
    )

    @field_validator("exchange")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("symbol")
    @classmethod
    def _pair(cls, value: str) -> str:
        value = value.strip().upper()
        if value.count("/") != 1:
            raise ValueError(f"expected BASE/QUOTE, got {value!r}")
        return value

    @property
    def fill_venue(self) -> str:
        return self.venue or self.exchange


class HufiExchangeKey(BaseModel):
    """The read-only key the oracle uses to read our trades on one exchange."""

    model_config = {"extra": "forbid"}

    exchange: str
    api_key: SecretStr
    secret_key: SecretStr
    extras: dict[str, SecretStr] = Field(
        default_factory=dict, description="bitmart api_key_memo, kucoin passphrase"
    )
    read_only: bool = Field(
        default=False,
        description="Operator's statement that this key cannot trade or withdraw; the safety "
        "gate refuses to enroll a key whose permissions it cannot establish otherwise",
    )

    @field_validator("exchange")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class HufiSettings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = Field(
        default=False, description="Run campaign sync, the joiner and score checks"
    )
    launcher_url: str = "https://cl.hu.finance"
    oracle_url: str = "https://ro.hu.finance"
    chains: list[int] = Field(default_factory=lambda: [137])
    wallet_private_key: SecretStr | None = Field(
        default=None, description="Wallet that joins campaigns"
    )
    secrets_key: SecretStr | None = Field(
        default=None, description="Fernet key encrypting persisted secrets (refresh tokens)"
    )
    markets: list[HufiMarket] = Field(default_factory=list)
    exchange_keys: list[HufiExchangeKey] = Field(default_factory=list)
    auto_join: bool = True
    campaign_types: list[str] = Field(default_factory=lambda: [MARKET_MAKING])
    min_daily_reward: Decimal = Field(
        default=Decimal(0), description="Smallest daily reward (fund token units) worth joining"
    )
    request_timeout_s: float = 30.0
    request_attempts: int = 4
    page_size: int = 100
    sync_interval_s: float = 600.0
    join_interval_s: float = 300.0
    join_retry_s: float = 600.0
    score_check_interval_s: float = 600.0
    score_tolerance: Decimal = Field(
        default=Decimal("0.001"), description="Relative score difference vs the oracle that alarms"
    )

    @field_validator("campaign_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in VOLUME_TYPES]
        if unknown:
            raise ValueError(f"unsupported campaign types {unknown}: only volume-scored types")
        return value

    @field_validator("min_daily_reward", "score_tolerance")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError(f"must be a non-negative number, got {value}")
        return value

    @field_validator("page_size")
    @classmethod
    def _page(cls, value: int) -> int:
        if not 0 < value <= 1000:
            raise ValueError("must be in 1..1000")
        return value

    @model_validator(mode="after")
    def _keys_unique(self) -> HufiSettings:
        names = [key.exchange for key in self.exchange_keys]
        if len(names) != len(set(names)):
            raise ValueError("one exchange key per exchange")
        return self

    def key_for(self, exchange: str) -> HufiExchangeKey | None:
        return next((k for k in self.exchange_keys if k.exchange == exchange), None)
