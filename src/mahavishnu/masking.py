"""Keep secrets out of output: mask values, and URLs' passwords.

Free text on its way into memory is scrubbed by ``redaction/scrub.py``; both build on the shapes of a
secret in ``redaction/shapes.py``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mahavishnu.redaction.shapes import AUTH_SCHEMES as AUTH_SCHEMES
from mahavishnu.redaction.shapes import REFERENCE_PREFIXES as REFERENCE_PREFIXES
from mahavishnu.redaction.shapes import TOKEN_PREFIXES as TOKEN_PREFIXES
from mahavishnu.redaction.shapes import URL_PASSWORD as URL_PASSWORD
from mahavishnu.redaction.shapes import is_secret as is_secret
from mahavishnu.redaction.shapes import is_secret_name as is_secret_name
from mahavishnu.redaction.shapes import looks_like_a_key as looks_like_a_key

# ?password=x&sslmode=... (a URL's query: the value ends at "&"), then libpq's password=x or 'x y'
_QUERY_PASSWORD = re.compile(r"(?P<lead>[?&]password=)[^&#\s]*", re.I)
_DSN_PASSWORD = re.compile(r"(?<![?&])(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask(value: str) -> str:
    """Show just enough of a secret to recognise it: ``sk-a…9f`` (never more than 4 characters)."""
    if len(value) < 12:
        return "****"
    return f"{value[:3]}…{value[-2:]}"


def mask_url(url: str) -> str:
    """Hide the password of a URL or libpq DSN and a key in a URL's query (``?api_key=…``), keep
    user and host so errors stay useful."""
    text = _mask_url_passwords(url)
    if "://" not in text and not any(c.isspace() for c in text):  # a URL without its scheme://
        text = _mask_bare_url_password(text)
    text = _SECRET_PARAMETER.sub(lambda m: _mask_parameter(m, partly=True), text)
    return _DSN_PASSWORD.sub(lambda m: f"{m[1]}****", text)


def _mask_bare_url_password(text: str) -> str:
    """``user:password@host`` without a scheme (one word): the password, from the first ``:`` to the
    last ``@``, masked. Found by position: the regex it was (``[^:/?#@\\s]*:\\S*@``) tried each
    start in turn, quadratic on a long word (a 100 kB hook command took a minute to show)."""
    colon, at = text.find(":"), text.rfind("@")
    if colon < 0 or at < colon:
        return text
    return f"{text[:colon]}:****@{text[at + 1 :]}"


def _mask_url_passwords(text: str) -> str:
    """A URL's password (in its authority or its ``?password=``), wherever it is in ``text``."""
    text = URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:****@", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['lead']}****", text)


def url_host(url: str) -> str:
    """Host[:port] of a URL, for error messages that must not carry credentials."""
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def strip_credentials(url: str) -> str:
    """``url`` to show: without its user and password, and a key in its query masked (``?api_key=…``
    as the scrubber finds one, and the value of any parameter a secret's name names, whatever its
    shape). A text ``urlsplit`` cannot take (a port that is no number) loses what it has before an
    ``@`` too."""
    from mahavishnu.redaction.scrub import scrub

    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        shown = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        if not parts.netloc:  # no "//" before its host ("user:pw@host", "htps//user:pw@host")
            shown = _BARE_USERINFO.sub("", shown)
    except ValueError:
        shown = _USERINFO.sub(lambda m: m["scheme"], url)
    return _SECRET_PARAMETER.sub(_mask_parameter, scrub(shown))


#: A URL's user and password (or a key given as its user): everything between ``scheme://`` and ``@``.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")
#: A URL's user and password without the ``scheme://`` before them: everything up to the last
#: ``@`` before its query (a password may hold an unencoded ``@`` or ``/``).
_BARE_USERINFO = re.compile(r"^[^?#\s]*@")
#: A query (or fragment) parameter: ``?name=value``, ``&name=value``.
_SECRET_PARAMETER = re.compile(r"(?P<lead>[?&#;](?P<name>[^=&#?;\s]+)=)(?P<value>[^&#;\s]+)")


def _mask_parameter(match: re.Match[str], *, partly: bool = False) -> str:
    """A query parameter whose name names a secret with its value masked: ``partly`` as output
    shows a secret (``mask``), else replaced by the scrubber's mark."""
    from urllib.parse import unquote

    from mahavishnu.redaction.scrub import REDACTED

    value = match["value"]
    if value.startswith("[REDACTED:") or "…" in value or value == "****":
        return match[0]  # masked already
    if not is_secret_name(unquote(match["name"])):
        return match[0]
    return match["lead"] + (mask(value) if partly else REDACTED.format(kind="secret"))


def mask_tree(data: Any, key: str = "") -> Any:
    """Copy of a JSON-like tree with every secret value masked (``is_secret``) and URL passwords hidden."""
    if isinstance(data, dict):
        return {k: mask_tree(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        if data and all(isinstance(v, str) for v in data):
            return mask_args(data, key)  # an argument vector: "--api-key", "VALUE" hides VALUE
        return [mask_tree(v, key) for v in data]
    if isinstance(data, str):
        return mask_value(key, data)
    return data


def mask_value(key: str, value: str) -> str:
    """``value`` fit to show: a secret masked (an auth scheme such as ``Bearer`` stays readable),
    else the value with any secret inside it masked (``mask_text``: a URL's password, a ``Bearer``
    token, the value of ``--api-key``, a key-shaped word). The one masking rule of every output."""
    if not is_secret(key, value):
        return mask_text(value)
    scheme, _, token = value.partition(" ")
    if token and f"{scheme.lower()} " in AUTH_SCHEMES:
        return f"{scheme} {mask(token)}"
    return mask(value)


# "KEY": "value" (JSON) and KEY = "value" / KEY=value (TOML, .env); a quoted value may hold spaces
_ASSIGNMENT = re.compile(
    r"""(?<![\w/:@?&.])(?<!\w-)(?P<lead>(?P<kq>["']?)(?P<key>[A-Za-z_][\w.-]*)(?P=kq)\s*[:=](?!//)\s*)"""
    r"""(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)'"""
    r"""|(?P<bare>(?i:bearer|basic|token)[ \t]+[^"'\s,{}\[\]]+|[^"'\s,{}\[\]]+))"""
)
# a command-line flag naming a secret and its value: --api-key VALUE, --token=VALUE, and in a JSON or
# TOML argument list "--api-key", "VALUE" (the name is judged by ``is_secret_name``)
_FLAG = re.compile(
    r"""(?<![\w-])(?P<flag>--?(?P<name>[A-Za-z][\w.-]*))(?![\w.-])"""
    r"""(?P<gap>=|["']?[ \t]*,?[ \t]*["']?(?<=[\s,"'])|[ \t]+)"""
    r"""(?P<value>[^\s"',\]}{\[=-][^\s"',\]}]*)"""
)
# a flag naming a secret that ends its line: its value is the first word of the next line
_FLAG_AT_END = re.compile(r"""(?<![\w-])["']?--?(?P<name>[A-Za-z][\w.-]*)["']?[ \t]*,?[ \t]*$""")
_FIRST_WORD = re.compile(
    r"""^(?P<lead>[-+ ]?\s*)(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"',\]]+))"""
)
# Authorization: Bearer TOKEN / Basic BASE64 anywhere in text ($VAR and ${VAR} references stay)
_AUTH = re.compile(r"(?i)(?P<scheme>\b(?:bearer|basic)[ \t]+)(?P<token>[A-Za-z0-9._~+/=-]{8,})")
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9_-])(?:" + "|".join(re.escape(p) for p in TOKEN_PREFIXES) + r")[A-Za-z0-9_.-]{6,}"
)
_LONG_WORD = re.compile(r"(?<![A-Za-z0-9_.+=~:-])[A-Za-z0-9_.+=~:-]{24,}")


