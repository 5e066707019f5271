"""What every assistant integration provides: where its config lives, how a profile is written
into it, and what it currently points at."""

from __future__ import annotations

import os
import re
import shlex
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mahavishnu import paths
from mahavishnu.clean_text import printable
from mahavishnu.config import Settings
from mahavishnu.environments import env_file
from mahavishnu.environments.dotenv_readers import Reader
from mahavishnu.environments.profiles import Profile, Protocol
from mahavishnu.errors import ConfigError, InvalidInputError, MahavishnuError
from mahavishnu.files.safe_write import Transform, Validate
from mahavishnu.paths import mahavishnu_argv

Scope = Literal["user", "project", "local"]


@dataclass(frozen=True)
class FileEdit:
    """One file an action changes: a pure transform plus how to validate and protect the result."""

    path: Path
    transform: Transform
    validate: Validate
    mode: int | None = None  # e.g. 0o600 when the new content holds a token
    secrets: tuple[str, ...] = ()  # values to mask in diffs
    #: Remove the file when this edit leaves it holding nothing (a stock switch's ``.env``, or its
    #: settings left ``{}``: all it held was ours; ``transaction.holds_nothing``).
    remove_if_emptied: bool = False
    #: A stock edit's file without everything a profile owns in it, kept tables included: the
    #: fingerprint of what a switch wrote (``switcher``) must not change with what other files
    #: select (Codex's stock keeps a table a profile or project file selects). None: ``transform``.
    owned_out: Transform | None = None
    #: A stock edit of a file whose owned keys no switch wrote (or that a stock switch put back as
    #: the user's own) leaves them: they are the assistant's own login, not a provider (Gemini CLI's
    #: API-key auth type and the model the user picked), and a stock switch goes back to that login.
    keeps_own: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "transform", _remembered(self.transform))


def _remembered(transform: Transform) -> Transform:
    """``transform`` answering again from its last call when given the same text: a switch runs
    each edit's transform on the file's text three times or more (the plan, the user's own
    settings, the write), and on a settings file of tens of MB each run parses it whole."""
    if getattr(transform, "remembered", False):
        return transform
    last: list[tuple[str | None, str]] = []

    def remembered(text: str | None) -> str:
        if last and (last[0][0] is text or last[0][0] == text):
            return last[0][1]
        after = transform(text)
        last[:] = [(text, after)]
        return after

    remembered.remembered = True  # type: ignore[attr-defined]
    return remembered


@dataclass(frozen=True)
class SwitchPlan:
    edits: list[FileEdit]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CurrentProvider:
    """What an assistant's config file points at right now."""

    tool: str
    scope: str
    path: str
    profile: str | None
    base_url: str | None
    model: str | None
    key_source: str | None
    #: The command line that alone reads this file (a Codex profile file: ``codex --profile NAME``);
    #: None for a file every run reads.
    used_with: str | None = None
    error: str | None = None  # why the file could not be read (the fields above are then None)
    #: Why the assistant started in this folder does not read this file's provider (a folder it does
    #: not trust), with what to do; None when it does.
    unread: str | None = None

    @property
    def applies(self) -> bool:
        """Whether every run started in this folder uses this file's provider."""
        return self.used_with is None and self.error is None and self.unread is None

    def __post_init__(self) -> None:
        # A key written into the URL (``https://user:KEY@host``, ``?api_key=KEY``) is shown and
        # recorded (``health`` writes its report to the store's metrics) only masked.
        if self.base_url:
            from mahavishnu.redaction.scrub import scrub

            object.__setattr__(self, "base_url", scrub(self.base_url))


