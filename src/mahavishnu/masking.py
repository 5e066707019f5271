"""Keep secrets out of output: mask values, and URLs' passwords.

Free text on its way into memory is scrubbed by ``memory/scrub.py``, which shares ``URL_PASSWORD``
and ``is_secret_name`` with this module."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# from "://" on (the scheme before it stays as it is): a literal start is searched for fast. The
# password runs to the authority's LAST "@": an unencoded "@" in it must not leave its tail visible.
URL_PASSWORD = re.compile(r"(?P<scheme>://)(?P<user>[^:/@\s]*):(?P<pw>[^/\s]+)@")
# ?password=x&sslmode=... (a URL's query: the value ends at "&"), then libpq's password=x or 'x y'
_QUERY_PASSWORD = re.compile(r"(?P<lead>[?&]password=)[^&#\s]*", re.I)
_DSN_PASSWORD = re.compile(r"(?<![?&])(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask(value: str) -> str:
    """Show just enough of a secret to recognise it: ``sk-a…9f`` (never more than 4 characters)."""
    if len(value) < 12:
        return "****"
    return f"{value[:3]}…{value[-2:]}"


def mask_url(url: str) -> str:
    """Hide the password of a URL or libpq DSN, keep user and host so errors stay useful."""
    url = URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:****@", url)
    url = _QUERY_PASSWORD.sub(lambda m: f"{m['lead']}****", url)
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
    """Copy of a JSON-like tree with every secret value masked (``is_secret``) and URL passwords hidden."""
    if isinstance(data, dict):
        return {k: mask_tree(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_tree(v, key) for v in data]
    if isinstance(data, str):
        return mask_value(key, data)
    return data


def mask_value(key: str, value: str) -> str:
    """``value`` fit to show: a secret masked (an auth scheme such as ``Bearer`` stays readable),
    else the value with any URL password hidden. The one masking rule of every output."""
    if not is_secret(key, value):
        return mask_url(value)
    scheme, _, token = value.partition(" ")
    if token and f"{scheme.lower()} " in AUTH_SCHEMES:
        return f"{scheme} {mask(token)}"
    return mask(value)


def is_secret(key: str, value: str) -> bool:
    """Whether ``value`` (found under ``key``) is a secret, judged by what it is: a value under a
    known secret name (``ANTHROPIC_AUTH_TOKEN``, ``*_API_KEY``, ``password``, ``Authorization``…), or
    a key-shaped string wherever it is. Never a reference (``env:VAR``), a number, a boolean, a path
    or a URL (a URL's password is ``mask_url``'s). Names that merely contain "token" or "auth"
    (``MAX_THINKING_TOKENS``, ``includeCoAuthoredBy``, ``apiKeyHelper``, ``envKey``) are not secrets."""
    text = value.strip()
    if not text or text.startswith(REFERENCE_PREFIXES) or _PLAIN_WORD.fullmatch(text):
        return False
    if is_secret_name(key):
        return True
    return looks_like_a_key(text)


def is_secret_name(key: str) -> bool:
    """A name that holds a secret (compared without case, ``_`` or ``-``)."""
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    return bool(name) and (name in _SECRET_NAMES or name.endswith(_SECRET_NAME_ENDINGS))


def looks_like_a_key(value: str) -> bool:
    """A token by its shape: a known prefix (``sk-``, ``ghp_``…), an auth scheme, or a long run of
    mixed letters and digits without spaces that is not a path, URL, UUID or model id."""
    if value.lower().startswith(AUTH_SCHEMES) or value.startswith(TOKEN_PREFIXES):
        return True
    if any(c.isspace() for c in value) or value.startswith(("/", ".", "~")) or "://" in value:
        return False
    if _UUID.fullmatch(value) or "/" in value:
        return False
    return len(value) >= 24 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


REFERENCE_PREFIXES = ("env:", "keyring:", "file:")
TOKEN_PREFIXES = ("sk-", "ghp_", "gho_", "ghs_", "github_pat_", "xoxb-", "xoxp-", "glpat-", "AKIA", "AIza")
AUTH_SCHEMES = ("bearer ", "basic ", "token ")
_SECRET_NAMES = {"authorization", "password", "passwd", "pwd", "secret", "token", "apikey", "xapikey"}
_SECRET_NAME_ENDINGS = (
    "apikey",
    "authtoken",
    "accesstoken",
    "refreshtoken",
    "bearertoken",
    "secret",
    "secretkey",
    "accesskey",
    "privatekey",
    "password",
    "passwd",
    "token",  # ANTHROPIC_AUTH_TOKEN, GITHUB_TOKEN; not MAX_THINKING_TOKENS (plural)
)
_PLAIN_WORD = re.compile(r"(?i)true|false|null|none|[-+]?\d+(\.\d+)?")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# "KEY": "value" (JSON) and KEY = "value" / KEY=value (TOML, .env)
_ASSIGNMENT = re.compile(
    r"""(?P<lead>["']?(?P<key>[A-Za-z_][\w.-]*)["']?\s*[:=]\s*)(?P<q>["']?)(?P<value>[^"'\s,{}\[\]]+)(?P=q)"""
)


def mask_assignments(text: str) -> str:
    """Mask the secret values of assignments in config text (diffs, previews), by ``is_secret``."""

    def replace(match: re.Match[str]) -> str:
        value = match["value"]
        if "…" in value or value == "****" or not is_secret(match["key"], value):
            return match[0]
        return f"{match['lead']}{match['q']}{mask(value)}{match['q']}"

    return _ASSIGNMENT.sub(replace, text)
