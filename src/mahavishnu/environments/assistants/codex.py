"""Codex CLI: ``$CODEX_HOME/config.toml`` (default ``~/.codex/config.toml``), edited with tomlkit.

A profile owns the top-level ``model`` and ``model_provider`` keys and one provider table,
``[model_providers.mahavishnu-<profile>]`` (``name``, ``base_url``, ``wire_api``, and either
``env_key`` or an ``auth`` sub-table), appended at the end of the file below a marker comment.
A switch removes the table it wrote for the previous profile; everything else in the file (projects'
trust, MCP servers, hooks state, comments, order) stays byte for byte.

The key, by reference:

* the profile's key comes from an environment variable now: ``env_key`` names it, and Codex reads it
  from its own environment (or ``$CODEX_HOME/.env``);
* it comes from the keyring or the secrets file: ``[...auth] command`` runs ``mahavishnu secrets get
  <profile>`` (Codex's bearer-token command, like Claude Code's ``apiKeyHelper``);
* ``--inline-secret``: the key itself goes into ``$CODEX_HOME/.env`` (mode 600) under ``env_key``.

Codex speaks only the OpenAI Responses API (``wire_api = "responses"``): a profile whose ``openai``
endpoint serves Chat Completions only is refused.

Codex's own profiles are separate files: ``codex --profile NAME`` (``-p NAME``) layers
``$CODEX_HOME/NAME.config.toml`` over config.toml (checked with codex-cli 0.169: its ``--help`` says so,
and it refuses names other than letters, digits, ``-`` and ``_``). ``Codex(profile_file=NAME)`` writes
that file the same way instead of config.toml; ``[profiles]`` tables and a top-level ``profile`` (which
Codex no longer accepts) are never written.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import InlineTable

from mahavishnu import paths
from mahavishnu.config import Endpoint, Settings
from mahavishnu.environments import env_file
from mahavishnu.environments.api_key import KeyDelivery, KeyNeeds, deliver
from mahavishnu.environments.assistants.base import (
    Assistant,
    CurrentProvider,
    FileEdit,
    Scope,
    SwitchPlan,
    dotenv_edit,
    helper_profile,
    refuse_expanded,
)
from mahavishnu.environments.profiles import Profile, all_profiles
from mahavishnu.environments.run_names import SWITCH_PREFIX, switch_provider, switched_profile
from mahavishnu.errors import (
    InvalidConfigFileError,
    InvalidInputError,
    MahavishnuError,
    ProtocolMismatchError,
    restore_hint,
)
from mahavishnu.files.safe_write import read_text
from mahavishnu.masking import mask

#: Provider tables Mahavishnu writes are named ``mahavishnu-<profile>`` (``run_names.switch_provider``).
PROVIDER_PREFIX = SWITCH_PREFIX
MARKER = "# mahavishnu: provider profile"
#: How long Codex waits for ``mahavishnu secrets get`` (its default, 5 s, is tight for a cold start).
HELPER_TIMEOUT_MS = 15000

_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(#.*)?$")
#: What ``codex --profile`` accepts (it refuses ``a.b``, ``a/b``, ``a b`` and the empty name).
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_OWNED_HEADER = re.compile(
    r"""^model_providers\s*\.\s*(?P<q>["']?)(?P<id>mahavishnu-[^"'.\s]*)(?P=q)(\s*\..*)?$"""
)
#: What a UTF-8 file may open with: Codex's TOML reader (toml_edit) skips it, tomlkit does not.
BOM = "\ufeff"


codex_home = paths.codex_home


def config_path(scope: str = "user") -> Path:
    """Codex reads one config file (``$CODEX_HOME/config.toml``) whatever the scope."""
    return codex_home() / "config.toml"


def profile_path(name: str) -> Path:
    """``$CODEX_HOME/NAME.config.toml``, the file ``codex --profile NAME`` layers over config.toml."""
    if not _PROFILE_NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid Codex profile name '{name}'",
            hint="Codex takes a plain name: letters, digits, '-' and '_' (e.g. work).",
        )
    return codex_home() / f"{name}.config.toml"


def env_path() -> Path:
    """The dotenv file Codex loads at start (``$CODEX_HOME/.env``)."""
    return codex_home() / ".env"


def provider_id(profile_name: str) -> str:
    return switch_provider(profile_name)


