"""hufimm: a market-making service for a Mixin Messenger bot that earns HuFi campaign rewards."""

__version__ = "0.1.0"
