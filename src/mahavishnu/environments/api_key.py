"""How an assistant gets a profile's API key: one decision for Claude Code, Codex, Qwen Code and Gemini CLI.

An assistant says what it can read — a command that prints the key (Claude Code's ``apiKeyHelper``,
Codex's ``auth.command``), which environment variables it reads itself, where an inline key goes —
and ``deliver`` picks, in this order:

* ``none``: the profile needs no key (a local server); ``value`` is a placeholder some CLIs want;
* ``inline``: ``--inline-secret``: the key itself, for the assistant to write (mode 600);
* ``env``: the key is in a variable the assistant reads itself: its name goes into the config;
* ``helper``: a ``mahavishnu secrets get PROFILE`` command (without a machine path at project scope,
  where the file is shared with teammates);
* otherwise a clear refusal saying what would work.

A key found nowhere is an error naming the variables and ``mahavishnu secrets set PROFILE``; with
``dry_run`` it is a warning instead and the plan goes on by reference, so the diff can be shown.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from mahavishnu.environments.profiles import Profile
from mahavishnu.environments.secrets import (
    KEYRING_SERVICE,
    SecretRef,
    find_in_chain,
    missing_secret_error,
    profile_chain,
    stored_in_keyring,
)
from mahavishnu.errors import SecretStoreError


@dataclass(frozen=True)
class KeyDelivery:
    kind: Literal["none", "inline", "env", "helper"]
    env_var: str | None = None  # env: the variable the assistant reads; inline: the one it is written under
    value: str | None = None  # inline: the key; none: a placeholder
    helper: str | None = None  # helper: the shell command printing the key
    warning: str | None = None  # dry run: the key is missing


@dataclass(frozen=True)
class KeyNeeds:
    """What one assistant can read a key from."""

    label: str
    inline_var: str  # where an inline key goes
    runs_helper: bool  # can run a command that prints the key
    reads_env: tuple[str, ...] | None  # variables it reads itself (None: any it is told to)
    tool: str = ""  # its tool name (claude, codex, qwen, gemini): for the commands a refusal suggests


def deliver(
    profile: Profile, needs: KeyNeeds, *, inline: bool, dry_run: bool = False, portable: bool = False
) -> KeyDelivery:
    """How ``profile``'s key reaches the assistant described by ``needs`` (see the module docstring).
    ``portable``: the config is shared (project scope), so a helper names no machine path."""
    if not profile.needs_secret:
        return KeyDelivery("none", value=profile.name)
    chain = profile_chain(profile)
    found = locate(chain)
    warning = None
    if found is None:
        warning = _missing_warning(chain, profile, dry_run=dry_run)
    elif inline:
        ref, value = found
        return KeyDelivery("inline", env_var=needs.inline_var, value=value or _read(ref, chain, profile))
    by_env = _read_by_assistant(found, needs)
    if by_env is not None:
        return by_env
    if needs.runs_helper:
        return KeyDelivery("helper", helper=helper_command(profile.name, portable=portable), warning=warning)
    if warning is not None:
        return KeyDelivery("env", env_var=_reference_var(profile, needs), warning=warning)
    raise _unreachable_key(profile, needs, found[0] if found is not None else None)


def _missing_warning(chain: list[SecretRef], profile: Profile, *, dry_run: bool) -> str:
    """The key is found nowhere: an error, or with ``dry_run`` the warning that says so."""
    error = missing_secret_error(chain, f"profile '{profile.name}'", profile.name)
    if not dry_run:
        raise error
    return f"{error.message} ({error.hint})"


def _read_by_assistant(found: tuple[SecretRef, str | None] | None, needs: KeyNeeds) -> KeyDelivery | None:
    """By reference, when the key is in a variable the assistant reads itself."""
    if found is None or found[0].kind != "env":
        return None
    var = found[0].name
    if needs.reads_env is None or var in needs.reads_env:
        return KeyDelivery("env", env_var=var)
    return None


def _unreachable_key(profile: Profile, needs: KeyNeeds, held: SecretRef | None) -> SecretStoreError:
    """The key is kept where the assistant cannot read it: the fix names a variable the profile's
    chain reads (exported, the next switch finds it there first and passes it by reference), or
    says to add one the assistant reads to the chain."""
    source = " or ".join(needs.reads_env) if needs.reads_env else "an environment variable"
    tool = f" --tool {needs.tool}" if needs.tool else ""
    chained = [r.name for r in profile_chain(profile) if r.kind == "env"]
    usable = [var for var in chained if needs.reads_env is None or var in needs.reads_env]
    # (the chain always holds a variable of the profile's name: with reads_env None, one is usable)
    wanted = usable[0] if usable else (needs.reads_env or ("",))[0]
    export = f'`export {wanted}="$(mahavishnu secrets get {profile.name})"`'
    first = (
        f"Run {export} in the shell that starts {needs.label} (or in your shell's profile), then switch again"
    )
    if not usable:
        first = (
            f"Add `env:{wanted}` to the `secret` list of profile '{profile.name}' (mahavishnu.yaml); {first}"
        )
    # where the key is: a variable the assistant does not read (env:LAB_KEY) too, not only a store
    where = f"in {held}" if held is not None else "elsewhere (the keyring or the secrets file)"
    return SecretStoreError(
        f"{needs.label} reads its key only from {source}, and profile '{profile.name}' keeps it {where}",
        hint=f"{first}; or start one session without writing anything: `mahavishnu run "
        f"{profile.name}{tool} -- …`; or pass --inline-secret to write the key into the .env file "
        f"{needs.label} loads (mode 600).",
    )


def helper_command(profile_name: str, *, portable: bool) -> str:
    """``… secrets get NAME``: by absolute path for the user's own files, by name (from PATH) in a
    project file that teammates share."""
    from mahavishnu.environments.assistants.base import mahavishnu_command

    if portable:
        return f"mahavishnu secrets get {shlex.quote(profile_name)}"
    return mahavishnu_command("secrets", "get", profile_name)


def locate(chain: list[SecretRef]) -> tuple[SecretRef, str | None] | None:
    """The link holding the key (its value, or None when the index vouches for a keyring entry:
    importing keyring costs 60-140 ms of a switch that only writes a reference)."""
    for ref in chain:
        if ref.kind == "keyring" and ref.service == KEYRING_SERVICE and stored_in_keyring(ref.name):
            return ref, None
        found = find_in_chain([ref])
        if found is not None:
            return found
    return None


def key_missing(profile: Profile) -> bool:
    """Whether ``profile`` needs a key that nothing in its secret chain holds (a switch would be
    refused; a dry run only warns)."""
    return profile.needs_secret and locate(profile_chain(profile)) is None


def _read(ref: SecretRef, chain: list[SecretRef], profile: Profile) -> str:
    value = ref.read()
    if value is None:
        raise missing_secret_error(chain, f"profile '{profile.name}'", profile.name)
    return value


def _reference_var(profile: Profile, needs: KeyNeeds) -> str:
    for ref in profile.settings.secret:
        if ref.startswith("env:") and (needs.reads_env is None or ref[4:] in needs.reads_env):
            return ref.removeprefix("env:")
    return needs.reads_env[0] if needs.reads_env else needs.inline_var
