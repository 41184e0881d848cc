"""A pool's strategy configuration: validated input, stored as JSON with the pool.

Spreads are fractions (``0.001`` = 0.1 %).  Validation reuses the executor's own checks, so a
pool that is stored can always be run.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hufimm.core.errors import InvalidInput
from hufimm.strategy.executor import ExecutorConfig
from hufimm.strategy.quoting import QuoteParams, ReferencePrice


class StrategyConfig(BaseModel):
    """Quoting and refresh parameters of a pool's market-making executor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bid_spread: Decimal = Decimal("0.002")
    ask_spread: Decimal = Decimal("0.002")
    order_amount: Decimal = Decimal("0.01")
    order_levels: int = 2
    level_spread: Decimal = Decimal("0.001")
    level_amount: Decimal = Decimal(0)
    minimum_spread: Decimal | None = None
    price_ceiling: Decimal | None = None
    price_floor: Decimal | None = None
    inventory_skew: bool = True
    target_base_ratio: Decimal = Decimal("0.5")
    inventory_range_multiplier: Decimal = Decimal(1)
    skew_prices: bool = False
    post_only: bool = True
    hufi_maker_mode: bool = True
    hufi_min_ticks_from_touch: int = 2
    reference: ReferencePrice = ReferencePrice.MID
    order_refresh_time_s: float = Field(30.0, gt=0)
    refresh_tolerance: Decimal = Decimal("0.001")
    max_order_age_s: float = Field(1800.0, gt=0)
    filled_order_delay_s: float = Field(60.0, ge=0)
    hanging_orders: bool = False
    hanging_cancel_pct: Decimal = Decimal("0.1")

    def quote_params(self) -> QuoteParams:
        fields = QuoteParams.__dataclass_fields__
        return QuoteParams(**{k: v for k, v in self.model_dump().items() if k in fields})

    def executor_config(
        self, instance_id: str, pool_id: str, exchange: str, account: str, symbol: str
    ) -> ExecutorConfig:
        return ExecutorConfig(
            instance_id=instance_id,
            pool_id=pool_id,
            exchange=exchange,
            account=account,
            symbol=symbol,
            quoting=self.quote_params(),
            order_refresh_time_s=self.order_refresh_time_s,
            refresh_tolerance=self.refresh_tolerance,
            max_order_age_s=self.max_order_age_s,
            filled_order_delay_s=self.filled_order_delay_s,
            hanging_orders=self.hanging_orders,
            hanging_cancel_pct=self.hanging_cancel_pct,
        ).validate()

    @classmethod
    def parse(cls, data: dict[str, Any]) -> StrategyConfig:
        """Validate user input; every problem is an :class:`InvalidInput` naming the field."""
        from pydantic import ValidationError

        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "strategy"
            reason = "unknown parameter" if first["type"] == "extra_forbidden" else first["msg"]
            raise InvalidInput(f"{key}: {reason}") from None
        config.quote_params().validate()
        return config
