"""The commands callers submit to the ledger, one dataclass per journal type.

Every command carries an idempotency key (a deterministic id of the business fact: deposit
snapshot id, withdrawal id, allocation id...), an optional reference to what caused it and an
optional list of outbox events that the writer appends in the same transaction *only if the
command is applied*.  The payload hash covers everything that decides what the ledger does (the
type, the reference and the money fields) but not the events: they announce the fact, they are
not the fact.

Construction checks the *shape* of a command (types, identifiers, required reason) and raises
:class:`~hufimm.core.errors.InvalidInput`; whether it can be applied (amount, funds, accounts) is
the writer's decision, recorded under the key as a rejection.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from hufimm.core.errors import InvalidInput
from hufimm.ledger.accounts import (
    TREASURY,
    OwnerKind,
    check_id,
    check_user,
    clearing_account,
    owner_kind,
)

#: Significant digits a share price may have (keeps ``units * price`` exact in MONEY_CONTEXT).
MAX_PRICE_DIGITS = 40


class JournalType(enum.StrEnum):
    DEPOSIT_CREDIT = "DEPOSIT_CREDIT"
    LOCK = "LOCK"
    UNLOCK = "UNLOCK"
    REWARD_RECEIPT = "REWARD_RECEIPT"
    REWARD_CREDIT = "REWARD_CREDIT"
    WITHDRAW_DEBIT = "WITHDRAW_DEBIT"
    FEE_DEBIT = "FEE_DEBIT"
    MM_REALIZED_PNL = "MM_REALIZED_PNL"
    ADJUSTMENT = "ADJUSTMENT"
    SHARE_MINT = "SHARE_MINT"
    SHARE_BURN = "SHARE_BURN"


def _amount(what: str, value: int) -> int:
    # Sign and size are the writer's business (a rejection); the type is the caller's bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an int of atomic units, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class OutboxEventSpec:
    """An event the writer appends to the outbox when (and only when) the command applies."""

    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SharesSpec:
    """Mint shares worth the order's locked ``base`` and ``quote`` at ``price`` (quote/base).

    Both assets count in Mixin atomic units (same precision), so the value in quote units is
    ``locked_quote + floor(locked_base * price)``: exact, rounded toward the service.
    """

    pool_id: str
    base_asset: str
    quote_asset: str
    price: Decimal

    def __post_init__(self) -> None:
        check_id("pool_id", self.pool_id)
        check_id("base_asset", self.base_asset)
        check_id("quote_asset", self.quote_asset)
        if self.base_asset == self.quote_asset:
            raise InvalidInput("base and quote asset must differ")
        price = self.price
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise InvalidInput(f"share price must be a positive finite Decimal, got {price!r}")
        if len(price.as_tuple().digits) > MAX_PRICE_DIGITS:
            raise InvalidInput(f"share price has more than {MAX_PRICE_DIGITS} digits")

    def canonical(self) -> tuple[str, ...]:
        return (self.pool_id, self.base_asset, self.quote_asset, str(self.price.normalize()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Fields every command has; subclasses add their money fields."""

    #: The journal type, as its plain string (what the tables store).
    TYPE: ClassVar[str]

    idempotency_key: str
    ref_type: str = ""
    ref_id: str = ""
    events: tuple[OutboxEventSpec, ...] = ()

    def _check_common(self) -> None:
        check_id("idempotency_key", self.idempotency_key)
        if len(self.ref_type) > 64 or len(self.ref_id) > 200:
            raise InvalidInput("ref_type/ref_id too long (64/200 chars)")
        if not isinstance(self.events, tuple):
            raise InvalidInput("events must be a tuple of OutboxEventSpec")

    def fields(self) -> tuple[Any, ...]:
        """The money-relevant fields in a fixed order (the payload hash covers them)."""
        raise NotImplementedError

    def payload_hash(self) -> str:
        """sha256 of the canonical form: ``repr`` of ``(type, ref_type, ref_id, *fields)``.

        The fields are only ``str``, ``int``, ``bool``, ``None`` and tuples of them (prices as
        normalized decimal strings), whose ``repr`` is exact and stable; it costs half of a JSON
        encoding on the writer's hot path.
        """
        document = (self.TYPE, self.ref_type, self.ref_id, *self.fields())
        return hashlib.sha256(repr(document).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class DepositCredit(Command):
    """A confirmed deposit: custody → the user's available funds."""

    TYPE: ClassVar[str] = JournalType.DEPOSIT_CREDIT.value
    owner: str
    asset_id: str
    amount: int

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.asset_id, self.amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lock(Command):
    """Available → locked for one user order; optionally mints the order's shares with it."""

    TYPE: ClassVar[str] = JournalType.LOCK.value
    owner: str
    order_id: str
    asset_id: str
    amount: int
    shares: SharesSpec | None = None

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("order_id", self.order_id)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)

    def fields(self) -> tuple[Any, ...]:
        spec = None if self.shares is None else self.shares.canonical()
        return (self.owner, self.order_id, self.asset_id, self.amount, spec)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unlock(Command):
    """Locked → available; ``burn_shares`` burns the order's shares in the same journal."""

    TYPE: ClassVar[str] = JournalType.UNLOCK.value
    owner: str
    order_id: str
    asset_id: str
    amount: int
    burn_shares: bool = False

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("order_id", self.order_id)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.order_id, self.asset_id, self.amount, bool(self.burn_shares))