def parse(text: str | None, source: Path | str = "config.toml") -> tomlkit.TOMLDocument:
    """The document (a leading BOM aside), or InvalidConfigFileError naming the line."""
    text = (text or "").removeprefix(BOM)
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:  # ParseError, or a key twice in an inline table
        raise InvalidConfigFileError(
            f"invalid TOML in {source}{_problem(text or '', exc)}", hint=restore_hint(str(source))
        ) from exc


def read(text: str | None, source: Path | str = "config.toml") -> dict[str, object]:
    """The document's values (``parse``'s, unwrapped), read with tomllib: tens of times faster than
    tomlkit on a config.toml with thousands of ``[projects]`` tables, and a switch reads it several
    times. Only what tomllib refuses goes through ``parse`` (its error names the line; what tomlkit
    alone accepts is read as before)."""
    try:
        return tomllib.loads((text or "").removeprefix(BOM))
    except (tomllib.TOMLDecodeError, RecursionError):
        return parse(text, source).unwrap()


def validate(text: str) -> None:
    """Codex reads strict TOML; refuse the shapes it rejects."""
    try:
        data = tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:  # a bug of ours, never the user's: refuse to write it
        raise InvalidConfigFileError(f"refusing to write invalid TOML: {exc}") from exc
    providers = data.get("model_providers", {})
    if not isinstance(providers, dict):
        raise InvalidConfigFileError("refusing to write config.toml: model_providers is not a table")
    chosen = data.get("model_provider")
    if isinstance(chosen, str) and chosen.startswith(PROVIDER_PREFIX) and chosen not in providers:
        raise InvalidConfigFileError(f"refusing to write config.toml: provider {chosen} is not defined")


@dataclass(frozen=True)
class ProviderEntry:
    """What Mahavishnu writes for a profile."""

    id: str
    profile: str
    name: str
    base_url: str
    model: str
    env_key: str | None = None
    helper: list[str] | None = None  # command + args printing the key

    def toml(self) -> str:
        table: dict[str, str] = {"name": self.name, "base_url": self.base_url, "wire_api": "responses"}
        if self.env_key:
            table["env_key"] = self.env_key
        lines = [f"{MARKER} '{self.profile}' (rewritten by `mahavishnu ai switch-llm`)"]
        lines.append(f"[model_providers.{self.id}]")
        lines += [f"{key} = {tomlkit.item(value).as_string()}" for key, value in table.items()]
        if self.helper:
            lines.append(f"\n[model_providers.{self.id}.auth]")
            lines.append(f"command = {tomlkit.item(self.helper[0]).as_string()}")
            lines.append(f"args = {tomlkit.item(self.helper[1:]).as_string()}")
            lines.append(f"timeout_ms = {HELPER_TIMEOUT_MS}")
        return "\n".join(lines) + "\n"


def apply_entry(
    text: str | None,
    entry: ProviderEntry | None,
    source: Path | str = "config.toml",
    keep: Collection[str] = (),
) -> str:
    """``text`` with Mahavishnu's provider table(s) replaced by ``entry`` (or just removed); a
    leading BOM stays. A table of that name the user wrote (no marker above it) is refused. The
    tables of ``keep`` (another file selects them: ``selected_elsewhere``) stay, not selected here."""
    keep = set(keep) - {entry.id} if entry is not None else set(keep)
    bom, doc = _without_ours(text, source, keep)
    if entry is None:
        _unselect(doc, model=False, kept=keep)
        return bom + doc.as_string()
    _check_providers_table(doc, entry, source)
    if entry.id in _providers(doc.unwrap()):
        raise InvalidConfigFileError(
            f"{source} already has a provider '{entry.id}' that Mahavishnu did not write",
            hint=f"Rename or remove [model_providers.{entry.id}] in that file and switch again; "
            "nothing was written.",
        )
    out = _with_root_keys(doc, {"model": entry.model, "model_provider": entry.id})
    if out and not out.endswith("\n"):
        out += "\n"
    return bom + out + ("\n" if out.strip() else "") + entry.toml()


