"""The deposit watcher's ledger: Mixin deposits become ``DEPOSIT_CREDIT`` journals.

Exactly-once rests on the ledger's idempotency key (derived from the snapshot id): a watcher
that crashed after the ledger committed but before it advanced its cursor submits the same
credit again and gets the original journal back.  The domain event that carries the decoded
memo commits in the ledger's transaction, so pools see a deposit if and only if it was credited.
"""

from __future__ import annotations

from hufimm.core.errors import HufimmError
from hufimm.ledger import Applied, DepositCredit, Duplicate, Ledger, OutboxEventSpec
from hufimm.mixin.deposits import DEPOSIT_EVENT
from hufimm.mixin.deposits import DepositCredit as MixinDeposit


class DepositRejected(HufimmError):
    """The ledger refused a deposit credit (it is recorded under its key; an operator must look)."""


class LedgerDeposits:
    """:class:`~hufimm.mixin.deposits.DepositLedger` backed by the balance ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def credit_deposit(self, credit: MixinDeposit) -> str:
        outcome = await self._ledger.submit(
            DepositCredit(
                idempotency_key=credit.idempotency_key,
                ref_type="mixin_snapshot",
                ref_id=credit.snapshot_id,
                owner=credit.user_id,
                asset_id=credit.asset_id,
                amount=credit.units,
                events=(
                    OutboxEventSpec(
                        "mixin_deposit", credit.snapshot_id, DEPOSIT_EVENT, credit.event_payload()
                    ),
                ),
            )
        )
        original = outcome.original if isinstance(outcome, Duplicate) else outcome
        if isinstance(original, Applied):
            return str(original.journal_id)
        raise DepositRejected(
            f"deposit {credit.snapshot_id} refused by the ledger: {original.reason.value}"
            f" {original.detail}".rstrip()
        )
