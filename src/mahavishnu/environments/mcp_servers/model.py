"""One MCP server, whatever assistant it is written for, and which of its values are secrets."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from mahavishnu.errors import InvalidInputError
from mahavishnu.masking import AUTH_SCHEMES, is_secret, mask_args, mask_value

__all__ = [
    "ENV_NAME",
    "HEADER_NAME",
    "TOOLS",
    "TRANSPORTS",
    "McpServer",
    "looks_secret",
    "masked_value",
]

TOOLS = ("claude", "codex", "qwen", "gemini", "opencode")
TRANSPORTS = ("stdio", "http", "sse")

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # Claude Code's rule, the strictest of the four


@dataclass(frozen=True)
class McpServer:
    """One MCP server, whatever assistant it is written for.

    ``transport`` is stdio, http (streamable HTTP) or sse for servers Mahavishnu writes; a server read
    from a file may carry another kind (``ws``, ``sdk`` ...) that is listed but never copied.
    """

    name: str
    transport: str = "stdio"
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def stdio(
        cls, name: str, command: str, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> McpServer:
        server = cls(name, "stdio", command=command, args=tuple(args), env=dict(env or {}))
        server.check()
        return server

    @classmethod
    def remote(
        cls, name: str, url: str, transport: str = "http", headers: dict[str, str] | None = None
    ) -> McpServer:
        server = cls(name, transport, url=url, headers=dict(headers or {}))
        server.check()
        return server

    def check(self) -> None:
        """Raise InvalidInputError unless every assistant could take this server as it is."""
        if not _SERVER_NAME.match(self.name):
            raise InvalidInputError(
                f"invalid MCP server name '{self.name}'",
                hint="Use letters, digits, '-' and '_' only (the rule Claude Code enforces).",
            )
        if self.transport not in TRANSPORTS:
            raise InvalidInputError(f"unknown transport '{self.transport}'", hint="Use stdio, http or sse.")
        if self.transport == "stdio":
            self._check_stdio()
        else:
            self._check_remote()

    def _check_stdio(self) -> None:
        if not self.command:
            raise InvalidInputError("a stdio MCP server needs a command", hint="Pass --command CMD.")
        if self.url or self.headers:
            raise InvalidInputError("a stdio MCP server takes no URL or headers")
        for key in self.env:
            if not ENV_NAME.match(key):
                raise InvalidInputError(f"invalid environment variable name '{key}'")

    def _check_remote(self) -> None:
        if not self.url or not self.url.startswith(("http://", "https://")):
            shown = masked_value("url", self.url or "")  # an error shows the URL as `list` does
            raise InvalidInputError(
                f"an {self.transport} MCP server needs an http:// or https:// URL, not '{shown}'"
            )
        if self.command or self.args or self.env:
            raise InvalidInputError(f"an {self.transport} MCP server takes no command, arguments or env")
        for key in self.headers:
            if not HEADER_NAME.match(key):
                raise InvalidInputError(f"invalid HTTP header name '{key}'")

    def describe(self) -> str:
        """The command line or URL, for tables (secrets masked, as ``to_dict`` masks them)."""
        if self.command is not None:
            return shlex.join([self.command, *mask_args(self.args)])
        return masked_value("url", self.url) if self.url else ""

    def secret_values(self) -> tuple[str, ...]:
        """Env and header values that look like secrets (longest first, for masking)."""
        found: set[str] = set()
        for key, value in [*self.env.items(), *self.headers.items()]:
            if looks_secret(key, value):
                found.add(value)
                scheme, _, token = value.partition(" ")
                if token and f"{scheme.lower()} " in AUTH_SCHEMES:
                    found.add(token)
        return tuple(sorted(found, key=len, reverse=True))

    def shown_secrets(self) -> tuple[str, ...]:
        """Each value that carries a secret (what the masking of ``to_dict`` hides), as a warning may
        name it: ``GITHUB_TOKEN=ghp…xx``, ``Authorization: Bearer sk-…ef``, an argument, a URL."""
        env = [(f"{key}=", masked_value(key, value), value) for key, value in self.env.items()]
        headers = [(f"{key}: ", masked_value(key, value), value) for key, value in self.headers.items()]
        args = [("", masked, arg) for arg, masked in zip(self.args, mask_args(self.args), strict=True)]
        url = [("", masked_value("url", self.url), self.url)] if self.url else []
        return tuple(
            f"{lead}{masked}" for lead, masked, value in [*env, *headers, *args, *url] if masked != value
        )

    def to_dict(self, *, masked: bool = True) -> dict[str, object]:
        hide = masked_value if masked else (lambda _key, value: value)
        return {
            "name": self.name,
            "transport": self.transport,
            "command": self.command,
            "args": mask_args(self.args) if masked else list(self.args),
            "env": {key: hide(key, value) for key, value in self.env.items()},
            "url": hide("url", self.url) if self.url is not None else None,
            "headers": {key: hide(key, value) for key, value in self.headers.items()},
        }


def looks_secret(key: str, value: str) -> bool:
    """A value to keep out of output (``masking.is_secret``: by name or by shape)."""
    return is_secret(key, value)


def masked_value(key: str, value: str) -> str:
    """``value`` fit to show (``masking.mask_value``)."""
    return mask_value(key, value)
