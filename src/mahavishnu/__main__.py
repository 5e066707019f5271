"""Run as ``python -m mahavishnu``."""

from mahavishnu.cli.main import run

run()
