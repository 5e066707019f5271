"""Provider profiles: the built-in catalogue merged with the user's own.

A profile names one provider and, per wire protocol it speaks, an endpoint (base URL + models).
Assistants pick the endpoint for their protocol: Claude Code speaks ``anthropic``; Codex and
Qwen Code speak ``openai``; Gemini CLI speaks ``gemini``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypedDict
from urllib.parse import urlsplit

from mahavishnu.clean_text import printable
from mahavishnu.config import Endpoint, ProfileSettings, Settings
from mahavishnu.errors import ConfigError, ProtocolMismatchError, UnknownProfileError, wrong_type
from mahavishnu.files.json_values import merged
from mahavishnu.wording import a

Protocol = Literal["anthropic", "openai", "gemini"]
PROTOCOLS: tuple[Protocol, ...] = ("anthropic", "openai", "gemini")


class ProfileSummary(TypedDict):
    name: str
    label: str
    aliases: list[str]
    protocols: list[Protocol]
    secret: list[str]  # where the key is looked for (references)
    builtin: bool


@dataclass(frozen=True)
class Profile:
    name: str
    settings: ProfileSettings
    builtin: bool

    @property
    def label(self) -> str:
        return self.settings.label or self.name

    @property
    def aliases(self) -> list[str]:
        return self.settings.aliases

    @property
    def protocols(self) -> list[Protocol]:
        return [p for p in PROTOCOLS if getattr(self.settings, p) is not None]

    @property
    def needs_secret(self) -> bool:
        return self.settings.requires_key

    def summary(self) -> ProfileSummary:
        """What listing the profiles shows (``ai list-llms --json``, the ``list_llms`` tool)."""
        return {
            "name": self.name,
            "label": self.label,
            "aliases": self.aliases,
            "protocols": self.protocols,
            "secret": self.settings.secret,
            "builtin": self.builtin,
        }

    def endpoint(self, protocol: Protocol, tool: str) -> Endpoint:
        endpoint: Endpoint | None = getattr(self.settings, protocol)
        if endpoint is None:
            speaks = ", ".join(self.protocols) or "nothing"
            raise ProtocolMismatchError(
                f"profile '{self.name}' has no {protocol} endpoint, which {tool} needs (it speaks {speaks})",
                hint=f"Pick a profile with {a(protocol)} endpoint: `mahavishnu ai list-llms`.",
            )
        return endpoint


@cache
def _catalogue() -> dict[str, dict[str, object]]:
    import tomllib
    from importlib.resources import files

    raw = files("mahavishnu.environments").joinpath("catalogue.toml").read_text(encoding="utf-8")
    providers: dict[str, dict[str, object]] = tomllib.loads(raw)["providers"]
    return providers


def builtin_names() -> frozenset[str]:
    """The built-in catalogue's profile names and aliases (``qwen``, ``dashscope``, ``openai``…):
    the names members keep those providers' keys under (``secrets set NAME``)."""
    names = set(_catalogue())
    for entry in _catalogue().values():
        aliases = entry.get("aliases")
        if isinstance(aliases, list):
            names.update(str(alias) for alias in aliases)
    return frozenset(names)


def builtin_variables() -> dict[str, frozenset[str]]:
    """The variables the built-in catalogue reads its providers' keys from (``OPENAI_API_KEY``…),
    each with the names and aliases of the entries that read it: where members keep those keys."""
    found: dict[str, set[str]] = {}
    for name, entry in _catalogue().items():
        aliases = entry.get("aliases")
        names = {name, *(str(alias) for alias in aliases)} if isinstance(aliases, list) else {name}
        secret = entry.get("secret")
        for ref in secret if isinstance(secret, list) else []:
            if str(ref).startswith("env:"):
                found.setdefault(str(ref).removeprefix("env:"), set()).update(names)
    return {variable: frozenset(names) for variable, names in found.items()}


