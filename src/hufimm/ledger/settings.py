"""Settings of the ledger writer (``[ledger]`` in the TOML file, ``HUFIMM_LEDGER__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LedgerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_batch: int = Field(
        default=2000, ge=1, le=100_000, description="Commands per committed batch"
    )
    max_delay_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="How long the writer lingers for more commands before a batch that is "
        "not full (0: commit what is queued; batches still grow while a commit runs)",
    )
    lease_ttl_s: float = Field(
        default=15.0, gt=0, description="Writer lease TTL when several processes share the database"
    )
    cache_limit: int = Field(
        default=1_000_000,
        ge=1000,
        description="Cached accounts and orders before the cache is reset",
    )
