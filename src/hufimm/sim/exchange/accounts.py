"""Accounts of the simulated exchange, loaded from a TOML file.

One ``[[account]]`` table per account::

    [[account]]
    name = "mm"                      # optional; defaults to the api key
    api_key = "key-1"
    secret = "secret-1"
    balances = { BTC = "10", USDT = "100000" }
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

from hufimm.core.errors import InvalidInput
from hufimm.core.money import to_decimal
from hufimm.sim.exchange.venue import SimAccount


def parse_accounts(text: str, source: str = "accounts") -> list[SimAccount]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source}: not valid TOML: {exc}") from None
    rows = data.get("account")
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"{source}: expected one or more [[account]] tables")
    accounts = []
    for index, row in enumerate(rows):
        where = f"{source}: account #{index + 1}"
        if not isinstance(row, dict):
            raise InvalidInput(f"{where}: not a table")
        api_key, secret = row.get("api_key"), row.get("secret")
        if not isinstance(api_key, str) or not api_key or not isinstance(secret, str) or not secret:
            raise InvalidInput(f"{where}: api_key and secret must be non-empty strings")
        raw_balances = row.get("balances", {})
        if not isinstance(raw_balances, dict):
            raise InvalidInput(f'{where}: balances must be an inline table of asset = "decimal"')
        balances: dict[str, Decimal] = {}
        for asset, amount in raw_balances.items():
            try:
                value = to_decimal(amount if isinstance(amount, str | int) else str(amount))
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"{where}: balance of {asset}: {exc}") from None
            if value < 0:
                raise InvalidInput(f"{where}: balance of {asset} is negative")
            balances[str(asset)] = value
        accounts.append(SimAccount(str(row.get("name") or api_key), api_key, secret, balances))
    names = [a.name for a in accounts]
    keys = [a.api_key for a in accounts]
    if len(set(names)) != len(names) or len(set(keys)) != len(keys):
        raise InvalidInput(f"{source}: account names and api keys must be unique")
    return accounts


def load_accounts(path: Path) -> list[SimAccount]:
    if not path.is_file():
        raise InvalidInput(f"--accounts: no such file: {path}")
    return parse_accounts(path.read_text(), str(path))
