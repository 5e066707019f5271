"""Pi (``@mariozechner/pi-coding-agent``): ``~/.pi/agent`` (``$PI_CODING_AGENT_DIR`` when set) holds
``settings.json`` (strict JSON: Pi reads it with ``JSON.parse``) and ``models.json`` (custom providers;
``//`` comments and trailing commas allowed: Pi 0.73 strips them first, but not ``/* */``). Only the
user scope: custom providers live in models.json.

A profile owns one provider of models.json and the default model of settings.json::

    models.json:   {"providers": {"mahavishnu": {"baseUrl": URL, "api": "openai-completions",
                    "apiKey": KEY-REFERENCE, "models": [{"id": MODEL, "name": "[mahavishnu] profile NAME"}]}}}
    settings.json: {"defaultProvider": "mahavishnu", "defaultModel": MODEL}
                   (and "mahavishnu/MODEL" added to an "enabledModels" the user has)

(``"api": "openai-responses"`` when the endpoint serves the Responses API.) The key goes by reference,
as Pi resolves ``apiKey``: the name of the environment variable holding it, or ``!COMMAND`` whose
output is the key (``mahavishnu secrets get NAME`` for a key in the keyring or the secrets file).
The key itself is never written. Every other provider and setting is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mahavishnu import paths
from mahavishnu.config import Settings
from mahavishnu.environments import env_file
from mahavishnu.environments.api_key import KeyNeeds, deliver
from mahavishnu.environments.assistants.base import (
    CurrentProvider,
    FileEdit,
    Scope,
    SwitchPlan,
    UserProjectAssistant,
    existing_configs,
    helper_profile,
    unreadable,
)
from mahavishnu.environments.profiles import Profile
from mahavishnu.errors import InvalidConfigFileError, MahavishnuError, restore_hint
from mahavishnu.files.json_document import JsonDocument, check_jsonc
from mahavishnu.files.json_values import as_text, member
from mahavishnu.files.safe_write import read_text
from mahavishnu.json_types import JSONObject as JSONData
from mahavishnu.json_types import JSONValue
from mahavishnu.masking import mask

#: The provider id a profile is written under.
PROVIDER = "mahavishnu"
#: Pi's model scope in settings.json (what Ctrl+P cycles through): when it is set and the default
#: model is not in it, Pi starts on its first model, so a switch adds ``mahavishnu/MODEL`` to it.
SCOPE = "enabledModels"
#: ``name`` of the model entry Mahavishnu wrote.
MARK = "[mahavishnu] profile "
#: ``apiKey`` of a profile that needs no key (Pi wants one). Pi reads any ``apiKey`` as the name of an
#: environment variable first: the profile's name there (``GITHUB_TOKEN``) would send that variable
#: to the endpoint. No variable's name holds an ``=``.
NO_KEY = "no-key=mahavishnu"
#: An ``apiKey`` Pi reads as the name of an environment variable (when that variable is set).
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


agent_dir = paths.pi_agent_dir


def settings_file() -> Path:
    return agent_dir() / "settings.json"


def models_file() -> Path:
    return agent_dir() / "models.json"


def load_settings_text(text: str | None, source: Path | str) -> JsonDocument:
    """settings.json as Pi reads it: strict JSON, an object on top (empty or missing: ``{}``)."""
    return JsonDocument.parse(text or "", source=str(source), comments=False)


def load_models(text: str | None, source: Path | str) -> JsonDocument:
    """models.json: JSON with ``//`` comments and trailing commas (refused where Pi refuses it)."""
    check_models(text or "", str(source))
    return JsonDocument.parse(text or "", source=str(source), comments=True)


#: Pi 0.73 takes ``//`` comments, then trailing commas, out of models.json (strings left alone) and
#: hands the rest to ``JSON.parse``: a ``/* */`` comment or any other JSON5 it refuses.
_STRING_OR_LINE_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*')
_STRING_OR_TRAILING_COMMA = re.compile(r'"(?:\\.|[^"\\])*"|,(?=\s*[}\]])')
_STRING_OR_BLOCK_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|/\*')


