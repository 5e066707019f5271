"""Command-line values (``--env``, ``--header``, ``--tool``) as the model takes them."""

from __future__ import annotations

from collections.abc import Iterable

from mahavishnu.environments.mcp_servers.model import ENV_NAME, HEADER_NAME, TOOLS
from mahavishnu.errors import InvalidInputError

__all__ = ["parse_env", "parse_headers", "parse_tools"]


def parse_env(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs (as ``--env`` takes them) as a dict."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not ENV_NAME.match(key):
            raise InvalidInputError(f"invalid --env '{pair}'", hint="Write it as KEY=VALUE.")
        env[key] = value
    return env


def parse_headers(pairs: Iterable[str]) -> dict[str, str]:
    """``Name: value`` pairs (as ``--header`` takes them, like curl) as a dict."""
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition(":")
        key = key.strip()
        if not sep or not HEADER_NAME.match(key):
            raise InvalidInputError(f"invalid --header '{pair}'", hint="Write it as 'Name: value'.")
        headers[key] = value.strip()
    return headers


def parse_tools(value: str) -> tuple[list[str], bool]:
    """``claude``, ``claude,codex`` or ``all`` -> (tools, whether it was ``all``)."""
    if value.strip().lower() == "all":
        return list(TOOLS), True
    tools = [part.strip().lower() for part in value.split(",") if part.strip()]
    for tool in tools:
        if tool not in TOOLS:
            raise InvalidInputError(f"unknown tool '{tool}'", hint=f"Choose {', '.join(TOOLS)} or all.")
    if not tools:
        raise InvalidInputError("no tool given", hint=f"Choose {', '.join(TOOLS)} or all.")
    return list(dict.fromkeys(tools)), False
