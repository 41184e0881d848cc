"""The pure Mixin protocol: transaction bytes, hashes, one-time keys, signatures, timestamps.

No I/O and no dependency on the rest of hufimm beyond ``core``: the client signs with it and the
simulated Mixin (``hufimm.sim.mixin``) decodes and verifies with it.  Its correctness is pinned by
the golden vector made with Mixin's own SDK, so sharing it does not let a bug hide on both sides.
"""

from hufimm.mixin.kernel.crypto import (
    InvalidScalar,
    L,
    base_mult,
    ghost_public_key,
    is_canonical_scalar,
    is_valid_point,
    public_key,
    reduce_wide,
    sign_input,
    sign_inputs,
    spend_scalar,
    verify,
)
from hufimm.mixin.kernel.encoding import (
    MAX_EXTRA,
    MAX_INPUTS,
    MAX_OUTPUTS,
    MAX_REFERENCES,
    OUTPUT_TYPE_SCRIPT,
    OUTPUT_TYPE_WITHDRAWAL,
    TX_VERSION,
    Input,
    KernelDecodeError,
    Output,
    Transaction,
    Withdrawal,
    decode_transaction,
    encode_transaction,
    threshold_script,
    transaction_hash,
)
from hufimm.mixin.kernel.ids import (
    FEE_USER_ID,
    conversation_id,
    evm_asset_id,
    fee_request_id,
    kernel_asset_id,
    members_hash,
    unique_object_id,
)
from hufimm.mixin.kernel.timefmt import format_rfc3339_nano, parse_rfc3339_nano

__all__ = [
    "FEE_USER_ID",
    "MAX_EXTRA",
    "MAX_INPUTS",
    "MAX_OUTPUTS",
    "MAX_REFERENCES",
    "OUTPUT_TYPE_SCRIPT",
    "OUTPUT_TYPE_WITHDRAWAL",
    "TX_VERSION",
    "Input",
    "InvalidScalar",
    "KernelDecodeError",
    "L",
    "Output",
    "Transaction",
    "Withdrawal",
    "base_mult",
    "conversation_id",
    "decode_transaction",
    "encode_transaction",
    "evm_asset_id",
    "fee_request_id",
    "format_rfc3339_nano",
    "ghost_public_key",
    "is_canonical_scalar",
    "is_valid_point",
    "kernel_asset_id",
    "members_hash",
    "parse_rfc3339_nano",
    "public_key",
    "reduce_wide",
    "sign_input",
    "sign_inputs",
    "spend_scalar",
    "threshold_script",
    "transaction_hash",
    "unique_object_id",
    "verify",
]
