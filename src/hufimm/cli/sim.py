"""``hufimm sim ...``: serve parts of the simulated world (each command's code lives in sim/)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from hufimm.cli import sim_hufi, sim_mixin

app = typer.Typer(help="Serve parts of the simulated world.", no_args_is_help=True)


@app.command("exchange")
def exchange(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0: any free port).", min=0)] = 0,
    symbols: Annotated[str, typer.Option(help="Markets, e.g. BTC/USDT,ETH/USDT.")] = "BTC/USDT",
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 1,
    accounts: Annotated[Path, typer.Option(help="TOML file of [[account]] tables.")] = Path(
        "accounts.toml"
    ),
    faults: Annotated[
        str | None, typer.Option(help="Fault rates, e.g. drop=0.01,dup=0.01,gap=0.001.")
    ] = None,
) -> None:
    """Serve a Binance-spot-compatible simulated exchange; prints its base URL."""
    from hufimm.sim.exchange.faults import FaultConfig
    from hufimm.sim.exchange.serve import parse_symbols, serve_exchange

    fault_config = FaultConfig.parse(faults)
    markets = parse_symbols(symbols)

    def announce(url: str) -> None:
        typer.echo(url)

    try:
        asyncio.run(serve_exchange(port, markets, seed, accounts, fault_config, announce))
    except KeyboardInterrupt:
        return


app.command(name="mixin")(sim_mixin.mixin)
app.command(name="hufi")(sim_hufi.hufi)