class Assistant(ABC):
    name: str
    label: str
    protocol: Protocol

    @abstractmethod
    def settings_path(self, scope: Scope) -> Path:
        """The config file for a scope."""

    @abstractmethod
    def plan_switch(
        self,
        profile: Profile,
        settings: Settings,
        *,
        scope: Scope,
        inline_secret: bool,
        dry_run: bool = False,
    ) -> SwitchPlan:
        """The file edits that point this assistant at ``profile`` (``dry_run``: a missing key is a
        warning, so the diff can still be shown)."""

    @abstractmethod
    def plan_stock(self, scope: Scope) -> SwitchPlan:
        """The file edits that return this assistant to its own login: every key a profile owns removed."""

    @abstractmethod
    def validate_text(self, text: str) -> None:
        """Raise InvalidConfigFileError unless ``text`` is a config file this assistant can read."""

    @abstractmethod
    def parse_config(self, text: str, path: Path) -> None:
        """Parse ``text``, the file at ``path``, as this assistant reads it (``doctor``): raise
        InvalidConfigFileError naming the file, line and column."""

    def companion_files(self) -> list[tuple[Path, Callable[[str, Path], None]]]:
        """Files beside the config file that a switch writes and the assistant reads at start (Pi's
        models.json), each with its parse as in ``parse_config``: ``doctor`` checks them too."""
        return []

    @abstractmethod
    def current(self, settings: Settings) -> list[CurrentProvider]:
        """The provider each existing config file points at, highest precedence first."""

    def project_folder(self) -> Path:
        """The folder whose files its project and local scopes are."""
        return project_dir()

    def outranking_fix(self, path: Path) -> str | None:
        """What makes a switch hold where ``path`` (a ``current`` entry that wins over the switched
        file) is read, when it is no settings file (Gemini CLI's nearer ``.env``); None: the usual."""
        return None

    def lends_key(self, winner: CurrentProvider) -> bool:
        """Whether the file ``winner`` (which wins over the switched one here) sets a provider but
        no key, so the assistant sends it the key the switched file sets (settings merged key by
        key); False where each file's provider goes with its own key."""
        return False


def project_dir() -> Path:
    """Where Claude Code's project-scope settings live: the project root, else the current folder."""
    return paths.project_root() or Path.cwd()


def workspace_dir() -> Path:
    """Where Qwen Code and Gemini CLI read project settings: the folder they start in (both call
    ``loadSettings(workspaceDir = process.cwd())`` and never walk up to the git root)."""
    return Path.cwd()


def outside_repository_note(label: str, path: Path) -> str | None:
    """Says that ``path``, a project file written in no git repository, is the current folder's
    own (the docs promise the repository's file); None in a repository."""
    if paths.project_root() is not None:
        return None
    return f"{Path.cwd()} is in no git repository: {path} is this folder's own, read by {label} started here"


def keep_out_of_git(path: Path, *, dry_run: bool) -> list[str]:
    """A file in a git checkout that will hold a key (Claude Code's ``settings.local.json``, a
    project's ``.gemini/.env``) is added to the clone's ``.git/info/exclude`` when nothing ignores it
    yet, so ``git add -A`` leaves it out; what was done, as warnings."""
    root = paths.project_root(path.parent)
    if root is None:
        return []
    name = path.relative_to(root)
    if _git_ignores(root, name):
        return []
    if dry_run:
        return [f"{name} is not ignored by git: the switch adds it to .git/info/exclude"]
    exclude = _exclude_file(root)
    if exclude is not None:
        with exclude.open("a", encoding="utf-8") as out:
            out.write(f"\n/{name.as_posix()}\n")
        shown = exclude.relative_to(root) if exclude.is_relative_to(root) else exclude
        return [f"{name} added to {shown}, so git never commits the key"]
    return [f"{name} is not ignored by git: add it to .gitignore before committing"]


