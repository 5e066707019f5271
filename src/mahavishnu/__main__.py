"""Run as ``python -m mahavishnu``."""

from mahavishnu.cli.entry import run

run()
