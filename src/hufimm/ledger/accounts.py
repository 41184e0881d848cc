"""Who can hold funds in the ledger, and which accounts may go below zero.

An account is ``(owner, asset, bucket)``.  Owners are users (any id without ``:``, e.g. a Mixin
user UUID) or system accounts:

- ``custody:<name>`` — the outside world as seen from one custodian (``custody:mixin``: the bot's
  Mixin wallet).  Deposits are *taken* from it, so its balance is minus what it holds for us;
  it is the only kind of owner, with ``pnl:<pool>``, whose balance may be negative.
- ``pnl:<pool>`` — the exchange side of a pool's realized trading result (same sign convention).
- ``rewards:<campaign>:<cycle>`` — the clearing account of one campaign cycle's reward: funded by
  the reward receipt, emptied to exactly zero by its distribution.
- ``treasury`` and ``fees`` — the operator's accounts.

Funds of users are ``available`` or ``locked``; locked funds always name the user order they
are locked for.  System accounts only use ``available``.
"""

from __future__ import annotations

import enum

from hufimm.core.errors import InvalidInput

CUSTODY_MIXIN = "custody:mixin"
TREASURY = "treasury"
FEES = "fees"

#: Longest owner, asset, order or key the tables store.
MAX_ID_LENGTH = 200


class Bucket(enum.StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"


class OwnerKind(enum.Enum):
    USER = "user"
    CUSTODY = "custody"
    PNL = "pnl"
    CLEARING = "clearing"
    TREASURY = "treasury"
    FEES = "fees"


#: Owners whose balance stands for money outside the ledger and may therefore be negative.
EXTERNAL_KINDS = frozenset({OwnerKind.CUSTODY, OwnerKind.PNL})

_SYSTEM_PREFIX = {"custody": OwnerKind.CUSTODY, "pnl": OwnerKind.PNL}


def clearing_account(campaign: str, cycle: int) -> str:
    """The clearing account of one reward cycle of a campaign."""
    check_id("campaign", campaign)
    if ":" in campaign:
        raise InvalidInput(f"campaign id may not contain ':': {campaign!r}")
    if isinstance(cycle, bool) or not isinstance(cycle, int) or cycle < 0:
        raise InvalidInput(f"cycle must be a non-negative int, got {cycle!r}")
    return f"rewards:{campaign}:{cycle}"


def pnl_account(pool_id: str) -> str:
    """Where a pool's realized trading PnL comes from."""
    check_id("pool_id", pool_id)
    return f"pnl:{pool_id}"


def owner_kind(owner: str) -> OwnerKind:
    """Classify an owner id; raises :class:`InvalidInput` for a malformed system account."""
    check_id("owner", owner)
    if owner == TREASURY:
        return OwnerKind.TREASURY
    if owner == FEES:
        return OwnerKind.FEES
    prefix, sep, rest = owner.partition(":")
    if not sep:
        return OwnerKind.USER
    if prefix in _SYSTEM_PREFIX and rest:
        return _SYSTEM_PREFIX[prefix]
    if prefix == "rewards":
        campaign, sep2, cycle = rest.partition(":")
        if campaign and sep2 and cycle.isdigit() and str(int(cycle)) == cycle:
            return OwnerKind.CLEARING
    raise InvalidInput(f"malformed system account {owner!r}")


def is_external(owner: str) -> bool:
    return owner_kind(owner) in EXTERNAL_KINDS


def check_id(what: str, value: str) -> str:
    """A non-empty identifier that fits the tables."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{what} must be a non-empty string of at most {MAX_ID_LENGTH} chars")
    return value


def check_user(what: str, owner: str) -> str:
    # Every command names a user: the common, valid case is decided without owner_kind's calls.
    if (
        type(owner) is str
        and 0 < len(owner) <= MAX_ID_LENGTH
        and ":" not in owner
        and owner != TREASURY
        and owner != FEES
    ):
        return owner
    if owner_kind(owner) is not OwnerKind.USER:
        raise InvalidInput(f"{what} must be a user, got system account {owner!r}")
    return owner
