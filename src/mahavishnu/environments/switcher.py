"""Point assistants at a provider profile: plan the edits, show them, apply them as one transaction.

``switch_llm(name, tool="all")`` plans every assistant the profile can serve (one that cannot, for
want of its protocol or of the scope, is skipped with the reason) and writes all their files as one
transaction (``transaction.apply_all``): every file or none. A tool named on its own is refused
with the reason instead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from mahavishnu import telemetry
from mahavishnu.config import Settings
from mahavishnu.environments import own_settings
from mahavishnu.environments.api_key import key_missing
from mahavishnu.environments.assistants import registry
from mahavishnu.environments.assistants.base import (
    Assistant,
    CurrentProvider,
    FileEdit,
    Scope,
    SwitchPlan,
    refuse_user_file_as_project,
)
from mahavishnu.environments.profiles import Profile, check_arguments, resolve
from mahavishnu.errors import (
    ConfigFileError,
    InvalidConfigFileError,
    InvalidInputError,
    MahavishnuError,
    NotFoundError,
    ProtocolMismatchError,
    SecretNotFoundError,
    SecretStoreError,
)
from mahavishnu.files import history, safe_write, switch_log, transaction
from mahavishnu.files.safe_write import Transform, Validate
from mahavishnu.masking import mask
from mahavishnu.wording import a

#: The assistants, by tool name (``registry``); each class is imported when first used (``assistant_class``).
ASSISTANTS: tuple[str, ...] = registry.NAMES
ALL = "all"
_ALL_SCOPES: tuple[Scope, ...] = ("user", "project", "local")


#: The wire protocol each assistant speaks (which profiles it can use), known without importing it.
PROTOCOL: dict[str, str] = {info.name: info.protocol for info in registry.REGISTRY}


def assistant(tool: str, *, codex_profile: str | None = None) -> Assistant:
    """The assistant named ``tool``; with ``codex_profile``, Codex writing ``NAME.config.toml``."""
    if tool not in ASSISTANTS:
        raise InvalidInputError(
            f"unknown tool '{tool}'", hint=f"Choose one of: {', '.join([*ASSISTANTS, ALL])}."
        )
    check_codex_profile(tool, codex_profile)
    if tool == "codex":
        from mahavishnu.environments.assistants.codex import Codex

        return Codex(profile_file=codex_profile)
    return assistant_class(tool)()


def assistant_class(tool: str) -> type[Assistant]:
    """Imported on use: a Claude switch loads neither tomlkit (Codex) nor another assistant's module.
    Measured (benchmarks/lazy_imports.py, child CPU time, 15 runs, machine loaded): 282 ms median for
    the Claude assistant alone vs 295 ms with all four imported (anchor python -c pass 62 ms): it saves
    ~13 ms of a switch, and the import guards of tests/cli/test_fast_paths.py pin it."""
    return registry.assistant_class(tool)


def check_codex_profile(tool: str | None, codex_profile: str | None) -> None:
    if codex_profile is not None and tool not in (None, "codex"):
        raise InvalidInputError(
            f"--codex-profile applies to Codex only, not to --tool {tool}", hint="Use it with --tool codex."
        )


def serves(profile: Profile, tool: str) -> bool:
    """Whether ``profile`` can be used by ``tool`` at all (its protocol, or its own login)."""
    if profile.settings.stock:
        return tool in profile.settings.stock
    return PROTOCOL[tool] in profile.protocols


def targets(profile: Profile, tool: str | None, settings: Settings) -> tuple[list[str], str | None]:
    """The assistants a switch writes, and a note when they were chosen for the user: without
    ``--tool``, the default assistant if the profile serves it, else every assistant it serves."""
    if tool == ALL:
        return list(ASSISTANTS), None
    if tool is not None:  # one, or several comma-separated (as mcp-servers and memory hooks take them)
        named = [part.strip().lower() for part in tool.split(",") if part.strip()] if "," in tool else [tool]
        for each in named:
            assistant(each)  # an unknown name: refused before anything is planned
        return list(dict.fromkeys(named)), None
    default = settings.environments.default_tool
    if serves(profile, default):
        return [default], None
    chosen = [t for t in ASSISTANTS if serves(profile, t)]
    if not chosen:
        return [default], None  # its plan says why not
    labels = ", ".join(LABELS[t] for t in chosen)
    reason = "is its own login" if profile.settings.stock else f"has no endpoint for {LABELS[default]}"
    return chosen, f"profile '{profile.name}' {reason}: switching {labels} (choose with --tool)"


LABELS = {info.name: info.label for info in registry.REGISTRY}
#: The executable each assistant installs.
EXECUTABLES = {info.name: info.executable for info in registry.REGISTRY}


def installed(tool: str) -> bool:
    """Whether the assistant's executable is on PATH (a switch that skips one that is not is complete)."""
    return shutil.which(EXECUTABLES[tool]) is not None


