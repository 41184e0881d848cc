"""The ``exchange`` settings section: which venue, credentials, URLs and rate limits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hufimm.exchange.ratelimit import PoolSpec


class RateLimitPool(BaseModel):
    """``limit`` units per ``interval_s`` seconds (Binance ``exchangeInfo.rateLimits`` entry)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    limit: float = Field(gt=0)
    interval_s: float = Field(gt=0)


def _binance_pools() -> list[RateLimitPool]:
    return [
        RateLimitPool(name="REQUEST_WEIGHT", limit=6000, interval_s=60),
        RateLimitPool(name="ORDERS", limit=50, interval_s=10),
        RateLimitPool(name="ORDERS_1D", limit=160_000, interval_s=86_400),
    ]


class ExchangeSettings(BaseModel):
    """One exchange account reached through ccxt."""

    model_config = ConfigDict(extra="forbid")

    exchange_id: str = Field("binance", description="ccxt exchange id")
    account: str = Field("main", description="Our name for this exchange account")
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = Field(None, description="API passphrase (okx, kucoin...)")
    rest_url: str | None = Field(
        None, description="Replaces scheme and host of every REST URL, keeping its path"
    )
    ws_url: str | None = Field(
        None, description="Replaces scheme and host of every WebSocket URL, keeping its path"
    )
    url_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="Exact ccxt urls['api'] entries by dotted path, e.g. 'ws.ws-api.spot'",
    )
    rate_limits: list[RateLimitPool] | None = Field(
        None,
        description="Pools in venue units; default: Binance's for binance ids, else one "
        "REQUEST_WEIGHT pool of ccxt cost units at ccxt's own rate",
    )
    request_pool: str = Field("REQUEST_WEIGHT", description="Pool every request pays into")
    order_pools: list[str] | None = Field(
        None, description="Pools a new order also pays one unit into (default: ORDERS*)"
    )
    weight_per_cost: float | None = Field(
        None,
        gt=0,
        description="Venue weight per ccxt cost unit (default 5 for binance ids, else 1)",
    )
    rate_limit_margin: float = Field(0.1, ge=0, lt=1, description="Share of each pool left unused")
    timeout_s: float = Field(10.0, gt=0)
    recv_window_ms: int = Field(5000, gt=0, le=60_000)
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    start_attempts: int = Field(
        4, ge=1, description="Tries at loading markets before a retryable error is given up"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Extra ccxt options")

    @field_validator("rate_limits")
    @classmethod
    def _unique_pools(cls, value: list[RateLimitPool] | None) -> list[RateLimitPool] | None:
        names = [p.name for p in value or []]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names must be unique, got {names}")
        return value

    @property
    def is_binance(self) -> bool:
        return self.exchange_id.startswith("binance")

    def pool_specs(self, ccxt_rate_limit_ms: float) -> list[PoolSpec]:
        """The configured pools, or the defaults for this venue (see ``rate_limits``)."""
        pools = self.rate_limits
        if pools is None:
            if self.is_binance:
                pools = _binance_pools()
            else:
                per_minute = 60_000.0 / ccxt_rate_limit_ms
                pools = [RateLimitPool(name=self.request_pool, limit=per_minute, interval_s=60)]
        return [PoolSpec(p.name, p.limit, p.interval_s, self.rate_limit_margin) for p in pools]

    def order_pool_names(self, available: list[str]) -> list[str]:
        if self.order_pools is not None:
            return list(self.order_pools)
        return [name for name in ("ORDERS", "ORDERS_1D") if name in available]

    def cost_weight(self) -> float:
        """ccxt's Binance costs are 0.2 x the documented weight; other venues count in costs."""
        if self.weight_per_cost is not None:
            return self.weight_per_cost
        return 5.0 if self.is_binance else 1.0
