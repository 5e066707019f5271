"""Each assistant's entry shape: the model as its own ``mcp add`` writes it, and back.

::

    claude  {type: stdio, command, args, env}   {type: http, url, headers}   {type: sse, url, headers}
    codex   command, args, [env], [env_vars]    url, [http_headers], [env_http_headers],
                                                [bearer_token_env_var]       (no SSE)
    qwen    {command, args, env}                {httpUrl, headers}           {url, headers}
    gemini  {command, args, env}                {url, type: http, headers}   {url, type: sse, headers}
    opencode  {type: local, command: [cmd, *args], environment}   {type: remote, url, headers}
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeAlias, TypeVar

from mahavishnu.environments.mcp_servers.model import TRANSPORTS, McpServer
from mahavishnu.errors import InvalidInputError

__all__ = ["SHAPES", "NativeEntry", "Shape", "with_references_for"]

#: An entry as an assistant's ``mcp add`` writes it.
NativeEntry: TypeAlias = dict[str, str | list[str] | dict[str, str] | None]
#: An entry as read from a file (JSON or TOML): anything may be in it.
RawEntry: TypeAlias = Mapping[str, object]
_V = TypeVar("_V")


class Shape(ABC):
    #: Keys of an entry that the model covers; others (timeouts, trust, cwd ...) are kept on update.
    owned: frozenset[str]
    transports: tuple[str, ...] = TRANSPORTS

    @abstractmethod
    def native(self, server: McpServer) -> NativeEntry:
        """The entry as this assistant's own ``mcp add`` writes it."""

    @abstractmethod
    def parse(self, name: str, raw: RawEntry) -> McpServer:
        """The entry as the model, the way this assistant reads it."""

    def check(self, server: McpServer) -> None:  # noqa: B027 (most assistants take any server)
        """Raise InvalidInputError when this assistant could not be given ``server`` as it means."""


class _ClaudeShape(Shape):
    owned = frozenset({"type", "command", "args", "env", "url", "headers"})

    def native(self, server: McpServer) -> NativeEntry:
        if server.transport == "stdio":
            return {"type": "stdio", "command": server.command, "args": list(server.args), "env": server.env}
        return {"type": server.transport, "url": server.url, **_nonempty("headers", server.headers)}

    def parse(self, name: str, raw: RawEntry) -> McpServer:
        kind = raw.get("type") or ("stdio" if "command" in raw else "http")
        return _server_from(name, str(kind), raw, headers_key="headers")


class _CodexShape(Shape):
    """Codex expands no ``${VAR}``: it forwards a variable of its own environment under its own name
    (``env_vars``), sends one as a header's value (``env_http_headers``) or as a bearer token
    (``bearer_token_env_var``). The model spells those as the others do (``GITHUB_TOKEN=${GITHUB_TOKEN}``,
    ``Authorization: Bearer ${TOKEN}``); any other reference would reach the server as those characters."""

    owned = frozenset(
        {"command", "args", "env", "env_vars", "url", "http_headers", "env_http_headers"}
        | {"bearer_token_env_var"}
    )
    transports = ("stdio", "http")  # Codex speaks streamable HTTP only

    def native(self, server: McpServer) -> NativeEntry:
        if server.transport == "stdio":
            forwarded = [key for key, value in server.env.items() if value == f"${{{key}}}"]
            env = {key: value for key, value in server.env.items() if key not in forwarded}
            return {**_stdio_without_empties(replace(server, env=env)), **_nonempty("env_vars", forwarded)}
        plain, from_env, bearer = {}, {}, {}
        for key, value in server.headers.items():
            if key.lower() == "authorization" and (found := _BEARER.fullmatch(value)):
                bearer["bearer_token_env_var"] = found.group(1)
            elif found := _WHOLE.fullmatch(value):
                from_env[key] = found.group(1)
            else:
                plain[key] = value
        return {
            "url": server.url,
            **_nonempty("http_headers", plain),
            **_nonempty("env_http_headers", from_env),
            **bearer,
        }

    def parse(self, name: str, raw: RawEntry) -> McpServer:
        server = _server_from(name, "http" if "url" in raw else "stdio", raw, headers_key="http_headers")
        if server.transport == "stdio":
            forwarded = raw.get("env_vars")
            names = [_env_var_name(entry) for entry in forwarded] if isinstance(forwarded, list) else []
            return replace(server, env={**server.env, **{n: f"${{{n}}}" for n in names if n}})
        from_env = _strings(raw.get("env_http_headers"))
        headers = {**server.headers, **{key: f"${{{name}}}" for key, name in from_env.items()}}
        if isinstance(token := raw.get("bearer_token_env_var"), str):
            headers["Authorization"] = f"Bearer ${{{token}}}"
        return replace(server, headers=headers)

    def check(self, server: McpServer) -> None:
        """Refuse a ``${VAR}`` that ``native`` cannot turn into one of Codex's forwards."""
        entry = self.native(server)
        env, headers = entry.get("env"), entry.get("http_headers")
        places = {
            "its command": [server.command or ""],
            "its arguments": list(server.args),
            "its URL": [server.url or ""],
            "an --env value": list(env.values()) if isinstance(env, dict) else [],
            "a --header value": list(headers.values()) if isinstance(headers, dict) else [],
        }
        for where, values in places.items():
            if any(_ANY.search(value) for value in values):
                raise InvalidInputError(
                    f"Codex does not expand ${{VAR}} in {where}: '{server.name}' would get those very "
                    "characters",
                    hint="Codex forwards a variable only as it is named: --env NAME='${NAME}', --header "
                    "'Name: ${VAR}' or 'Authorization: Bearer ${VAR}'; or leave Codex out (--tool).",
                )


_WHOLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BEARER = re.compile(r"Bearer \$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ANY = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _env_var_name(entry: object) -> str:
    """A Codex ``env_vars`` entry's variable: a name, or a table with one (and where it comes from)."""
    if isinstance(entry, dict):
        entry = entry.get("name")
    return entry if isinstance(entry, str) else ""


class _QwenShape(Shape):
    """Qwen Code 0.24: ``httpUrl`` is streamable HTTP, ``url`` is SSE (it ignores ``type``)."""

    owned = frozenset({"type", "command", "args", "env", "url", "httpUrl", "headers", "tcp"})

    def native(self, server: McpServer) -> NativeEntry:
        if server.transport == "stdio":
            return _stdio_without_empties(server)
        key = "httpUrl" if server.transport == "http" else "url"
        return {key: server.url, **_nonempty("headers", server.headers)}

    def parse(self, name: str, raw: RawEntry) -> McpServer:
        if "httpUrl" in raw:
            return _server_from(name, "http", raw, url_key="httpUrl")
        kind = "sse" if "url" in raw else "ws" if "tcp" in raw else "stdio"
        return _server_from(name, kind, raw)


class _GeminiShape(Shape):
    """Gemini CLI 0.61: ``url`` with ``type`` http or sse (untyped ``url`` is tried as HTTP first);
    the older ``httpUrl`` still means streamable HTTP."""

    owned = frozenset({"type", "command", "args", "env", "url", "httpUrl", "headers", "tcp"})

    def native(self, server: McpServer) -> NativeEntry:
        if server.transport == "stdio":
            return _stdio_without_empties(server)
        return {"url": server.url, "type": server.transport, **_nonempty("headers", server.headers)}

    def parse(self, name: str, raw: RawEntry) -> McpServer:
        if "httpUrl" in raw:
            return _server_from(name, "http", raw, url_key="httpUrl")
        if "url" in raw:
            return _server_from(name, "sse" if raw.get("type") == "sse" else "http", raw)
        return _server_from(name, "ws" if "tcp" in raw else "stdio", raw)


class _OpenCodeShape(Shape):
    """OpenCode 1.18 (``mcp`` in opencode.json): ``local`` is a command line as one array, its
    variables ``environment``; ``remote`` is a URL it tries as streamable HTTP, then as SSE."""

    owned = frozenset({"type", "command", "environment", "url", "headers"})
    transports = ("stdio", "http")  # (an SSE server is "remote" too, but read back as HTTP)

    def native(self, server: McpServer) -> NativeEntry:
        if server.transport == "stdio":
            command = [str(server.command), *server.args]
            return {"type": "local", "command": command, **_nonempty("environment", server.env)}
        return {"type": "remote", "url": server.url, **_nonempty("headers", server.headers)}

    def parse(self, name: str, raw: RawEntry) -> McpServer:
        if raw.get("type") == "remote" or ("url" in raw and "command" not in raw):
            return _server_from(name, "http", raw)
        line = raw.get("command")
        words = [str(word) for word in line] if isinstance(line, list) else [str(line or "")]
        env = _strings(raw.get("environment"))
        return McpServer(name, "stdio", command=words[0] if words else "", args=tuple(words[1:]), env=env)


def _stdio_without_empties(server: McpServer) -> NativeEntry:
    """``command`` plus ``args`` and ``env`` only when they hold something (Codex, Qwen, Gemini)."""
    return {"command": server.command, **_nonempty("args", list(server.args)), **_nonempty("env", server.env)}


def _nonempty(key: str, value: _V) -> dict[str, _V]:
    return {key: value} if value else {}


def _server_from(
    name: str, transport: str, raw: RawEntry, *, url_key: str = "url", headers_key: str = "headers"
) -> McpServer:
    if transport == "stdio":
        args = raw.get("args")
        return McpServer(
            name,
            "stdio",
            command=str(raw.get("command") or ""),
            args=tuple(str(a) for a in args) if isinstance(args, list) else (),
            env=_strings(raw.get("env")),
        )
    url = raw.get(url_key)
    return McpServer(
        name, transport, url=str(url) if url is not None else None, headers=_strings(raw.get(headers_key))
    )


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


SHAPES: dict[str, Shape] = {
    "claude": _ClaudeShape(),
    "codex": _CodexShape(),
    "qwen": _QwenShape(),
    "gemini": _GeminiShape(),
    "opencode": _OpenCodeShape(),
}


#: How an assistant names an environment variable inside an entry's values: Claude Code, Qwen Code
#: and Gemini CLI expand ``${VAR}``, OpenCode ``{env:VAR}`` only (1.18 keeps ``${VAR}`` as it is).
#: Codex expands neither, but forwards a variable as it is named (its shape spells those ``${VAR}``).
_REFERENCE = {
    "claude": "${{{}}}",
    "codex": "${{{}}}",
    "qwen": "${{{}}}",
    "gemini": "${{{}}}",
    "opencode": "{{env:{}}}",
}
_FIND = {
    "${{{}}}": re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"),
    "{{env:{}}}": re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}"),
}


