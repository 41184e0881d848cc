"""Reconstruction of exchange truth: order books, user stream, shadow order tracker,
reconciliation (DESIGN §5 "Trackers" and "Reconciliation jobs").

Strategies read :class:`BookTracker` (``book``, ``is_stale``, ``last_update_ns``),
:class:`OrderTracker` (``open_orders``, ``exposure``, ``order``) and
:class:`MarketHealthBoard` (``get``); the execution worker writes through the
:class:`OrderTracker`'s write-first API.
"""

from hufimm.tracking.account import AccountTrackers
from hufimm.tracking.balances import BalanceTracker
from hufimm.tracking.books import BookStatus, BookTracker
from hufimm.tracking.market_health import MarketHealth, MarketHealthBoard
from hufimm.tracking.model import Exposure, TrackedOrder, TrackedStatus
from hufimm.tracking.orders import OrderTracker
from hufimm.tracking.reconcile import Reconciler, ReconcileReport
from hufimm.tracking.settings import TrackingSettings, UnknownOrderPolicy
from hufimm.tracking.sync import AccountSync
from hufimm.tracking.user_stream import StreamMode, UserStreamTracker

__all__ = [
    "AccountSync",
    "AccountTrackers",
    "BalanceTracker",
    "BookStatus",
    "BookTracker",
    "Exposure",
    "MarketHealth",
    "MarketHealthBoard",
    "OrderTracker",
    "ReconcileReport",
    "Reconciler",
    "StreamMode",
    "TrackedOrder",
    "TrackedStatus",
    "TrackingSettings",
    "UnknownOrderPolicy",
    "UserStreamTracker",
]
