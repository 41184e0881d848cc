"""The simulated Recording Oracle as an ASGI app: auth, keys, joining, leaderboards, results.

The HTTP layer validates input the way the real service does (400 with
``validation_errors``), authenticates the bearer JWT (401 ``Unauthorized``), and maps the
oracle's refusals to their status codes.  Before every request the oracle's periodic jobs are
brought up to the current time.  Results files are served under ``/results/`` as a stand-in for
the object store the real oracle uploads them to.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hufimm.core.money import from_units
from hufimm.sim.hufi import scoring
from hufimm.sim.hufi.campaigns import CAMPAIGN_TYPES
from hufimm.sim.hufi.http import (
    Handler,
    HttpError,
    ValidationFailed,
    error_response,
    json_body,
    no_content,
    one_of,
    positive_int,
    query,
    require_address,
    respond,
    split_campaign_id,
)
from hufimm.sim.hufi.oracle import OracleError, User
from hufimm.sim.hufi.wire import iso_ms, ms

if TYPE_CHECKING:
    from hufimm.sim.hufi.world import HufiWorld

_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
_STATUS_FILTERS = ("active", "to_cancel", "cancelled", "completed")


def _string(body: dict[str, Any], name: str, errors: list[str], *, max_len: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        errors.append(f"{name} should not be empty")
        return ""
    if len(value) > max_len:
        errors.append(f"{name} must be shorter than or equal to {max_len} characters")
    return value


def _campaign_ref(body: dict[str, Any]) -> tuple[int, str]:
    errors: list[str] = []
    chain_id = body.get("chain_id")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int):
        errors.append("chain_id must be a number conforming to the specified constraints")
    address = require_address(body.get("address"), "address", errors)
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(chain_id, int)
    return chain_id, address


def build_oracle_app(world: HufiWorld) -> Starlette:
    oracle = world.oracle

    def user_of(request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        user = oracle.user_for(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HttpError(401, "Unauthorized")
        return user

    def tokens(pair: tuple[str, str]) -> Response:
        return respond({"access_token": pair[0], "refresh_token": pair[1]})

    # ------------------------------------------------------------------ auth
    async def nonce(request: Request) -> Response:
        body = await json_body(request)
        errors: list[str] = []
        address = require_address(body.get("address"), "address", errors)
        if errors:
            raise ValidationFailed(errors)
        return respond({"nonce": oracle.nonce_for(address)})

    async def auth(request: Request) -> Response:
        body = await json_body(request)
        errors: list[str] = []
        address = require_address(body.get("address"), "address", errors)
        signature = body.get("signature")
        if not isinstance(signature, str) or not _SIGNATURE.match(signature):
            errors.append("signature must match /^0x[0-9a-fA-F]{130}$/ regular expression")
        if errors:
            raise ValidationFailed(errors)
        return tokens(oracle.authenticate(address, str(signature)))

    async def refresh(request: Request) -> Response:
        body = await json_body(request)
        errors: list[str] = []
        token = _string(body, "refresh_token", errors, max_len=100)
        if errors:
            raise ValidationFailed(errors)
        return tokens(oracle.refresh(token))

    async def logout(request: Request) -> Response:
        user = user_of(request)
        body = await json_body(request)
        errors: list[str] = []
        token = _string(body, "refresh_token", errors, max_len=100)
        if errors:
            raise ValidationFailed(errors)
        oracle.logout(user, token)
        return no_content()

    async def me(request: Request) -> Response:
        user = user_of(request)
        return respond(
            {"id": user.id, "evm_address": user.address, "preferences": user.preferences}
        )

    async def preferences(request: Request) -> Response:
        user = user_of(request)
        body = await json_body(request)
        user.preferences.update(body)
        return respond(
            {"id": user.id, "evm_address": user.address, "preferences": user.preferences}
        )

    # ------------------------------------------------------------------ keys
    async def upsert_key(request: Request) -> Response:
        user = user_of(request)
        body = await json_body(request)
        errors: list[str] = []
        exchange = _string(body, "exchange_name", errors, max_len=50)
        api_key = _string(body, "api_key", errors, max_len=200)
        secret = _string(body, "secret_key", errors, max_len=5000)
        extras = body.get("extras") or {}
        if not isinstance(extras, dict) or not all(isinstance(v, str) for v in extras.values()):
            errors.append("extras must be an object of strings")
            extras = {}
        if errors:
            raise ValidationFailed(errors)
        return respond({"id": oracle.upsert_key(user, exchange, api_key, secret, extras)})

    async def list_keys(request: Request) -> Response:
        user = user_of(request)
        rows = []
        for key in oracle.list_keys(user):
            row: dict[str, Any] = {
                "exchange_name": key.exchange,
                "api_key": key.api_key,
                "is_valid": key.is_valid,
                "missing_permissions": key.missing_permissions,
            }
            if key.extras:
                row["extras"] = {k: v for k, v in key.extras.items() if k != "passphrase"}
            rows.append(row)
        return respond(rows)

    async def key_exchanges(request: Request) -> Response:
        user_of(request)
        return respond(oracle.enabled_exchanges())

    async def revalidate(request: Request) -> Response:
        user = user_of(request)
        key = oracle.revalidate_key(user, request.path_params["exchange"])
        body: dict[str, Any] = {"is_valid": key.is_valid}
        if key.missing_permissions:
            body["missing_permissions"] = key.missing_permissions
        return respond(body)

    async def key_by_exchange(request: Request) -> Response:
        user = user_of(request)
        if request.method == "DELETE":
            oracle.delete_key(user, request.path_params["exchange"])
            return no_content()
        raise HttpError(403, "Forbidden")  # decrypted keys: non-production only

    # ------------------------------------------------------------------ campaigns
    async def join(request: Request) -> Response:
        user = user_of(request)
        chain_id, address = _campaign_ref(await json_body(request))
        return respond({"id": oracle.join(user, chain_id, address)})

    async def check_join_status(request: Request) -> Response:
        user = user_of(request)
        chain_id, address = _campaign_ref(await json_body(request))
        return respond(oracle.check_join_status(user, chain_id, address))

    async def joined(request: Request) -> Response:
        user = user_of(request)
        params = query(request)
        errors: list[str] = []
        chain = params.get("chain_id", [None])[-1]
        if chain is not None and not chain.isdigit():
            errors.append("chain_id must be an integer number")
        statuses = one_of(params, "status", _STATUS_FILTERS, errors)
        types = one_of(params, "type", CAMPAIGN_TYPES, errors)
        exchanges = params.get("exchange", [])
        limit = positive_int(params, "limit", errors, default=10, maximum=1000)
        skip = positive_int(params, "skip", errors, default=0, maximum=10**9)
        if errors or limit is None or skip is None:
            raise ValidationFailed(errors)
        rows = []
        for stored, _ in oracle.joined_campaigns(user):
            campaign = stored.campaign
            raw = oracle.processing_status(campaign)
            status = {"pending_completion": "active", "pending_cancellation": "to_cancel"}.get(
                raw, raw
            )
            if chain is not None and campaign.chain_id != int(chain):
                continue
            if (statuses and status not in statuses) or (types and campaign.type not in types):
                continue
            if exchanges and campaign.exchange_name not in exchanges:
                continue
            rows.append(
                {
                    "chain_id": campaign.chain_id,
                    "address": campaign.address,
                    "type": campaign.type,
                    "exchange_name": campaign.exchange_name,
                    "symbol": campaign.symbol,
                    "start_date": iso_ms(campaign.start_ns),
                    "end_date": iso_ms(campaign.end_ns),
                    "details": campaign.details,
                    "fund_amount": from_units(campaign.fund_amount, campaign.fund_token_decimals),
                    "fund_amount_net": scoring.fund_amount_net(campaign),
                    "fund_token": campaign.fund_token_symbol,
                    "status": status,
                    "processing_status": raw,
                    "cancellation_requested_at": ms(campaign.cancellation_requested_ns),
                }
            )
        page = rows[skip : skip + limit + 1]
        return respond({"has_more": len(page) > limit, "results": page[:limit]})

    async def leaderboard(request: Request) -> Response:
        chain_id, address = split_campaign_id(request.path_params["campaign"])
        board = oracle.leaderboard(chain_id, address)
        data = [
            {
                "address": outcome.address,
                "score": outcome.score,
                "result": outcome.total_volume,
                "estimated_reward": estimate,
                "estimated_reward_gross": gross,
            }
            for outcome, estimate, gross in board.rows
        ]
        return respond(
            {
                "data": data,
                "total": board.total if data else Decimal(0),
                "updated_at": None if board.updated_ns is None else iso_ms(board.updated_ns),
            },
            headers={"cache-control": "max-age=30"},
        )

    async def results_file(request: Request) -> Response:
        path = f"{request.path_params['address']}/{request.path_params['name']}"
        body = oracle.files.get(path)
        if body is None:
            raise HttpError(404, "Not Found")
        return Response(body, media_type="application/json")

    async def not_found(request: Request) -> Response:
        raise HttpError(404, f"Cannot {request.method} {request.url.path}")

    def route(path: str, handler: Handler, methods: list[str]) -> Route:
        async def run(request: Request) -> Response:
            try:
                oracle.catch_up()
                return await handler(request)
            except OracleError as exc:
                extra = {"details": exc.details} if exc.details else {}
                if exc.status == 400 and exc.details:
                    extra = exc.details
                return error_response(
                    HttpError(exc.status, exc.message, **extra), request.url.path, world.time
                )
            except HttpError as exc:
                return error_response(exc, request.url.path, world.time)

        return Route(path, run, methods=methods)

    return Starlette(
        routes=[
            route("/auth/nonce", nonce, ["POST"]),
            route("/auth", auth, ["POST"]),
            route("/auth/refresh", refresh, ["POST"]),
            route("/auth/logout", logout, ["POST"]),
            route("/me", me, ["GET"]),
            route("/me/preferences", preferences, ["PATCH"]),
            route("/exchange-api-keys", upsert_key, ["POST"]),
            route("/exchange-api-keys", list_keys, ["GET"]),
            route("/exchange-api-keys/exchanges", key_exchanges, ["GET"]),
            route("/exchange-api-keys/{exchange}/revalidate", revalidate, ["POST"]),
            route("/exchange-api-keys/{exchange}", key_by_exchange, ["GET", "DELETE"]),
            route("/campaigns/join", join, ["POST"]),
            route("/campaigns/check-join-status", check_join_status, ["POST"]),
            route("/campaigns", joined, ["GET"]),
            route("/campaigns/{campaign}/leaderboard", leaderboard, ["GET"]),
            route("/results/{address}/{name}", results_file, ["GET"]),
            route("/{rest:path}", not_found, ["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