def check_arguments(function: str, settings: object, name: object = "") -> None:
    """A caller of the public API gave ``settings`` and a profile's ``name`` of the types it takes,
    or hears which it gave ("'str' object has no attribute 'profiles'" said neither)."""
    if not isinstance(settings, Settings):
        raise wrong_type(function, "settings", settings, hint="Pass mahavishnu.load_settings().")
    if not isinstance(name, str):
        raise wrong_type(function, "a profile's name", name, hint="`mahavishnu ai list-llms` lists them.")


def all_profiles(settings: Settings) -> dict[str, Profile]:
    """Every valid profile by canonical name: built-ins, overridden field by field by the user's
    settings. A profile that is invalid (a base URL that is no http(s) URL, a bad name) is left out:
    ``invalid_profiles`` has its error, which ``resolve`` raises for that name only, so one bad entry
    does not stop the others (``stock`` among them) from being used.

    A fresh process rebuilds them from the settings snapshot (see ``settings_snapshot``), keyed by
    the user's entries, the catalogue and this code, instead of building pydantic's validators
    (~30 ms); once those exist in this process, validating again is the cheaper way.
    """
    check_arguments("all_profiles", settings)
    return _checked_profiles(settings)[0]


@dataclass(frozen=True)
class InvalidProfile:
    """A profile of the settings that cannot be used: its ``error`` (what is wrong, and the fix) and
    the aliases it was given, under which it is refused too."""

    name: str
    error: ConfigError
    aliases: tuple[str, ...] = ()
    builtin: bool = False  #: a catalogue profile the user's settings override


def invalid_profiles(settings: Settings) -> dict[str, InvalidProfile]:
    """The profiles ``all_profiles`` leaves out, by name, each with its error."""
    return _checked_profiles(settings)[1]


def _checked_profiles(settings: Settings) -> tuple[dict[str, Profile], dict[str, InvalidProfile]]:
    from mahavishnu import settings_snapshot as snapshot
    from mahavishnu.config import snapshot_decode, snapshot_encode

    try:
        key = snapshot.profiles_key(snapshot_encode(settings.profiles))
    except ValueError:
        key = None
    if key is not None and not ProfileSettings.__pydantic_complete__:
        cached = snapshot.read("profiles", key)
        if cached is not None:  # (stored only when every profile was valid)
            try:
                restored = {
                    name: Profile(name, snapshot_decode(encoded), builtin=bool(builtin))
                    for name, builtin, encoded in cached
                }
                if all(isinstance(p.settings, ProfileSettings) for p in restored.values()):
                    return restored, {}
            except Exception:  # a damaged cache file is a cache miss
                pass
    profiles, invalid = _validate_profiles(settings)
    if key is not None and not invalid:
        _store(key, profiles)
    return profiles, invalid


_STORED: set[str] = set()  # (cache dir, key) this process found or put in the snapshot


def _store(key: list[object], profiles: dict[str, Profile]) -> None:
    from mahavishnu import paths
    from mahavishnu import settings_snapshot as snapshot
    from mahavishnu.config import snapshot_encode

    marker = json.dumps([str(paths.cache_dir()), key], sort_keys=True)
    if marker in _STORED or not snapshot.settled(key):
        return
    if snapshot.read("profiles", key) is None:
        encoded = [[p.name, p.builtin, snapshot_encode(p.settings)] for p in profiles.values()]
        snapshot.write("profiles", key, encoded)
    _STORED.add(marker)


def _validate_profiles(settings: Settings) -> tuple[dict[str, Profile], dict[str, InvalidProfile]]:
    user = {name: profile.model_dump(exclude_unset=True) for name, profile in settings.profiles.items()}
    profiles: dict[str, Profile] = {}
    invalid: dict[str, InvalidProfile] = {}
    hint = (
        "Fix that profile in your settings file (`mahavishnu config path` prints where it is); the other "
        "profiles work meanwhile."
    )
    for name, (problem, entry) in settings.broken_profiles.items():  # (a built-in one too: not used half)
        raw = merged(_catalogue().get(name, {}), entry if isinstance(entry, dict) else {})
        invalid[name] = _invalid(name, raw, ConfigError(problem, hint=hint))
    for name in [*_catalogue(), *(n for n in user if n not in _catalogue())]:
        if name in invalid:
            continue
        raw = merged(_catalogue().get(name, {}), user.get(name, {}))
        try:
            profiles[name] = profile_from(name, raw, builtin=name in _catalogue())
        except ConfigError as error:
            invalid[name] = _invalid(name, raw, error)
    return profiles, invalid


