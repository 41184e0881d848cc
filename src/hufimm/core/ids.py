"""Identifiers.

Two kinds: *derived* ids are UUIDv5 of a stable key, so a retry after a crash names the same
thing again and the other side deduplicates it (intent ids, Mixin request ids, idempotency
keys); *fresh* ids are ULIDs (48-bit millisecond time + 80 bits from the seeded RNG), ordered by
creation time and reproducible in a seeded run.
"""

from __future__ import annotations

import uuid

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_MS, TimeSource

#: Namespace of every derived id unless a deployment configures its own.
DEFAULT_NAMESPACE = uuid.UUID("6f1b8a52-3c0e-5d7a-9b1e-2f6a4c8d0e13")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def derive_uuid(namespace: uuid.UUID, kind: str, *parts: object) -> uuid.UUID:
    """UUIDv5 of ``kind:part:part...``; the kind keeps equal keys of different things apart."""
    if not kind or ":" in kind:
        raise ValueError(f"id kind must be a non-empty word without ':', got {kind!r}")
    key = ":".join([kind, *(str(p) for p in parts)])
    return uuid.uuid5(namespace, key)


def encode_ulid(value: int) -> str:
    """Crockford base32 of a 128-bit integer, 26 characters, sortable as text."""
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


class IdFactory:
    """Mints derived and fresh ids from the injected namespace, time and randomness."""

    def __init__(
        self,
        time_source: TimeSource,
        rng: SeededRng,
        namespace: uuid.UUID = DEFAULT_NAMESPACE,
    ) -> None:
        self._time = time_source
        self._rng = rng
        self.namespace = namespace
        self._last_ms = -1
        self._last_random = 0

    def derive(self, kind: str, *parts: object) -> uuid.UUID:
        return derive_uuid(self.namespace, kind, *parts)

    def derive_str(self, kind: str, *parts: object) -> str:
        return str(self.derive(kind, *parts))

    def ulid(self) -> str:
        """A fresh, time-ordered id; strictly increasing within one factory."""
        ms = self._time.time_ns() // NS_PER_MS
        if ms <= self._last_ms:
            # Same (or earlier) millisecond: keep order by incrementing the random part.
            ms = self._last_ms
            rand = (self._last_random + 1) & ((1 << 80) - 1)
        else:
            rand = self._rng.randbits(80)
        self._last_ms, self._last_random = ms, rand
        return encode_ulid((ms << 80) | rand)

    def fresh_uuid(self) -> uuid.UUID:
        """A random-looking RFC 4122 version-4 UUID drawn from the seeded stream."""
        return uuid.UUID(bytes=self._rng.randbytes(16), version=4)
