"""Storage: the database, migrations, the transactional outbox, consumer receipts and leases.

Each module owns its tables and ships its migrations in its own ``migrations/`` folder as an
Alembic branch; ``hufimm db upgrade`` applies every branch's head on SQLite or PostgreSQL.
"""

from hufimm.store.db import Database, normalize_database_url
from hufimm.store.leases import Lease, LeaseManager
from hufimm.store.migrate import current_heads, upgrade
from hufimm.store.outbox import Consumer, OutboxDispatcher, OutboxEvent, append_event
from hufimm.store.receipts import record_receipt
from hufimm.store.types import ExactInteger

__all__ = [
    "Consumer",
    "Database",
    "ExactInteger",
    "Lease",
    "LeaseManager",
    "OutboxDispatcher",
    "OutboxEvent",
    "append_event",
    "current_heads",
    "normalize_database_url",
    "record_receipt",
    "upgrade",
]
