"""Input selection and transaction assembly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.money import from_units
from hufimm.mixin.kernel import decode_transaction
from hufimm.mixin.models import GhostKeys, UtxoOutput
from hufimm.mixin.txbuilder import Payee, Selection, Shortfall, build_transaction, select_inputs


def _output(sequence: int, units: int) -> UtxoOutput:
    return UtxoOutput(
        output_id=f"o{sequence}",
        transaction_hash=f"{sequence:064x}",
        output_index=sequence % 3,
        asset_id="4d8c508b-91c5-375b-92b0-ee702ed2dac5",
        kernel_asset_id="",
        amount=from_units(units, 8),
        keys=(),
        mask="",
        receivers=("bot",),
        receivers_threshold=1,
        state="unspent",
        sequence=sequence,
        request_id="",
        created_at="",
    )


def test_oldest_first_skipping_reserved() -> None:
    outputs = [_output(3, 50), _output(1, 100), _output(2, 70)]
    chosen = select_inputs(outputs, 120, reserved={"o2"})
    assert isinstance(chosen, Selection)
    assert [o.output_id for o in chosen.inputs] == ["o1", "o3"]
    assert chosen.change(120) == 30


def test_shortfall_and_too_many_inputs() -> None:
    outputs = [_output(i, 10) for i in range(1, 6)]
    assert select_inputs(outputs, 51) == Shortfall(50, 51)
    many = select_inputs(outputs, 50, max_inputs=4)
    assert isinstance(many, Shortfall) and many.too_many_inputs
    with pytest.raises(ValueError, match="positive"):
        select_inputs(outputs, 0)


def test_transaction_spends_exactly_its_inputs() -> None:
    selection = Selection((_output(1, 100), _output(2, 70)), 170)
    keys = [GhostKeys(bytes(32), (bytes([i]) * 32,)) for i in range(2)]
    tx = build_transaction(
        "4d8c508b-91c5-375b-92b0-ee702ed2dac5",
        selection,
        [Payee(("user",), 150), Payee(("bot",), 20)],
        keys,
        b"memo",
    )
    again = decode_transaction(tx.unsigned_bytes())
    assert [o.amount for o in again.outputs] == [150, 20]
    assert again.extra == b"memo" and [i.index for i in again.inputs] == [1, 2]
    assert from_units(sum(o.amount for o in again.outputs), 8) == Decimal("0.0000017")
    with pytest.raises(ValueError, match="exactly"):
        build_transaction(
            "4d8c508b-91c5-375b-92b0-ee702ed2dac5", selection, [Payee(("u",), 1)], keys[:1]
        )
