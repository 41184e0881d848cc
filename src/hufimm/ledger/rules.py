"""Posting rules: what each command does to which accounts, and when it is refused.

A rule reads the writer's state, checks in a fixed order (amount, order ownership and shares,
then every debited account: it must exist and cover the debit) and returns either a
:class:`Plan` — the journal's legs, which sum to zero per asset, plus the share mint or burn —
or a :class:`Rejected`.  Rules never change the state; :func:`execute` applies a plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from hufimm.ledger.accounts import (
    CUSTODY_MIXIN,
    FEES,
    TREASURY,
    is_external,
    pnl_account,
)
from hufimm.ledger.commands import (
    Adjustment,
    BurnShares,
    Command,
    DepositCredit,
    FeeDebit,
    JournalType,
    Lock,
    MintShares,
    MmRealizedPnl,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    Unlock,
    WithdrawDebit,
)
from hufimm.ledger.outcomes import Rejected, RejectReason
from hufimm.ledger.shares import share_value
from hufimm.ledger.state import AccountKey, LedgerState, OrderState, Outstanding


class Leg(NamedTuple):
    """One posting: ``order_id`` None means the available bucket, else locked for that order."""

    owner: str
    asset_id: str
    order_id: str | None
    amount: int
    type: str


@dataclass(slots=True)
class Plan:
    legs: list[Leg]
    order_id: str | None = None
    owner: str | None = None
    mint: tuple[SharesSpec, int] | None = None
    burn: Outstanding | None = None
    memo: str | None = None


_DEPOSIT = JournalType.DEPOSIT_CREDIT.value
_LOCK = JournalType.LOCK.value
_UNLOCK = JournalType.UNLOCK.value
_RECEIPT = JournalType.REWARD_RECEIPT.value
_CREDIT = JournalType.REWARD_CREDIT.value
_WITHDRAW = JournalType.WITHDRAW_DEBIT.value
_FEE = JournalType.FEE_DEBIT.value
_PNL = JournalType.MM_REALIZED_PNL.value
_ADJUST = JournalType.ADJUSTMENT.value


def _invalid(detail: str) -> Rejected:
    return Rejected(RejectReason.INVALID_AMOUNT, detail)


def _debit_available(state: LedgerState, owner: str, asset_id: str, amount: int) -> Rejected | None:
    balance = state.account(owner, asset_id)
    if balance is None:
        return Rejected(RejectReason.UNKNOWN_ACCOUNT, f"{owner} has no {asset_id} account")
    if balance[0] < amount:
        return Rejected(
            RejectReason.INSUFFICIENT_AVAILABLE,
            f"{owner} has {balance[0]} {asset_id} available, needs {amount}",
        )
    return None


def _own_order(state: LedgerState, owner: str, order_id: str) -> OrderState | Rejected:
    order = state.order(order_id)
    if order is None:
        return Rejected(RejectReason.UNKNOWN_ACCOUNT, f"order {order_id} has never locked funds")
    if order.owner != owner:
        return Rejected(RejectReason.ORDER_OWNER_MISMATCH, f"order {order_id} is not {owner}'s")
    return order


def _mint_value(locks: dict[str, int], spec: SharesSpec) -> int:
    return share_value(locks.get(spec.base_asset, 0), locks.get(spec.quote_asset, 0), spec.price)


def _deposit(cmd: DepositCredit, state: LedgerState) -> Plan | Rejected:
    if cmd.amount <= 0:
        return _invalid("deposit amount must be positive")
    return Plan(
        [
            Leg(CUSTODY_MIXIN, cmd.asset_id, None, -cmd.amount, _DEPOSIT),
            Leg(cmd.owner, cmd.asset_id, None, cmd.amount, _DEPOSIT),
        ]
    )


def _lock(cmd: Lock, state: LedgerState) -> Plan | Rejected:
    if cmd.amount <= 0:
        return _invalid("lock amount must be positive")
    order = state.order(cmd.order_id)
    if order is not None:
        if order.owner != cmd.owner:
            return Rejected(
                RejectReason.ORDER_OWNER_MISMATCH, f"order {cmd.order_id} is not {cmd.owner}'s"
            )
        if order.shares is not None:
            return Rejected(
                RejectReason.SHARES_OUTSTANDING, f"order {cmd.order_id} is in market making"
            )
    refused = _debit_available(state, cmd.owner, cmd.asset_id, cmd.amount)
    if refused is not None:
        return refused
    plan = Plan(
        [
            Leg(cmd.owner, cmd.asset_id, None, -cmd.amount, _LOCK),
            Leg(cmd.owner, cmd.asset_id, cmd.order_id, cmd.amount, _LOCK),
        ],
        order_id=cmd.order_id,
        owner=cmd.owner,
    )
    if cmd.shares is not None:
        locks = dict(order.locks) if order is not None else {}
        locks[cmd.asset_id] = locks.get(cmd.asset_id, 0) + cmd.amount
        value = _mint_value(locks, cmd.shares)
        if value <= 0:
            return _invalid(f"order {cmd.order_id}'s locked funds are worth no shares")
        plan.mint = (cmd.shares, value)
    return plan


def _unlock(cmd: Unlock, state: LedgerState) -> Plan | Rejected:
    if cmd.amount <= 0:
        return _invalid("unlock amount must be positive")
    order = _own_order(state, cmd.owner, cmd.order_id)
    if isinstance(order, Rejected):
        return order
    if order.shares is not None and not cmd.burn_shares:
        return Rejected(
            RejectReason.SHARES_OUTSTANDING, f"order {cmd.order_id} must burn its shares first"
        )
    if order.shares is None and cmd.burn_shares:
        return Rejected(RejectReason.NO_SHARES, f"order {cmd.order_id} has no shares to burn")
    locked = order.locks.get(cmd.asset_id)
    if locked is None:
        return Rejected(
            RejectReason.UNKNOWN_ACCOUNT, f"order {cmd.order_id} never locked {cmd.asset_id}"
        )
    if locked < cmd.amount:
        return Rejected(
            RejectReason.INSUFFICIENT_LOCKED,
            f"order {cmd.order_id} has {locked} {cmd.asset_id} locked, needs {cmd.amount}",
        )
    return Plan(
        [
            Leg(cmd.owner, cmd.asset_id, cmd.order_id, -cmd.amount, _UNLOCK),
            Leg(cmd.owner, cmd.asset_id, None, cmd.amount, _UNLOCK),
        ],
        order_id=cmd.order_id,
        owner=cmd.owner,
        burn=order.shares,
    )


def _mint(cmd: MintShares, state: LedgerState) -> Plan | Rejected:
    order = _own_order(state, cmd.owner, cmd.order_id)
    if isinstance(order, Rejected):
        return order
    if order.shares is not None:
        return Rejected(
            RejectReason.SHARES_OUTSTANDING, f"order {cmd.order_id} already holds shares"
        )
    value = _mint_value(order.locks, cmd.shares)
    if value <= 0:
        return _invalid(f"order {cmd.order_id}'s locked funds are worth no shares")
    return Plan([], order_id=cmd.order_id, owner=cmd.owner, mint=(cmd.shares, value))


def _burn(cmd: BurnShares, state: LedgerState) -> Plan | Rejected:
    order = _own_order(state, cmd.owner, cmd.order_id)
    if isinstance(order, Rejected):
        return order
    if order.shares is None:
        return Rejected(RejectReason.NO_SHARES, f"order {cmd.order_id} has no shares to burn")
    return Plan([], order_id=cmd.order_id, owner=cmd.owner, burn=order.shares)


def _receipt(cmd: RewardReceipt, state: LedgerState) -> Plan | Rejected:
    if cmd.amount <= 0:
        return _invalid("reward amount must be positive")
    return Plan(
        [
            Leg(CUSTODY_MIXIN, cmd.asset_id, None, -cmd.amount, _RECEIPT),
            Leg(cmd.clearing, cmd.asset_id, None, cmd.amount, _RECEIPT),
        ]
    )


def _reward_credit(cmd: RewardCredit, state: LedgerState) -> Plan | Rejected:
    if any(amount <= 0 for _, amount in cmd.credits) or cmd.treasury_amount < 0:
        return _invalid("every credit must be positive and the remainder not negative")
    total = sum(amount for _, amount in cmd.credits) + cmd.treasury_amount
    if total <= 0:
        return _invalid("a reward credit must distribute something")
    clearing = cmd.clearing
    balance = state.account(clearing, cmd.asset_id)
    if balance is None:
        return Rejected(RejectReason.UNKNOWN_ACCOUNT, f"{clearing} was never funded")
    if balance[0] != total:
        return Rejected(
            RejectReason.CLEARING_MISMATCH,
            f"{clearing} holds {balance[0]} {cmd.asset_id}, the credit distributes {total}",
        )
    legs = [Leg(clearing, cmd.asset_id, None, -total, _CREDIT)]
    legs.extend(Leg(owner, cmd.asset_id, None, amount, _CREDIT) for owner, amount in cmd.credits)
    if cmd.treasury_amount:
        legs.append(Leg(TREASURY, cmd.asset_id, None, cmd.treasury_amount, _CREDIT))
    return Plan(legs)


def _withdraw(cmd: WithdrawDebit, state: LedgerState) -> Plan | Rejected:
    if cmd.amount <= 0 or cmd.fee < 0:
        return _invalid("withdrawal must be positive and its fee not negative")
    refused = _debit_available(state, cmd.owner, cmd.asset_id, cmd.amount + cmd.fee)
    if refused is not None:
        return refused
    legs = [
        Leg(cmd.owner, cmd.asset_id, None, -cmd.amount, _WITHDRAW),
        Leg(CUSTODY_MIXIN, cmd.asset_id, None, cmd.amount, _WITHDRAW),
    ]
    if cmd.fee:
        legs.append(Leg(cmd.owner, cmd.asset_id, None, -cmd.fee, _FEE))
        legs.append(Leg(FEES, cmd.asset_id, None, cmd.fee, _FEE))
    return Plan(legs)


def _fee(cmd: FeeDebit, state: LedgerState) -> Plan | Rejected:
    if cmd.amount <= 0:
        return _invalid("fee must be positive")
    refused = _debit_available(state, cmd.owner, cmd.asset_id, cmd.amount)
    if refused is not None:
        return refused
    return Plan(
        [
            Leg(cmd.owner, cmd.asset_id, None, -cmd.amount, _FEE),
            Leg(FEES, cmd.asset_id, None, cmd.amount, _FEE),
        ]
    )


def _pnl(cmd: MmRealizedPnl, state: LedgerState) -> Plan | Rejected:
    if cmd.amount == 0:
        return _invalid("realized PnL of zero moves nothing")
    if cmd.amount < 0:
        refused = _debit_available(state, TREASURY, cmd.asset_id, -cmd.amount)
        if refused is not None:
            return refused
    return Plan(
        [
            Leg(pnl_account(cmd.pool_id), cmd.asset_id, None, -cmd.amount, _PNL),
            Leg(TREASURY, cmd.asset_id, None, cmd.amount, _PNL),
        ]
    )


def _adjust(cmd: Adjustment, state: LedgerState) -> Plan | Rejected:
    if cmd.amount == 0:
        return _invalid("an adjustment of zero moves nothing")
    debited, amount = (cmd.counterparty, cmd.amount) if cmd.amount > 0 else (cmd.owner, -cmd.amount)
    if not is_external(debited):
        refused = _debit_available(state, debited, cmd.asset_id, amount)
        if refused is not None:
            return refused
    return Plan(
        [
            Leg(cmd.counterparty, cmd.asset_id, None, -cmd.amount, _ADJUST),
            Leg(cmd.owner, cmd.asset_id, None, cmd.amount, _ADJUST),
        ],
        memo=cmd.memo,
    )


_RULES: dict[type[Command], Callable[[Any, LedgerState], Plan | Rejected]] = {
    DepositCredit: _deposit,
    Lock: _lock,
    Unlock: _unlock,
    MintShares: _mint,
    BurnShares: _burn,
    RewardReceipt: _receipt,
    RewardCredit: _reward_credit,
    WithdrawDebit: _withdraw,
    FeeDebit: _fee,
    MmRealizedPnl: _pnl,
    Adjustment: _adjust,
}


def plan(cmd: Command, state: LedgerState) -> Plan | Rejected:
    """What ``cmd`` would do now, or why it cannot."""
    return _RULES[type(cmd)](cmd, state)


_MISSING: Any = object()


def execute(plan: Plan, state: LedgerState) -> list[AccountKey]:
    """Apply a plan to the state; returns the (owner, asset) accounts it touched, sorted."""
    accounts = state.accounts
    touched: list[AccountKey] = []
    for owner, asset_id, order_id, amount, _ in plan.legs:
        key = (owner, asset_id)
        live = accounts.get(key, _MISSING)
        if live is _MISSING:
            live = state.account(owner, asset_id)
        if live is None:
            live = accounts[key] = [0, 0]
        if order_id is None:
            live[0] += amount
        else:
            live[1] += amount
            order = state.order(order_id)
            if order is None:
                order = state.orders[order_id] = OrderState(owner)
            order.locks[asset_id] = order.locks.get(asset_id, 0) + amount
        if key not in touched:
            touched.append(key)
    if plan.burn is not None or plan.mint is not None:
        assert plan.order_id is not None
        order = state.order(plan.order_id)
        assert order is not None  # shares only exist on an order that locked funds
        if plan.burn is not None:
            order.shares = None
        if plan.mint is not None:
            spec, shares = plan.mint
            order.shares = Outstanding(shares, spec.pool_id, spec.price)
    touched.sort()
    return touched


def add_reads(cmd: Command, accounts: list[AccountKey], orders: list[str]) -> None:
    """Append the accounts and orders ``cmd`` will read (for one bulk prefetch per batch)."""
    if isinstance(cmd, DepositCredit | FeeDebit | WithdrawDebit):
        accounts.append((cmd.owner, cmd.asset_id))
    elif isinstance(cmd, Lock | Unlock):
        accounts.append((cmd.owner, cmd.asset_id))
        orders.append(cmd.order_id)
    elif isinstance(cmd, MintShares | BurnShares):
        orders.append(cmd.order_id)
    elif isinstance(cmd, RewardCredit):
        accounts.append((cmd.clearing, cmd.asset_id))
        accounts.extend((owner, cmd.asset_id) for owner, _ in cmd.credits)
    elif isinstance(cmd, RewardReceipt):
        accounts.append((cmd.clearing, cmd.asset_id))
    elif isinstance(cmd, Adjustment):
        accounts.append((cmd.owner, cmd.asset_id))
        accounts.append((cmd.counterparty, cmd.asset_id))