def scopes(target: Assistant) -> tuple[Scope, ...]:
    """The scopes an assistant keeps provider settings at (Claude Code: all three)."""
    found: tuple[Scope, ...] = getattr(target, "scopes", _ALL_SCOPES)
    return found


@dataclass
class FileResult:
    path: str
    changed: bool
    diff: str
    tool: str = ""
    own: bool = False  # a stock switch put the user's own provider settings back here (not the login)


@dataclass
class Skipped:
    tool: str
    reason: str
    fix: str = ""  # the command or setting that would let it switch
    installed: bool = False  # its executable is on PATH: skipping it leaves the switch partial


#: Which scope's file wins when several set a provider (Claude Code, Qwen Code, Gemini CLI).
#: (``home``: OpenCode's ``~/.opencode`` file, read after every other)
_RANK: dict[str, int] = {"user": 0, "project": 1, "local": 2, "home": 3}


@dataclass
class Outranked:
    """In the current folder, a file of a higher scope than the switch wrote sets a provider of its
    own: sessions started here use what it says, not the switch."""

    tool: str
    path: str  # the file that wins here
    scope: str  # its scope
    profile: str | None  # what it points at (None: a provider no profile matches)

    @property
    def uses(self) -> str:
        return self.profile or "the provider it sets"


@dataclass
class SwitchResult:
    profile: str
    tool: str
    scope: str
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)  # the assistants switched
    skipped: list[Skipped] = field(default_factory=list)  # under --tool all: what could not be
    notes: list[str] = field(default_factory=list)  # e.g. which assistants were picked without --tool
    #: With several assistants: "2 of 4 switched; 2 skipped (…)"
    summary: str = ""
    #: An installed assistant was skipped: it still uses its previous provider (the CLI exits 3)
    partial: bool = False
    #: Assistants whose higher-scope file here (a repository's .claude/settings.json…) overrides the switch
    outranked: list[Outranked] = field(default_factory=list)

    def summarise(self) -> None:
        """Set ``summary`` and ``partial`` from ``tools`` and ``skipped``."""
        self.partial = any(s.installed for s in self.skipped)
        if not self.skipped:
            return
        total = len(self.tools) + len(self.skipped)
        verb = "would switch" if self.dry_run else "switched"
        installed_ones = [LABELS[s.tool] for s in self.skipped if s.installed]
        absent = [LABELS[s.tool] for s in self.skipped if not s.installed]
        parts = [f"{', '.join(absent)}: not installed"] if absent else []
        if installed_ones:
            they = "they" if len(installed_ones) > 1 else "it"
            keep = "would keep" if self.dry_run else ("keep" if len(installed_ones) > 1 else "keeps")
            parts.append(f"{', '.join(installed_ones)}: installed, so {they} {keep} the previous provider")
        self.summary = (
            f"{len(self.tools)} of {total} {verb}; {len(self.skipped)} skipped ({'; '.join(parts)})"
        )


def switch_llm(
    name: str,
    settings: Settings,
    *,
    tool: str | None = "claude",
    scope: Scope = "user",
    dry_run: bool = False,
    inline_secret: bool = False,
    codex_profile: str | None = None,
) -> SwitchResult:
    """``tool=None``: the assistants ``targets`` picks (and says so in ``notes``). ``codex_profile``:
    with Codex, write ``$CODEX_HOME/<codex_profile>.config.toml`` (used by ``codex --profile NAME``)
    instead of config.toml. A stock profile (``claude``, ``codex``, ``stock``…) removes what every
    profile owns, so the assistant falls back to its own login."""
    check_arguments("switch_llm", settings, name)
    # the label names a known assistant only: an MCP client's unknown ``tool`` (each refused below)
    # added a series per word it sent, and a key sent as one was exported as it was
    assistant_label = "auto" if not tool else tool if tool in (*ASSISTANTS, ALL) else "other"
    with telemetry.measure("switch", assistant=assistant_label, dry_run=dry_run) as measured:
        result = _switch_llm(name, settings, tool, scope, dry_run, inline_secret, codex_profile)
        measured.set(profile=result.profile, outcome="partial" if result.partial else "ok")  # (resolved)
        measured.count("switched", len(result.tools))
        measured.count("skipped", len(result.skipped))
    return result


