"""``mahavishnu secrets get`` (Claude Code's apiKeyHelper) without Typer."""

from __future__ import annotations

import sys

from mahavishnu.cli.fast.common import _run


def secrets_get(name_or_ref: str) -> int:
    """``mahavishnu secrets get``: from the settings snapshot when it holds (no pydantic, no YAML),
    else through the validated settings, which then refresh the snapshot."""
    from mahavishnu.environments.secrets import lookup_cached

    def run() -> None:
        value = lookup_cached(name_or_ref)
        if value is None:
            from mahavishnu.config import load_settings
            from mahavishnu.environments.secrets import lookup

            value = lookup(name_or_ref, load_settings())
        sys.stdout.write(value + "\n")

    return _run(run)
