"""A pure, deliberately plain model of the ledger's rules, for the stateful test.

It shares no code with ``hufimm.ledger`` beyond the command and outcome types: balances are
dicts, each command type is spelled out on its own, share values use ``Fraction``.  The test
drives the real ledger and this model with the same commands and asserts they agree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction

from hufimm.ledger import (
    Adjustment,
    BurnShares,
    Command,
    DepositCredit,
    FeeDebit,
    Lock,
    MintShares,
    MmRealizedPnl,
    RejectReason,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    Unlock,
    WithdrawDebit,
)

CUSTODY = "custody:mixin"


@dataclass(frozen=True)
class Expected:
    """What the model says a fresh command does."""

    reason: RejectReason | None  # None: applied
    balances: tuple[tuple[str, str, int, int], ...] = ()
    minted: int = 0
    burned: int = 0


class Refused(Exception):
    def __init__(self, reason: RejectReason) -> None:
        self.reason = reason


@dataclass
class ModelOrder:
    owner: str
    locks: dict[str, int] = field(default_factory=dict)
    shares: int | None = None
    pool: str | None = None


class LedgerModel:
    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], list[int]] = {}
        self.orders: dict[str, ModelOrder] = {}
        self.records: dict[str, tuple[Command, Expected]] = {}
        #: (pool, order, owner, shares, minted_at, burned_at or None), for share-time checks
        self.share_history: list[list[object]] = []

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def same_payload(a: Command, b: Command) -> bool:
        return dataclasses.replace(a, events=()) == dataclasses.replace(b, events=())

    def _avail(self, owner: str, asset: str) -> int:
        account = self.accounts.get((owner, asset))
        if account is None:
            raise Refused(RejectReason.UNKNOWN_ACCOUNT)
        return account[0]

    def _need(self, owner: str, asset: str, amount: int) -> None:
        if self._avail(owner, asset) < amount:
            raise Refused(RejectReason.INSUFFICIENT_AVAILABLE)

    @staticmethod
    def _external(owner: str) -> bool:
        return owner.startswith(("custody:", "pnl:"))

    @staticmethod
    def _value(order: ModelOrder, spec: SharesSpec) -> int:
        base = order.locks.get(spec.base_asset, 0)
        quote = order.locks.get(spec.quote_asset, 0)
        return quote + math.floor(base * Fraction(spec.price))

    # ------------------------------------------------------------------ the commands
    def submit(self, cmd: Command, now: int) -> tuple[str, Expected | None]:
        """``("new", expected)``, ``("duplicate", original)`` or ``("conflict", None)``."""
        seen = self.records.get(cmd.idempotency_key)
        if seen is not None:
            if self.same_payload(seen[0], cmd):
                return "duplicate", seen[1]
            return "conflict", None
        snapshot = (
            {k: list(v) for k, v in self.accounts.items()},
            {k: dataclasses.replace(v, locks=dict(v.locks)) for k, v in self.orders.items()},
            len(self.share_history),
        )
        touched: list[tuple[str, str]] = []
        try:
            minted, burned = self._apply(cmd, touched, now)
        except Refused as refused:
            self.accounts, self.orders = snapshot[0], snapshot[1]
            del self.share_history[snapshot[2] :]
            expected = Expected(refused.reason)
        else:
            balances = tuple(
                (owner, asset, *self.accounts[(owner, asset)]) for owner, asset in sorted(touched)
            )
            expected = Expected(None, balances, minted, burned)  # type: ignore[arg-type]
        self.records[cmd.idempotency_key] = (cmd, expected)
        return "new", expected

    def _move(self, touched: list[tuple[str, str]], owner: str, asset: str, delta: int) -> None:
        self.accounts.setdefault((owner, asset), [0, 0])[0] += delta
        if (owner, asset) not in touched:
            touched.append((owner, asset))

    def _apply(self, cmd: Command, touched: list[tuple[str, str]], now: int) -> tuple[int, int]:
        if isinstance(cmd, DepositCredit):
            if cmd.amount <= 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            self._move(touched, CUSTODY, cmd.asset_id, -cmd.amount)
            self._move(touched, cmd.owner, cmd.asset_id, cmd.amount)
            return 0, 0
        if isinstance(cmd, Lock):
            return self._lock(cmd, touched, now)
        if isinstance(cmd, Unlock):
            return self._unlock(cmd, touched, now)
        if isinstance(cmd, MintShares):
            order = self._own_order(cmd.owner, cmd.order_id)
            if order.shares is not None:
                raise Refused(RejectReason.SHARES_OUTSTANDING)
            return self._mint(cmd.order_id, order, cmd.shares, now), 0
        if isinstance(cmd, BurnShares):
            order = self._own_order(cmd.owner, cmd.order_id)
            if order.shares is None:
                raise Refused(RejectReason.NO_SHARES)
            return 0, self._burn(cmd.order_id, order, now)
        if isinstance(cmd, RewardReceipt):
            if cmd.amount <= 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            clearing = f"rewards:{cmd.campaign}:{cmd.cycle}"
            self._move(touched, CUSTODY, cmd.asset_id, -cmd.amount)
            self._move(touched, clearing, cmd.asset_id, cmd.amount)
            return 0, 0
        if isinstance(cmd, RewardCredit):
            if any(a <= 0 for _, a in cmd.credits) or cmd.treasury_amount < 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            total = sum(a for _, a in cmd.credits) + cmd.treasury_amount
            if total <= 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            clearing = f"rewards:{cmd.campaign}:{cmd.cycle}"
            if self._avail(clearing, cmd.asset_id) != total:
                raise Refused(RejectReason.CLEARING_MISMATCH)
            self._move(touched, clearing, cmd.asset_id, -total)
            for user, amount in cmd.credits:
                self._move(touched, user, cmd.asset_id, amount)
            if cmd.treasury_amount:
                self._move(touched, "treasury", cmd.asset_id, cmd.treasury_amount)
            return 0, 0
        if isinstance(cmd, WithdrawDebit):
            if cmd.amount <= 0 or cmd.fee < 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            self._need(cmd.owner, cmd.asset_id, cmd.amount + cmd.fee)
            self._move(touched, cmd.owner, cmd.asset_id, -cmd.amount - cmd.fee)
            self._move(touched, CUSTODY, cmd.asset_id, cmd.amount)
            if cmd.fee:
                self._move(touched, "fees", cmd.asset_id, cmd.fee)
            return 0, 0
        if isinstance(cmd, FeeDebit):
            if cmd.amount <= 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            self._need(cmd.owner, cmd.asset_id, cmd.amount)
            self._move(touched, cmd.owner, cmd.asset_id, -cmd.amount)
            self._move(touched, "fees", cmd.asset_id, cmd.amount)
            return 0, 0
        if isinstance(cmd, MmRealizedPnl):
            if cmd.amount == 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            if cmd.amount < 0:
                self._need("treasury", cmd.asset_id, -cmd.amount)
            self._move(touched, f"pnl:{cmd.pool_id}", cmd.asset_id, -cmd.amount)
            self._move(touched, "treasury", cmd.asset_id, cmd.amount)
            return 0, 0
        if isinstance(cmd, Adjustment):
            if cmd.amount == 0:
                raise Refused(RejectReason.INVALID_AMOUNT)
            debited = cmd.counterparty if cmd.amount > 0 else cmd.owner
            if not self._external(debited):
                self._need(debited, cmd.asset_id, abs(cmd.amount))
            self._move(touched, cmd.counterparty, cmd.asset_id, -cmd.amount)
            self._move(touched, cmd.owner, cmd.asset_id, cmd.amount)
            return 0, 0
        raise AssertionError(f"model does not know {cmd!r}")

    def _own_order(self, owner: str, order_id: str) -> ModelOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise Refused(RejectReason.UNKNOWN_ACCOUNT)
        if order.owner != owner:
            raise Refused(RejectReason.ORDER_OWNER_MISMATCH)
        return order

    def _lock(self, cmd: Lock, touched: list[tuple[str, str]], now: int) -> tuple[int, int]:
        if cmd.amount <= 0:
            raise Refused(RejectReason.INVALID_AMOUNT)
        order = self.orders.get(cmd.order_id)
        if order is not None and order.owner != cmd.owner:
            raise Refused(RejectReason.ORDER_OWNER_MISMATCH)
        if order is not None and order.shares is not None:
            raise Refused(RejectReason.SHARES_OUTSTANDING)
        self._need(cmd.owner, cmd.asset_id, cmd.amount)
        order = self.orders.setdefault(cmd.order_id, ModelOrder(cmd.owner))
        account = self.accounts[(cmd.owner, cmd.asset_id)]
        account[0] -= cmd.amount
        account[1] += cmd.amount
        order.locks[cmd.asset_id] = order.locks.get(cmd.asset_id, 0) + cmd.amount
        touched.append((cmd.owner, cmd.asset_id))
        if cmd.shares is None:
            return 0, 0
        return self._mint(cmd.order_id, order, cmd.shares, now), 0

    def _unlock(self, cmd: Unlock, touched: list[tuple[str, str]], now: int) -> tuple[int, int]:
        if cmd.amount <= 0:
            raise Refused(RejectReason.INVALID_AMOUNT)
        order = self._own_order(cmd.owner, cmd.order_id)
        if order.shares is not None and not cmd.burn_shares:
            raise Refused(RejectReason.SHARES_OUTSTANDING)
        if order.shares is None and cmd.burn_shares:
            raise Refused(RejectReason.NO_SHARES)
        locked = order.locks.get(cmd.asset_id)
        if locked is None:
            raise Refused(RejectReason.UNKNOWN_ACCOUNT)
        if locked < cmd.amount:
            raise Refused(RejectReason.INSUFFICIENT_LOCKED)
        account = self.accounts[(cmd.owner, cmd.asset_id)]
        account[1] -= cmd.amount
        account[0] += cmd.amount
        order.locks[cmd.asset_id] = locked - cmd.amount
        touched.append((cmd.owner, cmd.asset_id))
        burned = self._burn(cmd.order_id, order, now) if cmd.burn_shares else 0
        return 0, burned

    def _mint(self, order_id: str, order: ModelOrder, spec: SharesSpec, now: int) -> int:
        value = self._value(order, spec)
        if value <= 0:
            raise Refused(RejectReason.INVALID_AMOUNT)
        order.shares, order.pool = value, spec.pool_id
        self.share_history.append([spec.pool_id, order_id, order.owner, value, now, None])
        return value

    def _burn(self, order_id: str, order: ModelOrder, now: int) -> int:
        burned = order.shares
        assert burned is not None
        for record in reversed(self.share_history):
            if record[1] == order_id and record[5] is None:
                record[5] = now
                break
        order.shares, order.pool = None, None
        return burned

    # ------------------------------------------------------------------ reading
    def balance(self, owner: str, asset: str) -> tuple[int, int]:
        account = self.accounts.get((owner, asset), [0, 0])
        return account[0], account[1]

    def share_ns(self, pool: str, start: int, end: int) -> dict[str, int]:
        weights: dict[str, int] = {}
        for pool_id, order_id, _, shares, minted, burned in self.share_history:
            if pool_id != pool:
                continue
            until = end if burned is None else burned
            overlap = min(until, end) - max(minted, start)  # type: ignore[call-overload]
            if overlap > 0:
                weights[order_id] = weights.get(order_id, 0) + shares * overlap  # type: ignore
        return weights