def _switch_llm(
    name: str,
    settings: Settings,
    tool: str | None,
    scope: Scope,
    dry_run: bool,
    inline_secret: bool,
    codex_profile: str | None,
) -> SwitchResult:
    check_codex_profile(tool, codex_profile)
    if tool is None and codex_profile is not None:
        tool = "codex"
    backups = settings.environments.backups_keep
    recovered = transaction.recover(backups=backups)
    profile: Profile = resolve(name, settings)
    tools, note = targets(profile, tool, settings)
    result = SwitchResult(profile.name, tool if tool == ALL else ",".join(tools), scope, dry_run)
    result.notes += [note] if note else []
    result.warnings += recovered.messages() if recovered else []
    stock_of: dict[Path, FileEdit] = {}  # each file's stock edit: what a profile owns in it
    edits: list[tuple[str, FileEdit]] = []
    for each in tools:
        edits += _plan_one(
            each, tools, profile, settings, scope, result, stock_of, inline_secret, codex_profile
        )
    result.summarise()
    if codex_profile is None:
        _check_outranked(settings, scope, result)
    if not edits:
        _nothing_to_switch(profile, scope, result)
        return result
    if dry_run:
        with own_settings.one_switch():
            own = _OwnSettings(profile, stock_of, dry_run=dry_run)
            _plan_files([(each, own.prepare(each, edit)) for each, edit in edits], result)
        result.warnings += own.messages
        return result
    # what is the user's own, read, written and recorded as one
    with transaction.exclusive(), own_settings.one_switch():
        own = _OwnSettings(profile, stock_of, dry_run=dry_run)
        _write_files([(each, own.prepare(each, edit)) for each, edit in edits], result, own, profile, backups)
    return result


def _check_outranked(settings: Settings, scope: Scope, result: SwitchResult) -> None:
    """Note each switched assistant whose file of a higher scope, found from this folder, sets
    another provider and so wins over the file the switch writes (read-only; an unreadable file is
    passed over). One that sets the same profile changes nothing sessions here use: no note."""
    for tool in result.tools:
        target = assistant(tool)
        written = target.settings_path(scope)
        try:
            entries = [e for e in target.current(settings) if e.applies]
        except MahavishnuError:
            continue
        top = entries[0] if entries else None
        if top is None or Path(top.path).resolve() == written.resolve() or top.profile == result.profile:
            continue
        if top.base_url is None and top.profile is None and resolve(result.profile, settings).settings.stock:
            continue  # it sets no provider (Gemini CLI's nearer .env): its own login, as a stock switch wants
        if _RANK.get(top.scope, 0) < _RANK.get(result.scope, 0):
            continue
        found = Outranked(tool, top.path, top.scope, top.profile)
        result.outranked.append(found)
        verb = "would still use" if result.dry_run else "use"
        result.warnings.append(
            f"{LABELS[tool]} in this folder: {top.path} ({top.scope} scope) wins over the {result.scope} "
            f"file and points at {found.uses}, so sessions started here {verb} {found.uses}, not "
            f"{result.profile}; {_outranking_fix(result, target, top)}"
        )
        if top.base_url and target.lends_key(top) and resolve(result.profile, settings).needs_secret:
            result.warnings.append(
                f"{top.path} sets no key of its own: {LABELS[tool]} started here "
                f"{'would send' if result.dry_run else 'sends'} the key of profile '{result.profile}' "
                f"from the {result.scope} file to {top.base_url}, "
                "the endpoint that file names; switch this folder too, or remove its base URL if you do "
                "not trust it"
            )


def _outranking_fix(result: SwitchResult, target: Assistant, top: CurrentProvider) -> str:
    """What makes the switch hold here: a switch at the winning file's scope, unless that file is
    one no switch writes (OpenCode's nearer ``opencode.json``, its ``.opencode`` folder's)."""
    own_fix = target.outranking_fix(Path(top.path))
    if own_fix is not None:
        return own_fix
    scope = cast(Scope, top.scope)
    try:
        written = target.settings_path(scope).resolve() == Path(top.path).resolve()
    except MahavishnuError:  # no file of that scope
        written = False
    if not written:
        return "take the provider and model out of that file"
    command = f"mahavishnu ai switch-llm {result.profile} --tool {target.name} --scope {scope}"
    return f"`{command}` switches that file too"


def _nothing_to_switch(profile: Profile, scope: Scope, result: SwitchResult) -> None:
    """No file to edit: fine for a stock switch that some assistant took (noted), else an error."""
    if profile.settings.stock and result.tools:
        if result.outranked:  # not "already its own login": a file of a higher scope wins here
            result.notes.append(f"no settings file to change at {scope} scope: none sets a provider there")
        else:
            result.notes.append("no settings file to change: each assistant already uses its own login")
        return
    reasons = "; ".join(f"{s.tool}: {s.reason}" for s in result.skipped)
    raise ProtocolMismatchError(
        f"profile '{profile.name}' cannot be used by any assistant at {scope} scope ({reasons})",
        hint="Pick another profile (`mahavishnu ai list-llms`) or scope.",
    )


