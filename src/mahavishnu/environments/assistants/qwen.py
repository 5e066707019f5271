"""Qwen Code: ``~/.qwen/settings.json`` (user; ``$QWEN_HOME/settings.json`` when set) and
``<cwd>/.qwen/settings.json`` (project: Qwen Code's workspace is the folder it starts in, never the
git root above it). Both are JSON with comments (Qwen Code strips them, then ``JSON.parse``: no
trailing commas or other JSON5, which ``load`` refuses as Qwen Code would): comments survive every edit.

A profile owns ``security.auth.selectedType`` (``"openai"``; ``"openai-responses"`` for the Responses API:
``auth_type``), ``model.name``, ``model.baseUrl`` and one entry of ``modelProviders.openai[]``::

    {"id": MODEL, "name": LABEL, "baseUrl": URL, "envKey": VAR, "description": "[mahavishnu] profile NAME"}

(``"wireApi": "responses"`` too when the endpoint serves the Responses API). The description marks
the entries Mahavishnu added, so a switch removes the previous profile's entry and never the user's.
The user's own entry of the same model id stays too: Qwen Code takes the first entry of that id at
``model.baseUrl`` (``_selected``), so ours goes before it and ``model.baseUrl`` names ours.
The key goes by reference: ``envKey`` names the environment variable the key is read from now.
``--inline-secret`` (or a key that lives in the keyring) writes it into ``~/.qwen/.env`` (mode 600),
which Qwen Code loads at start in every folder; Qwen Code cannot run a command to fetch a key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import cast

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
    dotenv_edit,
    existing_configs,
    refuse_expanded,
    unreadable,
    workspace_dir,
    workspace_note,
)
from mahavishnu.environments.assistants.gemini import refuse_unreadable_key
from mahavishnu.environments.profiles import Profile
from mahavishnu.errors import InvalidConfigFileError, MahavishnuError
from mahavishnu.files import json_values
from mahavishnu.files.json_arrays import SettingsDocument
from mahavishnu.files.json_document import (
    check_jsonc,
    json_data,
    refused_as_ours,
)
from mahavishnu.files.json_values import as_array, as_object, as_text, member
from mahavishnu.files.safe_write import read_text
from mahavishnu.json_types import JSONObject as JSONData
from mahavishnu.json_types import JSONValue
from mahavishnu.masking import mask

#: The auth type a profile selects (Qwen Code's OpenAI-compatible providers).
AUTH_TYPE = "openai"
#: ``description`` of the modelProviders entries Mahavishnu wrote.
MARK = "[mahavishnu] profile "
#: Where those entries are.
OPENAI = ("modelProviders", "openai")
#: Qwen Code's auth types of OpenAI-compatible providers (Chat Completions, Responses).
OPENAI_PROTOCOLS = ("openai", "openai-responses")
#: The settings Qwen Code picks the model's provider entry by (``_selected``).
SELECTION = (("modelProviders",), ("providerProtocol",), ("model", "name"), ("model", "baseUrl"))


qwen_home = paths.qwen_home


def config_path(scope: str = "user") -> Path:
    if scope == "user":
        return qwen_home() / "settings.json"
    return workspace_dir() / ".qwen" / "settings.json"


def env_path() -> Path:
    """The user-level dotenv file Qwen Code always loads (trusted folder or not)."""
    return qwen_home() / ".env"


def project_env(start: Path) -> Path | None:
    """The workspace ``.env`` Qwen Code loads before ``~/.qwen/.env`` when started in ``start`` in a
    trusted folder: walking up to the home folder, the first ``.qwen/.env`` or ``.env``. Its values
    win: Qwen Code keeps a variable's first value."""
    home = Path.home().resolve()
    for folder in (start.resolve(), *start.resolve().parents):
        if folder == home:
            return None
        for candidate in (folder / ".qwen" / ".env", folder / ".env"):
            if candidate.is_file():
                return candidate
    return None


def trusted_folders_path() -> Path:
    override = os.environ.get("QWEN_CODE_TRUSTED_FOLDERS_PATH")
    return Path(override) if override else qwen_home() / "trustedFolders.json"