def mask_text(text: str) -> str:
    """``text`` (a diff, a config file, a command line) with every secret in it masked, by what it
    is: the values of assignments (``"KEY": "…"``, ``KEY = "…"``, ``KEY=…``) that ``is_secret``
    judges secret, ``Bearer``/``Basic`` credentials, URL and DSN passwords, the value of a flag that
    names a secret (``--api-key VALUE``, ``--token=VALUE``, also as ``"--token", "VALUE"`` in an
    argument list, on the same line or the next one of a diff's side), token-shaped words (known
    prefixes, long random strings) and what ``memory.scrub`` finds (JWTs, private keys…)."""
    pending: dict[str, str | None] = {"-": None, "+": None}
    out = []
    for line in text.splitlines(keepends=True):
        sides = _sides(line)
        flag = next((pending[side] for side in sides if pending[side]), None)
        body, ending = _split_ending(line)
        masked = _mask_line(body, flag)
        end = _FLAG_AT_END.search(body)
        for side in sides:
            pending[side] = end["name"] if end and is_secret_name(end["name"]) else None
        out.append(masked + ending)
    return "".join(out)


def mask_args(args: Iterable[str], key: str = "") -> list[str]:
    """An argument vector fit to show: the value after a flag naming a secret (``--api-key VALUE``,
    ``--token=VALUE``) masked, and any other argument by ``mask_value`` (key-shaped, ``Bearer …``,
    URL passwords)."""
    out: list[str] = []
    flag: str | None = None
    for arg in args:
        if flag is not None and not arg.startswith("-"):
            out.append(_mask_named(flag, arg))
            flag = None
            continue
        flag = None
        named = re.fullmatch(r"(?P<flag>--?(?P<name>[A-Za-z][\w.-]*))(?:=(?P<value>.*))?", arg, re.S)
        if named and is_secret_name(named["name"]):
            if named["value"] is None:
                flag = named["name"]
                out.append(arg)
            else:
                out.append(f"{named['flag']}={_mask_named(named['name'], named['value'])}")
            continue
        out.append(mask_value(key, arg))
    return out