def _plan_one(
    each: str,
    tools: list[str],
    profile: Profile,
    settings: Settings,
    scope: Scope,
    result: SwitchResult,
    stock_of: dict[Path, FileEdit],
    inline_secret: bool,
    codex_profile: str | None,
) -> list[tuple[str, FileEdit]]:
    """One assistant's edits (its stock edits into ``stock_of``); with several assistants, one that
    cannot take the profile (or its key) is skipped, noted in ``result``."""
    target = assistant(each, codex_profile=codex_profile)
    try:
        plan = _plan(target, profile, settings, scope, inline_secret=inline_secret, dry_run=result.dry_run)
    except (ProtocolMismatchError, InvalidInputError, SecretStoreError) as exc:
        if len(tools) == 1:
            raise
        result.skipped.append(
            Skipped(each, exc.message, _skip_fix(exc, each, profile, settings), installed(each))
        )
        return []
    result.tools.append(each)
    result.warnings += plan.warnings
    stock_plan = plan if profile.settings.stock else target.plan_stock(scope)
    stock_of.update({edit.path: edit for edit in stock_plan.edits})
    # a stock switch only removes: a file that is not there stays not there
    return [(each, edit) for edit in plan.edits if not profile.settings.stock or edit.path.exists()]


def _skip_fix(exc: MahavishnuError, tool: str, profile: Profile, settings: Settings) -> str:
    """What would let ``tool`` take ``profile`` (or another provider), as a command or setting."""
    if isinstance(exc, ProtocolMismatchError) and not profile.settings.stock and not serves(profile, tool):
        from mahavishnu.environments.profiles import all_profiles

        names = [p.name for p in all_profiles(settings).values() if not p.settings.stock and serves(p, tool)]
        example = names[0] if names else "NAME"
        return (
            f"Switch {LABELS[tool]} on its own to a profile with {a(PROTOCOL[tool])} endpoint: "
            f"`mahavishnu ai switch-llm {example} --tool {tool}` (those that have one: "
            f"{', '.join(names) or 'none; add one to your settings'})."
        )
    return exc.hint


def _plan_files(edits: list[tuple[str, FileEdit]], result: SwitchResult) -> None:
    """A dry run: each file's diff, checked as the write would check it."""
    for each, edit in edits:
        change = safe_write.plan(edit.path, edit.transform)
        edit.validate(change.after)
        result.files.append(FileResult(str(edit.path), change.changed, change.diff(edit.secrets), each))


def _write_files(
    edits: list[tuple[str, FileEdit]], result: SwitchResult, own: _OwnSettings, profile: Profile, backups: int
) -> None:
    """Every file or none (one transaction, logged for ``ai rollback``)."""
    label = switch_log.Label(profile.name, result.tools, result.scope, switch_log.SWITCH)
    steps = [step for _, edit in edits for step in _steps(edit)]
    changes = transaction.run(steps, backups=backups, label=label).changes
    written: list[tuple[Path, str]] = []
    for (each, edit), change in zip(edits, changes, strict=True):
        result.files.append(FileResult(str(edit.path), change.changed, change.diff(edit.secrets), each))
        written.append((edit.path, change.after))
    result.warnings += own.settle(written)
    back = {str(restore.path) for restore in own.restores if restore.merged}
    for file in result.files:
        file.own = file.path in back


def _steps(edit: FileEdit) -> list[FileEdit | transaction.Delete]:
    """``edit``, then the file's removal when it is ``remove_if_emptied`` and empties the file (a
    ``.env`` whose keys a stock switch, or one by reference, takes out, a settings file left ``{}``:
    all it held was what switches wrote, so it goes, as it came). A file that held nothing already
    stays."""
    text = safe_write.read_text(edit.path) if edit.remove_if_emptied else None
    if text is None or transaction.holds_nothing(text):
        return [edit]
    if not transaction.holds_nothing(safe_write.keep_line_endings(text, edit.transform(text))):
        return [edit]
    return [edit, transaction.Delete(edit.path, if_empty=True)]


def _unchanged(text: str | None) -> str:
    return text or ""