def check_models(text: str, source: str) -> None:
    """Raise InvalidConfigFileError, naming the line, where Pi would not read ``text``."""
    bare = _STRING_OR_TRAILING_COMMA.sub(_blank, _STRING_OR_LINE_COMMENT.sub(_blank, text))
    block = next((m for m in _STRING_OR_BLOCK_COMMENT.finditer(bare) if m.group() == "/*"), None)
    if block is not None:
        line = text.count("\n", 0, block.start()) + 1
        column = block.start() - text.rfind("\n", 0, block.start())
        raise InvalidConfigFileError(
            f"invalid JSON in {source} at line {line}, column {column}: a /* */ comment, which Pi refuses "
            "(it takes out // comments only): write it as // lines",
            hint=restore_hint(source),
        )
    check_jsonc(bare, source, reader="Pi", bom=False)  # the rest as JSON.parse reads it


def _blank(match: re.Match[str]) -> str:
    """A string as it is; what Pi takes out as spaces, so errors name the same line and column."""
    found = match.group()
    return found if found.startswith('"') else " " * len(found)


def parse_models(text: str, path: Path) -> None:
    """models.json as Pi reads it, with ``providers`` an object of provider objects."""
    load_models(text, path)
    validate_models(text)


def validate_settings(text: str) -> None:
    data = load_settings_text(text, "the new Pi settings").data
    for key in ("defaultProvider", "defaultModel"):
        if not isinstance(data.get(key, ""), str):
            raise InvalidConfigFileError(f"refusing to write Pi settings whose {key} is not a string")


