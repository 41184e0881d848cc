"""Benchmarks behind ``make bench``: each prints figures, never asserts them.

A benchmark is a function ``run(options) -> list[Figure]`` in a module of this package, listed
in :data:`BENCHMARKS` by name.  ``hufimm bench all`` runs them all, prints one table and writes
the figures as JSON.
"""

from hufimm.bench.harness import BENCHMARKS, BenchOptions, Figure, run_benchmarks

__all__ = ["BENCHMARKS", "BenchOptions", "Figure", "run_benchmarks"]