class _OwnSettings:
    """The user's own provider settings around one switch (``own_settings``): a provider switch
    keeps the files whose owned keys are the user's before replacing them; a stock switch puts
    kept ones back, and says when it removes settings Mahavishnu did not write."""

    def __init__(self, profile: Profile, stock_of: dict[Path, FileEdit], *, dry_run: bool) -> None:
        self.stock = bool(profile.settings.stock)
        self.stock_of = stock_of
        self.dry_run = dry_run
        self.restores: list[own_settings.Restore] = []
        self.touched: list[Path] = []
        self.messages: list[str] = []
        self.fingerprints: dict[Path, tuple[str, str]] = {}  # each file's last text and its fingerprint

    def prepare(self, tool: str, edit: FileEdit) -> FileEdit:
        stock = self.stock_of.get(edit.path)
        if stock is None:
            return edit
        self.touched.append(edit.path)
        kept = own_settings.kept(edit.path) if self.stock else None  # (two copies of the file)
        if kept is not None:
            restore = own_settings.Restore(edit.path, edit.transform, edit.validate, *kept)
            self.restores.append(restore)
            return replace(edit, transform=restore.transform)
        if not self.stock and not self.dry_run:
            edit = replace(edit, transform=self._marking(edit.path, edit.transform))
        text = safe_write.read_text(edit.path)
        if text is not None and own_settings.ours(edit.path, self.fingerprint(edit.path, text)):
            return edit
        if text is None:
            self._forget(edit.path)
            return edit
        # the user's own settings are in play when this switch (and then a stock one) would not
        # give the file back as it is; the stock form of the file as the switch writes it (its line
        # endings kept), as a stock switch will read it
        switched = text if self.stock else safe_write.keep_line_endings(text, edit.transform(text))
        after = stock.transform(switched)
        if not own_settings.loses(text, after, edit.path):
            self._forget(edit.path)
            return edit
        if self.stock and stock.keeps_own:
            self.messages.append(
                f"{edit.path}: left as it is: its settings are your own, Mahavishnu did not write them"
            )
            return replace(edit, transform=_unchanged)
        if self.stock:
            self.messages.append(
                f"{edit.path}: removed provider settings Mahavishnu did not write "
                "(`mahavishnu ai rollback` puts them back)"
            )
            return edit
        if own_settings.kept(edit.path) is not None and own_settings.holds_a_profile(text, after, edit.path):
            # a profile's set-up edited by hand (its model changed): kept over the user's real
            # own set-up, `stock` put the profile back as "your own provider settings"
            self.messages.append(
                f"{edit.path}: a profile's provider settings edited by hand are replaced; "
                f"`mahavishnu ai switch-llm stock --tool {tool}` still puts back your own, kept before"
            )
            return edit
        if not self.dry_run:
            own_settings.keep(edit.path, text, after)
        self.messages.append(
            f"{edit.path}: your own provider settings are replaced; they are kept, and "
            f"`mahavishnu ai switch-llm stock --tool {tool}` puts them back"
        )
        return edit

    def _forget(self, path: Path) -> None:
        """Before a provider switch of a file that holds no own settings of the user's (any more):
        a copy kept by an earlier switch is not put back by the next stock switch."""
        if not self.stock and not self.dry_run:
            own_settings.forget(path)

    def _marking(self, path: Path, transform: Transform) -> Transform:
        """``transform``, recording what it makes as Mahavishnu's before the file is written: a
        switch killed after its write and before ``settle`` left the profile unrecorded, and the
        next switch kept it as the user's own, over their real set-up. Recorded for a switch that
        is then rolled back, it names a profile's settings that are not in the file: harmless."""

        def marked(before: str | None) -> str:
            after = safe_write.keep_line_endings(before, transform(before))
            own_settings.mark(path, ours=True, digest=self.fingerprint(path, after))
            return after

        return marked

    def fingerprint(self, path: Path, text: str) -> str:
        """``own_settings.owned_digest`` of a file this switch edits. The text written is asked for
        twice (``_marking`` before the write, ``settle`` after), and on a settings file of tens of
        MB each reads it whole: the second time is answered from the first."""
        last = self.fingerprints.get(path)
        if last is not None and last[0] == text:
            return last[1]
        stock = self.stock_of[path]
        digest = own_settings.owned_digest(text, (stock.owned_out or stock.transform)(text), path)
        self.fingerprints[path] = (text, digest)
        return digest

    def settle(self, written: list[tuple[Path, str]]) -> list[str]:
        """After the files are written (path, text): record whose keys each holds now; what to
        tell the user."""
        for path, text in written:
            if path in self.touched:
                own_settings.mark(path, ours=not self.stock, digest=self.fingerprint(path, text))
        for restore in self.restores:
            if restore.merged:
                self.messages.append(f"{restore.path}: your own provider settings are back")
            else:
                own_settings.keep(restore.path, restore.own, restore.base)
                self.messages.append(
                    f"{restore.path}: your own provider settings could not be put back (the file "
                    f"changed around them); they are kept in {own_settings.kept_file(restore.path)}"
                )
        return self.messages


def _plan(
    target: Assistant,
    profile: Profile,
    settings: Settings,
    scope: Scope,
    *,
    inline_secret: bool,
    dry_run: bool,
) -> SwitchPlan:
    if scope not in scopes(target):
        target.settings_path(scope)  # raises the assistant's own explanation
        raise InvalidInputError(f"{target.label} has no {scope} scope")
    refuse_user_file_as_project(target, scope)
    if profile.settings.stock:
        if target.name not in profile.settings.stock:
            raise ProtocolMismatchError(
                f"profile '{profile.name}' is the own login of {', '.join(profile.settings.stock)}, "
                f"not of {target.label}",
                hint=f"Use `mahavishnu ai switch-llm stock --tool {target.name}` for its own login.",
            )
        return target.plan_stock(scope)
    try:
        plan = target.plan_switch(
            profile, settings, scope=scope, inline_secret=inline_secret, dry_run=dry_run
        )
    except SecretNotFoundError as exc:
        own = _own_key(target, profile, settings)
        exc.hint = f"{exc.hint} {own}" if own else exc.hint
        raise
    if dry_run and key_missing(profile):
        own = _own_key(target, profile, settings)
        plan = replace(plan, warnings=[*plan.warnings, own]) if own else plan
    return plan


