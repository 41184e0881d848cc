"""Leases: one holder at a time, expiry, takeover with a larger fencing token."""

from __future__ import annotations

from hufimm.core.timesource import VirtualTimeSource
from hufimm.store.db import Database
from hufimm.store.leases import LeaseManager


def test_lease_expiry_and_takeover(db: Database) -> None:
    clock = VirtualTimeSource()
    a = LeaseManager(db, clock, "proc-a")
    b = LeaseManager(db, clock, "proc-b")

    lease_a = a.acquire("ledger-writer", ttl_s=10)
    assert lease_a is not None and lease_a.token == 1
    assert b.acquire("ledger-writer", ttl_s=10) is None
    clock.advance(5)
    renewed = a.renew(lease_a, ttl_s=10)
    assert renewed is not None and renewed.expires_at > lease_a.expires_at
    clock.advance(9)
    assert b.acquire("ledger-writer", ttl_s=10) is None  # still valid after renewal
    clock.advance(2)  # a stopped renewing: expired
    lease_b = b.acquire("ledger-writer", ttl_s=10)
    assert lease_b is not None and lease_b.token == 2
    assert a.renew(renewed, ttl_s=10) is None  # the stale holder learns it lost the lease
    holder = a.holder_of("ledger-writer")
    assert holder is not None and holder.holder == "proc-b"

    b.release(lease_b)
    assert a.holder_of("ledger-writer") is None
    lease_a2 = a.acquire("ledger-writer", ttl_s=10)
    assert lease_a2 is not None and lease_a2.token == 3  # tokens only grow


def test_reacquire_by_the_holder_extends_without_new_token(db: Database) -> None:
    clock = VirtualTimeSource()
    a = LeaseManager(db, clock, "proc-a")
    first = a.acquire("watcher", ttl_s=10)
    clock.advance(3)
    again = a.acquire("watcher", ttl_s=10)
    assert first is not None and again is not None
    assert again.token == first.token and again.expires_at > first.expires_at
