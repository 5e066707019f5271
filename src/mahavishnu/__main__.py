"""Run as ``python -m mahavishnu``; the memory hooks run ``python -S -P -m mahavishnu`` (see
``site_on_demand``), which loads site-packages only when an import needs it."""

import sys

if sys.flags.no_site:
    from mahavishnu import site_on_demand

    site_on_demand.install()

from mahavishnu.cli.entry import run  # (after the finder, which it may need)

run()
