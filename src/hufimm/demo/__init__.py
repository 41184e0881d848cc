"""`hufimm demo`: the whole service in virtual time against the simulated world."""
