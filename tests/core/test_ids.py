"""Derived ids are stable; fresh ids are time-ordered and reproducible from a seed."""

from __future__ import annotations

import uuid

import pytest

from hufimm.core.ids import DEFAULT_NAMESPACE, IdFactory, derive_uuid
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource


def test_derived_ids_are_stable_and_kind_separated() -> None:
    a = derive_uuid(DEFAULT_NAMESPACE, "withdrawal", "w-1")
    assert a == derive_uuid(DEFAULT_NAMESPACE, "withdrawal", "w-1")
    assert a != derive_uuid(DEFAULT_NAMESPACE, "payout", "w-1")
    assert a.version == 5
    other_ns = uuid.UUID(int=1)
    assert a != derive_uuid(other_ns, "withdrawal", "w-1")
    with pytest.raises(ValueError):
        derive_uuid(DEFAULT_NAMESPACE, "bad:kind", "x")


def test_ulids_are_strictly_increasing_and_reproducible() -> None:
    def mint(seed: int) -> list[str]:
        ts = VirtualTimeSource()
        factory = IdFactory(ts, SeededRng(seed))
        out = []
        for i in range(200):
            if i % 7 == 0:
                ts.advance(0.001)
            out.append(factory.ulid())
        return out

    first = mint(5)
    assert first == sorted(first) and len(set(first)) == len(first)
    assert all(len(x) == 26 for x in first)
    assert first == mint(5)
    assert first != mint(6)


def test_fresh_uuids_come_from_the_seeded_stream() -> None:
    a = IdFactory(VirtualTimeSource(), SeededRng(3)).fresh_uuid()
    b = IdFactory(VirtualTimeSource(), SeededRng(3)).fresh_uuid()
    assert a == b and a.version == 4


def test_child_streams_are_independent_of_each_other() -> None:
    root = SeededRng(42)
    a1 = [root.child("a").random() for _ in range(3)]
    noisy = root.child("b")
    for _ in range(1000):
        noisy.random()
    assert a1 == [SeededRng(42).child("a").random() for _ in range(3)]