def folder_trust_enabled() -> bool:
    """Whether the user's settings turn Qwen Code's folder trust on (its default: off). A project's
    own settings cannot: Qwen Code decides trust before it reads them."""
    try:
        data = load(read_text(config_path("user")), config_path("user")).data
    except MahavishnuError:
        return False
    return member(data, "security", "folderTrust", "enabled") is True


def is_trusted(folder: Path) -> bool:
    """Whether ``trustedFolders.json`` trusts ``folder`` as Qwen Code 0.24.4 decides it: of the rules
    covering it, the deepest (``TRUST_PARENT`` covers its rule's parent), a ``DO_NOT_TRUST`` winning
    a tie; a folder no rule covers, or a file that cannot be read, is not trusted."""
    try:
        rules = json_data(read_text(trusted_folders_path()) or "{}", source="trustedFolders.json")
    except MahavishnuError:
        return False
    here = {folder.absolute(), folder.resolve()}
    best: tuple[int, bool] | None = None
    for rule, level in rules.items():
        base = Path(rule).parent if level == "TRUST_PARENT" else Path(rule)
        if level not in ("TRUST_FOLDER", "TRUST_PARENT", "DO_NOT_TRUST") or not base.is_absolute():
            continue
        covering = [b for b in {base, base.resolve()} if any(h == b or b in h.parents for h in here)]
        if not covering:
            continue
        found = (max(len(b.parts) for b in covering), level != "DO_NOT_TRUST")
        if best is None or found[0] > best[0] or (found[0] == best[0] and not found[1]):
            best = found
    return best is not None and best[1]


def untrusted_reason(path: Path, folder: Path) -> str | None:
    """Why Qwen Code started in ``folder`` ignores the project file ``path``, and what to do; None
    when it reads it."""
    if not folder_trust_enabled() or is_trusted(folder):
        return None
    return (
        f"Qwen Code reads {path} only in a folder it trusts (your security.folderTrust is on), and "
        f"{folder} is not trusted: run /trust in Qwen Code there, or add it to {trusted_folders_path()} "
        f'(e.g. {{"{folder}": "TRUST_FOLDER"}})'
    )


def shadowed_keys(values: Mapping[str, str]) -> list[str]:
    """Warnings for the ``values`` a ``.env`` of this folder's sets too (``project_env``)."""
    nearer = project_env(Path.cwd())
    if nearer is None:
        return []
    theirs = env_file.parse(read_text(nearer))
    return [
        f"Qwen Code started in this folder (when it trusts it) reads {nearer} first, and its {var} wins "
        f"over the one in {env_path()}: the key set there would go to this profile's provider"
        for var in values
        if var in theirs and theirs[var] != values[var]
    ]


def load(text: str | None, source: Path | str) -> SettingsDocument:
    """The settings, refused (nothing written) where Qwen Code would refuse them (``check_jsonc``)."""
    check_jsonc(text or "", str(source), reader="Qwen Code", bom=True)
    return SettingsDocument.parse(text or "", source=str(source), comments=True)


def validate(text: str) -> None:
    """Qwen Code reads JSON with comments (no trailing commas or other JSON5; a BOM is fine) with an
    object at the top; modelProviders.* must be arrays."""
    data = refused_as_ours(load, text).data
    providers = data.get("modelProviders", {})
    if not isinstance(providers, dict) or not all(isinstance(v, list) for v in providers.values()):
        raise InvalidConfigFileError("refusing to write settings whose modelProviders is not {id: [...]}")


# -- the assistant -----------------------------------------------------------------------------


def is_ours(entry: JSONValue) -> bool:
    return isinstance(entry, dict) and str(entry.get("description", "")).startswith(MARK)


def apply_profile(text: str | None, source: Path | str, entry: Mapping[str, str]) -> str:
    """Our entry before the first of the same model id (the user's own provider of that model, kept
    as it is), and ``model.baseUrl`` naming it: both make it the one Qwen Code takes (``_selected``)."""
    doc = load(text, source)
    doc.remove_elements(OPENAI, is_ours)
    doc.insert_element(OPENAI, _first_of(doc.get(OPENAI), entry["id"]), entry)
    doc.set(["security", "auth", "selectedType"], auth_type(entry))
    doc.set(["model", "name"], entry["id"])
    doc.set(["model", "baseUrl"], entry["baseUrl"])
    return doc.dumps()


