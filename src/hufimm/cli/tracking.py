"""``hufimm tracking``: what the trackers recorded (orders, fills, reconciliation, health)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from hufimm.cli.common import DbOption, state
from hufimm.core.errors import HufimmError
from hufimm.core.metrics import Metrics
from hufimm.core.timesource import RealTimeSource, ns_to_datetime
from hufimm.store.db import Database
from hufimm.tracking import MarketHealthBoard, OrderTracker
from hufimm.tracking.reconcile import recent_runs

app = typer.Typer(help="Exchange state as the trackers recorded it.", no_args_is_help=True)
T = TypeVar("T")


def _read(ctx: typer.Context, db: str | None, action: Callable[[Database], T]) -> T:
    settings = state(ctx).settings(database_url=db)
    database = Database(settings.database_url)
    try:
        return action(database)
    except (OperationalError, ProgrammingError) as exc:
        raise HufimmError(f"database not ready ({exc.orig}); run `hufimm db upgrade`") from None
    finally:
        database.dispose()


def _when(ns: int | None) -> str:
    return "-" if ns is None else ns_to_datetime(ns).strftime("%Y-%m-%d %H:%M:%S")


@app.command("orders")
def orders_cmd(
    ctx: typer.Context,
    db: DbOption = None,
    exchange: Annotated[str | None, typer.Option(help="Only this exchange.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this market (BASE/QUOTE).")] = None,
    live: Annotated[bool, typer.Option(help="Only orders that may still trade.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N.")] = 50,
) -> None:
    """Shadow orders, oldest first, with status and filled quantity."""

    def action(database: Database) -> None:
        tracker = OrderTracker(database, RealTimeSource(), Metrics())
        rows = tracker.orders(exchange, account, symbol)
        if live:
            rows = [o for o in rows if o.status.is_live]
        for o in rows[-limit:]:
            typer.echo(
                f"{_when(o.created_at)}  {o.client_order_id:<20} {o.exchange}/{o.account} "
                f"{o.symbol} {o.side.value:<4} {o.qty}@{o.price}  {o.status.value:<16} "
                f"filled={o.filled_qty} fills={o.fills_qty} venue_id={o.exchange_order_id or '-'}"
                + (f"  ({o.reason})" if o.reason else "")
            )
        typer.echo(f"{len(rows[-limit:])} of {len(rows)} order(s)")

    _read(ctx, db, action)


@app.command("reconciliations")
def reconciliations_cmd(
    ctx: typer.Context,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs.")] = 20,
) -> None:
    """The latest reconciliation runs: what each found, did, and could not resolve."""

    def action(database: Database) -> None:
        runs = recent_runs(database, limit)
        for run in runs:
            typer.echo(
                f"#{run.run_id} {_when(run.started_at)} {run.exchange}/{run.account} "
                f"{run.outcome:<10} found={run.found} did={run.did}"
            )
            for where, problems in run.problems.items():
                for problem in problems:
                    typer.echo(f"    {where}: {problem}")
        typer.echo(f"{len(runs)} run(s)")

    _read(ctx, db, action)


@app.command("health")
def health_cmd(ctx: typer.Context, db: DbOption = None) -> None:
    """Each market's verdict from reconciliation (strategies quote only where healthy)."""

    def action(database: Database) -> None:
        rows = MarketHealthBoard(database).all()
        for exchange, account, symbol, health in rows:
            verdict = "healthy" if health.healthy else f"UNHEALTHY: {health.reason}"
            typer.echo(f"{exchange}/{account} {symbol}  {verdict}  since {_when(health.since_ns)}")
        typer.echo(f"{len(rows)} market(s)")

    _read(ctx, db, action)
