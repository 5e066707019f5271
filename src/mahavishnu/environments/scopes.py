"""The scopes a config file lives at (user, project, local), as commands take them."""

from __future__ import annotations

from mahavishnu.environments.assistants.base import Scope
from mahavishnu.errors import InvalidInputError

__all__ = ["SCOPES", "parse_scope"]

SCOPES: tuple[Scope, ...] = ("user", "project", "local")


def parse_scope(value: str) -> Scope:
    """``value`` as a scope, or InvalidInputError naming the scopes there are."""
    if value not in SCOPES:
        raise InvalidInputError(f"unknown scope '{value}'", hint="Use user, project or local.")
    return value  # type: ignore[return-value]