def auth_type(entry: Mapping[str, str]) -> str:
    """The auth type that selects ``entry``: ``openai-responses`` for an entry of the Responses API.
    Under ``openai`` an entry of the user's of the same model and base URL speaking Chat Completions
    came first (Qwen Code prefers the entries of the selected auth type's protocol: ``_selected``)."""
    return "openai-responses" if entry.get("wireApi") == "responses" else AUTH_TYPE


def _first_of(entries: JSONValue, model: str) -> int:
    """The index of the first entry of ``model``, else the end of the array."""
    found = as_array(entries)
    return next((i for i, e in enumerate(found) if isinstance(e, dict) and e.get("id") == model), len(found))


def remove_profile(text: str | None, source: Path | str) -> str:
    """``text`` without our provider entries, and without the model and auth type they selected. No
    login type is written in their place: Qwen Code then takes its auth from the environment
    (``OPENAI_API_KEY``…) or asks. An auth type the file had before a switch is the user's own, kept
    by the switch and put back by the stock switch (``own_settings``). Objects this empties go too,
    unless they hold a comment."""
    doc = load(text, source)
    data = doc.data
    ours = _ours(data)
    if not ours:
        return doc.dumps()
    doc.remove_elements(OPENAI, is_ours)
    for keys in (OPENAI, ["modelProviders"]):
        if doc.get(keys) in ([], {}):  # only ours were there: leave no empty shell
            doc.delete(keys)
    for key, field in (("name", "id"), ("baseUrl", "baseUrl")):  # what our entries selected
        if member(data, "model", key) in [e.get(field) for e in ours]:
            doc.delete(["model", key], prune_empty_parents=True)
    if doc.get(["security", "auth", "selectedType"]) in OPENAI_PROTOCOLS:
        doc.delete(["security", "auth", "selectedType"], prune_empty_parents=True)
    return doc.dumps()


def _ours(data: JSONData) -> list[JSONData]:
    """The provider entries Mahavishnu wrote."""
    return [e for e in as_array(member(data, *OPENAI)) if isinstance(e, dict) and is_ours(e)]


