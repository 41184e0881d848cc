"""Mixin Safe API: deposits into the ledger and transfers out.

Public API: :class:`MixinClient` (the thin signed client), :class:`DepositWatcher` with the
:class:`DepositLedger` protocol it credits through, :class:`TransferService` (durable transfers
out), the memo codec, and the pure kernel codec in :mod:`hufimm.mixin.kernel`.
"""

from hufimm.mixin.client import MixinClient
from hufimm.mixin.deposits import (
    CHAIN_DEPOSIT_EVENT,
    DEPOSIT_EVENT,
    DepositCredit,
    DepositFlag,
    DepositLedger,
    DepositWatcher,
    deposit_idempotency_key,
    flagged_deposits,
)
from hufimm.mixin.errors import (
    MixinDefinitive,
    MixinError,
    MixinNotFound,
    MixinOutcomeUnknown,
    MixinRetryable,
    MixinUnavailable,
)
from hufimm.mixin.keystore import Keystore
from hufimm.mixin.memo import (
    DecodedMemo,
    MemoAction,
    MemoProduct,
    MemoStatus,
    PoolMemo,
    decode_memo,
    encode_memo,
    memo_extra,
)
from hufimm.mixin.settings import MixinSettings
from hufimm.mixin.transfers import (
    TRANSFER_CONFIRMED,
    TRANSFER_FAILED,
    BlockedReason,
    TransferRecord,
    TransferService,
    TransferStatus,
)

__all__ = [
    "CHAIN_DEPOSIT_EVENT",
    "DEPOSIT_EVENT",
    "TRANSFER_CONFIRMED",
    "TRANSFER_FAILED",
    "BlockedReason",
    "DecodedMemo",
    "DepositCredit",
    "DepositFlag",
    "DepositLedger",
    "DepositWatcher",
    "Keystore",
    "MemoAction",
    "MemoProduct",
    "MemoStatus",
    "MixinClient",
    "MixinDefinitive",
    "MixinError",
    "MixinNotFound",
    "MixinOutcomeUnknown",
    "MixinRetryable",
    "MixinSettings",
    "MixinUnavailable",
    "PoolMemo",
    "TransferRecord",
    "TransferService",
    "TransferStatus",
    "decode_memo",
    "deposit_idempotency_key",
    "encode_memo",
    "flagged_deposits",
    "memo_extra",
]
