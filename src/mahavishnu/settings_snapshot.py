"""A cache of validated settings, so a command need not parse YAML and build pydantic schemas each run.

``mahavishnu secrets get`` (Claude Code's apiKeyHelper, run on every request) and ``mahavishnu ai
switch-llm`` start a fresh process each time; validating the settings and the profiles costs more
than what they then do. ``config.load_settings`` and ``profiles.all_profiles`` keep what they
validated here, and reuse it while its key still holds:

* the key names every input: the settings files (path and ``os.stat``: mtime, ctime, size, inode,
  or "absent"), the code and catalogue that validate them, and Mahavishnu's version;
* nothing is cached while a ``MAHAVISHNU_*`` variable sets a setting (environment values are not
  keys and may be secrets), nor when an input changed in the last few seconds: file timestamps
  tick coarsely, so a same-size rewrite in the same tick could otherwise go unseen (git's "racy
  clean" problem). Once an input is older than that, any change moves its ctime;
* only validated, successful results are stored: an invalid file is re-read (and its error
  raised) on every run.

``process_key`` is the same key with a digest of the ``MAHAVISHNU_*`` settings variables added,
never stored: how the memory daemon and its clients tell that their settings are the same.

Only the standard library is imported here: the apiKeyHelper path reads the cache without
pydantic. The files are written 0600 and atomically; any problem reading one is a cache miss.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mahavishnu import paths
from mahavishnu.__about__ import __version__

FORMAT = 1
#: The top-level fields of ``config.Settings`` (a test keeps them in sync): the only names, after
#: the ``MAHAVISHNU_`` prefix, that the environment layer reads.
SETTINGS_FIELDS = (
    "environments",
    "memory",
    "recall",
    "ingest",
    "profiles",
    "services",
    "watch",
    "fallback",
    "session_buddy",
    "mcp",
    "telemetry",
    "team",
    "backup",
)
ENV_PREFIX = "MAHAVISHNU_"
#: Inputs changed more recently than this are not cached (see the module docstring).
SETTLE_NS = 3_000_000_000

_PACKAGE = Path(__file__).resolve().parent
#: The code and data that turn settings files into validated settings and profiles.
_CODE = (
    _PACKAGE / "config.py",
    _PACKAGE / "environments" / "profiles.py",
    _PACKAGE / "environments" / "catalogue.toml",
)


def env_sets_settings(environ: Mapping[str, str] | None = None) -> bool:
    """Whether some variable is ``MAHAVISHNU_<FIELD>`` or ``MAHAVISHNU_<FIELD>__...`` (any case)."""
    return any(True for _ in _settings_variables(os.environ if environ is None else environ))


def _settings_variables(environ: Iterable[str]) -> Iterator[str]:
    """The names in ``environ`` that set a setting (``MAHAVISHNU_<FIELD>[__...]``, any case)."""
    fields = tuple(f"{ENV_PREFIX}{name}".lower() for name in SETTINGS_FIELDS)
    for name in environ:
        lowered = name.lower()
        if lowered.startswith(fields) and any(lowered == f or lowered.startswith(f + "__") for f in fields):
            yield name


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev]


def _code() -> list[object]:
    return [[str(path), _stat(path)] for path in _CODE]


def fingerprint() -> list[object] | None:
    """The key of the current settings inputs, or None when they must not be cached."""
    if env_sets_settings():
        return None
    return _files_key()


def _files_key() -> list[object] | None:
    try:
        inputs = [*paths.layer_files(), ("trust", paths.trust_file())]
        files = [[kind, str(path), _stat(path)] for kind, path in inputs]
        return [FORMAT, __version__, files, _code()]
    except OSError:
        return None


def process_key() -> list[object] | None:
    """The key of this process's effective settings, environment included: ``fingerprint()``
    when no ``MAHAVISHNU_<FIELD>`` variable is set, else its inputs followed by a digest of those
    variables (names, in lower case as pydantic-settings reads them, and values). Two processes
    with the same files and the same variables agree; any other variable or value makes them differ.

    For the memory daemon's clients (``memory/loop/daemon.py``), which send it over the daemon's
    private socket: it is never written to disk nor logged, and holds no value, only a SHA-256
    of all of them (salted with the settings files' identity, so equal variables in two homes do
    not give equal digests). None when the inputs cannot be read."""
    key = _files_key()
    if key is None:
        return None
    names = sorted(_settings_variables(os.environ), key=str.lower)
    if not names:
        return key
    import hashlib  # only here: loading OpenSSL costs a hook a few milliseconds

    digest = hashlib.sha256(json.dumps(key[2], ensure_ascii=False).encode())
    for name in names:
        digest.update(json.dumps([name.lower(), os.environ[name]], ensure_ascii=False).encode() + b"\n")
    return [*key, digest.hexdigest()]


def profiles_key(user_profiles: object) -> list[object] | None:
    """The key of the validated profiles: the user's (snapshot-encoded) entries, the catalogue and code."""
    try:
        return [FORMAT, __version__, _code(), user_profiles]
    except OSError:
        return None


def settled(key: Sequence[Any]) -> bool:  # a key built here: its layout is known
    """Whether every input named by a ``fingerprint`` or ``profiles_key`` is old enough to cache."""
    if len(key) != 4:
        return False
    if isinstance(key[3], dict):  # profiles_key: code stats only
        stats = [stat for _, stat in key[2]]
    else:  # fingerprint: settings files, then code
        stats = [stat for *_, stat in key[2]] + [stat for _, stat in key[3]]
    limit = time.time_ns() - SETTLE_NS
    return all(stat is None or max(stat[0], stat[1]) < limit for stat in stats)


def _path(name: str) -> Path:
    return paths.cache_dir() / f"{name}.json"


def read(name: str, key: object) -> Any:  # the JSON a caller stored: its layout is the caller's
    """The value stored under ``name`` for ``key``, or None."""
    try:
        with open(_path(name), encoding="utf-8") as handle:
            stored = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    return stored.get("value")


def cached_setting(section: str, name: str) -> tuple[bool, Any]:
    """``settings.<section>.<name>`` as the cached validated settings hold it, read without pydantic
    (the layout is ``config.snapshot_encode``'s: a model's fields under ``"fields"``): (True, its
    JSON value) while the cache holds for these files and no variable sets a setting, else (False,
    None), and the caller loads the settings."""
    key = fingerprint()
    settings: Any = read("settings", key) if key is not None else None
    try:
        return True, settings["fields"][section]["fields"][name]
    except (TypeError, KeyError):
        return False, None


def write(name: str, key: object, value: object) -> None:
    """Store ``value`` under ``name`` for ``key``; silently nothing when the cache is not writable."""
    path = _path(name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        text = json.dumps({"key": key, "value": value}, ensure_ascii=False, separators=(",", ":"))
        paths.make_dir(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError):
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
