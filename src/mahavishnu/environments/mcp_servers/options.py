"""Command-line values (``--env``, ``--header``, ``--tool``) as the model takes them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mahavishnu.environments.mcp_servers.model import ENV_NAME, HEADER_NAME, TOOLS, masked_value
from mahavishnu.errors import InvalidInputError

__all__ = ["parse_env", "parse_headers", "parse_tools"]


def parse_env(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs (as ``--env`` takes them) as a dict."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not ENV_NAME.match(key):
            raise InvalidInputError(f"invalid --env '{_shown(pair)}'", hint="Write it as KEY=VALUE.")
        env[key] = value
    return env


def parse_headers(pairs: Iterable[str]) -> dict[str, str]:
    """``Name: value`` pairs (as ``--header`` takes them, like curl) as a dict."""
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition(":")
        key = key.strip()
        if not sep or not HEADER_NAME.match(key):
            raise InvalidInputError(f"invalid --header '{_shown(pair)}'", hint="Write it as 'Name: value'.")
        headers[key] = value.strip()
    return headers


# a malformed pair: its first word (the name it was meant to have), what separates it, the rest
_PAIR = re.compile(r"(?P<key>[^\s:=]*)(?P<sep>\s*[:=]?\s*)(?P<value>.*)", re.S)


def _shown(pair: str) -> str:
    """A malformed ``KEY=VALUE`` or ``Name: value`` fit to quote in an error: the rest after its first
    word masked as that name's value would be (``masked_value``: ``Authorization Bearer sk-…ef``)."""
    match = _PAIR.fullmatch(pair)
    assert match is not None  # every part may be empty
    key, sep, value = match["key"], match["sep"], match["value"]
    if not value:
        return masked_value("", pair)
    return f"{key}{sep}{masked_value(key, value)}"


#: Assistants with no MCP client, and what gives them the memory tools instead.
NO_MCP_CLIENT = {
    "pi": "Pi has no MCP client: `mahavishnu memory hooks install --tool pi` gives it the "
    "search_memory and store_memory tools through its extension instead",
}


def parse_tools(value: str) -> tuple[list[str], bool]:
    """``claude``, ``claude,codex`` or ``all`` -> (tools, whether it was ``all``)."""
    if value.strip().lower() == "all":
        return list(TOOLS), True
    tools = [part.strip().lower() for part in value.split(",") if part.strip()]
    for tool in tools:
        if tool in NO_MCP_CLIENT:
            raise InvalidInputError(NO_MCP_CLIENT[tool])
        if tool not in TOOLS:
            raise InvalidInputError(f"unknown tool '{tool}'", hint=f"Choose {', '.join(TOOLS)} or all.")
    if not tools:
        raise InvalidInputError("no tool given", hint=f"Choose {', '.join(TOOLS)} or all.")
    return list(dict.fromkeys(tools)), False