def _exclude_file(root: Path) -> Path | None:
    """The exclude file git reads for the checkout at ``root`` (a worktree's and a submodule's are in
    the repository they belong to: ``.git`` is a file there), its folder made; None when git does not
    say where."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--git-path", "info/exclude"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    found = done.stdout.strip()
    if done.returncode != 0 or not found:
        return None
    exclude = root / found  # (relative to root, or absolute: then the join is that path)
    try:
        exclude.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return exclude


def _git_ignores(root: Path, name: Path) -> bool:
    """``git check-ignore`` of ``name`` (relative to ``root``); True without git (nothing commits then)."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "-q", "--no-index", str(name)],
            capture_output=True,
            check=False,
        )
    except OSError:
        return True
    return done.returncode != 1  # 0: ignored; 128: not a repository after all


def refuse_user_file_as_project(target: Assistant, scope: Scope) -> None:
    """Refuse a project or local switch in the home folder, which is no project: there the project
    file of Claude Code, Qwen Code and Gemini CLI is their user file, and OpenCode, outside a
    repository, reads ~/opencode.json from every folder below it."""
    if scope == "user":
        return
    path, folder = target.settings_path(scope), target.project_folder()
    in_home = folder.resolve() == paths.home().resolve()
    user_file = path.resolve() == target.settings_path("user").resolve()
    if not (in_home or user_file):
        return
    what = f"{target.label}'s user settings file {path}" if user_file else str(path)
    raise InvalidInputError(
        f"--scope {scope} would write {what}: {'your home folder' if in_home else folder} is no project",
        hint="Run it again in the project's folder (cd into the repository), or use --scope user.",
    )


def workspace_note(label: str, path: Path) -> str:
    """Says which project file was written and that only runs started in its folder read it."""
    folder = path.parent.parent
    note = f"{label} reads {path} only when started in {folder} (not in its subfolders)"
    root = paths.project_root()
    if root is not None and root.resolve() != folder.resolve():
        note += f"; sessions started at the repository root {root} do not read it"
    return note


def unreadable(tool: str, scope: str, path: Path, error: MahavishnuError) -> CurrentProvider:
    """The ``current`` entry of a config file that cannot be read: the others are still shown."""
    return CurrentProvider(tool, scope, str(path), None, None, None, None, error=error.message)


def existing_configs(
    scopes: Iterable[Scope], path_for: Callable[[Scope], Path]
) -> Iterator[tuple[Scope, Path]]:
    """Each scope's config file that exists, in ``scopes`` order, once per real file (in $HOME the
    project file is the user file)."""
    seen: set[Path] = set()
    for scope in scopes:
        path = path_for(scope)
        if not path.exists() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        yield scope, path


@dataclass(frozen=True)
class Expansion:
    """What an assistant replaces in its config's strings before it reads them (``pattern``), by
    what, and the characters a profile must leave out (``marker``)."""

    pattern: re.Pattern[str]
    replaced_by: str
    marker: str


#: ``$NAME`` or ``${...}``: what Qwen Code and Gemini CLI replace in every settings.json string with
#: the environment variable of that name (no escape), and Codex, since 0.17x, in config.toml's.
ENV_VARIABLES = Expansion(re.compile(r"\$(\w|\{)"), "with an environment variable's value", "the $")


def refuse_expanded(
    profile: str, label: str, values: Mapping[str, str], expansion: Expansion = ENV_VARIABLES
) -> None:
    """Refuse a profile value (by setting name) the assistant would expand: a base URL of
    ``https://x.example/$AWS_SECRET_ACCESS_KEY`` or a model named ``${GITHUB_TOKEN}`` would send that
    variable (OpenCode's ``{file:~/.ssh/id_ed25519}``, that file) to the provider with every request."""
    for setting, value in values.items():
        if expansion.pattern.search(value):
            raise ConfigError(
                f"profile '{profile}': its {setting} holds {printable(value)[:80]!r}, which {label} would "
                f"replace {expansion.replaced_by}",
                hint=f"Take {expansion.marker} out of profiles.{profile} in your settings file (`mahavishnu "
                "config path` prints where it is) or the team profile; nothing was written.",
            )


