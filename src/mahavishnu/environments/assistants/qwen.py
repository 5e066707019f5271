"""Qwen Code: ``~/.qwen/settings.json`` (user; ``$QWEN_HOME/settings.json`` when set) and
``<cwd>/.qwen/settings.json`` (project: Qwen Code's workspace is the folder it starts in, never the
git root above it). Both are JSON with comments (Qwen Code strips them, then ``JSON.parse``: no
trailing commas or other JSON5, which ``load`` refuses as Qwen Code would): comments survive every edit.

A profile owns ``security.auth.selectedType`` (``"openai"``), ``model.name`` and one entry of
``modelProviders.openai[]``::

    {"id": MODEL, "name": LABEL, "baseUrl": URL, "envKey": VAR, "description": "[mahavishnu] profile NAME"}

(``"wireApi": "responses"`` too when the endpoint serves the Responses API). The description marks
the entries Mahavishnu added, so a switch removes the previous profile's entry and never the user's.
The key goes by reference: ``envKey`` names the environment variable the key is read from now.
``--inline-secret`` (or a key that lives in the keyring) writes it into ``~/.qwen/.env`` (mode 600),
which Qwen Code loads at start in every folder; Qwen Code cannot run a command to fetch a key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from mahavishnu.files.json_document import (
    JSONArray,
    JsonDocument,
    Value,
    Wsc,
    _above,
    _after_last,
    _child,
    _close_line_comments,
    _coalesce,
    _find,
    _has_comment,
    _has_newline,
    _is_array,
    _is_object,
    _line_indent,
    _newline_in,
    _render,
    _split_line,
    _to_python,
    check_jsonc,
)
from mahavishnu.files.json_values import as_array, as_text, member
from mahavishnu.files.safe_write import read_text
from mahavishnu.json_types import JSONArray as JSONList
from mahavishnu.json_types import JSONObject as JSONData
from mahavishnu.json_types import JSONReadable, JSONValue
from mahavishnu.masking import mask

#: The auth type a profile selects (Qwen Code's OpenAI-compatible providers).
AUTH_TYPE = "openai"
#: ``description`` of the modelProviders entries Mahavishnu wrote.
MARK = "[mahavishnu] profile "


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
    data = load(text, "the new settings").data
    providers = data.get("modelProviders", {})
    if not isinstance(providers, dict) or not all(isinstance(v, list) for v in providers.values()):
        raise InvalidConfigFileError("refusing to write settings whose modelProviders is not {id: [...]}")


class SettingsDocument(JsonDocument):
    """A JSONC document that can also remove and append elements of an array, keeping the rest."""

    def array(self, keys: Sequence[str]) -> JSONArray | None:
        node: Value = self._root
        for key in keys:
            if not _is_object(node):
                return None
            index = _find(node, key)
            if index is None:
                return None
            node = _child(node, index)
        return node if _is_array(node) else None

    def remove_elements(self, keys: Sequence[str], unwanted: Callable[[JSONValue], bool]) -> int:
        array = self.array(keys)
        if array is None:
            return 0
        removed = 0
        for index in range(len(array.values) - 1, -1, -1):
            if unwanted(_to_python(array.values[index])):
                _remove_element(array, index)
                removed += 1
        return removed

    def append_element(self, keys: Sequence[str], value: JSONReadable) -> None:
        """Append to the array at ``keys``, creating it (and objects on the way) when missing."""
        array = self.array(keys)
        if array is None:
            current = self.get(keys)
            if current is not None:
                raise InvalidConfigFileError(
                    f"cannot add to {'.'.join(keys)} in {self._source}: it is not an array",
                    hint="Fix or remove that key by hand, then run the command again.",
                )
            self.set(keys, [value])
            return
        indent = _element_indent(array)
        if not array.values:
            self.set(keys, [value])  # rewrite the empty array in the file's style
            return
        node = _render(value, indent, self._style, own=self._own)
        if indent is None:
            _append_inline(array, node)
        else:
            _append_line(array, node, self._style.newline + indent)


# -- array elements: the same layout as object members (see json_document), with values for keys --


def _gap(array: JSONArray, index: int) -> Wsc:
    gap: Wsc = array.leading_wsc if index == 0 else array.values[index].wsc_before
    return gap


def _set_gap(array: JSONArray, index: int, items: Wsc) -> None:
    if index == 0:
        array.leading_wsc = items
        array.values[0].wsc_before = []
    else:
        array.values[index].wsc_before = items


def _closing(array: JSONArray) -> Wsc:
    closing: Wsc = array.trailing_comma.wsc_after if array.trailing_comma else array.values[-1].wsc_after
    return closing


def _set_closing(array: JSONArray, items: Wsc) -> None:
    if array.trailing_comma:
        array.trailing_comma.wsc_after = items
    else:
        array.values[-1].wsc_after = items


def _element_indent(array: JSONArray) -> str | None:
    for index in range(len(array.values) - 1, -1, -1):
        indent = _line_indent(_gap(array, index))
        if indent is not None:
            return indent
    return None


def _append_line(array: JSONArray, node: Value, line_break: str) -> None:
    end_of_line, rest = _split_line(_closing(array))
    if not array.trailing_comma:
        array.values[-1].wsc_after = []
    array.values.append(node)
    node.wsc_before = _coalesce([*end_of_line, line_break])
    _set_closing(array, rest)


def _append_inline(array: JSONArray, node: Value) -> None:
    gap: Wsc = _coalesce(_gap(array, len(array.values) - 1)) if len(array.values) > 1 else [" "]
    closing = _closing(array)
    if not array.trailing_comma:
        array.values[-1].wsc_after = []
    array.values.append(node)
    node.wsc_before = [" "] if _has_comment(gap) or _has_newline(gap) else list(gap)
    _set_closing(array, closing)


def _remove_element(array: JSONArray, index: int) -> None:
    count = len(array.values)
    if count == 1:
        inside = [*_above(array.leading_wsc), *_after_last(_closing(array))]
        newline = _newline_in(array.leading_wsc + _closing(array))
        array.values.clear()
        array.trailing_comma = None
        array.leading_wsc = _close_line_comments(inside, newline) if _has_comment(inside) else []
    elif index == count - 1:
        gap, closing = _gap(array, index), _closing(array)
        newline = _newline_in(gap + closing)
        kept = [*_above(gap), *_after_last(closing)]
        del array.values[index]
        if array.trailing_comma:
            array.trailing_comma.wsc_after = _close_line_comments(kept, newline)
        else:
            previous = array.values[-1]
            previous.wsc_after = _close_line_comments([*previous.wsc_after, *kept], newline)
    else:
        gap, next_gap = _gap(array, index), _gap(array, index + 1)
        newline = _newline_in(gap + next_gap)
        merged = [*_above(gap), *_split_line(next_gap)[1]] if _has_newline(next_gap) else gap
        del array.values[index]
        _set_gap(array, index, _close_line_comments(merged, newline))


# -- the assistant -----------------------------------------------------------------------------


def is_ours(entry: JSONValue) -> bool:
    return isinstance(entry, dict) and str(entry.get("description", "")).startswith(MARK)


def apply_profile(text: str | None, source: Path | str, entry: Mapping[str, str]) -> str:
    doc = load(text, source)
    doc.remove_elements(["modelProviders", "openai"], is_ours)
    doc.append_element(["modelProviders", "openai"], entry)
    doc.set(["security", "auth", "selectedType"], AUTH_TYPE)
    doc.set(["model", "name"], entry["id"])
    return doc.dumps()


def remove_profile(text: str | None, source: Path | str) -> str:
    """``text`` without our provider entries, and without the model and auth type they selected. No
    login type is written in their place: Qwen Code then takes its auth from the environment
    (``OPENAI_API_KEY``…) or asks. An auth type the file had before a switch is the user's own, kept
    by the switch and put back by the stock switch (``own_settings``). Objects this empties go too,
    unless they hold a comment."""
    doc = load(text, source)
    data = doc.data
    ours = _our_models(data)
    if not ours:
        return doc.dumps()
    doc.remove_elements(["modelProviders", "openai"], is_ours)
    for keys in (["modelProviders", "openai"], ["modelProviders"]):
        if doc.get(keys) in ([], {}):  # only ours were there: leave no empty shell
            doc.delete(keys)
    if member(data, "model", "name") in ours:
        doc.delete(["model", "name"], prune_empty_parents=True)
    if doc.get(["security", "auth", "selectedType"]) == AUTH_TYPE:
        doc.delete(["security", "auth", "selectedType"], prune_empty_parents=True)
    return doc.dumps()


def _our_models(data: JSONData) -> list[JSONValue]:
    """The ids of the provider entries Mahavishnu wrote."""
    entries = as_array(member(data, "modelProviders", "openai"))
    return [e.get("id") for e in entries if isinstance(e, dict) and is_ours(e)]


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
        edits = [FileEdit(path=path, transform=lambda text: remove_profile(text, path), validate=validate)]
        dotenv = env_path()
        if read_text(dotenv) is not None:  # (even without our keys: what a switch would replace of it)
            edits.append(dotenv_edit(dotenv, {}, note="", secrets=()))
        return SwitchPlan(edits)

    def validate_text(self, text: str) -> None:
        validate(text)

    def parse_config(self, text: str, path: Path) -> None:
        load(text, path)

    def current(self, settings: Settings) -> list[CurrentProvider]:
        found = []
        for scope, path in existing_configs(self.scopes, self.config_path):
            try:
                data = load(read_text(path), path).data
            except MahavishnuError as exc:
                found.append(unreadable(self.name, scope, path, exc))
                continue
            model = member(data, "model", "name")
            chosen = _selected(as_array(member(data, "modelProviders", "openai")), model)
            if chosen is None:
                continue
            description = str(chosen.get("description", ""))
            found.append(
                CurrentProvider(
                    tool=self.name,
                    scope=scope,
                    path=str(path),
                    profile=description.removeprefix(MARK) if is_ours(chosen) else None,
                    base_url=as_text(chosen.get("baseUrl")),
                    model=as_text(model),
                    key_source=_key_source(chosen),
                )
            )
        return found[::-1]


def _selected(entries: JSONList, model: JSONValue) -> JSONData | None:
    """The entry Qwen Code uses for ``model.name`` (ours first when ids repeat)."""
    matching = [e for e in entries if isinstance(e, dict) and e.get("id") == model]
    ours = [e for e in matching if is_ours(e)]
    candidates = ours or matching
    return candidates[0] if candidates else None


def _key_source(entry: JSONData) -> str | None:
    if entry.get("apiKey"):
        return f"inline key {mask(str(entry['apiKey']))}"
    var = entry.get("envKey")
    if not var:
        return None
    return "envKey " + env_file.key_source(str(var), env_path())
