"""The checks the kernel and the Safe API make on a transaction, as functions of the world's
registries (ghost keys issued here, the asset) so :class:`MixinWorld` only does the bookkeeping.

Each failure raises :class:`SimError` with the code Mixin answers with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hufimm.mixin.kernel import (
    FEE_USER_ID,
    MAX_EXTRA,
    MAX_INPUTS,
    MAX_OUTPUTS,
    MAX_REFERENCES,
    OUTPUT_TYPE_SCRIPT,
    OUTPUT_TYPE_WITHDRAWAL,
    Transaction,
    is_valid_point,
    threshold_script,
    verify,
)
from hufimm.sim.mixin.errors import (
    FORBIDDEN,
    INPUT_LOCKED,
    INSUFFICIENT_FEE,
    INVALID_ADDRESS,
    INVALID_OUTPUT_KEY,
    INVALID_SIGNATURE,
    SimError,
    invalid,
)
from hufimm.sim.mixin.records import GhostEntry, SimAsset, SimOutput


def check_shape(tx: Transaction) -> None:
    """Counts and sizes the kernel allows; a registered transaction carries no signatures."""
    if tx.signatures:
        raise invalid("register the unsigned transaction")
    if not tx.inputs or len(tx.inputs) > MAX_INPUTS:
        raise invalid("between 1 and 256 inputs")
    if not tx.outputs or len(tx.outputs) > MAX_OUTPUTS:
        raise invalid("between 1 and 256 outputs")
    if len(tx.references) > MAX_REFERENCES:
        raise invalid("too many references")
    if len(tx.extra) > MAX_EXTRA:
        raise invalid("extra is longer than 256 bytes")


def resolve_inputs(
    tx: Transaction,
    caller: str,
    request_id: str,
    asset: SimAsset,
    by_position: Mapping[tuple[str, int], str],
    outputs: Mapping[str, SimOutput],
    reserved: set[str],
) -> list[str]:
    """The output ids the inputs spend: each the caller's alone, of the transaction's asset,
    unspent, not locked by another request (nor by an earlier item of the same call)."""
    input_ids: list[str] = []
    for item in tx.inputs:
        output_id = by_position.get((item.hash.hex(), item.index))
        if output_id is None:
            raise invalid(f"input {item.hash.hex()}:{item.index} not found")
        spent = outputs[output_id]
        if spent.receivers != (caller,) or spent.threshold != 1:
            raise SimError(FORBIDDEN, f"input {output_id} is not the caller's")
        if spent.asset_id != asset.asset_id:
            raise invalid(f"input {output_id} is another asset")
        if spent.state != "unspent":
            raise SimError(INPUT_LOCKED, f"input {output_id} is {spent.state}")
        if (spent.locked_by and spent.locked_by != request_id) or output_id in reserved:
            raise SimError(INPUT_LOCKED, f"input {output_id} is locked by another request")
        if output_id in input_ids:
            raise invalid(f"input {output_id} spent twice")
        input_ids.append(output_id)
    return input_ids


def check_outputs(tx: Transaction, asset: SimAsset, ghosts: Mapping[bytes, GhostEntry]) -> None:
    """Every output is a positive threshold-script output to ghost keys issued here and not yet
    used (once per transaction too), or a leading withdrawal output."""
    seen_keys: set[bytes] = set()
    for index, output in enumerate(tx.outputs):
        if output.amount <= 0:
            raise invalid(f"output {index} amount must be positive")
        if output.type == OUTPUT_TYPE_WITHDRAWAL:
            _check_withdrawal(tx, index, asset, ghosts)
            continue
        if output.type != OUTPUT_TYPE_SCRIPT or output.withdrawal is not None:
            raise invalid(f"output {index} has an unsupported type")
        script = output.script
        if len(script) != 3 or not script.startswith(threshold_script(1)[:2]):
            raise invalid(f"output {index} needs a threshold script")
        if not 0 < script[2] <= len(output.keys):
            raise invalid(f"output {index} threshold does not match its keys")
        if not is_valid_point(output.mask):
            raise SimError(INVALID_OUTPUT_KEY, f"output {index} mask is not a point")
        for key in output.keys:
            entry = ghosts.get(key)
            if entry is None or entry.mask != output.mask:
                raise SimError(INVALID_OUTPUT_KEY, f"output {index} key was not issued here")
            if entry.used_by or key in seen_keys:
                raise SimError(INVALID_OUTPUT_KEY, f"output {index} key is already used")
            seen_keys.add(key)


def _check_withdrawal(
    tx: Transaction, index: int, asset: SimAsset, ghosts: Mapping[bytes, GhostEntry]
) -> None:
    output = tx.outputs[index]
    if index != 0:
        raise invalid("a withdrawal output must come first")
    if output.keys or output.script or output.mask != bytes(32) or output.withdrawal is None:
        raise invalid("a withdrawal output has no keys, no script and a zero mask")
    address = output.withdrawal.address
    if not address.startswith("0x") or len(address) != 42:
        raise SimError(INVALID_ADDRESS, f"bad address {address!r}")
    if asset.fee_asset_id == asset.asset_id and asset.fee_units:
        fee_paid = sum(
            o.amount
            for o in tx.outputs[1:]
            if o.keys and (e := ghosts.get(o.keys[0])) and e.receivers == (FEE_USER_ID,)
        )
        if fee_paid < asset.fee_units:
            raise SimError(INSUFFICIENT_FEE, "withdrawal fee output missing or too small")


def verify_input_signatures(keys: Sequence[bytes], tx_hash: bytes, signed: Transaction) -> None:
    """One signature per input, an Ed25519 signature of the hash under the input's one-time key."""
    if len(signed.signatures) != len(keys):
        raise SimError(INVALID_SIGNATURE, "one signature map per input is required")
    for position, (key, sigmap) in enumerate(zip(keys, signed.signatures, strict=True)):
        signature = sigmap.get(0)
        if signature is None or not verify(key, tx_hash, signature):
            raise SimError(INVALID_SIGNATURE, f"input {position}: invalid signature")
