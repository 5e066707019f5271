"""What of a provider profile may leave this machine for the team's catalogue (``ai profile push
NAME --team``), and the copy of the team's profiles this machine last used.

A shared profile is its definition without any key: its ``secret`` list holds references only
(each member's own secret store, or an environment variable each member sets), never a key. A
profile carrying a literal key (a ``secret`` entry that is no reference, a key-shaped value or a
URL password anywhere in it) is refused, whole, with what to do instead. References that name a
file on this machine (``keepass:PATH#ENTRY``) mean nothing on another member's, and are left out
(said so).

The copy (``team-profiles.json`` beside the settings, written when a switch uses a team profile):
the references of each team profile used here, so ``mahavishnu secrets get NAME`` (Claude Code's
``apiKeyHelper``, run on every request) finds the member's key without asking the team store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mahavishnu.environments.profiles import Profile, builtin_variables
from mahavishnu.environments.secrets import KEYRING_SERVICE, SecretRef, alias_variable, own_reference
from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONObject

#: Reference kinds naming something only this machine has (a path): left out of a shared profile.
MACHINE_LOCAL_KINDS = ("keepass",)
#: Secrets Mahavishnu keeps for itself (the team store's password): never a provider's key.
RESERVED_SECRETS = ("pg-password",)
#: Variables Mahavishnu reads for itself (``MAHAVISHNU_PG_PASSWORD``…): never a provider's key.
RESERVED_VARIABLE_PREFIX = "MAHAVISHNU_"


@dataclass(frozen=True, slots=True)
class Shareable:
    """A profile's definition as the team store keeps it, and the references left out of it."""

    name: str
    definition: JSONObject
    dropped: list[str] = field(default_factory=list)


def shareable(profile: Profile) -> Shareable:
    """``profile``'s definition for the team store: refused (``InvalidInputError``, naming the field,
    never its value) when it carries a literal key; machine-local references left out."""
    if profile.settings.stock:
        raise InvalidInputError(
            f"profile '{profile.name}' is an assistant's own login, not a provider: nothing to share",
            hint="Push a profile that names a provider's endpoint.",
        )
    definition: JSONObject = profile.settings.model_dump(mode="json", exclude_none=True)
    kept, dropped = _references(profile)
    definition["secret"] = [*kept]
    for where, value in _strings(definition, ""):
        if _holds_a_key(where, value):
            raise _literal_key(profile.name, where)
    return Shareable(profile.name, definition, dropped)


def _references(profile: Profile) -> tuple[list[str], list[str]]:
    """The profile's ``secret`` entries split into those shared and the machine-local ones; an
    entry that is no reference is a literal key."""
    kept: list[str] = []
    dropped: list[str] = []
    for index, entry in enumerate(profile.settings.secret):
        try:
            ref = SecretRef.parse(str(entry))
        except InvalidInputError:
            raise _literal_key(profile.name, f"secret[{index}]") from None
        (dropped if ref.kind in MACHINE_LOCAL_KINDS else kept).append(str(ref))
    check_references(profile.name, kept, profile.settings.aliases)
    return kept, dropped


def check_references(name: str, references: list[str], aliases: Sequence[str] = ()) -> list[str]:
    """A team profile's references as a member's machine uses them (machine-local ones left out);
    refused unless each names the member's own key for this profile: ``file:NAME``,
    ``keyring:mahavishnu/NAME`` or ``env:NAME_API_KEY`` (NAME the profile's name or an alias; a
    built-in provider's profile also its catalogue variable, ``env:OPENAI_API_KEY``). Whoever pushed
    it chooses the server it names, and any other reference would have a teammate's machine send
    what it holds there: another profile's key (``file:work``, ``env:OPENAI_API_KEY``), a token
    for something else (``env:GITHUB_TOKEN``, ``env:PGPASSWORD``, a cloud store's path), or
    Mahavishnu's own secrets (the team store's password)."""
    own = {name, *aliases}
    usable = []
    for text in references:
        ref = SecretRef.parse(text)
        if ref.kind in MACHINE_LOCAL_KINDS:
            continue
        reserved = ref.kind == "env" and ref.name.upper().startswith(RESERVED_VARIABLE_PREFIX)
        if reserved or (ref.name in RESERVED_SECRETS and ref.kind in ("keyring", "file")):
            raise InvalidInputError(
                f"team profile '{name}' names {ref}, Mahavishnu's own secret, as its key: refused",
                hint=f"A team profile reads each member's own key for it: `mahavishnu secrets set {name}`.",
            )
        if not _its_own(ref, own):
            raise InvalidInputError(
                f"team profile '{name}' names {ref} as its key: refused, as a teammate's machine would send "
                "what it holds to the server the profile names (a team profile reads only each member's own "
                "key for it)",
                hint=f"Each member stores theirs: `mahavishnu secrets set {name}` (file:{name}, "
                f"keyring:{KEYRING_SERVICE}/{name}) or sets {alias_variable(name)}; list only those, or "
                "none.",
            )
        usable.append(str(ref))
    return usable


def _its_own(ref: SecretRef, own: set[str]) -> bool:
    """Whether ``ref`` is where a member keeps their key for the profile named ``own`` (its name
    and aliases): its own stored secret or variable (``secrets.own_reference``), or the
    catalogue's variable for it (a built-in provider's profile)."""
    if own_reference(ref, own):
        return True
    return ref.kind == "env" and bool(builtin_variables().get(ref.name, frozenset()) & own)


def _strings(data: object, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON tree with its dotted path (``anthropic.base_url``, ``aliases[0]``)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, f"{where}[{index}]")
    elif isinstance(data, str):
        yield where, data


def _holds_a_key(where: str, value: str) -> bool:
    from mahavishnu.redaction.scrub import has_secret
    from mahavishnu.redaction.shapes import URL_PASSWORD, is_secret

    if where.startswith("secret["):
        return False  # references, parsed already
    leaf = where.rsplit(".", 1)[-1].split("[", 1)[0]
    return is_secret(leaf, value) or has_secret(value) or URL_PASSWORD.search(value) is not None


def _literal_key(name: str, where: str) -> InvalidInputError:
    return InvalidInputError(
        f"profile '{name}' holds a literal key ({where}); keys never go to the team store",
        hint=f"Keep the key in your secret store (`mahavishnu secrets set {name}`) or name a variable "
        f"(secret: [env:{alias_variable(name)}]) in the profile instead, then push again.",
    )
