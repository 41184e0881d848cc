"""Building a transfer transaction: input selection, outputs with change, the unsigned raw.

Pure functions over what the client fetched, so the policy (oldest outputs first, skip the ones
reserved by transfers in flight, change back to the bot) is testable without a server.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from hufimm.mixin.kernel import (
    MAX_INPUTS,
    Input,
    Output,
    Transaction,
    kernel_asset_id,
    threshold_script,
)
from hufimm.mixin.models import GhostKeys, UtxoOutput


@dataclass(frozen=True, slots=True)
class Selection:
    inputs: tuple[UtxoOutput, ...]
    total: int  # units of the selected inputs

    def change(self, amount: int) -> int:
        return self.total - amount


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Not enough unreserved funds: what there is, and whether too many inputs were needed."""

    available: int
    needed: int
    too_many_inputs: bool = False


def select_inputs(
    outputs: Sequence[UtxoOutput],
    amount: int,
    reserved: Collection[str] = (),
    max_inputs: int = MAX_INPUTS,
) -> Selection | Shortfall:
    """Oldest unspent outputs first until they cover ``amount``."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    chosen: list[UtxoOutput] = []
    total = 0
    for output in sorted(outputs, key=lambda o: o.sequence):
        if output.output_id in reserved or output.state != "unspent":
            continue
        chosen.append(output)
        total += output.units
        if total >= amount:
            if len(chosen) > max_inputs:
                return Shortfall(total, amount, too_many_inputs=True)
            return Selection(tuple(chosen), total)
    return Shortfall(total, amount)


@dataclass(frozen=True, slots=True)
class Payee:
    """One output: ``units`` to ``members`` (``threshold`` of them sign to spend)."""

    members: tuple[str, ...]
    units: int
    threshold: int = 1


def build_transaction(
    asset_id: str,
    selection: Selection,
    payees: Sequence[Payee],
    keys: Sequence[GhostKeys],
    extra: bytes = b"",
) -> Transaction:
    """The unsigned transaction spending ``selection`` into ``payees`` (change included)."""
    if len(keys) != len(payees):
        raise ValueError("one set of ghost keys per payee")
    if sum(p.units for p in payees) != selection.total:
        raise ValueError("outputs must spend exactly the selected inputs")
    outputs = tuple(
        Output(
            amount=payee.units,
            keys=ghost.keys,
            mask=ghost.mask,
            script=threshold_script(payee.threshold),
        )
        for payee, ghost in zip(payees, keys, strict=True)
    )
    inputs = tuple(
        Input(bytes.fromhex(o.transaction_hash), o.output_index) for o in selection.inputs
    )
    return Transaction(kernel_asset_id(asset_id), inputs, outputs, extra=extra)