def _own_key(target: Assistant, profile: Profile, settings: Settings) -> str | None:
    """The assistant's file holds a key of its own for ``profile``'s provider (typed in there),
    while a switch reads keys only from the profile's secret chain: how to keep using that key."""
    for entry in target.current(settings):
        shown = entry.key_source or ""
        if entry.profile == profile.name and ("…" in shown or "****" in shown):
            return (
                f"{entry.path} holds a key of its own for this provider ({shown}): to keep using it, "
                f"paste it at the prompt of `mahavishnu secrets set {profile.name}` and switch again "
                "(the switch then takes it out of the file)."
            )
    return None


@dataclass
class RolledBack:
    path: str
    #: "restored", "unchanged" (it already matched), "removed" (the change had created it) or
    #: "merged" (Claude Code's state file: its MCP servers put back, everything else kept as it is)
    action: str
    #: When the file had changed since the switch (an edit by hand or by the assistant): the backup
    #: of what it held, which ``rollback --to`` puts back.
    edited_kept_as: str | None = None
    #: The backup put back (None: the file was removed)
    source: str | None = None
    notes: list[str] = field(default_factory=list)


def rollback(
    settings: Settings,
    *,
    tool: str,
    scope: Scope = "user",
    to: str | None = None,
    codex_profile: str | None = None,
) -> list[RolledBack]:
    """Put an assistant's config file back to a backup (the newest when ``to`` is None) together with
    every other file the same switch or change wrote (``restore_backup``)."""
    target = assistant(tool, codex_profile=codex_profile)
    chosen = safe_write.find_backup(target.settings_path(scope), to)
    return restore_backup(settings, chosen, validate=target.validate_text, scope=scope)


def rollback_to(
    settings: Settings,
    backup_id: str,
    *,
    tool: str | None = None,
    scope: Scope = "user",
    codex_profile: str | None = None,
) -> tuple[safe_write.Backup, list[RolledBack]]:
    """Put back the backup ``backup_id`` of whichever file it is a backup of, as ``ai backups`` lists
    it (an assistant's settings file, ``~/.claude.json``, a ``.env``…), with its siblings
    (``restore_backup``). ``tool``, ``scope`` and ``codex_profile`` only choose between files that
    have a backup of that id."""
    found = [b for b in safe_write.list_backups() if b.id == backup_id]
    if len(found) > 1 and tool is not None:
        mine = safe_write.source_key(assistant(tool, codex_profile=codex_profile).settings_path(scope))
        found = [b for b in found if str(b.path) == mine] or found
    chosen = _only_backup(found, backup_id)
    return chosen, restore_backup(settings, chosen, validate=_validator(chosen.path, codex_profile))


def _only_backup(found: list[safe_write.Backup], backup_id: str) -> safe_write.Backup:
    if not found:
        raise NotFoundError(f"no backup '{backup_id}'", hint="List them with `mahavishnu ai backups`.")
    if len(found) > 1:
        raise InvalidInputError(
            f"'{backup_id}' is a backup of several files: {', '.join(str(b.path) for b in found)}",
            hint="Name the file's assistant and scope with --tool and --scope.",
        )
    return found[0]


def restore_backup(
    settings: Settings, chosen: safe_write.Backup, *, validate: Validate, scope: str | None = None
) -> list[RolledBack]:
    """Put ``chosen`` back together with every other file the same switch or change wrote (a
    Gemini ``.env``, the other assistants' files of an ``mcp-servers add --tool all``): each gets the
    backup that change took, or is removed if it created it; Claude Code's state file gets only its
    MCP servers back (``switch_log.merge_state``), and the folders that change created go once
    empty. Restores and removals are one transaction; what
    they replace or remove is backed up first (and recorded), so a rollback can itself be rolled
    back."""
    backups = settings.environments.backups_keep
    transaction.recover(backups=backups)
    group = history.group_of(chosen.path, chosen.id) or [history.Entry(chosen.path, chosen.id)]
    steps, merges = _restore_steps(group, safe_write.source_key(chosen.path), validate)
    owner = switch_log.containing(chosen.path, chosen.id)  # a rollback of a change is a change
    kind = owner.kind if owner is not None else switch_log.SWITCH
    where = scope or (owner.scope if owner is not None else "-")
    label = switch_log.Label(f"rollback to {chosen.id}", None, where, kind)
    outcome = transaction.run(steps, backups=backups, label=label)
    if owner is not None:  # the folders the change created, as undoing it removes them
        safe_write.remove_empty_folders(owner.folders)
    return _rolled_back(outcome, group, merges, {})


