"""Keep secrets out of output: mask values, and URLs' passwords.

Free text on its way into memory is scrubbed by ``memory/scrub.py``, which shares ``URL_PASSWORD``
and ``is_secret_key`` with this module."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SECRET_KEY_PATTERN = re.compile(r"(token|secret|password|passwd|api[_-]?key|auth)", re.IGNORECASE)
# from "://" on (the scheme before it stays as it is): a literal start is searched for fast
URL_PASSWORD = re.compile(r"(?P<scheme>://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_DSN_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def mask(value: str) -> str:
    """Show just enough of a secret to recognise it: ``sk-a…9f`` (never more than 4 characters)."""
    if len(value) < 12:
        return "****"
    return f"{value[:3]}…{value[-2:]}"


def mask_url(url: str) -> str:
    """Hide the password of a URL or libpq DSN, keep user and host so errors stay useful."""
    url = URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:****@", url)
    return _DSN_PASSWORD.sub(lambda m: f"{m[1]}****", url)


def url_host(url: str) -> str:
    """Host[:port] of a URL, for error messages that must not carry credentials."""
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_tree(data: Any, key: str = "") -> Any:
    """Copy of a JSON-like tree with values under secret-looking keys masked and URL passwords hidden."""
    if isinstance(data, dict):
        return {k: mask_tree(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_tree(v, key) for v in data]
    if isinstance(data, str):
        if is_secret_key(key) and not data.startswith(("env:", "keyring:", "file:")):
            return mask(data) if data else data
        return mask_url(data)
    return data


def is_secret_key(key: str) -> bool:
    # `apiKeyHelper` names a command and `env_key`/`envKey` a variable, not a key.
    return (
        bool(key)
        and not key.endswith("Helper")
        and key.lower() not in _NAMES_NOT_SECRETS
        and bool(SECRET_KEY_PATTERN.search(key))
    )


_NAMES_NOT_SECRETS = {"env_key", "envkey", "selectedtype"}
# "KEY": "value" (JSON) and KEY = "value" / KEY=value (TOML, .env)
_ASSIGNMENT = re.compile(
    r"""(?P<lead>["']?(?P<key>[A-Za-z_][\w.-]*)["']?\s*[:=]\s*)(?P<q>["']?)(?P<value>[^"'\s,{}\[\]]+)(?P=q)"""
)


def mask_assignments(text: str) -> str:
    """Mask the values of secret-looking keys in config text (diffs, previews)."""

    def replace(match: re.Match[str]) -> str:
        value = match["value"]
        already_masked = "…" in value or value == "****"
        if (
            already_masked
            or not is_secret_key(match["key"])
            or value.startswith(("env:", "keyring:", "file:"))
        ):
            return match[0]
        return f"{match['lead']}{match['q']}{mask(value)}{match['q']}"

    return _ASSIGNMENT.sub(replace, text)
