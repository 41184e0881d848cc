"""Seeded randomness.

Every random draw in hufimm comes from a :class:`SeededRng`.  Components take a *child* stream
named after themselves, so one component drawing more numbers never shifts another's sequence:
a failing seed reproduces the same world even after unrelated code changes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import MutableSequence, Sequence
from typing import TypeVar

T = TypeVar("T")


class SeededRng:
    """A deterministic random stream derived from a seed and a name path."""

    __slots__ = ("_random", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def child(self, name: str) -> SeededRng:
        """An independent stream for ``name``; the same (seed, name) always gives the same one."""
        digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
        return SeededRng(int.from_bytes(digest[:8], "big"))

    def random(self) -> float:
        return self._random.random()

    def uniform(self, low: float, high: float) -> float:
        return self._random.uniform(low, high)

    def randint(self, low: int, high: int) -> int:
        """An integer in ``[low, high]`` inclusive."""
        return self._random.randint(low, high)

    def randbits(self, bits: int) -> int:
        return self._random.getrandbits(bits)

    def randbytes(self, n: int) -> bytes:
        return self._random.randbytes(n)

    def gauss(self, mu: float, sigma: float) -> float:
        return self._random.gauss(mu, sigma)

    def expovariate(self, rate: float) -> float:
        return self._random.expovariate(rate)

    def chance(self, probability: float) -> bool:
        """True with the given probability (0 never, 1 always)."""
        return probability > 0 and self._random.random() < probability

    def choice(self, items: Sequence[T]) -> T:
        return self._random.choice(items)

    def shuffle(self, items: MutableSequence[T]) -> None:
        self._random.shuffle(items)