def _invalid(name: str, raw: Mapping[str, object], error: ConfigError) -> InvalidProfile:
    """A profile that cannot be used, refused under the aliases its definition ``raw`` gives."""
    aliases = raw.get("aliases")
    named = tuple(str(alias) for alias in aliases) if isinstance(aliases, list) else ()
    return InvalidProfile(name, error, named, builtin=name in _catalogue())


#: What may name a profile: it is written into assistants' files and shared project files (a key
#: helper's command line: ``mahavishnu secrets get NAME``) and into team stores.
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_profile_name(name: str) -> None:
    if not PROFILE_NAME.fullmatch(name):
        raise ConfigError(
            f"{printable(name)[:80]!r} cannot name a profile",
            hint="Use letters, digits, '.', '_' and '-' (at most 64), starting with a letter or digit.",
        )


def profile_from(name: str, raw: Mapping[str, object], *, builtin: bool = False) -> Profile:
    """A profile from its definition (a settings entry, a team profile's JSON), checked."""
    check_profile_name(name)
    try:
        validated = ProfileSettings.model_validate(raw)
    except ValueError as exc:
        raise ConfigError(f"profile '{name}' is invalid: {exc}") from exc
    _check_endpoints(name, validated)
    return Profile(name, validated, builtin=builtin)


def _check_endpoints(name: str, profile: ProfileSettings) -> None:
    for protocol in PROTOCOLS:
        endpoint: Endpoint | None = getattr(profile, protocol)
        if endpoint is not None and not (endpoint.base_url and endpoint.model):
            raise ConfigError(
                f"profile '{name}': the {protocol} endpoint needs both base_url and model",
                hint=f"Set profiles.{name}.{protocol}.base_url and .model in your settings file.",
            )
        if endpoint is not None and not _is_http_url(str(endpoint.base_url)):
            from mahavishnu.masking import strip_credentials  # (a password or key in it is not shown)

            raise ConfigError(
                f"profile '{name}': {protocol}.base_url must be an http:// or https:// URL, "
                f"not {strip_credentials(printable(str(endpoint.base_url)))[:80]!r}",
                hint=f"Set profiles.{name}.{protocol}.base_url to the provider's URL (such as "
                "https://api.example.com/v1, or http://127.0.0.1:8000 for a local server) in your "
                "settings file (`mahavishnu config path` prints where it is); nothing was changed.",
            )


def _is_http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host and nothing an assistant's config would mangle
    (spaces, line breaks): what goes into the assistant's file is used as it is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        return False
    clean = not any(char.isspace() or not char.isprintable() for char in url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and clean


def resolve(name: str, settings: Settings) -> Profile:
    """A profile by name or alias, case-insensitively; an invalid one's error for its name."""
    check_arguments("resolve", settings, name)
    profiles, invalid = _checked_profiles(settings)
    wanted = name.strip().lower()
    for profile in profiles.values():
        if wanted == profile.name.lower() or wanted in (a.lower() for a in profile.aliases):
            return profile
    for broken in invalid.values():
        if wanted == broken.name.lower() or wanted in (a.lower() for a in broken.aliases):
            raise ConfigError(broken.error.message, hint=broken.error.hint)
    known = [*profiles, *(a for p in profiles.values() for a in p.aliases)]
    import difflib

    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.7)
    suggestion = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownProfileError(f"unknown profile '{name}'.{suggestion}")
