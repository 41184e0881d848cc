"""The ``tracking`` settings section: book sync, user stream, lost orders, reconciliation."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UnknownOrderPolicy(enum.StrEnum):
    """What reconciliation does with an open venue order of ours that the tracker never saw."""

    ADOPT = "adopt"  # track it from now on (its quantity counts as exposure)
    CANCEL = "cancel"  # cancel it (and track it until the cancel is confirmed)


class BookTrackerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    silence_s: Annotated[
        float, Field(gt=0, description="No book message for this long: stale, resubscribe")
    ] = 30.0
    reorder_window_s: Annotated[
        float,
        Field(
            ge=0,
            description="How long a diff that skips ahead waits for the missing one before it "
            "counts as a gap",
        ),
    ] = 1.0
    snapshot_limit: Annotated[int, Field(gt=0, description="Levels of a REST resync snapshot")] = (
        1000
    )
    buffer_limit: Annotated[
        int, Field(gt=0, description="Diffs buffered while resynchronising")
    ] = 10_000
    resync_backoff_initial_s: Annotated[float, Field(gt=0)] = 0.5
    resync_backoff_max_s: Annotated[float, Field(gt=0)] = 30.0


class UserStreamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    silence_s: Annotated[
        float, Field(gt=0, description="No user event for this long: poll REST until one arrives")
    ] = 60.0
    poll_interval_s: Annotated[
        float, Field(gt=0, description="REST polling interval while the stream is down or silent")
    ] = 5.0


class LostOrderSettings(BaseModel):
    """An order is LOST only after ``confirmations`` consecutive definitive not-found answers,
    each at least ``min_interval_s`` after the previous one, and never younger than
    ``min_age_s`` (Binance: recvWindow + the 10 s engine timeout + clock skew)."""

    model_config = ConfigDict(extra="forbid")

    confirmations: Annotated[int, Field(ge=1)] = 3
    min_interval_s: Annotated[float, Field(ge=0)] = 10.0
    min_age_s: Annotated[float, Field(ge=0)] = 30.0


class ReconcileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: Annotated[float, Field(gt=0, description="Seconds between reconciliation runs")] = (
        30.0
    )
    unknown_order_policy: UnknownOrderPolicy = UnknownOrderPolicy.CANCEL
    recancel_after_s: Annotated[
        float, Field(ge=0, description="Re-cancel an order still open this long after its cancel")
    ] = 10.0
    fill_settle_s: Annotated[
        float,
        Field(
            ge=0, description="The fill cursor stays behind trades younger than this (venue lag)"
        ),
    ] = 5.0
    fill_page_limit: Annotated[int, Field(gt=0)] = 500
    dedicated_accounts: Annotated[
        bool,
        Field(
            description="The accounts trade only the tracked markets and only through us: "
            "locked balances must equal what open orders reserve, and an open order without "
            "our prefix is a problem"
        ),
    ] = True
    balance_mismatch_runs: Annotated[
        int, Field(ge=1, description="Consecutive runs a balance mismatch must persist to count")
    ] = 2


class TrackingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id_prefix: Annotated[
        str,
        Field(
            min_length=1,
            pattern=r"^[A-Za-z0-9]+$",
            description="Every client order id we send starts with this; venue orders carrying "
            "it are ours even when the tracker does not know them",
        ),
    ] = "hm"
    book: BookTrackerSettings = Field(default_factory=BookTrackerSettings)
    user_stream: UserStreamSettings = Field(default_factory=UserStreamSettings)
    lost: LostOrderSettings = Field(default_factory=LostOrderSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)

    @model_validator(mode="after")
    def _consistent(self) -> TrackingSettings:
        if self.book.resync_backoff_max_s < self.book.resync_backoff_initial_s:
            raise ValueError("book.resync_backoff_max_s must be >= resync_backoff_initial_s")
        return self
