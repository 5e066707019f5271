"""Gemini CLI: ``~/.gemini/settings.json`` + ``~/.gemini/.env`` (user; ``$GEMINI_CLI_HOME`` replaces
the home directory when set) and ``<cwd>/.gemini/settings.json`` + ``.env`` (project: Gemini CLI's
workspace is the folder it starts in; it never reads settings.json at the git root from a subfolder).

A profile owns ``security.auth.selectedType`` (``"gemini-api-key"``) and ``model.name`` in
settings.json, and ``GOOGLE_GEMINI_BASE_URL`` and ``GEMINI_API_KEY`` in the ``.env`` beside it: the
base URL can only be set through the environment, and Gemini CLI loads that file itself.

The key goes by reference where Gemini CLI allows it: when the profile's key comes from the
``GEMINI_API_KEY`` variable, nothing is written (Gemini CLI reads its own environment first). A key
kept anywhere else (keyring, secrets file, another variable) can only reach it through the ``.env``:
``--inline-secret`` writes it there (mode 600; a project's ``.gemini/.env`` is added to the clone's
``.git/info/exclude`` unless git ignores it already); without it the switch is refused. A user's
``.env`` keeps its mode otherwise; one the switch created goes when the stock switch empties it.

The trust caveat: Gemini CLI reads ``.gemini/.env`` files only when the folder it runs in is trusted
(``~/.gemini/trustedFolders.json``, its trust dialog, ``GEMINI_CLI_TRUST_WORKSPACE=true``) or folder
trust is off (``security.folderTrust.enabled = false``). Mahavishnu never changes that setting: it
says so in a warning, with what to do. Gemini CLI also reads only the first ``.env`` it finds walking
up from the working directory, so a project's own ``.env`` hides ``~/.gemini/.env``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from mahavishnu import paths
from mahavishnu.config import Settings
from mahavishnu.environments import env_file
from mahavishnu.environments.api_key import KeyDelivery, KeyNeeds, deliver
from mahavishnu.environments.assistants.base import (
    CurrentProvider,
    FileEdit,
    Scope,
    SwitchPlan,
    UserProjectAssistant,
    dotenv_edit,
    existing_configs,
    keep_out_of_git,
    refuse_expanded,
    unreadable,
    workspace_dir,
    workspace_note,
)
from mahavishnu.environments.profiles import Profile, all_profiles
from mahavishnu.errors import ConfigError, InvalidInputError, MahavishnuError
from mahavishnu.files.json_document import JsonDocument, check_jsonc, refused_as_ours
from mahavishnu.files.json_values import as_text, member
from mahavishnu.files.safe_write import read_text
from mahavishnu.json_types import JSONObject as JSONData
from mahavishnu.json_types import JSONValue
from mahavishnu.masking import mask

AUTH_TYPE = "gemini-api-key"
BASE_URL_VAR = "GOOGLE_GEMINI_BASE_URL"
KEY_VAR = "GEMINI_API_KEY"
OWNED_ENV = (BASE_URL_VAR, KEY_VAR)
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
KEY_NEEDS = KeyNeeds("Gemini CLI", KEY_VAR, runs_helper=False, reads_env=(KEY_VAR,), tool="gemini")


gemini_home = paths.gemini_home


def config_path(scope: str = "user") -> Path:
    if scope == "user":
        return gemini_home() / "settings.json"
    return workspace_dir() / ".gemini" / "settings.json"


def env_path(scope: str = "user") -> Path:
    return config_path(scope).parent / ".env"


def env_file_read(start: Path, written: Path | None = None) -> Path | None:
    """The one ``.env`` Gemini CLI loads when started in ``start`` (``written`` counted as there):
    walking up, each folder's ``.gemini/.env`` then ``.env``; past the root, ``~/.gemini/.env``
    then ``~/.env``."""
    home = Path.home()
    folders = (start.resolve(), *start.resolve().parents)
    candidates = [c for f in folders for c in (f / ".gemini" / ".env", f / ".env")]
    candidates += [home / ".gemini" / ".env", home / ".env"]
    return next((c for c in candidates if c.is_file() or c == written), None)


def trusted_folders_path() -> Path:
    override = os.environ.get("GEMINI_CLI_TRUSTED_FOLDERS_PATH")
    return Path(override) if override else gemini_home() / "trustedFolders.json"


def load(text: str | None, source: Path | str) -> JsonDocument:
    """The settings, refused (nothing written) where Gemini CLI would refuse them: it strips comments
    and hands the rest to ``JSON.parse`` (no trailing commas or other JSON5, no byte order mark)."""
    check_jsonc(text or "", str(source), reader="Gemini CLI", bom=False)
    return JsonDocument.parse(text or "", source=str(source), comments=True)


def validate(text: str) -> None:
    """Gemini CLI reads JSON with comments, an object at the top."""
    refused_as_ours(load, text)


def apply_settings(text: str | None, source: Path | str, model: str) -> str:
    doc = load(text, source)
    doc.set(["security", "auth", "selectedType"], AUTH_TYPE)
    doc.set(["model", "name"], model)
    return doc.dumps()


def remove_settings(text: str | None, source: Path | str) -> str:
    """``text`` without the API-key auth type and the model a profile selected. No login type is
    written in their place: Gemini CLI then picks its auth from the environment (``GEMINI_API_KEY``)
    or asks. A login type the file had before a switch is the user's own, kept by the switch and put
    back by the stock switch (``own_settings``). Objects this empties go too, unless they hold a comment."""
    doc = load(text, source)
    if doc.get(["security", "auth", "selectedType"]) == AUTH_TYPE:
        doc.delete(["security", "auth", "selectedType"], prune_empty_parents=True)
        doc.delete(["model", "name"], prune_empty_parents=True)
    return doc.dumps()


def folder_trust_enabled() -> bool:
    """What the user's settings say (Gemini CLI's default: on). Unreadable settings count as on."""
    try:
        data = load(read_text(config_path("user")), config_path("user")).data
    except MahavishnuError:
        return True
    return member(data, "security", "folderTrust", "enabled") is not False


def is_trusted(folder: Path) -> bool | None:
    """Whether ``~/.gemini/trustedFolders.json`` trusts ``folder`` (longest rule wins), as Gemini CLI
    decides it; None when no rule covers it."""
    rules = _trust_rules()
    level = None if rules is None else _closest_rule(rules, folder.resolve())
    if level is None:
        return None
    return level in ("TRUST_FOLDER", "TRUST_PARENT")


def _trust_rules() -> JSONData | None:
    """``trustedFolders.json`` (folder -> trust level); None when it cannot be read."""
    try:
        rules = json.loads(read_text(trusted_folders_path()) or "{}")
    except (ValueError, MahavishnuError):
        return None
    return rules if isinstance(rules, dict) else None


def _closest_rule(rules: JSONData, target: Path) -> str | None:
    """The trust level of the longest rule covering ``target``."""
    best: tuple[int, str] | None = None
    for rule, level in rules.items():
        base = Path(rule).parent if level == "TRUST_PARENT" else Path(rule)
        base = base.resolve()
        if (target == base or base in target.parents) and (best is None or len(rule) > best[0]):
            best = (len(rule), str(level))
    return None if best is None else best[1]


def trusted_here(folder: Path) -> bool:
    """Whether Gemini CLI started in ``folder`` trusts it (or trusts every folder)."""
    if os.environ.get("GEMINI_CLI_TRUST_WORKSPACE") == "true" or not folder_trust_enabled():
        return True
    return bool(is_trusted(folder))


def unread_reason(folder: Path) -> str | None:
    """Why Gemini CLI started in ``folder`` reads no base URL from any ``.env`` (in a folder it does
    not trust it reads only the key variables of a plain ``.env``), and what to do; None when it does."""
    if trusted_here(folder):
        return None
    return (
        f"Gemini CLI started in {folder}, a folder it does not trust, reads no .gemini/.env and no "
        f"{BASE_URL_VAR}: it calls Google's default endpoint. Answer its trust prompt, or add the folder "
        f'to {trusted_folders_path()} (e.g. {{"{folder}": "TRUST_FOLDER"}}), or run it with '
        "GEMINI_CLI_TRUST_WORKSPACE=true"
    )


def trust_warning(env: Path, folder: Path) -> str | None:
    """Why Gemini CLI may not read ``env`` from ``folder``, and what to do; None when it will."""
    if trusted_here(folder):
        return None
    return (
        f"Gemini CLI reads {env} only in a trusted folder, and {folder} is not trusted yet: "
        "answer its trust prompt, or add your work folders to "
        f'{trusted_folders_path()} (e.g. {{"{folder}": "TRUST_FOLDER"}}), or run it with '
        "GEMINI_CLI_TRUST_WORKSPACE=true. Elsewhere it ignores the file and calls Google's default "
        "endpoint. Mahavishnu leaves your security.folderTrust setting alone. Note too that a project's "
        "own .env (or .gemini/.env) is read instead of this one."
    )


def mcp_trust_warning(folder: Path) -> str | None:
    """Why Gemini CLI started in ``folder`` starts no MCP server, and what to do; None when it does."""
    if trusted_here(folder):
        return None
    return (
        "Gemini CLI starts no MCP server (your user-level ones neither) in a folder it does not trust, "
        f"and {folder} is not trusted yet (`gemini mcp list` shows them Disabled there): answer its trust "
        f"prompt, or add your work folders to {trusted_folders_path()} "
        f'(e.g. {{"{folder}": "TRUST_FOLDER"}}), or run it with GEMINI_CLI_TRUST_WORKSPACE=true'
    )


class Gemini(UserProjectAssistant):
    name = "gemini"
    label = "Gemini CLI"
    protocol = "gemini"

    def config_path(self, scope: Scope) -> Path:
        return config_path(scope)

    def project_folder(self) -> Path:
        return workspace_dir()

    def plan_switch(
        self,
        profile: Profile,
        settings: Settings,
        *,
        scope: Scope,
        inline_secret: bool,
        dry_run: bool = False,
    ) -> SwitchPlan:
        path = self.settings_path(scope)
        endpoint = profile.endpoint("gemini", self.label)
        base_url, model = str(endpoint.base_url), str(endpoint.model)
        _check_base_url(base_url, profile)
        refuse_expanded(profile.name, self.label, {"model": model})  # (the .env's values stay as they are)
        dotenv = env_path(scope)
        values = {BASE_URL_VAR: base_url}
        key = deliver(profile, KEY_NEEDS, inline=inline_secret, dry_run=dry_run)
        warnings = _key_warnings(key, dotenv)
        if key.kind in ("none", "inline"):  # (none: a local server ignores it; Gemini CLI wants one)
            values[KEY_VAR] = str(key.value)
        if key.kind == "inline":
            refuse_unreadable_key(str(key.value), profile.name, self.label, KEY_VAR, self.name)
        if os.environ.get(BASE_URL_VAR) and os.environ[BASE_URL_VAR] != base_url:
            warnings.append(f"{BASE_URL_VAR} is set in your environment: Gemini CLI uses it over {dotenv}")
        if scope == "project":
            warnings.append(workspace_note(self.label, path))
            if key.kind == "inline":  # the project's .env, in the repository: never committed
                warnings += keep_out_of_git(dotenv, dry_run=dry_run)
        warnings += self._hidden_env_warning(dotenv, settings)
        caveat = trust_warning(dotenv, Path.cwd())
        if caveat:
            warnings.append(caveat)
        note = f"profile '{profile.name}' (Gemini CLI)"
        secrets = (str(key.value),) if key.kind == "inline" else ()
        edits = [
            FileEdit(path=path, transform=lambda text: apply_settings(text, path, model), validate=validate),
            dotenv_edit(dotenv, values, note=note, secrets=secrets, owned=OWNED_ENV),
        ]
        return SwitchPlan(edits, warnings)

    def plan_stock(self, scope: Scope) -> SwitchPlan:
        """Back to Gemini CLI's own Google login: the base URL and key we wrote into ``.env``, the
        model and the API-key auth type we selected removed. Ones no switch wrote stay (``keeps_own``)
        while ``.env`` names no base URL: an API key and model of the user's on Google's endpoint are
        Gemini CLI's own login; on another endpoint they are a provider's, removed as any."""
        path = self.settings_path(scope)
        own_login = BASE_URL_VAR not in env_file.parse(read_text(env_path(scope)))
        edits = [
            FileEdit(
                path=path,
                transform=lambda text: remove_settings(text, path),
                validate=validate,
                remove_if_emptied=True,  # (left ``{}``: a switch created it)
                keeps_own=own_login,
            ),
            replace(
                dotenv_edit(env_path(scope), {}, note="", secrets=(), owned=OWNED_ENV), keeps_own=own_login
            ),
        ]
        return SwitchPlan(edits)

    def validate_text(self, text: str) -> None:
        validate(text)

    def parse_config(self, text: str, path: Path) -> None:
        load(text, path)

    def current(self, settings: Settings) -> list[CurrentProvider]:
        profiles = all_profiles(settings)
        found = []
        for scope, path in existing_configs(self.scopes, self.config_path):
            try:
                data = load(read_text(path), path).data
            except MahavishnuError as exc:
                found.append(unreadable(self.name, scope, path, exc))
                continue
            dotenv = env_file.parse(read_text(env_path(scope)))
            base_url = dotenv.get(BASE_URL_VAR)
            if not base_url:
                continue
            model = member(data, "model", "name")
            found.append(
                CurrentProvider(
                    tool=self.name,
                    scope=scope,
                    path=str(path),
                    profile=_which_profile(base_url, model, profiles),
                    base_url=base_url,
                    model=as_text(model),
                    key_source=_key_source(dotenv, env_path(scope)),
                )
            )
        unread = unread_reason(Path.cwd())
        return [
            replace(e, unread=unread) if unread and e.error is None else e
            for e in self._nearer_env(found[::-1], profiles)
        ]

    def _nearer_env(
        self, found: list[CurrentProvider], profiles: dict[str, Profile]
    ) -> list[CurrentProvider]:
        """``found`` with, first, the ``.env`` Gemini CLI reads here when it is none of theirs: a
        project's own ``.env`` (or one in a folder above) hides the one a switch wrote."""
        read = env_file_read(Path.cwd())
        written = {Path(entry.path).parent / ".env" for entry in found}
        if not found or read is None or read.resolve() in {w.resolve() for w in written}:
            return found
        values = env_file.parse(read_text(read))
        base_url = values.get(BASE_URL_VAR)
        entry = CurrentProvider(
            tool=self.name,
            scope="project",
            path=str(read),
            profile=_which_profile(base_url, None, profiles) if base_url else None,
            base_url=base_url,
            model=None,
            key_source=_key_source(values, read),
        )
        return [entry, *found]

    def _hidden_env_warning(self, dotenv: Path, settings: Settings) -> list[str]:
        """Gemini CLI reads only the first ``.env`` it finds from here: one nearer than ``dotenv``
        hides it. Said once: after a switch ``current`` lists that file, and the switch says it wins."""
        read = env_file_read(Path.cwd(), written=dotenv)
        if read is None or read == dotenv or any(e.path == str(read) for e in self.current(settings)):
            return []
        return [
            f"Gemini CLI started in this folder reads {read}, not {dotenv} (only the first .env found "
            f"from here up is read): {self.outranking_fix(read)}"
        ]

    def outranking_fix(self, path: Path) -> str | None:
        if path.name != ".env":
            return None
        return (
            f"Gemini CLI reads only that .env here: add {BASE_URL_VAR} and {KEY_VAR} to it, or switch with "
            "--scope project (it writes .gemini/.env, read first)"
        )


