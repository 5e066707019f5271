"""Claude Code: ``settings.json`` at user, project and local scope.

A profile owns ``apiKeyHelper`` and a fixed set of ``env`` keys; a switch sets the ones the new
profile defines and removes the rest of them, so nothing leaks from one provider to the next.
Everything else in the file (hooks, permissions, plugins, unknown keys, order, formatting) stays.
"""

from __future__ import annotations

import os
from pathlib import Path

from mahavishnu import paths
from mahavishnu.config import Settings
from mahavishnu.environments.api_key import KeyNeeds, deliver
from mahavishnu.environments.assistants.base import (
    Assistant,
    CurrentProvider,
    FileEdit,
    Scope,
    SwitchPlan,
    existing_configs,
    helper_profile,
    keep_out_of_git,
    outside_repository_note,
    project_dir,
    unreadable,
)
from mahavishnu.environments.profiles import Profile, all_profiles
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError, MahavishnuError
from mahavishnu.files import json_model
from mahavishnu.files.json_document import JsonDocument, json_data
from mahavishnu.files.json_values import as_object, as_text
from mahavishnu.files.safe_write import read_text
from mahavishnu.json_types import JSONMapping, JSONObject, JSONValue
from mahavishnu.masking import mask

#: The env keys a provider profile owns in Claude Code's settings.
OWNED_ENV = (
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "API_TIMEOUT_MS",
    "ANTHROPIC_AUTH_TOKEN",  # wins over apiKeyHelper, so it must go unless written on purpose
    "ANTHROPIC_API_KEY",
)
#: Credentials Claude Code takes from its environment and sends to whatever ``ANTHROPIC_BASE_URL``
#: names: ``ANTHROPIC_API_KEY`` as ``x-api-key`` beside the helper's key, ``ANTHROPIC_AUTH_TOKEN``
#: as the bearer token instead of it. A settings ``env`` value, even ``""``, replaces the shell's
#: (checked with Claude Code 2.1.197: ``""`` sends neither).
SHELL_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
#: Claude Code runs ``apiKeyHelper``; an inline key is ``env.ANTHROPIC_AUTH_TOKEN``.
#: What makes a settings file choose the provider: a base URL, or a key of its own (on Anthropic's API).
_SETS_PROVIDER = ("ANTHROPIC_BASE_URL", *SHELL_CREDENTIALS)
#: Where Claude Code sends requests when no base URL is set.
ANTHROPIC_API = "https://api.anthropic.com"
KEY_NEEDS = KeyNeeds("Claude Code", "ANTHROPIC_AUTH_TOKEN", runs_helper=True, reads_env=(), tool="claude")
#: Where Claude Code reads enterprise-managed settings on Linux (highest precedence).
MANAGED_SETTINGS = Path("/etc/claude-code/managed-settings.json")


config_dir = paths.claude_config_dir
state_file = paths.claude_state_file


def load(text: str | None, source: Path) -> JsonDocument:
    return JsonDocument.parse(text or "", source=str(source), comments=False)


def data_of(text: str | None, source: Path) -> JSONObject:
    """``load(text, source).data``, read without the model an edit needs (``json_data``)."""
    return json_data(text or "", source=str(source), comments=False)


