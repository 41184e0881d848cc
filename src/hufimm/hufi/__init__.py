"""HuFi integration: campaign discovery, wallet auth, joining, and our mirror of the oracle's score.

Entry points: :class:`HufiService` (everything, from settings), the clients
(:class:`CampaignLauncherClient`, :class:`RecordingOracleClient` with one :class:`WalletSession`
per wallet), :class:`CampaignSync`, :class:`Joiner` with its :class:`SafetyGate`,
:class:`ScoreEstimator` (an outbox consumer of fill events) and :class:`ScoreReconciler`.
"""

from hufimm.hufi.auth import AuthPolicy, TokenStore, WalletSession
from hufimm.hufi.errors import (
    HufiAuthError,
    HufiError,
    HufiProtocolError,
    HufiRejected,
    HufiUnavailable,
)
from hufimm.hufi.estimator import ScoreEstimator, rebuild_scores, window_totals
from hufimm.hufi.joiner import (
    GateVerdict,
    Joiner,
    JoinPolicy,
    JoinResult,
    KeyInspector,
    KeyPermissions,
    SafetyGate,
)
from hufimm.hufi.launcher import CampaignLauncherClient, CampaignListing
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.hufi.reconcile import ScoreReconciler, Snapshot
from hufimm.hufi.records import CampaignRecord, lifecycle, load_campaign
from hufimm.hufi.service import HufiService
from hufimm.hufi.settings import HufiExchangeKey, HufiMarket, HufiSettings
from hufimm.hufi.signing import WalletSigner, nonce_message
from hufimm.hufi.sync import CampaignSync, SyncReport
from hufimm.hufi.transport import HufiHttp, RetryPolicy

__all__ = [
    "AuthPolicy",
    "CampaignLauncherClient",
    "CampaignListing",
    "CampaignRecord",
    "CampaignSync",
    "GateVerdict",
    "HufiAuthError",
    "HufiError",
    "HufiExchangeKey",
    "HufiHttp",
    "HufiMarket",
    "HufiProtocolError",
    "HufiRejected",
    "HufiService",
    "HufiSettings",
    "HufiUnavailable",
    "JoinPolicy",
    "JoinResult",
    "Joiner",
    "KeyInspector",
    "KeyPermissions",
    "RecordingOracleClient",
    "RetryPolicy",
    "SafetyGate",
    "ScoreEstimator",
    "ScoreReconciler",
    "Snapshot",
    "SyncReport",
    "TokenStore",
    "WalletSession",
    "WalletSigner",
    "lifecycle",
    "load_campaign",
    "nonce_message",
    "rebuild_scores",
    "window_totals",
]