def _key_warnings(key: KeyDelivery, dotenv: Path) -> list[str]:
    """What to know about the key: missing (dry run), written inline, or shadowed by the shell's."""
    warnings = [key.warning] if key.warning else []
    if key.kind == "inline":
        warnings.append(f"the API key is written into {dotenv} (mode 600) as {KEY_VAR}")
        if os.environ.get(KEY_VAR) and os.environ[KEY_VAR] != key.value:
            warnings.append(f"{KEY_VAR} is set in your environment: Gemini CLI uses it over {dotenv}")
    return warnings


def refuse_unreadable_key(key: str, profile_name: str, label: str, var: str, tool: str) -> None:
    """Refuse an inline key that no way of writing it into a ``.env`` file lets the npm ``dotenv``
    reader (Gemini CLI's and Qwen Code's) read back as it is (``env_file.written_as``): a NUL, a
    backslash at the end of a key that cannot go bare, kinds of quote mixed with a ``#`` or a line
    break. The assistant would send another key. The key itself is never in the error."""
    if env_file.written_as(key, "dotenv") is not None:
        return
    raise InvalidInputError(
        f"profile '{profile_name}': no way of writing its key into a .env file lets {label} read it back "
        "as it is (it ends with a backslash, or mixes kinds of quote with a '#' or a line break), so it "
        "cannot be written there",
        hint=f"Export it in the shell that starts {label} instead "
        f'(`export {var}="$(mahavishnu secrets get {profile_name})"`), or start one session with '
        f"`mahavishnu run {profile_name} --tool {tool} -- …`; none of its files was written.",
    )


def _check_base_url(base_url: str, profile: Profile) -> None:
    parts = urlsplit(base_url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return
    raise ConfigError(
        f"profile '{profile.name}': Gemini CLI accepts only an https base URL (or http on localhost), "
        f"not {base_url}",
        hint=f"Fix profiles.{profile.name}.gemini.base_url in your settings file.",
    )


def _which_profile(base_url: str, model: JSONValue, profiles: dict[str, Profile]) -> str | None:
    matches = [
        p
        for p in profiles.values()
        if p.settings.gemini and str(p.settings.gemini.base_url).rstrip("/") == base_url.rstrip("/")
    ]
    exact = [p for p in matches if p.settings.gemini and p.settings.gemini.model == model]
    chosen = exact or matches
    return chosen[0].name if chosen else None


def _key_source(dotenv: dict[str, str], path: Path) -> str:
    if dotenv.get(KEY_VAR):
        return f"{KEY_VAR} {mask(dotenv[KEY_VAR])} in {path}"
    return f"{KEY_VAR} from the environment"
