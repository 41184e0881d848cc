"""The simulated world (exchange, Mixin, HuFi, chain) speaking the real wire protocols."""