class Qwen(UserProjectAssistant):
    name = "qwen"
    label = "Qwen Code"
    protocol = "openai"

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
        endpoint = profile.endpoint("openai", self.label)
        needs = KeyNeeds(
            self.label, env_file.default_env_var(profile), runs_helper=False, reads_env=None, tool=self.name
        )
        key = deliver(profile, needs, inline=inline_secret, dry_run=dry_run)
        warnings = [key.warning] if key.warning else []
        if scope == "project":
            warnings.append(workspace_note(self.label, path))
            warnings += filter(None, [untrusted_reason(path, self.project_folder())])
        env_key = key.env_var or needs.inline_var
        dotenv_values: dict[str, str] = {}
        if key.kind in ("none", "inline"):  # a local server ignores the key, but Qwen Code wants one
            dotenv_values[env_key] = str(key.value)
        if key.kind == "inline":
            refuse_unreadable_key(str(key.value), profile.name, self.label, env_key, self.name)
            warnings.append(f"the API key is written into {env_path()} (mode 600) as {env_key}")
        warnings += shadowed_keys(dotenv_values)
        entry: dict[str, str] = {
            "id": str(endpoint.model),
            "name": f"{profile.label} (Mahavishnu)",
            "baseUrl": str(endpoint.base_url),
            "envKey": env_key,
        }
        if endpoint.wire_api == "responses":
            entry["wireApi"] = "responses"
        entry["description"] = MARK + profile.name
        refuse_expanded(profile.name, self.label, {k: entry[k] for k in ("id", "name", "baseUrl")})
        edits = [
            FileEdit(path=path, transform=lambda text: apply_profile(text, path, entry), validate=validate)
        ]
        warnings += unused_entry(edits[0], scope, profile.name)
        dotenv = env_path()
        if dotenv_values or env_file.marked_keys(read_text(dotenv)):
            note = f"profile '{profile.name}' (Qwen Code)"
            secrets = tuple(dotenv_values.values()) if key.kind == "inline" else ()
            edits.append(dotenv_edit(dotenv, dotenv_values, note=note, secrets=secrets))
        return SwitchPlan(edits, warnings)

    def plan_stock(self, scope: Scope) -> SwitchPlan:
        """Back to Qwen Code's own login: our provider entries, the model and auth type they
        selected, and the keys we wrote into ``.env`` removed."""
        path = self.settings_path(scope)
        edits = [
            FileEdit(
                path=path,
                transform=lambda text: remove_profile(text, path),
                validate=validate,
                remove_if_emptied=True,  # (left ``{}``: a switch created it)
            )
        ]
        # (a .env that is not there is left so by a stock switch; a provider switch that creates it
        # needs its stock edit to record its keys as Mahavishnu's)
        edits.append(dotenv_edit(env_path(), {}, note="", secrets=()))
        return SwitchPlan(edits)

    def validate_text(self, text: str) -> None:
        validate(text)

    def parse_config(self, text: str, path: Path) -> None:
        load(text, path)

    def current(self, settings: Settings) -> list[CurrentProvider]:
        """Per file, the entry Qwen Code started here uses when that file is read over the lower
        one: a project file is merged over the user's (``layered``), so its own list of providers, or
        its model, decides, and a file that sets none of ``SELECTION`` is passed over."""
        found = []
        merged: JSONData = {}
        for scope, path in existing_configs(self.scopes, self.config_path):
            try:
                data = load(read_text(path), path).data
            except MahavishnuError as exc:
                found.append(unreadable(self.name, scope, path, exc))
                continue
            # a project file Qwen Code does not read here: shown as it would select, merged into nothing
            unread = untrusted_reason(path, self.project_folder()) if scope == "project" else None
            read_over = layered(merged, data)
            merged = merged if unread else read_over
            chosen = _selected(read_over) if _selects(data) else None
            if chosen is None:
                continue
            found.append(
                CurrentProvider(
                    tool=self.name,
                    scope=scope,
                    path=str(path),
                    profile=_profile_of(chosen),
                    base_url=as_text(chosen.get("baseUrl")),
                    model=as_text(chosen.get("id")),
                    key_source=_key_source(chosen),
                    unread=unread,
                )
            )
        return found[::-1]


def layered(low: JSONData, high: JSONData) -> JSONData:
    """``high`` read over ``low`` as Qwen Code merges its settings files (``mergeRecursively``):
    objects key by key, any other value replaced, an array too: a project's
    ``modelProviders.openai`` replaces the user's whole list."""
    return cast("JSONData", json_values.merged(low, high))


def _selects(data: JSONData) -> bool:
    return any(member(data, *keys) is not None for keys in SELECTION)


def _selected(data: JSONData) -> JSONData | None:
    """The ``modelProviders`` entry Qwen Code 0.24.4 sends ``model.name``'s requests to, picked as
    its ``resolveCliGenerationConfig`` does (checked against the real CLI, tests/e2e): of the
    entries of that id that go with the auth type, the protocol is the auth type's if one has it,
    else the first's (among those at ``model.baseUrl`` when it is set and one is); then of that
    protocol's entries of the id, the first at ``model.baseUrl``, else the first. No auth type
    selected, or not an OpenAI-compatible one: no entry is used."""
    auth = member(data, "security", "auth", "selectedType")
    model, base = member(data, "model", "name"), member(data, "model", "baseUrl")
    if auth not in OPENAI_PROTOCOLS or not isinstance(model, str):
        return None
    entries = [(e, p, flexible) for e, p, flexible in _openai_entries(data) if e.get("id") == model]
    candidates = [(e, p) for e, p, flexible in entries if p == auth or flexible]
    if not candidates:
        return None
    at_base = [c for c in candidates if (c[0].get("baseUrl") or None) == (base or None)]
    pool = at_base if isinstance(base, str) and at_base else candidates
    protocol = next((p for _, p in pool if p == auth), pool[0][1])
    same = [e for e, p, _ in entries if p == protocol]
    return next((e for e in same if base and e.get("baseUrl") == base), same[0])