def _with_root_keys(doc: tomlkit.TOMLDocument, values: Mapping[str, str]) -> str:
    """``doc`` as text with ``values`` set at its root: a key it has changed in place, a new one
    written after the root's last key, or, with none, above the comments that open the first table.
    tomlkit adds a new key after whatever comes last before the first table, and a comment above a
    table (``# Keep history`` over ``[history]``) then sat over our key, and a blank line it added
    there stayed when the key was removed (``ai switch-llm stock``)."""
    new = {key: value for key, value in values.items() if key not in doc}
    for key, value in values.items():
        if key not in new:
            doc[key] = value
    text = doc.as_string()
    lines = text.splitlines(keepends=True)
    first = _first_table_line(lines)
    if not new or first is None:  # (no table: tomlkit's append is at the end, where it belongs)
        for key, value in new.items():
            doc[key] = value
        return doc.as_string()
    end = "\r\n" if lines[first].endswith("\r\n") else "\n"
    added = "".join(f"{key} = {tomlkit.item(value).as_string()}{end}" for key, value in new.items())
    at = _root_keys_end(lines, first)
    return "".join(lines[:at]) + added + "".join(lines[at:])


def _first_table_line(lines: Sequence[str]) -> int | None:
    """The index of the line opening the first table: the first line opening with ``[`` that no
    value before it holds (a multi-line array's or string's line leaves what precedes it unclosed)."""
    for index, line in enumerate(lines):
        if line.lstrip().startswith("[") and _is_complete("".join(lines[:index])):
            return index
    return None


