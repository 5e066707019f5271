"""What a secret looks like: names that hold one, key-shaped values, a URL's password.

The rules every redaction shares: ``masking`` (what output shows), ``redaction.finder`` (secrets in
free text) and the memory scrubber build on them. Imports nothing of Mahavishnu's."""

from __future__ import annotations

import re

# from "://" on (the scheme before it stays as it is): a literal start is searched for fast. The
# password runs to the authority's LAST "@": an unencoded "@" in it must not leave its tail visible.
URL_PASSWORD = re.compile(r"(?P<scheme>://)(?P<user>[^:/@\s]*):(?P<pw>[^/\s]+)@")


def is_secret(key: str, value: str) -> bool:
    """Whether ``value`` (found under ``key``) is a secret, judged by what it is: a value under a
    known secret name (``ANTHROPIC_AUTH_TOKEN``, ``*_API_KEY``, ``password``, ``Authorization``…), or
    a key-shaped string wherever it is. Never a reference (``env:VAR``, OpenCode's ``{env:VAR}`` and
    ``{file:PATH}``, a secret variable's name), a number, a boolean, a path or a URL (a URL's
    password is ``mask_url``'s). Names that merely contain "token" or "auth"
    (``MAX_THINKING_TOKENS``, ``includeCoAuthoredBy``, ``apiKeyHelper``, ``envKey``) are not secrets,
    nor a variable reference (``$API_KEY``, ``Bearer ${TOKEN}``, ``Bearer {env:TOKEN}``)."""
    text = value.strip()
    if not text or text.startswith(REFERENCE_PREFIXES) or _PLAIN_WORD.fullmatch(text):
        return False
    if _SUBSTITUTION.fullmatch(text) or (_VARIABLE_NAME.fullmatch(text) and is_secret_name(text)):
        return False  # "{env:VAR}", "{file:…}", "OPENAI_API_KEY": where the key is, not the key
    scheme, _, credential = text.partition(" ")
    given = credential.strip() if f"{scheme.lower()} " in AUTH_SCHEMES else text
    if _VARIABLE.fullmatch(given) or _SUBSTITUTION.fullmatch(given):
        return False  # "$API_KEY", "Bearer ${TOKEN}", "Bearer {env:TOKEN}": filled in by the reader
    if is_secret_name(key):
        return True
    return looks_like_a_key(text)


def is_secret_name(key: str) -> bool:
    """A name that holds a secret (compared without case, ``_`` or ``-``): a known secret name or
    ending (``*_API_KEY``, ``*_TOKEN``, ``*PASSWORD``), or a name whose last word is one
    (``WEATHER_KEY``, ``GITHUB_PAT``, ``DB_PASS``), except a key that names no secret (``env_key``,
    ``envKey``, ``public_key``, ``sort_key``)."""
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    if not name:
        return False
    if name in _SECRET_NAMES or name.endswith(_SECRET_NAME_ENDINGS):
        return True
    words = [w.lower() for w in _WORD.findall(key)]
    if not words or words[-1] not in _SECRET_LAST_WORDS:
        return False
    return not (words[-1] == "key" and len(words) > 1 and words[-2] in _NOT_SECRET_KEYS)


def looks_like_a_key(value: str) -> bool:
    """A token by its shape: a known prefix (``sk-``, ``ghp_``, ``pk_live_``, ``AKIA``…), an auth
    scheme, or a long string of token characters (letters, digits, ``_-.+=~:``) mixing letters and
    digits with an unbroken run of 16+ of them (random, not words): not a path, URL, UUID, rule
    (``Bash(…)``) or model id (``claude-sonnet-4-5-20250929``, ``anthropic/claude-sonnet``)."""
    if value.lower().startswith(AUTH_SCHEMES):
        return True
    if value.startswith(TOKEN_PREFIXES) and len(value) >= 12 and _TOKEN_CHARS.fullmatch(value):
        return True
    if any(c.isspace() for c in value) or value.startswith(("/", ".", "~")) or "://" in value:
        return False
    if _UUID.fullmatch(value) or len(value) < 24 or not _TOKEN_CHARS.fullmatch(value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    return max(len(run) for run in _RUN_SEPARATORS.split(value)) >= 16


REFERENCE_PREFIXES = ("env:", "keyring:", "file:", "aws-sm:", "aws-ssm:", "gcp-sm:", "keepass:", "pass:")
# (of the prefixes ``redaction/scrub.py`` knows, those telling on their own; it finds the others by
# their full format: hf_, npm_, xai-, JWTs…)
TOKEN_PREFIXES = (
    "sk-",
    "sk_live_",
    "sk_test_",
    "pk_live_",
    "pk_test_",
    "rk_live_",
    "rk_test_",
    "whsec_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "xoxa-",
    "xoxb-",
    "xoxe-",
    "xoxo-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "xapp-",
    "glpat-",
    "gldt-",
    "glrt-",
    "glsa_",
    "glc_",
    "gsk_",
    "GOCSPX-",
    "ya29.",
    "shpat_",
    "dop_v1_",
    "AKIA",
    "ASIA",
    "AIza",
)
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
# the last word of a name that holds a secret (``WEATHER_KEY``, ``GITHUB_PAT``, ``SMTP_PASS``)…
_SECRET_LAST_WORDS = {"key", "pat", "pass", "pw", "credential", "credentials", "cookie"}
# …unless "key" names something else: which env var holds it, a public key, a map's key
_NOT_SECRET_KEYS = {"env", "public", "pub", "hot", "sort", "primary", "foreign", "partition", "cache", "map"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_.+=~:-]+")  # no "/": a path or a model id
_RUN_SEPARATORS = re.compile(r"[-_.:+=~]")
_VARIABLE = re.compile(r"\$(?:[A-Za-z_]\w*|\{[A-Za-z_]\w*\})")
# OpenCode's substitutions: the key comes from a variable or a file (``{env:VAR}``, ``{file:~/key}``).
_SUBSTITUTION = re.compile(r"\{(?:env|file):[^{}\s]+\}")
# A variable's name given where a key may be (Pi's ``"apiKey": "OPENAI_API_KEY"``): upper case
# words joined by ``_``, a secret's name itself (``is_secret_name``).
_VARIABLE_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_PLAIN_WORD = re.compile(r"(?i)true|false|null|none|[-+]?\d+(\.\d+)?")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
