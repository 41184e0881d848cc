"""``python -m hufimm``."""

from hufimm.cli import main

main()
