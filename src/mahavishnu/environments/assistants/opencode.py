"""OpenCode: ``$XDG_CONFIG_HOME/opencode/opencode.json`` (user; ``~/.config/opencode``) and
``<project root>/opencode.json`` (project: OpenCode looks for it from the folder it starts in up to
the git root). Either may be ``opencode.jsonc``: an existing ``.jsonc`` is the one edited (OpenCode
reads ``opencode.jsonc`` after ``opencode.json``, so it wins). Both are JSON with comments and
trailing commas (OpenCode's jsonc-parser allows them): comments survive every edit.

A profile owns the top-level ``model`` (``"mahavishnu/MODEL"``), ``small_model`` and one provider
entry::

    "provider": {"mahavishnu": {"npm": "@ai-sdk/openai-compatible", "name": "[mahavishnu] profile NAME",
                                "options": {"baseURL": URL, "apiKey": "{env:VAR}"},
                                "models": {MODEL: {"name": MODEL}, SMALL: {"name": SMALL}}}}

``npm`` is the AI SDK package OpenCode speaks the endpoint with (``npm_package``): the one above
speaks Chat Completions only; an endpoint with ``wire_api: responses`` gets ``@ai-sdk/openai``, whose
models speak the Responses API (``POST {baseURL}/responses``, with ``store: false``, which OpenCode
sets for that package). OpenCode 1.18 ships both packages in its binary: nothing is installed from
npm for them (checked offline against a mock).

``small_model`` is the model OpenCode asks for a session's title (the request carries the user's first
prompt): ``"mahavishnu/SMALL"``, the profile's ``openai.haiku_model``. A profile without one gets
``"mahavishnu/MODEL"`` where a ``small_model`` is in play (in the file, or in one it outranks:
OpenCode merges its files), else none: OpenCode 1.18 without one looks for a small model among the
main model's provider's models only (ours: none it knows) and then takes the main model.

The key goes by reference, through OpenCode's own substitution in config text: ``{env:VAR}`` when
the key is in a variable, else ``{file:PATH}`` naming a file of Mahavishnu's (mode 600, written in
the same transaction) that holds only the key (OpenCode trims it). OpenCode cannot run a command
to fetch a key. Every other provider, and every other key of the file, is left as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mahavishnu import paths
from mahavishnu.config import Settings
from mahavishnu.environments import env_file
from mahavishnu.environments.api_key import KeyDelivery, KeyNeeds, deliver
from mahavishnu.environments.assistants.base import (
    CurrentProvider,
    Expansion,
    FileEdit,
    Scope,
    SwitchPlan,
    UserProjectAssistant,
    outside_repository_note,
    project_dir,
    refuse_expanded,
    unreadable,
)
from mahavishnu.environments.profiles import Profile
from mahavishnu.errors import ConfigError, InvalidConfigFileError, MahavishnuError, SecretStoreError
from mahavishnu.files import safe_write
from mahavishnu.files.json_document import JsonDocument, json_data
from mahavishnu.files.json_values import as_text, member
from mahavishnu.files.safe_write import read_text
from mahavishnu.json_types import JSONObject as JSONData
from mahavishnu.json_types import JSONValue
from mahavishnu.masking import mask

#: The provider id a profile is written under (``model`` is ``"mahavishnu/MODEL"``).
PROVIDER = "mahavishnu"
#: ``name`` of the provider entry Mahavishnu wrote.
MARK = "[mahavishnu] profile "
#: The AI SDK package OpenCode loads for an OpenAI-compatible endpoint (chat completions).
OPENAI_COMPATIBLE = "@ai-sdk/openai-compatible"
#: The one for an endpoint of the Responses API: OpenCode 1.18 makes a custom provider's model with
#: the package's ``languageModel``, which in ``@ai-sdk/openai`` (AI SDK 5 and later) is its Responses
#: model, whatever the base URL; ``@ai-sdk/openai-compatible`` has none.
OPENAI_RESPONSES = "@ai-sdk/openai"


def npm_package(wire_api: str | None) -> str:
    """The AI SDK package OpenCode speaks an endpoint of ``wire_api`` with."""
    return OPENAI_RESPONSES if wire_api == "responses" else OPENAI_COMPATIBLE


#: What OpenCode replaces in its config's text before parsing it, in any string outside a ``//``
#: comment: ``{env:VAR}`` by the variable, ``{file:PATH}`` by the file's content (1.18 matches the
#: lower case only; any case is refused, in case a later one does not).
SUBSTITUTIONS = Expansion(
    re.compile(r"\{(?:env|file):", re.IGNORECASE), "by a variable or a file's content", "'{env:' and '{file:'"
)


def config_path(scope: str = "user") -> Path:
    """The file edited: an existing ``opencode.jsonc``, else ``opencode.json``."""
    folder = paths.opencode_config_dir() if scope == "user" else project_dir()
    jsonc = folder / "opencode.jsonc"
    return jsonc if jsonc.exists() else folder / "opencode.json"


def key_file() -> Path:
    """Mahavishnu's file holding the key of the profile OpenCode is switched to (mode 600), named
    by ``{file:…}`` when the key lives in the keyring or the secrets file."""
    return paths.data_dir() / "opencode" / "api-key"


def forget_key(values: set[str]) -> list[Path]:
    """Remove the key file, and its backups, where they hold one of ``values`` (keys just deleted
    from the secrets store: ``secrets delete`` leaves no copy of them behind); the files removed."""
    path, removed = key_file(), []
    with safe_write.file_lock(path):
        held = read_text(path)
        if held is not None and held.strip() in values and safe_write.remove(path, held):
            removed.append(path)
        for backup in safe_write.list_backups(path):
            if (read_text(backup.file) or "").strip() in values:
                backup.file.unlink(missing_ok=True)
                removed.append(backup.file)
    return removed


#: What OpenCode writes into a config file of its own, and into one that lacks it when it loads it:
#: a file a switch creates has it already, so OpenCode's first start does not change it.
SCHEMA = "https://opencode.ai/config.json"


def load(text: str | None, source: Path | str) -> JsonDocument:
    """The config, comments and layout kept (an empty or missing file is ``{}``)."""
    return JsonDocument.parse(text or "", source=str(source), comments=True)


def validate(text: str) -> None:
    """An object at the top; ``provider`` an object of objects; ``model`` a string."""
    data = load(text, "the new OpenCode config").data
    providers = data.get("provider", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise InvalidConfigFileError("refusing to write an OpenCode config whose provider is not {id: {...}}")
    for key in ("model", "small_model"):
        if not isinstance(data.get(key, ""), str):
            raise InvalidConfigFileError(
                f'refusing to write an OpenCode config whose {key} is not "provider/model"'
            )


def is_ours(entry: object) -> bool:
    return isinstance(entry, dict) and str(entry.get("name", "")).startswith(MARK)


def apply_profile(
    text: str | None,
    source: Path | str,
    entry: JSONData,
    model: str,
    small_model: str | None = None,
    *,
    inherited: bool = False,
) -> str:
    """``text`` selecting our provider ``entry``: ``model``, and ``small_model`` (else ``model``
    where the file has a ``small_model``, or one of a file it outranks is ``inherited``)."""
    doc = load(text, source)
    if not (text or "").strip():  # (OpenCode adds it to a file without one as it loads it)
        doc.set(["$schema"], SCHEMA)
    existing = doc.get(["provider", PROVIDER])
    if existing is not None and not is_ours(existing):
        raise InvalidConfigFileError(
            f"{source} already has a provider '{PROVIDER}' that Mahavishnu did not write",
            hint=f"Rename or remove provider.{PROVIDER} in that file and switch again; nothing was written.",
        )
    doc.set(["provider", PROVIDER], entry)
    doc.set(["model"], f"{PROVIDER}/{model}")
    if small_model is None and (inherited or doc.get(["small_model"]) is not None):
        small_model = model  # (the user's, or the one inherited, would go to their provider)
    if small_model is not None:
        doc.set(["small_model"], f"{PROVIDER}/{small_model}")
    return doc.dumps()


def remove_profile(text: str | None, source: Path | str) -> str:
    """``text`` without our provider entry and the ``model`` and ``small_model`` that select it
    (OpenCode then picks its own default); ``provider`` goes too when only ours was in it, unless it
    holds a comment."""
    doc = load(text, source)
    if is_ours(doc.get(["provider", PROVIDER])):
        doc.delete(["provider", PROVIDER], prune_empty_parents=True)
    for key in ("model", "small_model"):
        if _names_ours(doc.get([key])):
            doc.delete([key])
    return doc.dumps()


def _names_ours(value: object) -> bool:
    return isinstance(value, str) and value.startswith(f"{PROVIDER}/")


class OpenCode(UserProjectAssistant):
    name = "opencode"
    label = "OpenCode"
    protocol = "openai"

    def config_path(self, scope: Scope) -> Path:
        return config_path(scope)

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
        endpoint = profile.endpoint("openai", self.label)
        model, small = str(endpoint.model), endpoint.haiku_model
        values = {"openai.base_url": str(endpoint.base_url), "openai.model": model}
        values |= {"openai.haiku_model": small} if small else {}
        refuse_expanded(profile.name, self.label, values, SUBSTITUTIONS)
        key = _key(profile, inline_secret=inline_secret, dry_run=dry_run)
        warnings = [key.warning] if key.warning else []
        below, above = _around(path)
        read = {file: _data(file) for _, file in [*below, (scope, path), *above]}
        inherited = any(isinstance(read[file].get("small_model"), str) for _, file in below)
        warnings += _other_models(profile.name, path, [file for _, file in above], read)
        edits: list[FileEdit] = []
        if key.kind in ("none", "env"):
            api_key = str(key.value) if key.kind == "none" else f"{{env:{key.env_var}}}"
        else:  # the key itself: into our own file, named by reference
            secret = str(key.value)
            edits.append(_key_file_edit(secret))
            api_key = f"{{file:{_readable_key_file()}}}"
            if scope == "project":
                warnings.append(f"{path} names {key_file()}, a file on this machine only")
        if scope == "project" and (note := outside_repository_note(self.label, path)):
            warnings.append(note)
        entry: JSONData = {
            "npm": npm_package(endpoint.wire_api),
            "name": MARK + profile.name,
            "options": {"baseURL": str(endpoint.base_url), "apiKey": api_key},
            "models": {name: {"name": name} for name in (model, small or model)},
        }
        edits.insert(
            0,
            FileEdit(
                path=path,
                transform=lambda text: apply_profile(text, path, entry, model, small, inherited=inherited),
                validate=validate,
            ),
        )
        return SwitchPlan(edits, warnings)

    def plan_stock(self, scope: Scope) -> SwitchPlan:
        """Back to OpenCode's own providers and login (``auth.json``): our provider entry and the
        model selecting it removed. The key file stays (mode 600) until the next switch rewrites it."""
        path = self.settings_path(scope)
        return SwitchPlan(
            [FileEdit(path=path, transform=lambda text: remove_profile(text, path), validate=validate)]
        )

    def validate_text(self, text: str) -> None:
        validate(text)

    def outranking_fix(self, path: Path) -> str | None:
        """For a file no switch writes that wins here: the model it sets, named."""
        if any(path.resolve() == config_path(scope).resolve() for scope in ("user", "project")):
            return None
        model = as_text(_data(path).get("model"))
        if not model:
            return None
        return (
            f'that file sets "model": {_quoted(model)} and no switch writes it: take the provider and '
            "model out of that file"
        )

    def parse_config(self, text: str, path: Path) -> None:
        load(text, path)

    def current(self, settings: Settings) -> list[CurrentProvider]:
        found = []
        for scope, path in read_configs():
            try:
                data = load(read_text(path), path).data
            except MahavishnuError as exc:
                found.append(unreadable(self.name, scope, path, exc))
                continue
            model = as_text(data.get("model"))
            if not model:
                continue
            provider_id, _, model_id = model.partition("/")
            entry = _object(member(data, "provider", provider_id))
            options = _object(entry.get("options"))
            found.append(
                CurrentProvider(
                    tool=self.name,
                    scope=scope,
                    path=str(path),
                    profile=str(entry.get("name")).removeprefix(MARK) if is_ours(entry) else None,
                    base_url=as_text(options.get("baseURL")),
                    model=model_id or model,
                    key_source=_key_source(as_text(options.get("apiKey"))),
                )
            )
        return found[::-1]  # the project file wins


#: The scope ``ai current`` shows for ``~/.opencode/opencode.json(c)``, which OpenCode reads from
#: every folder after all the others: it outranks the files of both scopes a switch writes.
HOME_SCOPE = "home"


def read_configs() -> list[tuple[str, Path]]:
    """The config files OpenCode reads from this folder that exist, lowest precedence first: the
    user's; then, up to the repository's root, ``opencode.json`` and ``opencode.jsonc`` of each folder
    (the nearest wins), the ``.opencode`` folders' (1.18: the root's wins) and ``~/.opencode``'s.
    No switch writes those but the user's and the root's, and they outrank both."""
    user = config_path("user")
    return _existing([(scope, path) for scope, path in _candidates() if scope != "user" or path == user])


def user_configs() -> list[Path]:
    """The user's config files that exist, in the config folder and ``~/.opencode`` (under both
    names), lowest precedence first: those whatever the folder OpenCode starts in."""
    return [path for scope, path in _existing(_candidates()) if scope in ("user", HOME_SCOPE)]


def _candidates() -> list[tuple[str, Path]]:
    """The files of ``read_configs``, whether they exist or not, and the user's under both names."""
    folders = paths.repository_folders()  # root first
    dotted = [folder / ".opencode" for folder in folders[::-1]]
    found = [("user", paths.opencode_config_dir() / name) for name in _NAMES]
    for folder in [*folders, *dotted]:
        found += [("project", folder / name) for name in _NAMES]
    return [*found, *((HOME_SCOPE, paths.home() / ".opencode" / name) for name in _NAMES)]


