"""HTTP plumbing shared by the two simulated services: parsing input, writing answers, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hufimm.core.timesource import TimeSource
from hufimm.sim.hufi.wire import dumps, error_body, snake_key, snake_keys

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BUILTIN_TEXT = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


class HttpError(Exception):
    """Ends a request with ``status`` and the services' error body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class ValidationFailed(HttpError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(400, "Validation error", validation_errors=errors)


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def error_response(exc: HttpError, path: str, time: TimeSource) -> Response:
    extra = dict(exc.extra)
    if exc.status in _BUILTIN_TEXT:
        extra.setdefault("status_code", exc.status)
    return respond(error_body(exc.message, path, time.time_ns(), **extra), exc.status)


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a dict with snake_case keys (numbers parsed as Decimal)."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}", parse_float=Decimal)
    except ValueError:
        raise ValidationFailed(["body must be valid JSON"]) from None
    if not isinstance(data, dict):
        raise ValidationFailed(["body must be a JSON object"])
    result: dict[str, Any] = snake_keys(data)
    return result


def query(request: Request) -> dict[str, list[str]]:
    """Query parameters with snake_case keys; repeated keys keep every value."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(snake_key(key), []).append(value)
    return params


def positive_int(
    params: dict[str, list[str]],
    name: str,
    errors: list[str],
    *,
    default: int | None,
    maximum: int,
) -> int | None:
    values = params.get(name)
    if not values:
        return default
    text = values[-1]
    if not re.fullmatch(r"-?\d+", text) or int(text) <= 0:
        errors.append(f"{name} must be a positive number")
        return default
    if int(text) > maximum:
        errors.append(f"{name} must not be greater than {maximum}")
        return default
    return int(text)


def one_of(
    params: dict[str, list[str]], name: str, allowed: tuple[str, ...], errors: list[str]
) -> list[str]:
    values = params.get(name, [])
    if any(v not in allowed for v in values):
        errors.append(
            f"each value in {name} must be one of the following values: {', '.join(allowed)}"
        )
    return values


def require_address(value: Any, name: str, errors: list[str]) -> str:
    if not isinstance(value, str) or not ADDRESS.match(value):
        errors.append(f"{name} must be an Ethereum address")
        return ""
    return value


def split_campaign_id(text: str) -> tuple[int, str]:
    """``{chain_id}-{address}`` from a path, or a 400."""
    chain, _, address = text.partition("-")
    if not chain.isdigit() or not ADDRESS.match(address):
        raise ValidationFailed([f"invalid campaign id: {text}"])
    return int(chain), address


Handler = Callable[[Request], Awaitable[Response]]


def guarded(time: TimeSource, handler: Handler) -> Handler:
    """Turn :class:`HttpError` raised by ``handler`` into the services' error answer."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except HttpError as exc:
            return error_response(exc, request.url.path, time)

    return run