def _mask_named(name: str, value: str) -> str:
    """A value given under a secret's name (masked unless a reference, a number or already masked)."""
    if "…" in value or value == "****":
        return value
    return mask_value(name, value)


def _sides(line: str) -> tuple[str, ...]:
    """Which side of a unified diff a line belongs to (both, for a context line or plain text)."""
    if line.startswith(("---", "+++", "@@")):
        return ("-", "+")
    if line.startswith("-"):
        return ("-",)
    if line.startswith("+"):
        return ("+",)
    return ("-", "+")


def _split_ending(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body) :]


#: How deep assignments inside assignments' values are looked for (``"command": "env TOKEN=…"``);
#: deeper (``a:a:a:…``, each value holding the next) a value is searched as free text: looked into
#: level by level, 500 levels were a RecursionError (a traceback) and 50,000 quadratic time.
_NESTED_ASSIGNMENTS = 8


def _mask_line(line: str, flag: str | None, depth: int = 0) -> str:
    """One line: first the value a flag on the line before named, then assignments (secret values
    masked, others searched like free text), then the free text between them; ``depth``: how many
    assignments' values this line is inside."""
    if flag is not None:
        first = _FIRST_WORD.match(line)
        if first:
            value = next(v for v in (first["dq"], first["sq"], first["bare"]) if v is not None)
            if not value.startswith("-"):
                start, end = first.span(next(g for g in ("dq", "sq", "bare") if first[g] is not None))
                return line[:start] + _mask_named(flag, value) + _mask_line(line[end:], None, depth)
    line = _mask_url_passwords(line)  # before assignments split ``scheme://user:pw@`` apart
    parts: list[str] = []
    last = 0
    for match in _ASSIGNMENT.finditer(line):
        parts += [_mask_free(line[last : match.start()]), _mask_assignment(match, depth)]
        last = match.end()
    parts.append(_mask_free(line[last:]))
    return "".join(parts)


def _mask_assignment(match: re.Match[str], depth: int) -> str:
    group = next(g for g in ("dq", "sq", "bare") if match[g] is not None)
    value = match[group]
    quote = {"dq": '"', "sq": "'", "bare": ""}[group]
    if "…" in value or value == "****":
        shown = value
    elif is_secret(match["key"], value):
        shown = mask_value(match["key"], value)
    elif "://" in value or depth >= _NESTED_ASSIGNMENTS:  # a URL: not split at its "password=" or "user:"
        shown = _mask_free(value)
    else:
        shown = _mask_line(value, None, depth + 1)  # "command": "npx --api-key …"
    return f"{match['lead']}{quote}{shown}{quote}"


def _mask_free(text: str) -> str:
    """Text that is no assignment: flags naming a secret, auth credentials, URL passwords,
    token-shaped words, and what ``memory.scrub`` recognises."""
    if not text.strip():
        return text
    text = _FLAG.sub(_mask_flag, text)
    text = _AUTH.sub(_mask_auth, text)
    text = mask_url(text)
    text = _PREFIXED.sub(lambda m: mask(m[0]), text)
    text = _LONG_WORD.sub(lambda m: mask(m[0]) if looks_like_a_key(m[0]) else m[0], text)
    from mahavishnu.redaction.scrub import find_secrets  # imported when first needed: start-up cost

    for found in reversed(find_secrets(text)):
        secret = text[found.start : found.end]
        if "…" not in secret and "****" not in secret:
            text = text[: found.start] + mask(secret) + text[found.end :]
    return text


def _mask_flag(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]):
        return match[0]
    return f"{match['flag']}{match['gap']}{_mask_named(match['name'], match['value'])}"


def _mask_auth(match: re.Match[str]) -> str:
    token = match["token"]
    if token.islower() and token.isalpha():  # "basic authentication": words, not a credential
        return match[0]
    return f"{match['scheme']}{mask(token)}"