#: Gemini CLI and Qwen Code expand ``$VAR`` too (``"API_KEY": "$MY_API_TOKEN"`` in Gemini CLI's own
#: example), which Claude Code keeps as those characters and OpenCode and Codex never expand.
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_{])")
_BARE_READERS = frozenset({"gemini", "qwen"})


def with_references_for(server: McpServer, source: str, target: str) -> McpServer:
    """``server`` as read from ``source``'s file, its variable references written as ``target``
    expands them (``sync``: a token from ``${GITHUB_TOKEN}`` would reach OpenCode's server as
    those very characters). A command line's (``source`` claude) whole value ``$NAME`` is meant as
    ``${NAME}`` too: no one gives a server a token of those characters."""
    if source in _BARE_READERS:
        server = _swapped(server, lambda value: _BARE.sub(lambda m: f"${{{m.group(1)}}}", value))
    elif source == "claude":
        server = replace(
            server,
            env={key: _braced(value) for key, value in server.env.items()},
            headers={key: _braced(value) for key, value in server.headers.items()},
        )
    old, new = _REFERENCE.get(source), _REFERENCE.get(target)
    if old is None or new is None or old == new:
        return server
    find = _FIND[old]
    return _swapped(server, lambda value: find.sub(lambda match: new.format(match.group(1)), value))


def _braced(value: str) -> str:
    """``$NAME`` (the whole value) as ``${NAME}``; any other value as it is."""
    found = _BARE.fullmatch(value)
    return f"${{{found.group(1)}}}" if found else value


def _swapped(server: McpServer, swap: Callable[[str], str]) -> McpServer:
    """``server`` with ``swap`` applied to every value a variable may stand in."""
    return replace(
        server,
        command=swap(server.command) if server.command else server.command,
        args=tuple(swap(arg) for arg in server.args),
        env={key: swap(value) for key, value in server.env.items()},
        url=swap(server.url) if server.url else server.url,
        headers={key: swap(value) for key, value in server.headers.items()},
    )
