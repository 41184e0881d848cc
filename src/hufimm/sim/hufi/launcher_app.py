"""The simulated Campaign Launcher: public discovery of campaigns, as an ASGI app.

It reproduces the real paging quirk on purpose: a page reads ``limit + 1`` escrows, silently
drops those whose manifest is invalid, and sets ``has_more`` from what is left, so ``has_more``
can turn false before the end of the list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hufimm.sim.hufi.campaigns import CAMPAIGN_TYPES, STATUSES
from hufimm.sim.hufi.http import (
    ADDRESS,
    Handler,
    HttpError,
    ValidationFailed,
    guarded,
    one_of,
    positive_int,
    query,
    respond,
    split_campaign_id,
)

if TYPE_CHECKING:
    from hufimm.sim.hufi.world import HufiWorld

MAX_LIMIT = 1000
MAX_SKIP = 1000


def build_launcher_app(world: HufiWorld) -> Starlette:
    async def list_campaigns(request: Request) -> Response:
        params = query(request)
        errors: list[str] = []
        chain_values = params.get("chain_id", [])
        chain_id = None
        allowed_chains = ", ".join(str(c) for c in world.chains)
        last = chain_values[-1] if chain_values else ""
        if not last.isdigit() or int(last) not in world.chains:
            errors.append(f"chain_id must be one of the following values: {allowed_chains}")
        else:
            chain_id = int(chain_values[-1])
        statuses = one_of(params, "status", STATUSES, errors)
        types = one_of(params, "type", CAMPAIGN_TYPES, errors)
        exchanges = one_of(params, "exchange", tuple(e.name for e in world.exchanges), errors)
        launcher = params.get("launcher", [None])[-1]
        if launcher is not None and not ADDRESS.match(launcher):
            errors.append("launcher must be an Ethereum address")
        limit = positive_int(params, "limit", errors, default=10, maximum=MAX_LIMIT)
        skip = positive_int(params, "skip", errors, default=0, maximum=MAX_SKIP)
        if errors or chain_id is None or limit is None or skip is None:
            raise ValidationFailed(errors)
        rows = [
            c
            for c in world.listing(chain_id)
            if (not statuses or c.status in statuses)
            and (not types or c.type in types)
            and (not exchanges or c.exchange_name in exchanges)
            and (launcher is None or c.launcher.lower() == launcher.lower())
        ]
        window = rows[skip : skip + limit + 1]
        valid = [c for c in window if c.manifest_ok()]
        return respond(
            {
                "has_more": len(valid) > limit,
                "results": [c.launcher_json() for c in valid[:limit]],
            }
        )

    def _campaign(request: Request) -> tuple[int, str]:
        chain_id, address = split_campaign_id(request.path_params["campaign"])
        if (chain_id, address.lower()) not in world.campaigns:
            raise HttpError(404, "Campaign not found")
        return chain_id, address

    async def campaign_details(request: Request) -> Response:
        campaign = world.campaign(*_campaign(request))
        if not campaign.manifest_ok():
            raise HttpError(422, "Invalid campaign manifest")
        return respond(
            campaign.launcher_json(with_details=True), headers={"cache-control": "max-age=60"}
        )

    async def daily_paid(request: Request) -> Response:
        campaign = world.campaign(*_campaign(request))
        results = [
            {"date": date, "amount": str(amount)}
            for date, amount in sorted(campaign.daily_paid.items())
        ]
        return respond({"results": results}, headers={"cache-control": "max-age=600"})

    async def exchanges(request: Request) -> Response:
        return respond(
            [
                {
                    "name": e.name,
                    "display_name": e.display_name,
                    "type": e.type,
                    "enabled": e.enabled,
                    "url": f"https://{e.name}.example",
                    "logo": f"https://{e.name}.example/logo.svg",
                }
                for e in world.exchanges
            ]
        )

    async def not_found(request: Request) -> Response:
        raise HttpError(404, f"Cannot {request.method} {request.url.path}")

    def route(path: str, handler: Handler, methods: list[str]) -> Route:
        async def current(request: Request) -> Response:
            world.oracle.catch_up()  # the oracle's cron has run by now: results URLs are set
            return await handler(request)

        return Route(path, guarded(world.time, current), methods=methods)

    return Starlette(
        routes=[
            route("/campaigns", list_campaigns, ["GET"]),
            route("/campaigns/{campaign}", campaign_details, ["GET"]),
            route("/campaigns/{campaign}/daily-paid-amounts", daily_paid, ["GET"]),
            route("/exchanges", exchanges, ["GET"]),
            route("/{rest:path}", not_found, ["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