def _openai_entries(data: JSONData) -> Iterator[tuple[JSONData, str, bool]]:
    """Each entry of an OpenAI-compatible provider, in Qwen Code's order (the providers', then each
    one's array), with the protocol it is registered under and whether either OpenAI auth type may
    select it (it names its ``wireApi``, or its provider is ``openai-responses``)."""
    mapping = as_object(member(data, "providerProtocol"))
    for provider, entries in as_object(member(data, "modelProviders")).items():
        declared = mapping.get(provider, provider)
        if not isinstance(declared, str) or declared not in OPENAI_PROTOCOLS:
            continue
        for entry in as_array(entries):
            if isinstance(entry, dict):
                wire = entry.get("wireApi")
                yield entry, _protocol(declared, wire), wire is not None or declared == "openai-responses"


def _protocol(declared: str, wire: JSONValue) -> str:
    """The auth type an entry is registered under: its provider's, unless it names its wire API."""
    if wire is None:
        return declared
    return "openai-responses" if wire == "responses" else "openai"


def unused_entry(edit: FileEdit, scope: Scope, profile: str) -> list[str]:
    """A warning when Qwen Code would not use the entry ``edit`` writes (``_selected``), because of
    another entry of the model in the file, or at user scope the project file here. (``edit``'s
    transform remembers what it made of the text: the switch does not make it again.)"""
    text = read_text(edit.path)
    try:
        after = json_data(edit.transform(text), source=str(edit.path))
    except MahavishnuError:  # the switch refuses the file itself
        return []
    chosen = _selected(after)
    if chosen is not None and _profile_of(chosen) != profile:
        return [
            f"{edit.path}: Qwen Code would still use the entry of {chosen.get('id')} at "
            f"{_url_of(chosen)} there (of a provider listed before "
            f"modelProviders.openai), not {profile}: give that entry another id, or remove it"
        ]
    return _project_outranks(text, after, profile) if scope == "user" else []


def _project_outranks(text: str | None, after: JSONData, profile: str) -> list[str]:
    """Whether the project file here, read over the user's (``text`` before the switch, ``after``
    it; ``layered``: its own list of providers, or its own model) keeps Qwen Code started here off
    a user-scope switch. Not when it points elsewhere already: the switch's note on files of a
    higher scope names it then (``current``)."""
    user, project = config_path("user"), config_path("project")
    if not project.is_file() or project.resolve() == user.resolve():
        return []
    try:
        theirs = json_data(read_text(project) or "", source=str(project))
        before = json_data(text or "", source=str(user))
    except MahavishnuError:  # `ai current` and `doctor` name it
        return []
    earlier = _selected(layered(before, theirs)) if _selects(theirs) else None
    if earlier is not None and _profile_of(earlier) != profile:
        return []
    chosen = _selected(layered(after, theirs))
    if chosen is not None and _profile_of(chosen) == profile:
        return []
    uses = f"the entry at {_url_of(chosen)}" if chosen else "no entry of this model"
    return [
        f"Qwen Code started in {project.parent.parent} (when it trusts that folder) reads {project} over "
        f"{user}, and its settings win: sessions started there use {uses}, not {profile}; "
        f"`mahavishnu ai switch-llm {profile} --tool qwen --scope project` switches that file too"
    ]


def _url_of(entry: JSONData) -> str:
    from mahavishnu.redaction.scrub import scrub  # (a key in the URL is shown masked)

    return scrub(str(entry.get("baseUrl", "the default base URL")))


def _profile_of(entry: JSONData) -> str | None:
    return str(entry["description"]).removeprefix(MARK) if is_ours(entry) else None


def _key_source(entry: JSONData) -> str | None:
    if entry.get("apiKey"):
        return f"inline key {mask(str(entry['apiKey']))}"
    var = entry.get("envKey")
    if not var:
        return None
    return "envKey " + env_file.key_source(str(var), env_path())