def _is_complete(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


def _root_keys_end(lines: Sequence[str], first: int) -> int:
    """Where a new root key goes: after the root's last key when blank lines part it from the first
    table's comments (or the table); else above the comment lines right over the first table."""
    above = first
    while above > 0 and lines[above - 1].lstrip().startswith("#"):
        above -= 1
    gap = above
    while gap > 0 and not lines[gap - 1].strip():
        gap -= 1
    after_keys = gap < above and gap > 0 and not lines[gap - 1].lstrip().startswith("#")
    at = gap if after_keys else above
    # a line opening with # that closes a multi-line string is no comment: our keys went into it
    return at if at == first or _is_complete("".join(lines[:at])) else first


def _without_ours(
    text: str | None, source: Path | str, keep: Collection[str] = ()
) -> tuple[str, tomlkit.TOMLDocument]:
    """``text``'s BOM and the document of the rest without the provider tables Mahavishnu wrote
    (but those of ``keep``)."""
    read(text, source)  # the user's file must be valid before we touch it
    bom, rest = split_bom(text or "")
    return bom, parse(remove_owned_tables(rest, keep), source)


def _unselect(doc: tomlkit.TOMLDocument, *, model: bool, kept: Collection[str] = ()) -> None:
    """Remove ``model_provider`` when it names a provider of Mahavishnu's no longer in ``doc``, or
    one only ``kept`` for another file (and with ``model``, the model it set)."""
    selected = doc.get("model_provider")
    if _is_ours(selected) and (selected in kept or selected not in _providers(doc.unwrap())):
        doc.remove("model_provider")
        if model and "model" in doc:
            doc.remove("model")


def _check_providers_table(doc: tomlkit.TOMLDocument, entry: ProviderEntry, source: Path | str) -> None:
    """Refuse a ``model_providers`` that ``[model_providers.<id>]`` cannot be added to: an inline table
    (``model_providers = { … }``, which Codex reads, but TOML allows no table header beside it), an
    array of tables or a value. Saying so, rather than calling the user's valid file invalid TOML."""
    providers = doc.get("model_providers")
    if providers is None or (isinstance(providers, Mapping) and not isinstance(providers, InlineTable)):
        return  # (a table, or one split in parts by other tables: tomlkit's OutOfOrderTableProxy)
    shape = "an inline table" if isinstance(providers, InlineTable) else "not a table"
    raise InvalidConfigFileError(
        f"{source}: model_providers is {shape}, so Mahavishnu cannot add its "
        f"[model_providers.{entry.id}] table to it",
        hint="Write each of your providers as a table of its own ([model_providers.NAME] with its keys "
        "below), then switch again; nothing was written.",
    )


def remove_entry(text: str | None, source: Path | str = "config.toml", keep: Collection[str] = ()) -> str:
    """``text`` without Mahavishnu's provider, and without the ``model`` it set when that provider
    was the one selected (Codex then uses its own default model and login); the tables of ``keep``
    (another file selects them) stay, not selected here."""
    bom, doc = _without_ours(text, source, keep)
    _unselect(doc, model=True, kept=keep)
    return bom + doc.as_string()


def split_bom(text: str) -> tuple[str, str]:
    """``text``'s leading BOM ("" when it has none) and the rest."""
    return (BOM, text[1:]) if text.startswith(BOM) else ("", text)


def remove_owned_tables(text: str, keep: Collection[str] = ()) -> str:
    """Drop every ``[model_providers.mahavishnu-*]`` table Mahavishnu wrote (the marker line above
    it says so) with its sub-tables, the marker line and one blank line before that, but those of
    ``keep``. Blank and comment lines at the end of a dropped table stay when a table that stays
    follows (they belong to it). Every other byte, a table of that name the user wrote included, is
    left."""
    lines = text.splitlines(keepends=True)
    headers = [i for i, line in enumerate(lines) if _header_name(line) is not None]
    drop = [False] * len(lines)
    owned: set[str] = set()
    for position, start in enumerate(headers):
        provider = _provider_of(lines[start])
        if provider is not None and start > 0 and lines[start - 1].startswith(MARKER):
            owned.add(provider)
        if provider in owned and provider not in keep:
            end = headers[position + 1] if position + 1 < len(headers) else len(lines)
            _drop_table(lines, start, end, drop, owned, keep)
    return "".join(line for line, dropped in zip(lines, drop, strict=True) if not dropped)


def keep_markers(before: str, after: str) -> str:
    """``after`` (``before`` edited by tomlkit elsewhere in the file) with the marker line back right
    above each provider table of ours that ``before`` marked. tomlkit counts the comment lines above
    a header as the end of the table before it, so a table added after that one lands between the
    marker and its table, and deleting that one deletes the marker: the switch would then take
    Mahavishnu's own table for the user's (Codex's own editor keeps such a comment with its header)."""
    lines = before.splitlines(keepends=True)
    marked = {
        _provider_of(line): lines[index - 1]
        for index, line in enumerate(lines)
        if index > 0 and lines[index - 1].startswith(MARKER) and _provider_of(line) is not None
    }
    if not marked:
        return after
    out: list[str] = []
    placed: set[str | None] = set()
    dropped = False  # the line before was a marker taken out: a blank line after it goes too
    for line in after.splitlines(keepends=True):
        if line in marked.values():
            dropped = True
            continue
        if dropped and not line.strip() and (not out or not out[-1].strip()):
            dropped = False
            continue
        dropped = False
        provider = _provider_of(line)
        if provider in marked and provider not in placed:
            placed.add(provider)
            if out and out[-1].strip():
                out.append(line[len(line.rstrip("\r\n")) :] or "\n")
            out.append(marked[provider])
        out.append(line)
    return "".join(out)


def _drop_table(
    lines: list[str], start: int, end: int, drop: list[bool], owned: set[str], keep: Collection[str]
) -> None:
    """Mark the owned table of ``lines[start:end]`` in ``drop``: its trailing blank and comment
    lines stay when a table that stays follows; the marker line and one blank line above go."""
    for index in range(start, _kept_tail(lines, start, end, owned, keep)):
        drop[index] = True
    above = start - 1
    if above >= 0 and lines[above].startswith(MARKER):
        drop[above] = True
        above -= 1
    if above >= 0 and not lines[above].strip():
        drop[above] = True


def _kept_tail(lines: list[str], start: int, end: int, owned: set[str], keep: Collection[str]) -> int:
    """Where the table's trailing gap starts, when the table after it stays and keeps that gap (the
    user's, or one of ours in ``keep``, with its marker line); else ``end`` (a sub-table of ours
    follows, or a table of ours below its marker line)."""
    following = _provider_of(lines[end]) if end < len(lines) else None
    if end >= len(lines) or (following in owned and following not in keep):
        return end
    back = end
    if following in keep and lines[back - 1].startswith(MARKER):
        back -= 1
    while back > start + 1 and _is_gap(lines[back - 1]):
        back -= 1
    return back


def _header_name(line: str) -> str | None:
    if not line.lstrip().startswith("["):
        return None
    match = _HEADER.match(line.rstrip("\r\n"))
    return match["name"] if match else None


def _provider_of(line: str) -> str | None:
    """The ``mahavishnu-*`` provider whose table (or sub-table) ``line`` opens, if it opens one."""
    found = _OWNED_HEADER.match(_header_name(line) or "")
    return found["id"] if found else None


def _is_gap(line: str) -> bool:
    stripped = line.strip()
    return not stripped or (stripped.startswith("#") and not line.startswith(MARKER))


def _is_ours(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PROVIDER_PREFIX)


def _problem(text: str, exc: tomlkit.exceptions.TOMLKitError) -> str:
    """Where (line and 1-based column, as JSON errors say it) and what: tomlkit's words, except at the
    end of the file, where tomlkit names the NUL it reads there and tomllib says what is unclosed
    ("Unclosed array (at end of document)")."""
    message = re.sub(r"\s+at line \d+ col \d+$", "", str(exc))
    strict = _strict_error(text)
    if "\\x00" in message and strict is not None:
        return f": {strict}"
    where = re.search(r"\(at line (\d+), column (\d+)\)", str(strict or ""))  # tomllib's: 1-based
    if not isinstance(exc, tomlkit.exceptions.ParseError):  # no position: a key twice in an inline table
        return f" at line {where.group(1)}, column {where.group(2)}: {message}" if where else f": {message}"
    line, column = exc.line, exc.col + 1
    if exc.col == 0 and where is not None:
        # tomlkit finds a key or table defined twice once past its statement, and names the start
        # of the next line (or the last line); tomllib names the statement's line: point at its start.
        line = int(where.group(1))
        lines = text.split("\n")
        own = lines[line - 1] if 0 < line <= len(lines) else ""
        column = len(own) - len(own.lstrip(" \t")) + 1
    return f" at line {line}, column {column}: {message}"


def _strict_error(text: str) -> tomllib.TOMLDecodeError | None:
    """What tomllib, the strict reader, says is wrong with ``text`` (None: nothing)."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return exc
    except RecursionError:  # nested thousands deep: tomlkit's own words will do
        return None
    return None


class Codex(Assistant):
    name = "codex"
    label = "Codex CLI"
    protocol = "openai"
    scopes: tuple[Scope, ...] = ("user",)

    def __init__(self, profile_file: str | None = None) -> None:
        """``profile_file``: write ``$CODEX_HOME/<profile_file>.config.toml`` instead of config.toml."""
        self.profile_file = profile_file
        if profile_file is not None:
            profile_path(profile_file)  # refuse a bad name before anything is planned

    def settings_path(self, scope: Scope) -> Path:
        if scope != "user":
            raise InvalidInputError(
                f"{self.label} keeps its provider in one file ({config_path()}): there is no {scope} scope",
                hint="Use --scope user for codex.",
            )
        return config_path() if self.profile_file is None else profile_path(self.profile_file)

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
        if endpoint.wire_api != "responses":
            raise no_responses_api(profile, endpoint, self.label)
        if self.profile_file is not None and inline_secret:
            # $CODEX_HOME/.env is shared by every profile: one profile's key would replace another's
            raise InvalidInputError(
                "--inline-secret cannot be used with a Codex profile file",
                hint=f"Keep the key in the keyring (`mahavishnu secrets set {profile.name}`) or in an "
                "environment variable; the profile file then references it.",
            )
        needs = KeyNeeds(
            self.label, env_file.default_env_var(profile), runs_helper=True, reads_env=None, tool=self.name
        )
        key = deliver(profile, needs, inline=inline_secret, dry_run=dry_run)
        warnings = [key.warning] if key.warning else []
        if self.profile_file is not None:
            warnings.append(
                f"Codex uses {path} only when started with `codex --profile {self.profile_file}`; "
                f"{config_path()} is unchanged"
            )
        dotenv_values: dict[str, str] = {}
        if key.kind == "inline" and key.env_var and key.value:
            _refuse_unreadable_key(key.value, profile.name)
            dotenv_values[key.env_var] = key.value
            warnings.append(f"the API key is written into {env_path()} (mode 600) as {key.env_var}")
        entry = _provider_entry(profile, endpoint, key)
        refuse_expanded(
            profile.name, self.label, {"name": entry.name, "base_url": entry.base_url, "model": entry.model}
        )
        keep = self._kept_for_other_files(path, warnings, switched_to=entry.id)
        edits = [
            FileEdit(
                path=path, transform=lambda text: apply_entry(text, entry, path, keep), validate=validate
            )
        ]
        if self.profile_file is None:
            edits += _dotenv_edits(profile, dotenv_values)
        return SwitchPlan(edits, warnings)

    def plan_stock(self, scope: Scope) -> SwitchPlan:
        """Back to Codex's own ChatGPT login: our provider table, the ``model_provider`` and ``model``
        it chose, and the keys we wrote into ``.env`` removed."""
        path = self.settings_path(scope)
        warnings: list[str] = []
        keep = self._kept_for_other_files(path, warnings)
        edits = [
            FileEdit(
                path=path,
                transform=lambda text: remove_entry(text, path, keep),
                validate=validate,
                owned_out=lambda text: remove_entry(text, path),
            )
        ]
        if self.profile_file is None:  # (as qwen's: a .env that is not there is left so)
            edits.append(dotenv_edit(env_path(), {}, note="", secrets=()))
        return SwitchPlan(edits, warnings)

    def _kept_for_other_files(
        self, path: Path, warnings: list[str], switched_to: str | None = None
    ) -> set[str]:
        """The provider tables of ours in config.toml that a profile file or a trusted project's
        ``.codex/config.toml`` selects without defining them (Codex would not start with that file
        without them): a switch of config.toml keeps them, and says so."""
        if self.profile_file is not None:
            return set()
        try:
            user = read(read_text(path), path)
        except MahavishnuError:
            return set()  # (the edit itself says what is wrong with the file)
        here = _providers(user)
        keep = {name: other for name, other in selected_elsewhere(user).items() if name in here}
        for name, other in keep.items():
            if name != switched_to:
                warnings.append(
                    f"[model_providers.{name}] stays in {path}: {other} selects it, and "
                    f"{_started_with(other)} would not start without it; {_unselect_fix(other)}"
                )
        return set(keep)

    def validate_text(self, text: str) -> None:
        validate(text)

    def parse_config(self, text: str, path: Path) -> None:
        parse(text, path)

    def current(self, settings: Settings) -> list[CurrentProvider]:
        """The project's ``.codex/config.toml`` that wins in this folder (``project_current``), then
        config.toml's provider (invalid TOML there is an error), then one entry per profile file
        (``profile_files_current``)."""
        path = config_path()
        text = read_text(path)
        found: list[CurrentProvider] = []
        if text is not None:
            data = read(text, path)
            found += self.project_current(data, settings)
            provider_name = data.get("model_provider")
            provider = _selected(provider_name, _providers(data))
            model = data.get("model")
            if isinstance(provider, dict):
                found.append(
                    CurrentProvider(
                        tool=self.name,
                        scope="user",
                        path=str(path),
                        profile=_which_profile(str(provider_name), provider, all_profiles(settings)),
                        base_url=provider.get("base_url"),
                        model=model if isinstance(model, str) else None,
                        key_source=_key_source(provider),
                    )
                )
        return found + self.profile_files_current(settings)

    def project_current(self, user: Mapping[str, object], settings: Settings) -> list[CurrentProvider]:
        """The entry of the project's ``.codex/config.toml`` (``project_layers``) nearest this folder
        that sets ``model_provider`` or ``model``: Codex merges them over config.toml, so it wins here.
        One Codex cannot parse is an entry with its error."""
        for path in reversed(project_layers(_trusted_projects(user))):
            entry = CurrentProvider(self.name, "project", str(path), None, None, None, None)
            try:
                data = read(read_text(path), path)
            except MahavishnuError as exc:
                return [dataclasses.replace(entry, error=exc.message)]
            if "model_provider" not in data and "model" not in data:
                continue
            model = data.get("model", user.get("model"))
            provider_name = data.get("model_provider", user.get("model_provider"))
            provider = _selected(provider_name, {**_providers(user), **_providers(data)})
            if not isinstance(provider, dict):  # Codex's own provider
                return [dataclasses.replace(entry, model=model if isinstance(model, str) else None)]
            # a model of its own on config.toml's provider is no profile's choice: no profile then
            profile = _which_profile(str(provider_name), provider, all_profiles(settings))
            return [
                dataclasses.replace(
                    entry,
                    profile=profile if "model_provider" in data else None,
                    base_url=provider.get("base_url"),
                    model=model if isinstance(model, str) else None,
                    key_source=_key_source(provider),
                )
            ]
        return []

    def profile_files_current(self, settings: Settings) -> list[CurrentProvider]:
        """One entry per ``$CODEX_HOME/NAME.config.toml`` (scope ``profile:NAME``, ``used_with``
        ``codex --profile NAME``): the provider it selects, looked up in its own ``model_providers``
        and then config.toml's, as Codex layers them. A file that cannot be read is an entry with its
        error, never an exception; config.toml's own problems are ``current``'s to report."""
        try:
            base = _providers(read(read_text(config_path()), config_path()))
        except MahavishnuError:
            base = {}
        return [self._profile_file_entry(name, path, base, settings) for name, path in profile_files()]

    def _profile_file_entry(
        self, name: str, path: Path, base: Mapping[str, object], settings: Settings
    ) -> CurrentProvider:
        entry = CurrentProvider(
            tool=self.name,
            scope=f"profile:{name}",
            path=str(path),
            profile=None,
            base_url=None,
            model=None,
            key_source=None,
            used_with=f"codex --profile {name}",
        )
        try:
            data = read(read_text(path), path)
        except MahavishnuError as exc:
            return dataclasses.replace(entry, error=exc.message)
        provider_name = data.get("model_provider")
        provider = _selected(provider_name, {**base, **_providers(data)})
        model = data.get("model")
        if not isinstance(provider, dict):  # no provider of its own (config.toml's applies) or Codex's
            return dataclasses.replace(entry, model=model if isinstance(model, str) else None)
        return dataclasses.replace(
            entry,
            profile=_which_profile(str(provider_name), provider, all_profiles(settings)),
            base_url=provider.get("base_url"),
            model=model if isinstance(model, str) else None,
            key_source=_key_source(provider),
        )


def _provider_entry(profile: Profile, endpoint: Endpoint, key: KeyDelivery) -> ProviderEntry:
    """Our provider table: the key by variable (``env_key``) or by helper command (``auth``)."""
    return ProviderEntry(
        id=provider_id(profile.name),
        profile=profile.name,
        name=f"{profile.label} (Mahavishnu)",
        base_url=str(endpoint.base_url),
        model=str(endpoint.model),
        env_key=key.env_var if key.kind in ("env", "inline") else None,
        helper=shlex.split(key.helper) if key.helper else None,
    )


def _dotenv_edits(profile: Profile, values: dict[str, str]) -> list[FileEdit]:
    """The edit of ``$CODEX_HOME/.env``: the inline key in (quoted for ``dotenvy``, see env_file), or
    the keys we wrote before out."""
    dotenv = env_path()
    if not values and not env_file.marked_keys(read_text(dotenv)):
        return []
    note = f"profile '{profile.name}' (Codex CLI)"
    return [dotenv_edit(dotenv, values, note=note, secrets=tuple(values.values()))]


def _refuse_unreadable_key(key: str, profile_name: str) -> None:
    """Refuse an inline key that no way of writing it into ``.env`` lets Codex's reader (the
    ``dotenvy`` crate) read back as it is (``env_file.written_as``): within double quotes its
    escapes carry every other character, so only a NUL, which no environment variable can hold.
    The key itself is never in the error."""
    if env_file.written_as(key, "dotenvy") is not None:
        return
    raise InvalidInputError(
        f"profile '{profile_name}': its key holds a NUL character, which Codex cannot read from its .env "
        "file (no environment variable can hold one), so it cannot be written there",
        hint=f"Switch without --inline-secret (Codex then runs `mahavishnu secrets get {profile_name}` "
        "for the key), or check the key kept for the profile; none of its files was written.",
    )


def no_responses_api(profile: Profile, endpoint: Endpoint, label: str) -> ProtocolMismatchError:
    served = "Chat Completions only" if endpoint.wire_api == "chat" else "no declared wire API"
    return ProtocolMismatchError(
        f"profile '{profile.name}' serves {served} (wire_api = {endpoint.wire_api or 'unset'}), "
        f"but {label} speaks only the OpenAI Responses API",
        hint=f'Pick a profile whose openai endpoint has wire_api = "responses", or, if {endpoint.base_url} '
        f"serves /responses, add `wire_api: responses` under `profiles.{profile.name}.openai` in your "
        "settings file (`mahavishnu config path` prints where it is).",
    )


def selected_elsewhere(user: Mapping[str, object] | None = None) -> dict[str, Path]:
    """The providers of Mahavishnu's that a profile file, or a trusted project's ``.codex/config.toml``
    (``project_files``, given config.toml's values ``user``), selects (``model_provider``) without a
    table of its own, config.toml's being used (Codex layers them), each with the first such file."""
    found: dict[str, Path] = {}
    others = [path for _, path in profile_files()]
    for path in [*others, *(project_files(_trusted_projects(user)) if user is not None else [])]:
        try:
            data = read(read_text(path), path)
        except MahavishnuError:
            continue  # (``ai current`` reports it)
        chosen = data.get("model_provider")
        if isinstance(chosen, str) and _is_ours(chosen) and chosen not in _providers(data):
            found.setdefault(chosen, path)
    return found


def profile_files() -> list[tuple[str, Path]]:
    """``(NAME, path)`` of each ``$CODEX_HOME/NAME.config.toml`` Codex can use (a name it accepts),
    by name."""
    home = codex_home()
    if not home.is_dir():
        return []
    found = []
    for path in home.glob("*.config.toml"):
        name = path.name.removesuffix(".config.toml")
        if _PROFILE_NAME.fullmatch(name) and not path.is_dir():
            found.append((name, path))
    return sorted(found)


def project_layers(trusted: set[Path], start: Path | None = None) -> list[Path]:
    """The ``.codex/config.toml`` files Codex merges over config.toml when started in ``start``
    (default: here), lowest first: one per folder from the repository root (the nearest ``.git``;
    without one, ``start`` alone) down to ``start``. Codex reads one only when its folder or the
    root is trusted (``[projects."<folder>"] trust_level = "trusted"``), and never ``$CODEX_HOME``."""
    folders = paths.repository_folders(start)
    root = folders[0]
    own = codex_home().resolve()
    return [
        d / ".codex" / "config.toml"
        for d in folders
        if (d in trusted or root in trusted)
        and (d / ".codex").resolve() != own
        and (d / ".codex" / "config.toml").is_file()
    ]


def project_files(trusted: set[Path]) -> list[Path]:
    """The project ``.codex/config.toml`` files Codex may merge over config.toml: this folder's
    (``project_layers``), then each trusted folder's own, wherever a switch is run from (a table they
    select must not go because the switch ran elsewhere)."""
    own = codex_home().resolve()
    found = project_layers(trusted)
    for folder in sorted(trusted):
        path = folder / ".codex" / "config.toml"
        if path not in found and path.is_file() and path.parent.resolve() != own:
            found.append(path)
    return found


def _started_with(path: Path) -> str:
    """How Codex is started to read ``path``: ``codex --profile NAME`` for a profile file, else
    Codex started in the project folder that holds it."""
    if path.parent == codex_home():
        return f"`codex --profile {path.name.removesuffix('.config.toml')}`"
    return f"Codex started in {path.parent.parent}"


def _unselect_fix(path: Path) -> str:
    """What lets the next switch remove a table ``path`` selects."""
    if path.parent == codex_home():
        name = path.name.removesuffix(".config.toml")
        return f"switch that file (--codex-profile {name}) or take its model_provider out to have it removed"
    return "take model_provider out of that file (no switch writes it) to have it removed"


def _trusted_projects(user: Mapping[str, object]) -> set[Path]:
    """The folders config.toml's ``[projects."<folder>"]`` tables mark ``trust_level = "trusted"``."""
    projects = user.get("projects")
    if not isinstance(projects, dict):
        return set()
    return {
        Path(folder).expanduser().resolve()
        for folder, table in projects.items()
        if isinstance(table, dict) and table.get("trust_level") == "trusted"
    }


def _selected(name: object, providers: Mapping[str, object]) -> object:
    return providers.get(name) if isinstance(name, str) else None


def _providers(data: Mapping[str, object]) -> dict[str, object]:
    providers = data.get("model_providers")
    return providers if isinstance(providers, dict) else {}


def _which_profile(
    provider_name: str, provider: Mapping[str, object], profiles: dict[str, Profile]
) -> str | None:
    named = switched_profile(provider_name, profiles)
    if named is not None:
        return named
    auth = provider.get("auth")
    if isinstance(auth, dict):
        named = helper_profile(shlex.join([str(auth.get("command", "")), *map(str, auth.get("args", []))]))
        if named:
            return named
    return None


def _key_source(provider: Mapping[str, object]) -> str | None:
    if provider.get("experimental_bearer_token"):
        return f"inline token {mask(str(provider['experimental_bearer_token']))}"
    auth = provider.get("auth")
    if isinstance(auth, dict) and auth.get("command"):
        return "auth command: " + shlex.join([str(auth["command"]), *map(str, auth.get("args", []))])
    if provider.get("env_key"):
        return "env_key " + env_file.key_source(str(provider["env_key"]), env_path())
    return None