@dataclass(frozen=True, slots=True, kw_only=True)
class MintShares(Command):
    """An order (re-)enters market making with its funds already locked (resume after pause)."""

    TYPE: ClassVar[str] = JournalType.SHARE_MINT.value
    owner: str
    order_id: str
    shares: SharesSpec

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("order_id", self.order_id)

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.order_id, self.shares.canonical())


@dataclass(frozen=True, slots=True, kw_only=True)
class BurnShares(Command):
    """An order leaves market making (pause) while its funds stay locked."""

    TYPE: ClassVar[str] = JournalType.SHARE_BURN.value
    owner: str
    order_id: str

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("order_id", self.order_id)

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.order_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardReceipt(Command):
    """A campaign cycle's reward arrived in custody: custody → its clearing account."""

    TYPE: ClassVar[str] = JournalType.REWARD_RECEIPT.value
    campaign: str
    cycle: int
    asset_id: str
    amount: int

    def __post_init__(self) -> None:
        self._check_common()
        clearing_account(self.campaign, self.cycle)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)

    @property
    def clearing(self) -> str:
        return clearing_account(self.campaign, self.cycle)

    def fields(self) -> tuple[Any, ...]:
        return (self.campaign, self.cycle, self.asset_id, self.amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardCredit(Command):
    """The distribution of one cycle: clearing → many users + remainder to treasury, one journal.

    The legs must add up to the clearing account's whole balance, so a distributed cycle's
    clearing account is exactly zero (``reward == Σ allocations + remainder``).
    """

    TYPE: ClassVar[str] = JournalType.REWARD_CREDIT.value
    campaign: str
    cycle: int
    asset_id: str
    credits: tuple[tuple[str, int], ...]
    treasury_amount: int = 0

    def __post_init__(self) -> None:
        self._check_common()
        clearing_account(self.campaign, self.cycle)
        check_id("asset_id", self.asset_id)
        if not isinstance(self.credits, tuple):
            raise InvalidInput("credits must be a tuple of (user, amount)")
        seen: set[str] = set()
        for owner, amount in self.credits:
            check_user("credit owner", owner)
            _amount("credit amount", amount)
            if owner in seen:
                raise InvalidInput(f"user {owner!r} appears twice in one reward credit")
            seen.add(owner)
        _amount("treasury_amount", self.treasury_amount)

    @property
    def clearing(self) -> str:
        return clearing_account(self.campaign, self.cycle)

    def fields(self) -> tuple[Any, ...]:
        return (self.campaign, self.cycle, self.asset_id, self.credits, self.treasury_amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawDebit(Command):
    """A withdrawal leaves: user available → custody, plus an optional fee → fees."""

    TYPE: ClassVar[str] = JournalType.WITHDRAW_DEBIT.value
    owner: str
    asset_id: str
    amount: int
    fee: int = 0

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)
        _amount("fee", self.fee)

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.asset_id, self.amount, self.fee)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeDebit(Command):
    """A service fee: user available → fees."""

    TYPE: ClassVar[str] = JournalType.FEE_DEBIT.value
    owner: str
    asset_id: str
    amount: int

    def __post_init__(self) -> None:
        self._check_common()
        check_user("owner", self.owner)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.asset_id, self.amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class MmRealizedPnl(Command):
    """A pool's realized trading result (signed): ``pnl:<pool>`` ↔ treasury (PnL mode only)."""

    TYPE: ClassVar[str] = JournalType.MM_REALIZED_PNL.value
    pool_id: str
    asset_id: str
    amount: int

    def __post_init__(self) -> None:
        self._check_common()
        check_id("pool_id", self.pool_id)
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)

    def fields(self) -> tuple[Any, ...]:
        return (self.pool_id, self.asset_id, self.amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjustment(Command):
    """An audited admin correction: ``amount`` (signed) to ``owner`` against ``counterparty``."""

    TYPE: ClassVar[str] = JournalType.ADJUSTMENT.value
    owner: str
    asset_id: str
    amount: int
    reason: str
    admin: str
    counterparty: str = TREASURY

    def __post_init__(self) -> None:
        self._check_common()
        check_id("asset_id", self.asset_id)
        _amount("amount", self.amount)
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise InvalidInput("an adjustment needs a reason")
        if len(self.reason) > 1000:
            raise InvalidInput("adjustment reason longer than 1000 chars")
        check_id("admin", self.admin)
        for who in (self.owner, self.counterparty):
            if owner_kind(who) is OwnerKind.CLEARING:
                raise InvalidInput("adjustments never touch reward clearing accounts")
        if self.owner == self.counterparty:
            raise InvalidInput("an adjustment needs two different accounts")

    def fields(self) -> tuple[Any, ...]:
        return (self.owner, self.asset_id, self.amount, self.reason, self.admin, self.counterparty)

    @property
    def memo(self) -> str:
        return f"{self.admin}: {self.reason}"
