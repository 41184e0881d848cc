"""Client order ids per venue: which parameter carries them and what they may look like.

We always send our own id (ccxt would invent one otherwise) and look orders up by it.  An id the
venue would refuse is refused here first, definitively, before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hufimm.market.errors import ExchangeRejected, RejectReason


@dataclass(frozen=True)
class ClientIdRule:
    pattern: re.Pattern[str]
    create_param: str = "clientOrderId"  # ccxt's unified parameter; it maps to the native one
    lookup_param: str = "clientOrderId"

    def create_params(self, client_order_id: str) -> dict[str, Any]:
        return {self.create_param: client_order_id}

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        return {self.lookup_param: client_order_id}


#: Venue formats (most restrictive known); ``[a-z0-9]{1,18}`` fits all of them.
CLIENT_ID_RULES: dict[str, ClientIdRule] = {
    "binance": ClientIdRule(re.compile(r"[A-Za-z0-9_-]{1,36}")),
    "okx": ClientIdRule(re.compile(r"[A-Za-z0-9]{1,32}")),
    "bybit": ClientIdRule(re.compile(r"[A-Za-z0-9_-]{1,36}")),
    "gate": ClientIdRule(re.compile(r"[A-Za-z0-9_.-]{1,28}")),
    "kraken": ClientIdRule(re.compile(r"[A-Za-z0-9-]{1,18}")),
}
DEFAULT_RULE = ClientIdRule(re.compile(r"[a-z0-9]{1,18}"))


def client_id_rule(exchange_id: str) -> ClientIdRule:
    return CLIENT_ID_RULES.get(exchange_id, DEFAULT_RULE)


def check_client_id(exchange_id: str, client_order_id: str) -> ClientIdRule:
    rule = client_id_rule(exchange_id)
    if not rule.pattern.fullmatch(client_order_id):
        raise ExchangeRejected(
            RejectReason.INVALID_ORDER,
            f"client order id {client_order_id!r} does not fit {exchange_id}'s format "
            f"{rule.pattern.pattern}",
        )
    return rule
