"""Paths that skip Typer entirely because something calls them often and waits.

Claude Code runs ``mahavishnu secrets get NAME`` as its ``apiKeyHelper`` whenever it needs a key.
"""

from __future__ import annotations

import sys


def secrets_get(name_or_ref: str) -> int:
    from mahavishnu.config import load_settings
    from mahavishnu.environments.secrets import lookup
    from mahavishnu.errors import MahavishnuError

    try:
        sys.stdout.write(lookup(name_or_ref, load_settings()) + "\n")
    except MahavishnuError as exc:
        sys.stderr.write(f"error: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return exc.exit_code
    return 0
