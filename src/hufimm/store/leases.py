"""Leases: which process runs a singleton (the ledger writer, a watcher, an exchange account).

A lease has a holder, an expiry and a fencing token that grows on every change of holder.  A
holder renews before expiry; once it expires anyone may take it over.  Work done under a lease
should carry the token so a stale holder that wakes up late can be recognised and refused.
All times come from the caller's :class:`TimeSource`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.store.db import Database
from hufimm.store.tables import leases


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    expires_at: int


class LeaseManager:
    """Acquire, renew and release named leases in the database."""

    def __init__(self, db: Database, time_source: TimeSource, holder: str) -> None:
        self._db = db
        self._time = time_source
        self.holder = holder

    def acquire(self, name: str, ttl_s: float) -> Lease | None:
        """Take ``name`` if free, expired or already ours; ``None`` if someone else holds it."""
        now = self._time.time_ns()
        expires = now + round(ttl_s * NS_PER_SECOND)
        with self._db.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(leases).values(
                                name=name,
                                holder=self.holder,
                                token=1,
                                acquired_at=now,
                                expires_at=expires,
                            )
                        )
                except IntegrityError:
                    return None  # another process inserted it first
                return Lease(name, self.holder, 1, expires)
            if row.holder == self.holder and row.expires_at >= now:
                return self._extend(conn, name, row.token, expires)
            if row.expires_at >= now:
                return None
            # Expired: take over with a new fencing token, guarded against a racing taker.
            token = row.token + 1
            taken = conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.token == row.token)
                .values(holder=self.holder, token=token, acquired_at=now, expires_at=expires)
            ).rowcount
            return Lease(name, self.holder, token, expires) if taken == 1 else None

    def _extend(self, conn: Connection, name: str, token: int, expires: int) -> Lease | None:
        done = conn.execute(
            update(leases)
            .where(leases.c.name == name, leases.c.holder == self.holder, leases.c.token == token)
            .values(expires_at=expires)
        ).rowcount
        return Lease(name, self.holder, token, expires) if done == 1 else None

    def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Extend a lease we still hold; ``None`` if it expired or was taken over."""
        now = self._time.time_ns()
        expires = now + round(ttl_s * NS_PER_SECOND)
        with self._db.begin() as conn:
            done = conn.execute(
                update(leases)
                .where(
                    leases.c.name == lease.name,
                    leases.c.holder == self.holder,
                    leases.c.token == lease.token,
                    leases.c.expires_at >= now,
                )
                .values(expires_at=expires)
            ).rowcount
        return Lease(lease.name, self.holder, lease.token, expires) if done == 1 else None

    def release(self, lease: Lease) -> None:
        """Give the lease up now; the row stays so the next holder's token is still larger."""
        with self._db.begin() as conn:
            conn.execute(
                update(leases)
                .where(
                    leases.c.name == lease.name,
                    leases.c.holder == self.holder,
                    leases.c.token == lease.token,
                )
                .values(expires_at=0)
            )

    def holds(self, conn: Connection, lease: Lease) -> bool:
        """Fence, inside the caller's transaction: is ``lease`` still ours and unexpired?

        On PostgreSQL the lease row stays locked until that transaction ends, so a process
        taking the lease over waits for the work done under it to commit or roll back; on SQLite
        the caller's write transaction already excludes every other writer.
        """
        now = self._time.time_ns()
        stmt = select(leases.c.token).where(
            leases.c.name == lease.name,
            leases.c.holder == self.holder,
            leases.c.token == lease.token,
            leases.c.expires_at >= now,
        )
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first() is not None

    def holder_of(self, name: str) -> Lease | None:
        """The current unexpired holder of ``name``, if any."""
        now = self._time.time_ns()
        with self._db.read() as conn:
            row = conn.execute(
                select(leases).where(leases.c.name == name, leases.c.expires_at >= now)
            ).first()
        return None if row is None else Lease(row.name, row.holder, row.token, row.expires_at)
