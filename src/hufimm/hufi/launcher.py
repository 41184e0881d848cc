"""Client of the Campaign Launcher (public discovery API).

Paging follows the launcher's quirk: a page reads ``limit + 1`` rows and silently drops
campaigns with an invalid manifest before computing ``has_more``, so ``has_more`` may be false
too early.  :meth:`CampaignLauncherClient.all_campaigns` therefore ignores it and keeps adding
``limit`` to ``skip`` until a page comes back empty or ``skip`` would pass the launcher's cap of
1000.  ``skip`` is omitted on the first page (the launcher rejects ``skip=0``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hufimm.hufi.errors import HufiProtocolError
from hufimm.hufi.fields import FieldError
from hufimm.hufi.models import (
    Campaign,
    CampaignDetails,
    CampaignPage,
    DailyPaidAmount,
    ExchangeInfo,
    parse_campaign_details,
    parse_campaign_page,
    parse_daily_paid,
    parse_exchanges,
)
from hufimm.hufi.transport import HufiHttp, HufiResponse, QueryValue

T = TypeVar("T")

MAX_LIMIT = 1000
MAX_SKIP = 1000


@dataclass(frozen=True)
class CampaignListing:
    """Every campaign the launcher would show for a query, plus what could not be read."""

    campaigns: list[Campaign]
    rejected: list[str]
    pages: int
    #: True when the launcher's skip cap stopped us before an empty page (more may exist).
    truncated: bool


def read(response: HufiResponse, parse: Callable[[Any], T]) -> T:
    """Parse a successful answer or raise the service's refusal / a protocol error."""
    if response.status >= 400:
        raise response.rejected()
    try:
        return parse(response.json())
    except FieldError as exc:
        raise HufiProtocolError(response.request, str(exc)) from None


class CampaignLauncherClient:
    def __init__(self, http: HufiHttp) -> None:
        self.http = http

    async def list_campaigns(
        self,
        chain_id: int,
        *,
        statuses: Sequence[str] = (),
        types: Sequence[str] = (),
        exchanges: Sequence[str] = (),
        launcher: str | None = None,
        limit: int = 100,
        skip: int = 0,
    ) -> CampaignPage:
        """One page, newest first."""
        if not 0 < limit <= MAX_LIMIT:
            raise ValueError(f"limit must be in 1..{MAX_LIMIT}, got {limit}")
        params: dict[str, QueryValue] = {"chain_id": chain_id, "limit": limit}
        if skip:
            params["skip"] = skip
        if statuses:
            params["status"] = list(statuses)
        if types:
            params["type"] = list(types)
        if exchanges:
            params["exchange"] = list(exchanges)
        if launcher:
            params["launcher"] = launcher
        response = await self.http.request("GET", "/campaigns", op="list_campaigns", params=params)
        return read(response, parse_campaign_page)

    async def all_campaigns(
        self,
        chain_id: int,
        *,
        statuses: Sequence[str] = (),
        types: Sequence[str] = (),
        exchanges: Sequence[str] = (),
        page_size: int = 100,
    ) -> CampaignListing:
        campaigns: list[Campaign] = []
        rejected: list[str] = []
        seen: set[str] = set()
        skip = 0
        pages = 0
        while True:
            page = await self.list_campaigns(
                chain_id,
                statuses=statuses,
                types=types,
                exchanges=exchanges,
                limit=page_size,
                skip=skip,
            )
            pages += 1
            rejected.extend(page.rejected)
            for campaign in page.campaigns:
                # A campaign created between two pages shifts the list; keep the first copy.
                if campaign.address.lower() not in seen:
                    seen.add(campaign.address.lower())
                    campaigns.append(campaign)
            if not page.campaigns and not page.rejected:
                return CampaignListing(campaigns, rejected, pages, truncated=False)
            skip += page_size
            if skip > MAX_SKIP:
                return CampaignListing(campaigns, rejected, pages, truncated=True)

    async def campaign(self, chain_id: int, address: str) -> CampaignDetails:
        """Details with the oracle fee percents (404 → rejected, 422 → invalid manifest)."""
        response = await self.http.request(
            "GET", f"/campaigns/{chain_id}-{address}", op="campaign_details"
        )
        return read(response, parse_campaign_details)

    async def daily_paid_amounts(self, chain_id: int, address: str) -> list[DailyPaidAmount]:
        response = await self.http.request(
            "GET", f"/campaigns/{chain_id}-{address}/daily-paid-amounts", op="daily_paid"
        )
        return read(response, parse_daily_paid)

    async def exchanges(self) -> list[ExchangeInfo]:
        response = await self.http.request("GET", "/exchanges", op="exchanges")
        return read(response, parse_exchanges)