def _around(path: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """The existing config files OpenCode reads from this folder that ``path`` outranks, and those
    that outrank it (each lowest precedence first)."""
    found, target = _candidates(), path.resolve()
    at = next((i for i, (_, file) in enumerate(found) if file.resolve() == target), len(found))
    below, above = _existing(found[:at]), _existing(found[at + 1 :])
    return [e for e in below if e[1].resolve() != target], [e for e in above if e[1].resolve() != target]


def _data(path: Path) -> JSONData:
    """A config file's content; ``{}`` when it cannot be read (``ai current`` and ``doctor`` say why)."""
    try:
        return json_data(read_text(path) or "", source=str(path))
    except MahavishnuError:
        return {}


def _other_models(profile: str, path: Path, above: list[Path], read: dict[Path, JSONData]) -> list[str]:
    """Warnings for the model settings a switch of ``path`` leaves to another provider: a
    ``small_model`` of a file that outranks it (a ``model`` there is ``ai current``'s and the switch's
    outranking warning), and an agent's, mode's or command's own ``model`` in any file OpenCode reads
    here (``read``: their contents); those are the user's choices, kept."""
    warnings = []
    for file in above:
        small = read[file].get("small_model")
        if isinstance(small, str) and not _names_ours(small):
            warnings.append(
                f'{file} sets "small_model": {_quoted(small)} and wins over {path}: OpenCode asks that '
                f"model for each session's title (your first prompt goes with it), not {profile}; take "
                "small_model out of that file"
            )
    for file, data in read.items():
        for section in ("agent", "mode", "command"):
            for name, entry in _object(data.get(section)).items():
                model = _object(entry).get("model")
                if isinstance(model, str) and not _names_ours(model):
                    warnings.append(
                        f"{file}: {section}.{_quoted(name)[1:-1]}.model is {_quoted(model)}: OpenCode sends "
                        f"that {section}'s requests there, not to {profile}; take it out for the "
                        "switched model"
                    )
    return warnings


def _quoted(value: str) -> str:
    """A value of the user's file in a message: quoted, control characters escaped, cut short."""
    return json.dumps(value if len(value) <= 120 else value[:119] + "…", ensure_ascii=False)


_NAMES = ("opencode.json", "opencode.jsonc")  # (OpenCode reads both; the second wins)


def _existing(files: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """Those of ``files`` that exist, once per real file (in $HOME the project file is the user's)."""
    seen: set[Path] = set()
    kept = []
    for scope, path in files:
        if path.is_file() and path.resolve() not in seen:
            seen.add(path.resolve())
            kept.append((scope, path))
    return kept


def _object(value: JSONValue) -> JSONData:
    return value if isinstance(value, dict) else {}


def _key(profile: Profile, *, inline_secret: bool, dry_run: bool) -> KeyDelivery:
    """By ``{env:VAR}`` when the key is in a variable; else the key itself, for our own file."""
    needs = KeyNeeds(
        "OpenCode", env_file.default_env_var(profile), runs_helper=False, reads_env=None, tool="opencode"
    )
    try:
        return deliver(profile, needs, inline=inline_secret, dry_run=dry_run)
    except SecretStoreError:
        if not profile.needs_secret or inline_secret:
            raise
        return deliver(profile, needs, inline=True, dry_run=dry_run)  # keyring / secrets file


def _key_file_edit(secret: str) -> FileEdit:
    return FileEdit(
        path=key_file(),
        transform=lambda _old: secret + "\n",
        validate=_any_text,
        mode=0o600,
        secrets=(secret,),
    )


#: What OpenCode cannot read in a ``{file:PATH}``: it takes the path from the file's raw text up to the
#: first ``}`` (``/\{file:[^}]+\}/``), so a ``}`` cuts it, and ``"``, ``\`` and control characters
#: are there as JSON escapes it does not undo.
_NOT_IN_FILE_PATH = re.compile(r'[}"\\\x00-\x1f\x7f]')


def _readable_key_file() -> Path:
    """``key_file()``, refused where OpenCode would read another path from its ``{file:…}``."""
    path = key_file()
    if found := _NOT_IN_FILE_PATH.search(str(path)):
        raise ConfigError(
            f"OpenCode cannot read the key from {_quoted(str(path))}: the path in OpenCode's {{file:…}} "
            f"cannot hold {_quoted(found.group())}",
            hint="Give the profile its key in an environment variable (secret: env:VAR in the profile), or "
            "set MAHAVISHNU_HOME to a folder whose path has no '}', '\"' or '\\'; nothing was written.",
        )
    return path


def _any_text(text: str) -> None:
    """The key file holds the key and nothing else."""


def _key_source(api_key: str | None) -> str | None:
    if not api_key:
        return None
    if api_key.startswith("{env:") and api_key.endswith("}"):
        return f"env {api_key[5:-1]}"
    if api_key.startswith("{file:") and api_key.endswith("}"):
        return f"file {api_key[6:-1]}"
    return f"inline key {mask(api_key)}"