def validate(text: str) -> None:
    """Claude Code reads strict JSON with an object at the top."""
    try:
        data = json_model.loads(text)
    except ValueError as exc:  # a bug of ours, never the user's: refuse to write it
        raise InvalidConfigFileError(f"refusing to write invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidConfigFileError("refusing to write settings whose top level is not an object")


class Claude(Assistant):
    name = "claude"
    label = "Claude Code"
    protocol = "anthropic"

    def lends_key(self, winner: CurrentProvider) -> bool:
        # Claude Code merges its settings files key by key: a project file's ANTHROPIC_BASE_URL
        # without an apiKeyHelper or token of its own gets the user file's helper
        return winner.key_source is None

    def settings_path(self, scope: Scope) -> Path:
        if scope == "user":
            return config_dir() / "settings.json"
        name = "settings.json" if scope == "project" else "settings.local.json"
        return project_dir() / ".claude" / name

    def plan_switch(
        self,
        profile: Profile,
        settings: Settings,
        *,
        scope: Scope,
        inline_secret: bool,
        dry_run: bool = False,
    ) -> SwitchPlan:
        endpoint = profile.endpoint("anthropic", self.label)
        env: dict[str, str] = {
            "ANTHROPIC_BASE_URL": str(endpoint.base_url),
            "ANTHROPIC_MODEL": str(endpoint.model),
        }
        for key, value in (
            ("ANTHROPIC_DEFAULT_OPUS_MODEL", endpoint.opus_model),
            ("ANTHROPIC_DEFAULT_SONNET_MODEL", endpoint.sonnet_model),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", endpoint.haiku_model),
            ("API_TIMEOUT_MS", str(endpoint.timeout_ms) if endpoint.timeout_ms else None),
        ):
            if value:
                env[key] = value
        path = self.settings_path(scope)
        delivery = deliver(
            profile, KEY_NEEDS, inline=inline_secret, dry_run=dry_run, portable=scope == "project"
        )
        helper = delivery.helper
        secrets: tuple[str, ...] = ()
        warnings = [delivery.warning] if delivery.warning else []
        if delivery.kind in ("none", "inline"):  # a local server ignores the key but Claude wants one
            env["ANTHROPIC_AUTH_TOKEN"] = str(delivery.value)
        if delivery.kind == "helper" and scope == "project":
            warnings.append(shared_helper_warning(path, str(helper), profile.name))
        if scope in ("project", "local") and (note := outside_repository_note(self.label, path)):
            warnings.append(note)
        if delivery.kind == "inline":
            secrets = (str(delivery.value),)
            warnings.append(f"the API key is written into {path.resolve()} itself (mode 600)")
            warnings += _kept_out_of_git(path, scope, dry_run=dry_run)
        for var in foreign_credentials(profile):
            env.setdefault(var, "")  # a shell's Anthropic key or token is not sent to this provider
        warnings += shell_credential_warnings(profile, env, path)
        edit = FileEdit(
            path=path,
            transform=lambda text: _apply_profile(load(text, path), env, helper),
            validate=validate,
            mode=0o600 if secrets else None,
            secrets=secrets,
        )
        return SwitchPlan([edit], warnings)

    def plan_stock(self, scope: Scope) -> SwitchPlan:
        """Back to Claude Code's own login: every key a profile owns removed."""
        path = self.settings_path(scope)
        edit = FileEdit(
            path=path, transform=lambda text: _apply_profile(load(text, path), {}, None), validate=validate
        )
        return SwitchPlan([edit])

    def validate_text(self, text: str) -> None:
        validate(text)

    def parse_config(self, text: str, path: Path) -> None:
        data_of(text, path)

    def current(self, settings: Settings) -> list[CurrentProvider]:
        profiles = all_profiles(settings)
        found = []
        # user first: in $HOME, project == user
        for scope, path in existing_configs(("user", "project", "local"), self.settings_path):
            try:
                data = data_of(read_text(path), path)
            except MahavishnuError as exc:
                found.append(unreadable(self.name, scope, path, exc))
                continue
            env = as_object(data.get("env"))
            if not any(env.get(key) for key in _SETS_PROVIDER) and not data.get("apiKeyHelper"):
                continue
            found.append(
                CurrentProvider(
                    tool=self.name,
                    scope=scope,
                    path=str(path),
                    profile=_which_profile(data, env, profiles),
                    base_url=as_text(env.get("ANTHROPIC_BASE_URL")),
                    model=as_text(env.get("ANTHROPIC_MODEL") or data.get("model")),
                    key_source=_key_source(data, env),
                )
            )
        return found[::-1]  # highest precedence first


def shared_helper_warning(path: Path, helper: str, profile_name: str) -> str:
    """A project file's key helper runs ``mahavishnu`` by name (the file is shared, so it names no
    machine's path): it works only where the program that starts Claude Code has it on PATH."""
    import shutil

    here = "" if shutil.which("mahavishnu") else " (here too: PATH has no `mahavishnu` now)"
    shared = "the repository" if paths.project_root() else "this folder"
    home = os.environ.get("MAHAVISHNU_HOME")
    elsewhere = (  # (a shared file names no one's home: the helper reads the default one)
        f"; and it reads the default home, not MAHAVISHNU_HOME={home}: export MAHAVISHNU_HOME where Claude "
        "Code starts, or the key stored here is not found"
        if home
        else ""
    )
    return (
        f"{path} is shared with everyone who opens {shared}, and its apiKeyHelper `{helper}` runs "
        f"`mahavishnu` from PATH: where Claude Code's PATH has none, the helper exits 127 and Claude Code "
        f"sends an empty key{here}. For it to resolve for everyone, each of them installs Mahavishnu on "
        "the PATH of whatever starts Claude Code, a terminal or an IDE (with pipx, which puts it in "
        "~/.local/bin, or with a venv's bin directory added to PATH in the login profile), and stores "
        f"the key (`mahavishnu secrets set {profile_name}`); or keep the switch to yourself: `mahavishnu "
        f"ai switch-llm {profile_name} --scope local` writes .claude/settings.local.json (not committed), "
        f"with the helper by absolute path{elsewhere}"
    )


def settings_env() -> JSONObject:
    """The ``env`` Claude Code started here gets from its settings files (user, project, local: key
    by key, the later scope winning); a file that cannot be read adds nothing."""
    merged: JSONObject = {}
    target = Claude()
    for _scope, path in existing_configs(("user", "project", "local"), target.settings_path):
        try:
            env = data_of(read_text(path), path).get("env")
        except MahavishnuError:
            continue
        if isinstance(env, dict):
            merged.update(env)
    return merged


def is_anthropic(base_url: str | None) -> bool:
    """Whether ``base_url`` is Anthropic's own API (where an Anthropic key belongs)."""
    from urllib.parse import urlsplit

    host = urlsplit(str(base_url or "")).hostname or ""
    return host == "anthropic.com" or host.endswith(".anthropic.com")


def foreign_credentials(profile: Profile) -> tuple[str, ...]:
    """The ``SHELL_CREDENTIALS`` that are not ``profile``'s to send: all of them for a provider other
    than Anthropic, but the variable the profile's own key is read from."""
    from mahavishnu.environments.secrets import env_variables, profile_chain

    endpoint = profile.settings.anthropic
    if endpoint is None or is_anthropic(endpoint.base_url):
        return ()
    own = env_variables(profile_chain(profile))
    return tuple(var for var in SHELL_CREDENTIALS if var not in own)


def shell_credentials_sent(profile: Profile, settings_env: JSONValue) -> list[str]:
    """The credential variables this process's environment exports that Claude Code, configured with
    ``settings_env`` (its settings' merged ``env``), would send to ``profile``'s provider."""
    covered = settings_env if isinstance(settings_env, dict) else {}
    return [var for var in foreign_credentials(profile) if os.environ.get(var) and var not in covered]


def shell_credential_warnings(profile: Profile, env: dict[str, str], path: Path) -> list[str]:
    """What to do about the shell's credentials that ``env`` (the settings ``env`` being written,
    where a switch blanks every one of them that is not the profile's) keeps from ``profile``'s
    provider."""
    endpoint = profile.settings.anthropic
    label = f"{profile.label} at {endpoint.base_url}" if endpoint else profile.label
    return [
        f'your shell exports {var}: {path} sets it to "" so that Claude Code does not send it to '
        f"{label}; `unset {var}` as well (and remove it from your shell profile) to be sure"
        for var in foreign_credentials(profile)
        if os.environ.get(var) and env.get(var) == ""
    ]


def _kept_out_of_git(path: Path, scope: Scope, *, dry_run: bool) -> list[str]:
    """An inline key never goes where git commits it: the project file (shared with teammates) is
    refused; the local one (``settings.local.json``) is kept out of git (``keep_out_of_git``), as
    Claude Code does when it creates that file."""
    if scope == "project":
        raise InvalidInputError(
            f"--inline-secret would write the API key into {path}, which is shared with the "
            "project's team and committed with it",
            hint="Leave out --inline-secret (the key is read by reference), or use --scope local.",
        )
    return keep_out_of_git(path, dry_run=dry_run) if scope == "local" else []


def _apply_profile(doc: JsonDocument, env: dict[str, str], helper: str | None) -> str:
    for key, value in env.items():
        doc.set(["env", key], value)
    for key in OWNED_ENV:
        if key not in env:
            doc.delete(["env", key])
    if isinstance(doc.get(["env"]), dict) and not doc.get(["env"]):
        doc.delete(["env"])
    if helper:
        doc.set(["apiKeyHelper"], helper)
    else:
        doc.delete(["apiKeyHelper"])
    return doc.dumps()


def _which_profile(data: JSONMapping, env: JSONMapping, profiles: dict[str, Profile]) -> str | None:
    named = helper_profile(as_text(data.get("apiKeyHelper")))
    if named:
        return named
    base_url = env.get("ANTHROPIC_BASE_URL") or ANTHROPIC_API
    for profile in profiles.values():
        endpoint = profile.settings.anthropic
        if (
            endpoint
            and endpoint.base_url
            and endpoint.base_url.rstrip("/") == str(base_url or "").rstrip("/")
        ):
            return profile.name
    return None


def _key_source(data: JSONMapping, env: JSONMapping) -> str | None:
    token = env.get("ANTHROPIC_AUTH_TOKEN") or env.get("ANTHROPIC_API_KEY")
    if token:
        return f"inline token {mask(str(token))}"
    if data.get("apiKeyHelper"):
        return f"apiKeyHelper: {data['apiKeyHelper']}"
    return None