def validate_models(text: str) -> None:
    providers = load_models(text, "the new Pi models.json").data.get("providers", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise InvalidConfigFileError("refusing to write a Pi models.json whose providers is not {id: {...}}")


def is_ours(provider: JSONValue) -> bool:
    models = provider.get("models") if isinstance(provider, dict) else None
    return isinstance(models, list) and any(
        isinstance(m, dict) and str(m.get("name", "")).startswith(MARK) for m in models
    )


def apply_models(text: str | None, source: Path | str, provider: JSONData) -> str:
    doc = load_models(text, source)
    existing = doc.get(["providers", PROVIDER])
    if existing is not None and not is_ours(existing):
        raise InvalidConfigFileError(
            f"{source} already has a provider '{PROVIDER}' that Mahavishnu did not write",
            hint=f"Rename or remove providers.{PROVIDER} in that file and switch again; nothing was written.",
        )
    doc.set(["providers", PROVIDER], provider)
    return doc.dumps()


def remove_models(text: str | None, source: Path | str) -> str:
    doc = load_models(text, source)
    if is_ours(doc.get(["providers", PROVIDER])):
        doc.delete(["providers", PROVIDER], prune_empty_parents=True)
    return doc.dumps()


def apply_settings(text: str | None, source: Path | str, model: str) -> str:
    doc = load_settings_text(text, source)
    doc.set(["defaultProvider"], PROVIDER)
    doc.set(["defaultModel"], model)
    scope = doc.get([SCOPE])
    if isinstance(scope, list) and scope:  # Pi would start on the scope's first model instead
        doc.set([SCOPE], [*_not_ours(scope), f"{PROVIDER}/{model}"])
    return doc.dumps()


def remove_settings(text: str | None, source: Path | str) -> str:
    """Without the default provider and model that select ours (Pi then picks its own default),
    and without our model in the user's scope."""
    doc = load_settings_text(text, source)
    if doc.get(["defaultProvider"]) == PROVIDER:
        doc.delete(["defaultProvider"])
        doc.delete(["defaultModel"])
    scope = doc.get([SCOPE])
    if isinstance(scope, list) and len(kept := _not_ours(scope)) < len(scope):
        doc.set([SCOPE], kept)
    return doc.dumps()


def _not_ours(scope: list[JSONValue]) -> list[JSONValue]:
    """The scope's patterns but those naming our provider's models (``mahavishnu/…``)."""
    return [entry for entry in scope if not str(entry).startswith(f"{PROVIDER}/")]


class Pi(UserProjectAssistant):
    name = "pi"
    label = "Pi"
    protocol = "openai"
    scopes: tuple[Scope, ...] = ("user",)

    def config_path(self, scope: Scope) -> Path:
        return settings_file()

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
        needs = KeyNeeds(
            self.label, env_file.default_env_var(profile), runs_helper=True, reads_env=None, tool=self.name
        )
        key = deliver(profile, needs, inline=False, dry_run=dry_run)
        warnings = [key.warning] if key.warning else []
        if inline_secret:
            warnings.append("Pi reads its key by reference: --inline-secret writes no key into its files")
        if key.kind == "none":
            api_key = NO_KEY
        elif key.kind == "helper":
            api_key = f"!{key.helper}"
        else:
            api_key = str(key.env_var)
        model = str(endpoint.model)
        provider: JSONData = {
            "baseUrl": str(endpoint.base_url),
            "api": "openai-responses" if endpoint.wire_api == "responses" else "openai-completions",
            "apiKey": api_key,
            "models": [{"id": model, "name": MARK + profile.name}],
        }
        models = models_file()
        edits = [
            FileEdit(path, lambda text: apply_settings(text, path, model), validate_settings),
            FileEdit(models, lambda text: apply_models(text, models, provider), validate_models),
        ]
        return SwitchPlan(edits, warnings)

    def plan_stock(self, scope: Scope) -> SwitchPlan:
        path = self.settings_path(scope)
        models = models_file()
        return SwitchPlan(
            [
                FileEdit(path, lambda text: remove_settings(text, path), validate_settings),
                FileEdit(models, lambda text: remove_models(text, models), validate_models),
            ]
        )

    def validate_text(self, text: str) -> None:
        validate_settings(text)

    def parse_config(self, text: str, path: Path) -> None:
        load_settings_text(text, path)

    def companion_files(self) -> list[tuple[Path, Callable[[str, Path], None]]]:
        return [(models_file(), parse_models)]

    def current(self, settings: Settings) -> list[CurrentProvider]:
        found = []
        for scope, path in existing_configs(("project", "user"), _read_settings_file):
            try:
                data = load_settings_text(read_text(path), path).data
                providers = load_models(read_text(models_file()), models_file()).data
            except MahavishnuError as exc:
                found.append(unreadable(self.name, scope, path, exc))
                continue
            provider_id, model = as_text(data.get("defaultProvider")), as_text(data.get("defaultModel"))
            if not provider_id:
                continue
            provider = member(providers, "providers", provider_id)
            provider = provider if isinstance(provider, dict) else {}
            entry = _model_entry(provider, model)
            name = str(entry.get("name", ""))
            found.append(
                CurrentProvider(
                    tool=self.name,
                    scope=scope,
                    path=str(path),
                    profile=name.removeprefix(MARK) if name.startswith(MARK) else None,
                    base_url=as_text(provider.get("baseUrl")),
                    model=model,
                    key_source=_key_source(as_text(provider.get("apiKey"))),
                )
            )
        return found


def _read_settings_file(scope: Scope) -> Path:
    """The settings Pi reads: the agent folder's, and (project) ``.pi/settings.json`` of the folder
    it starts in, merged over them. No switch writes that one, but it wins where it sets a model."""
    return settings_file() if scope == "user" else Path.cwd() / ".pi" / "settings.json"


def _model_entry(provider: JSONData, model: str | None) -> JSONData:
    models = provider.get("models")
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict) and entry.get("id") == model:
            return entry
    return {}


def _key_source(api_key: str | None) -> str | None:
    if not api_key or api_key == NO_KEY:
        return None
    if api_key.startswith("!"):
        named = helper_profile(api_key[1:])
        return f"secrets get {named}" if named else "command"
    if _ENV_NAME.fullmatch(api_key):
        return f"env {api_key}"
    return f"inline key {mask(api_key)}"