def _restore_steps(
    group: list[history.Entry], main: str, validate: Validate
) -> tuple[list[FileEdit | transaction.Delete], dict[str, _StateMerge]]:
    """The restores (``validate`` for the file ``main``) and removals that put ``group`` back; the
    state file's merges by path."""
    steps: list[FileEdit | transaction.Delete] = []
    merges: dict[str, _StateMerge] = {}
    for entry in group:  # every backup is read before anything is written: a missing one stops it all
        if switch_log.is_state_file(entry.path):
            merges[str(entry.path)] = merge = _StateMerge(entry, None, whole=str(entry.path) == main)
            steps.append(merge.edit())
        elif entry.backup is not None:
            steps.append(_restore_edit(entry, validate if str(entry.path) == main else _accept_anything))
    steps += [transaction.Delete(e.path) for e in group if e.backup is None and str(e.path) not in merges]
    return steps, merges


def undo_switch(settings: Settings, switch: switch_log.SwitchRecord) -> list[RolledBack]:
    """Put back every file ``switch`` (a switch or another recorded change) wrote (restored from the
    backup taken before it, or removed if it created it, with the folders it created once empty;
    Claude Code's state file gets back only the MCP server entries it changed), as one transaction;
    recorded itself, so it can be undone too."""
    backups = settings.environments.backups_keep
    transaction.recover(backups=backups)
    edited = {str(e.path) for e in switch.files if switch_log.changed_since(switch, e.path)}
    steps, merges = _undo_steps(switch, edited)
    what = f"rollback of {switch.id} ({switch.profile})"
    label = switch_log.Label(what, switch.tools, switch.scope, switch.kind)
    outcome = transaction.run(steps, backups=backups, label=label)
    safe_write.remove_empty_folders(switch.folders)  # (a later write puts back the ones it needs)
    undone = history.entries(outcome.changes)
    undone += [history.Entry(r.path, r.backup) for r in outcome.removals if r.changed]
    kept = {str(e.path): e.backup for e in undone if str(e.path) in edited and str(e.path) not in merges}
    return _rolled_back(outcome, switch.files, merges, kept)


def _undo_steps(
    switch: switch_log.SwitchRecord, edited: set[str]
) -> tuple[list[FileEdit | transaction.Delete], dict[str, _StateMerge]]:
    """The restores, then the removals, that undo ``switch`` (``edited``: the files changed since);
    the state file's merges by path."""
    steps: list[FileEdit | transaction.Delete] = []
    deletes: list[FileEdit | transaction.Delete] = []
    merges: dict[str, _StateMerge] = {}
    for entry in switch.files:  # every backup is read before anything is written: a missing one stops it
        key = str(entry.path)
        created = entry.backup is None
        # a state file the change created goes only if it is still as the change left it
        as_left = key not in edited or not entry.path.exists()
        if switch_log.is_state_file(entry.path) and not (created and as_left):
            merges[key] = merge = _StateMerge(entry, switch.touched.get(key), whole=False)
            steps.append(merge.edit())
        elif not created:
            steps.append(_restore_edit(entry, _accept_anything))
        else:
            deletes.append(transaction.Delete(entry.path))  # as the change left it: it goes
    return steps + deletes, merges


def _rolled_back(
    outcome: transaction.Outcome,
    group: list[history.Entry],
    merges: dict[str, _StateMerge],
    kept: dict[str, str | None],
) -> list[RolledBack]:
    sources = {str(e.path): e.backup for e in group}
    done = []
    for change in outcome.changes:
        key = str(change.path)
        action, notes = _what_was_done(change, merges.get(key))
        done.append(RolledBack(key, action, kept.get(key), sources.get(key), notes))
    removed = [r for r in outcome.removals if r.changed]
    return done + [RolledBack(str(r.path), "removed", kept.get(str(r.path))) for r in removed]


def _what_was_done(change: safe_write.Change, merge: _StateMerge | None) -> tuple[str, list[str]]:
    """How one file came back (restored, merged, unchanged), with notes on a state file's merge."""
    action = "restored" if change.changed else "unchanged"
    if merge is None:
        return action, []
    action = "merged" if change.changed and not merge.whole_restored else action
    notes = [f"{name} had changed since: left as it is" for name in merge.left]
    if merge.whole_restored:
        notes.append("it was not valid JSON: the whole backup was put back")
    return action, notes


