"""Consumer receipts: the half of exactly-once that lives with the consumer.

A consumer records ``(consumer, event_id)`` in the *same* transaction as its effect.  If the
event is delivered again (the outbox is at-least-once), the insert finds the receipt and the
consumer skips the effect; if the effect's transaction rolls back, so does the receipt.
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from hufimm.store.tables import consumer_receipts


def record_receipt(conn: Connection, consumer: str, event_id: int, now_ns: int) -> bool:
    """Insert the receipt; ``False`` means this consumer already processed the event."""
    values = {"consumer": consumer, "event_id": event_id, "processed_at": now_ns}
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    stmt = (
        dialect_insert(consumer_receipts)
        .values(values)
        .on_conflict_do_nothing()
        .returning(consumer_receipts.c.event_id)
    )
    return conn.execute(stmt).first() is not None


def has_receipt(conn: Connection, consumer: str, event_id: int) -> bool:
    row = conn.execute(
        select(consumer_receipts.c.event_id).where(
            consumer_receipts.c.consumer == consumer, consumer_receipts.c.event_id == event_id
        )
    ).first()
    return row is not None
