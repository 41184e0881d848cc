"""``hufimm mixin``: the bot's Mixin account (snapshots, admin transfers, deposit address)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from hufimm.cli.common import DbOption, state
from hufimm.core.errors import HufimmError, InvalidInput
from hufimm.core.ids import IdFactory
from hufimm.core.metrics import Metrics
from hufimm.core.money import MIXIN_PRECISION, to_units_exact
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.mixin.client import MixinClient
from hufimm.mixin.kernel import parse_rfc3339_nano
from hufimm.mixin.transfers import TransferService
from hufimm.settings import Settings
from hufimm.store.db import Database

app = typer.Typer(help="The bot's Mixin account.", no_args_is_help=True)
T = TypeVar("T")


def _ids(settings: Settings, time_source: RealTimeSource) -> IdFactory:
    return IdFactory(
        time_source, SeededRng(settings.seed).child("cli-mixin"), settings.id_namespace
    )


def _with_client(settings: Settings, action: Callable[[MixinClient], Awaitable[T]]) -> T:
    time_source = RealTimeSource()
    client = settings.mixin.client(time_source, _ids(settings, time_source))

    async def run() -> T:
        async with client:
            return await action(client)

    return asyncio.run(run())


@app.command("snapshots")
def snapshots_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="RFC 3339 time to start from (inclusive).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many to show.")] = 50,
    asset: Annotated[str | None, typer.Option(help="Only this asset id.")] = None,
) -> None:
    """List the bot's snapshots, oldest first."""
    settings = state(ctx).settings()
    if since is not None:
        try:
            parse_rfc3339_nano(since)
        except ValueError as exc:
            raise InvalidInput(f"--since: {exc}") from None
    items = _with_client(
        settings, lambda c: c.snapshots(offset=since, limit=limit, asset=asset, order="ASC")
    )
    for s in items:
        memo = bytes.fromhex(s.memo).decode("utf-8", "replace") if s.memo else ""
        kind = "deposit" if s.deposit else "withdrawal" if s.withdrawal else "transfer"
        typer.echo(
            f"{s.created_at}  {s.snapshot_id}  {kind:<10} {s.amount:>20} {s.asset_id}"
            f"  opponent={s.opponent_id or '-'}  request={s.request_id or '-'}  memo={memo!r}"
        )
    typer.echo(f"{len(items)} snapshot(s)")


def _units(amount: str) -> int:
    try:
        units = to_units_exact(Decimal(amount), MIXIN_PRECISION)
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"--amount {amount!r}: a decimal with at most 8 decimals") from None
    if units <= 0:
        raise InvalidInput("--amount must be positive")
    return units


@app.command("transfer")
def transfer_cmd(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Recipient's Mixin user id.")],
    asset: Annotated[str, typer.Option("--asset", help="Asset id.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount, e.g. 12.5.")],
    ref: Annotated[
        str | None,
        typer.Option(help="Your id for this transfer; re-run with the same --ref to resume it."),
    ] = None,
    memo: Annotated[str, typer.Option(help="Memo text (UTF-8).")] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
) -> None:
    """Admin: send an asset from the bot to a user (durable, resumable, never twice)."""
    settings = state(ctx).settings(database_url=db)
    units = _units(amount)
    time_source = RealTimeSource()
    ids = _ids(settings, time_source)
    ref = ref or f"admin-{ids.ulid()}"
    if not yes:
        typer.confirm(
            f"Send {Decimal(amount)} of {asset} to {user} (ref {ref})?", abort=True, err=True
        )
    database = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    client = settings.mixin.client(time_source, ids)

    async def run() -> str:
        async with client:
            service = TransferService(
                database,
                client,
                ids,
                time_source,
                Metrics(),
                retry_interval_s=settings.mixin.transfer_retry_s,
            )
            record = await service.transfer("admin", ref, user, asset, units, memo.encode())
            note = f" ({record.blocked_reason.value})" if record.blocked_reason else ""
            return f"{record.status.value}{note} request_id={record.request_id} ref={ref}"

    try:
        typer.echo(asyncio.run(run()))
    except (OperationalError, ProgrammingError) as exc:
        raise HufimmError(f"database not ready ({exc.orig}); run `hufimm db upgrade`") from None
    finally:
        database.dispose()


@app.command("deposit-address")
def deposit_address_cmd(
    ctx: typer.Context,
    chain: Annotated[str, typer.Option("--chain", help="Chain id (its native asset id).")],
) -> None:
    """Print the bot's own deposit address on a chain."""
    settings = state(ctx).settings()
    entry = _with_client(settings, lambda c: c.deposit_address(chain))
    typer.echo(entry.destination + (f"  tag={entry.tag}" if entry.tag else ""))
