"""``hufimm hufi``: campaigns, joining, and our score mirror.

``campaigns`` syncs from the launcher first (``--no-sync`` reads the database only); ``join``
mirrors the campaign, passes the safety gate, enrolls the read-only key and joins; ``score``
prints the per-cycle totals and the latest comparison with the oracle.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from eth_utils.address import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from hufimm.cli.common import DbOption, state
from hufimm.core.errors import ConfigError, InvalidInput, NotFound
from hufimm.core.logs import configure_logging
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource, ns_to_datetime
from hufimm.hufi.records import CampaignRecord, load_campaign
from hufimm.hufi.service import HufiService
from hufimm.hufi.tables import campaigns, participations, score_cycles, score_snapshots
from hufimm.settings import Settings
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade

app = typer.Typer(help="HuFi campaigns: sync, join, score.", no_args_is_help=True)
T = TypeVar("T")


def _checksummed(address: str) -> str:
    if not is_address(address):
        raise InvalidInput(f"not an address: {address!r}")
    return str(to_checksum_address(address))


def _with_service(settings: Settings, work: Callable[[HufiService, Database], Awaitable[T]]) -> T:
    time = RealTimeSource()
    configure_logging(time, settings.log_format, settings.log_level)  # stderr: stdout is output
    database = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    upgrade(database)
    service = HufiService(settings.hufi, database, time, SeededRng(settings.seed), Metrics())

    async def run() -> T:
        try:
            return await work(service, database)
        finally:
            await service.aclose()

    try:
        return asyncio.run(run())
    finally:
        database.dispose()


def _iso(ns: int | None) -> str:
    return "" if ns is None else ns_to_datetime(ns).strftime("%Y-%m-%dT%H:%M:%SZ")


def _campaign_json(record: CampaignRecord, joined: Any) -> dict[str, Any]:
    daily = record.daily_reward()
    return {
        "chain_id": record.chain_id,
        "address": record.address,
        "type": record.type,
        "exchange": record.exchange_name,
        "symbol": record.symbol,
        "status": record.status,
        "lifecycle": record.lifecycle,
        "start": _iso(record.start_ns),
        "end": _iso(record.end_ns),
        "cycles": record.cycle_count(),
        "fund": f"{record.fund_amount}",
        "fund_token": record.fund_token_symbol,
        "fund_token_decimals": record.fund_token_decimals,
        "daily_reward": None if daily is None else str(daily),
        "matches_market": record.matches_market,
        "participation": None if joined is None else joined.state,
        "joined_at": None if joined is None else _iso(joined.joined_at_ns),
    }


@app.command("campaigns")
def campaigns_cmd(
    ctx: typer.Context,
    db: DbOption = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only this status or lifecycle (active, running, completed, ...)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    no_sync: Annotated[bool, typer.Option("--no-sync", help="Read the database only.")] = False,
) -> None:
    """List campaigns of the configured chains (synced from the launcher first)."""
    settings = state(ctx).settings(database_url=db)

    async def work(service: HufiService, database: Database) -> list[dict[str, Any]]:
        if not no_sync:
            report = await service.sync.sync_once()
            for problem in report.rejected:
                typer.echo(f"warning: unreadable campaign skipped: {problem}", err=True)
        with database.read() as conn:
            rows = conn.execute(
                select(campaigns).order_by(campaigns.c.chain_id, campaigns.c.start_ns.desc())
            ).all()
            joined = {
                (p.chain_id, p.address): p
                for p in conn.execute(select(participations))
                if service.wallet is None or p.wallet == service.wallet
            }
        records = [CampaignRecord.from_row(row) for row in rows]
        return [
            _campaign_json(r, joined.get(r.key))
            for r in records
            if status is None or status in (r.status, r.lifecycle)
        ]

    items = _with_service(settings, work)
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    table = Table(title=f"HuFi campaigns ({len(items)})")
    for column in (
        "chain",
        "address",
        "type",
        "market",
        "lifecycle",
        "end",
        "daily reward",
        "ours",
    ):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item["chain_id"]),
            item["address"],
            item["type"],
            f"{item['exchange']} {item['symbol']}",
            item["lifecycle"],
            item["end"],
            f"{item['daily_reward'] or '?'} {item['fund_token']}",
            ("✓ " if item["matches_market"] else "") + (item["participation"] or ""),
        )
    Console().print(table)


@app.command("join")
def join_cmd(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Campaign (escrow) address.")],
    chain: Annotated[int | None, typer.Option(help="Chain id (default: first configured).")] = None,
    db: DbOption = None,
) -> None:
    """Join one campaign now: safety gate, key enrolment (once), join."""
    settings = state(ctx).settings(database_url=db)
    if settings.hufi.wallet_private_key is None:
        raise ConfigError("hufi.wallet_private_key", "required to join campaigns")
    escrow = _checksummed(address)
    chain_id = chain if chain is not None else settings.hufi.chains[0]

    async def work(service: HufiService, database: Database) -> Any:
        assert service.joiner is not None
        await service.sync.sync_campaign(chain_id, escrow)
        return await service.joiner.join_campaign(chain_id, escrow)

    result = _with_service(settings, work)
    line = f"{escrow}: {result.state}"
    if result.joined_at_ns is not None:
        line += f" (joined at {_iso(result.joined_at_ns)})"
    if result.detail:
        line += f" — {result.detail}"
    typer.echo(line)
    if result.state != "joined":
        raise typer.Exit(1)


@app.command("score")
def score_cmd(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="Campaign (escrow) address.")],
    cycle: Annotated[int | None, typer.Option(help="Only this cycle (0 = first 24 h).")] = None,
    chain: Annotated[int | None, typer.Option(help="Chain id (default: first configured).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Our estimated score per cycle and the latest comparison with the oracle."""
    settings = state(ctx).settings(database_url=db)
    escrow = _checksummed(campaign)
    chain_id = chain if chain is not None else settings.hufi.chains[0]
    database = Database(settings.database_url)
    try:
        upgrade(database)
        with database.read() as conn:
            record = load_campaign(conn, chain_id, escrow)
            if record is None:
                raise NotFound(
                    f"campaign {chain_id}-{escrow} is not synced (hufimm hufi campaigns)"
                )
            query = select(score_cycles).where(
                score_cycles.c.chain_id == chain_id, score_cycles.c.address == escrow
            )
            snaps = select(score_snapshots).where(
                score_snapshots.c.chain_id == chain_id, score_snapshots.c.address == escrow
            )
            if cycle is not None:
                if not 0 <= cycle < record.cycle_count():
                    raise InvalidInput(f"cycle {cycle} is outside 0..{record.cycle_count() - 1}")
                query = query.where(score_cycles.c.cycle == cycle)
                snaps = snaps.where(score_snapshots.c.cycle == cycle)
            totals = {found.cycle: found for found in conn.execute(query)}
            latest: dict[int, Any] = {}
            for snapshot in conn.execute(snaps.order_by(score_snapshots.c.id)):
                latest[snapshot.cycle] = snapshot
    finally:
        database.dispose()
    indices = [cycle] if cycle is not None else list(range(record.cycle_count()))
    rows: list[dict[str, Any]] = []
    for index in indices:
        start, end = record.cycle_bounds(index)
        total, snap = totals.get(index), latest.get(index)
        rows.append(
            {
                "cycle": index,
                "from": _iso(start),
                "to": _iso(end),
                "maker_cost": str(total.maker_cost) if total else "0",
                "taker_buy_cost": str(total.taker_buy_cost) if total else "0",
                "taker_sell_cost": str(total.taker_sell_cost) if total else "0",
                "volume": str(total.volume) if total else "0",
                "score": str(total.score) if total else "0",
                "fills": total.fills if total else 0,
                "oracle_score": None if snap is None else str(snap.oracle_score),
                "checked": None if snap is None else f"{snap.source} @ {_iso(snap.window_end_ns)}",
                "estimated_reward": None
                if snap is None or snap.estimated_reward is None
                else str(snap.estimated_reward),
                "alarm": None if snap is None else bool(snap.alarm),
            }
        )
    if as_json:
        typer.echo(json.dumps({"campaign": escrow, "chain_id": chain_id, "cycles": rows}, indent=2))
        return
    table = Table(title=f"score {record.exchange_name} {record.symbol} {escrow}")
    for column in ("cycle", "from", "volume", "score", "fills", "oracle", "reward", "alarm"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["cycle"]),
            row["from"],
            row["volume"],
            row["score"],
            str(row["fills"]),
            row["oracle_score"] or "",
            row["estimated_reward"] or "",
            "" if row["alarm"] is None else ("ALARM" if row["alarm"] else "ok"),
        )
    Console().print(table)
