"""The ground everything stands on: time, ids, randomness, exact money, errors, the tick clock.

Nothing in ``core`` imports any other part of hufimm.  It is also the only place allowed to
read the wall clock, mint random UUIDs or draw random numbers (ruff's banned-api list enforces
it), which is what lets the whole service run in virtual time and replay from a seed.
"""
