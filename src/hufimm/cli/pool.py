"""``hufimm pool``: create, list, fund and stop market-making pools."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from hufimm.cli.common import DbOption, state
from hufimm.core.errors import InvalidInput
from hufimm.core.money import MIXIN_PRECISION, from_units, to_decimal, to_units_exact
from hufimm.core.timesource import RealTimeSource
from hufimm.ledger import Ledger
from hufimm.pools import PoolStore, StrategyConfig, fund_pool
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade

app = typer.Typer(help="Market-making pools.", no_args_is_help=True)


def _store(ctx: typer.Context, db: str | None) -> tuple[Database, PoolStore]:
    settings = state(ctx).settings(database_url=db)
    database = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    upgrade(database)
    return database, PoolStore(database, RealTimeSource())


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param: expected KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@app.command("create")
def create(
    ctx: typer.Context,
    pool_id: Annotated[str, typer.Argument(help="A name for the pool.")],
    exchange: Annotated[str, typer.Option(help="Exchange id of the account (e.g. binance).")],
    account: Annotated[str, typer.Option(help="Our name for the exchange account.")],
    symbol: Annotated[str, typer.Option(help="Market, BASE/QUOTE.")],
    base_asset: Annotated[str, typer.Option(help="Mixin asset id of the base asset.")],
    quote_asset: Annotated[str, typer.Option(help="Mixin asset id of the quote asset.")],
    param: Annotated[
        list[str] | None, typer.Option(help="Strategy parameter KEY=VALUE (repeatable).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a pool with its strategy configuration (validated before it is stored)."""
    config = StrategyConfig.parse(_params(param or []))
    database, store = _store(ctx, db)
    try:
        pool = store.create(pool_id, exchange, account, symbol, base_asset, quote_asset, config)
    finally:
        database.dispose()
    typer.echo(f"pool {pool.pool_id} makes {exchange}/{account}/{symbol}")


@app.command("list")
def list_pools(
    ctx: typer.Context,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List pools with their status and budget (what their user orders have locked)."""
    database, store = _store(ctx, db)
    ledger = Ledger(database, RealTimeSource())
    try:
        rows = []
        for pool in store.all():
            budget = store.budget(ledger, pool)
            rows.append(
                {
                    "pool_id": pool.pool_id,
                    "market": f"{pool.exchange}/{pool.account}/{pool.symbol}",
                    "status": pool.status,
                    "locked_base": format(from_units(budget.base_units, MIXIN_PRECISION), "f"),
                    "locked_quote": format(from_units(budget.quote_units, MIXIN_PRECISION), "f"),
                }
            )
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['pool_id']:20} {row['market']:32} {row['status']:8} "
            f"locked {row['locked_base']} / {row['locked_quote']}"
        )


@app.command("fund")
def fund(
    ctx: typer.Context,
    pool_id: Annotated[str, typer.Argument()],
    user: Annotated[str, typer.Option(help="The user's Mixin id.")],
    order: Annotated[str, typer.Option(help="The user order's id (idempotency: reuse to retry).")],
    base: Annotated[str, typer.Option(help="Base amount to lock, decimal.")] = "0",
    quote: Annotated[str, typer.Option(help="Quote amount to lock, decimal.")] = "0",
    price: Annotated[str, typer.Option(help="Share price, quote per base.")] = "1",
    deposit_first: Annotated[
        bool, typer.Option(help="Credit the amounts from custody first (simulation seeding).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Lock a user's available funds for a user order in the pool (ledger commands)."""
    base_units = to_units_exact(to_decimal(base), MIXIN_PRECISION)
    quote_units = to_units_exact(to_decimal(quote), MIXIN_PRECISION)
    if base_units < 0 or quote_units < 0 or base_units + quote_units == 0:
        raise InvalidInput("--base/--quote: lock a positive amount of at least one asset")
    database, store = _store(ctx, db)

    async def run() -> None:
        ledger = Ledger(database, RealTimeSource())
        await ledger.start()
        try:
            await fund_pool(
                ledger,
                store,
                store.get(pool_id),
                user_id=user,
                order_id=order,
                base_units=base_units,
                quote_units=quote_units,
                share_price=to_decimal(price),
                deposit_first=deposit_first,
            )
        finally:
            await ledger.stop()

    try:
        asyncio.run(run())
    finally:
        database.dispose()
    typer.echo(f"order {order} funds pool {pool_id}: {base} base, {quote} quote locked")


@app.command("stop")
def stop(
    ctx: typer.Context, pool_id: Annotated[str, typer.Argument()], db: DbOption = None
) -> None:
    """Stop quoting a pool (a running engine cancels its orders at its next start)."""
    database, store = _store(ctx, db)
    try:
        store.set_status(pool_id, "stopped")
    finally:
        database.dispose()
    typer.echo(f"pool {pool_id} stopped")