def dotenv_edit(
    path: Path, values: dict[str, str], *, note: str, secrets: tuple[str, ...], owned: Iterable[str] = ()
) -> FileEdit:
    """The edit writing ``values`` (under a marker naming ``note``) into the dotenv file at ``path``:
    each written so that the file's reader (``dotenv_reader``) reads it back, and refused when a line
    of the user's would make it read another value. A new file is mode 600 (a key may go in later),
    as is one ``secrets`` go into; a file of the user's keeps its mode otherwise. With no ``values``
    (a stock switch, or one by reference), a file this leaves empty is removed (``remove_if_emptied``)."""
    reader = dotenv_reader(path)

    def validate(text: str) -> None:
        env_file.validate(text, path)
        env_file.check_read_back(text, values, reader, path)

    return FileEdit(
        path=path,
        transform=lambda text: env_file.update(text, values, owned=owned, note=note, reader=reader),
        validate=validate,
        mode=0o600 if secrets or not path.exists() else None,
        secrets=secrets,
        remove_if_emptied=not values,
    )


def dotenv_reader(path: Path) -> Reader:
    """Which reader reads the dotenv file at ``path``: Codex loads ``$CODEX_HOME/.env`` with the Rust
    ``dotenvy`` crate, Gemini CLI and Qwen Code theirs with the npm ``dotenv`` package."""
    return "dotenvy" if path == paths.codex_home() / ".env" else "dotenv"


class UserProjectAssistant(Assistant):
    """An assistant with a settings file at user and project scope (no local one)."""

    scopes: tuple[Scope, ...] = ("user", "project")

    @abstractmethod
    def config_path(self, scope: Scope) -> Path:
        """The settings file for a scope it has."""

    def settings_path(self, scope: Scope) -> Path:
        if scope not in self.scopes:
            has = " or ".join(f"--scope {s}" for s in self.scopes)
            raise InvalidInputError(f"{self.label} has no {scope} settings file", hint=f"Use {has}.")
        return self.config_path(scope)


def mahavishnu_command(*args: str) -> str:
    """``mahavishnu_argv`` as one shell command, on the ``MAHAVISHNU_HOME`` it was written from, if
    one is set: an assistant started from an IDE or a desktop launcher does not see a variable set
    in the user's shell, and would read and write another store."""
    own_home = _own_home()
    # `env` rather than a shell assignment: Codex runs an auth command without a shell
    return shlex.join([*(["env", *own_home] if own_home else []), *mahavishnu_argv(*args)])


def hook_process_command(*args: str) -> str:
    """``mahavishnu ARGS`` for a hook the assistant runs on every prompt or turn, as one shell
    command (on its own ``MAHAVISHNU_HOME``, as ``mahavishnu_command``): this interpreter without
    ``site`` (``-S``; ``-P``: not the project's folder first on the path), this package found by
    ``PYTHONPATH``, site-packages loaded only if the hook needs them
    (``mahavishnu.site_on_demand``). Should the package be gone, the hook fails with exit 1 ("No
    module named mahavishnu"), never with the 2 an assistant reads as "block"."""
    package_parent = Path(paths.__file__).resolve().parents[1]
    python = [sys.executable, "-S", "-P", "-m", "mahavishnu", *args]
    return shlex.join(["env", *_own_home(), f"PYTHONPATH={package_parent}", *python])


def _own_home() -> list[str]:
    """``MAHAVISHNU_HOME=<absolute>`` for ``env`` when the variable is set, else nothing."""
    own_home = os.environ.get("MAHAVISHNU_HOME")
    return [f"MAHAVISHNU_HOME={Path(own_home).expanduser().resolve()}"] if own_home else []


def helper_profile(command: str | None) -> str | None:
    """The profile named in a ``… secrets get NAME`` helper command we wrote, if it is one."""
    if not command:
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i in range(len(words) - 2):
        if words[i : i + 2] == ["secrets", "get"]:
            return words[i + 2]
    return None