class _StateMerge:
    """Claude Code's state file in a rollback: its MCP servers back as the backup had them
    (``switch_log.merge_state``: only the entries ``touched`` names, when given), every other key as
    the file has it now. ``whole``: when the file is not JSON now (so nothing in it can be kept), an
    explicitly named backup (``--to``) is put back whole; otherwise the rollback is refused."""

    def __init__(self, entry: history.Entry, touched: dict[str, str] | None, *, whole: bool) -> None:
        self.path = entry.path
        self.backup = safe_write.find_backup(entry.path, entry.backup).text() if entry.backup else None
        self.touched = touched
        self.whole = whole
        self.left: list[str] = []
        self.whole_restored = False

    def transform(self, current: str | None) -> str:
        self.left, self.whole_restored = [], False
        if self.whole and self.backup is not None and not _json_object_text(current):
            self.whole_restored = True
            return self.backup
        try:
            merged = switch_log.merge_state(self.path, current, self.backup, self.touched)
        except InvalidConfigFileError as exc:
            raise ConfigFileError(
                f"cannot roll back {self.path}: {exc.message}",
                hint="It is Claude Code's own state file: Mahavishnu puts back only its MCP servers and "
                "keeps the rest, which needs it to be JSON. Fix it by hand (or put a backup of it back "
                "whole: `mahavishnu ai rollback --to ID`, IDs from `mahavishnu ai backups --file "
                f"{self.path}`); nothing was written.",
            ) from exc
        self.left = merged.left
        return merged.text

    def edit(self) -> FileEdit:
        mode = None if self.path.exists() else 0o600
        from mahavishnu.environments.assistants import claude

        # Claude Code reads its state file as it reads settings.json: strict JSON, an object on top
        return FileEdit(path=self.path, transform=self.transform, validate=claude.validate, mode=mode)


def _json_object_text(text: str | None) -> bool:
    try:
        return isinstance(json.loads(text or ""), dict)
    except ValueError:
        return False


def _validator(path: Path, codex_profile: str | None) -> Validate:
    """How the assistant whose settings file ``path`` is checks it; anything else is put back as
    the backup has it."""
    key = safe_write.source_key(path)
    targets = [assistant(tool) for tool in ASSISTANTS]
    if codex_profile is not None:
        targets.append(assistant("codex", codex_profile=codex_profile))
    for target in targets:
        for each in scopes(target):
            if safe_write.source_key(target.settings_path(each)) == key:
                return target.validate_text
    return _accept_anything


def _restore_edit(entry: history.Entry, validate: Validate) -> FileEdit:
    found = safe_write.find_backup(entry.path, entry.backup)
    text = found.text()
    # a file brought back gets the mode it had, also one a switch made 0600 for the key it wrote in (a
    # backup too old to have one: the file's mode; 0600 for one removed, a .env may hold a key)
    recorded = found.mode()
    mode = recorded if recorded is not None else (None if entry.path.exists() else 0o600)
    return FileEdit(path=entry.path, transform=lambda _old: text, validate=validate, mode=mode)


def _accept_anything(text: str) -> None:
    """A companion file goes back to what the user had, whatever it holds."""


def current(settings: Settings, tool: str | None = None) -> list[CurrentProvider]:
    check_arguments("current", settings)
    tools = [tool] if tool and tool != ALL else list(ASSISTANTS)
    return [entry for name in tools for entry in assistant(name).current(settings)]


def inline_copies(settings: Settings, key: str) -> list[tuple[CurrentProvider, Path]]:
    """The assistants' files that hold ``key`` itself (written by ``--inline-secret``, or typed in),
    each with the entry that reads it: deleting the stored secret leaves them. An entry whose key
    source shows the key's mask is confirmed by finding the key in its file, or in the file its key
    source names (Gemini's ``.env``), so a key that merely looks alike is not reported."""
    shown = mask(key)
    if shown == "****":  # a key too short to show any of it: no key source names it
        return []
    found = []
    for entry in current(settings):
        if not entry.key_source or shown not in entry.key_source:
            continue
        named = entry.key_source.rpartition(" in ")[2]
        files = [Path(entry.path), *([Path(named)] if named.startswith("/") else [])]
        holder = next((f for f in files if _holds(f, key)), None)
        if holder is not None:
            found.append((entry, holder))
    return found


def _holds(path: Path, key: str) -> bool:
    try:
        return key in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


@dataclass
class ToolStatus:
    """One assistant in ``ai current``: what its files point at, or why its main file cannot be read
    (``entries`` then holds only the files read on their own, e.g. Codex's profile files)."""

    tool: str
    label: str
    entries: list[CurrentProvider]
    error: str | None = None

    @property
    def unreadable(self) -> bool:
        """Whether its main file, or any other file it lists, could not be read."""
        return self.error is not None or any(e.error for e in self.entries)


def overview(settings: Settings) -> tuple[list[ToolStatus], list[str]]:
    """Every assistant's status, plus messages about an interrupted switch rolled back first."""
    recovered = transaction.recover(backups=settings.environments.backups_keep)
    statuses = []
    for name in ASSISTANTS:
        target = assistant(name)
        try:
            statuses.append(ToolStatus(name, target.label, target.current(settings)))
        except MahavishnuError as exc:  # files read on their own (Codex's profile files) still count
            others = getattr(target, "profile_files_current", None)
            statuses.append(ToolStatus(name, target.label, others(settings) if others else [], exc.message))
    return statuses, recovered.messages() if recovered else []
