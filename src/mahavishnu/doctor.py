"""``mahavishnu doctor``: independent checks of a user's machine, each finding with a fix hint.

A check is a function ``(Settings) -> list[Finding]``; ``CHECKS`` lists them in the order shown and
``register`` adds one (a plug-in's own check). A check that raises becomes one ``error`` finding: one
broken part never hides the others. ``healthy`` is true only when no finding is ``warn`` or ``error``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from mahavishnu import wording
from mahavishnu.clean_text import printable, shell_word
from mahavishnu.environments.assistants.registry import REGISTRY
from mahavishnu.errors import DimensionMismatchError, EmbedderMismatchError, MahavishnuError

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.mcp_servers.model import McpServer
    from mahavishnu.environments.profiles import Profile

Status = Literal["ok", "warn", "error", "skipped"]


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Check = Callable[["Settings"], list[Finding]]

#: The CLI versions the end-to-end tests run (.e2e-tools/package.json) and their npm packages.
TESTED: dict[str, tuple[str, str]] = {info.name: (info.tested, info.package) for info in REGISTRY}
#: The assistants' published JSON Schemas (SchemaStore, openai/codex, google-gemini/gemini-cli): tool -> the
#: file name, shipped in the package (``SHIPPED_SCHEMAS``: source, commit and licence in its README.md);
#: a folder named by ``MAHAVISHNU_SCHEMAS_DIR`` takes its place (newer copies). OpenCode's
#: (https://opencode.ai/config.json, generated when OpenCode is built) is not shipped: no copy of it for
#: the tested version is published in a repository or package; a copy saved in that folder is used.
SCHEMAS_DIR_VARIABLE = "MAHAVISHNU_SCHEMAS_DIR"
SHIPPED_SCHEMAS = Path(__file__).parent / "schemas"
SCHEMAS = {
    "claude": "claude-code-settings.json",
    "codex": "codex-config.schema.json",
    "gemini": "gemini-cli-settings.schema.json",
    "opencode": "opencode-config.schema.json",
}
#: Schemas the package does not ship: checked when the folder has one, never missed when it has none.
NOT_SHIPPED = frozenset({"opencode"})
_VERSION = re.compile(r"\d+\.\d+\.\d+")

#: The name of the memory-hooks check (``check_memory_hooks``).
HOOKS_CHECK = "hooks"


def run_checks(settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    for name, check in CHECKS:
        try:
            findings += check(settings)
        except MahavishnuError as exc:
            findings.append(Finding(name, "error", exc.message, exc.hint or ""))
        except Exception as exc:  # the report is where any failure belongs
            findings.append(Finding(name, "error", f"{type(exc).__name__}: {exc}"))
    return findings


def healthy(findings: list[Finding]) -> bool:
    return all(f.status in ("ok", "skipped") for f in findings)


def register(name: str, check: Check) -> None:
    """Add a check (replacing one of the same name)."""
    CHECKS[:] = [(n, c) for n, c in CHECKS if n != name] + [(name, check)]


# -- assistants: installed, tested version, config files ---------------------------------------


def check_clis(settings: Settings) -> list[Finding]:
    from concurrent.futures import ThreadPoolExecutor

    found = {tool: shutil.which(tool) for tool in TESTED}
    with ThreadPoolExecutor(max_workers=len(TESTED)) as pool:  # each --version starts node: ~1-4 s
        versions = dict(
            zip(found, pool.map(lambda exe: _version(exe) if exe else None, found.values()), strict=True)
        )
    findings = []
    for tool, (tested, package) in TESTED.items():
        exe = found[tool]
        name = f"cli:{tool}"
        if exe is None:
            hint = f"Install it if you use it: `npm install -g {package}@{tested}`."
            findings.append(Finding(name, "skipped", "not installed", hint))
            continue
        version = versions[tool]
        if version == tested:
            findings.append(Finding(name, "ok", f"{version} (tested)"))
        else:
            hint = f"Mahavishnu is tested with {tested}: `npm install -g {package}@{tested}`."
            findings.append(Finding(name, "warn", f"{version or 'unknown version'} at {exe}", hint))
    return findings


def _version(exe: str) -> str | None:
    try:
        done = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _VERSION.search(done.stdout + done.stderr)
    return found.group(0) if found else None


def check_config_files(settings: Settings) -> list[Finding]:
    from mahavishnu.environments.assistants.base import existing_configs
    from mahavishnu.environments.switcher import ASSISTANTS, assistant, scopes

    findings = []
    for tool in ASSISTANTS:
        target = assistant(tool)
        for scope, path in existing_configs(scopes(target), target.settings_path):
            findings.append(_config_finding(tool, scope, path, target.validate_text))
        for path, parse in target.companion_files():
            if path.exists():
                findings.append(_companion_finding(f"config:{tool}:{path.name}", path, parse))
    return findings


def _companion_finding(name: str, path: Path, parse: Callable[[str, Path], None]) -> Finding:
    try:
        parse(_config_text(path), path)
    except (OSError, MahavishnuError) as exc:
        return _unreadable(name, path, exc)
    return Finding(name, "ok", f"{path} parses")


def _config_text(path: Path) -> str:
    """An assistant's file as the switch reads it (``safe_write.read_text``: a FIFO in its place is
    refused at once, not waited on)."""
    from mahavishnu.files import safe_write

    text = safe_write.read_text(path)
    if text is None:
        raise FileNotFoundError(f"{path} is gone")
    return text


def _unreadable(name: str, path: Path, exc: OSError | MahavishnuError) -> Finding:
    # validate() words what a write would refuse ("refusing to write ..."); doctor writes nothing
    message = exc.message if isinstance(exc, MahavishnuError) else str(exc)
    message = message.removeprefix("refusing to write ")
    detail = message if str(path) in message else f"{path}: {message}"
    return Finding(name, "error", detail, _fix_first_hint(path, message))


def _config_finding(tool: str, scope: str, path: Path, validate: Callable[[str], None]) -> Finding:
    name = f"config:{tool}:{scope}"
    try:
        text = _config_text(path)
        _read_as_assistant(tool, text, path)
        validate(text)
    except (OSError, MahavishnuError) as exc:
        return _unreadable(name, path, exc)
    problem = _schema_problem(tool, text)
    if problem:
        return Finding(
            name, "warn", f"{path}: {problem}", f"Compare with the published schema {SCHEMAS[tool]}."
        )
    folder = os.environ.get(SCHEMAS_DIR_VARIABLE)
    if folder and tool in SCHEMAS and tool not in NOT_SHIPPED and _schema_file(tool) is None:
        return Finding(
            name,
            "warn",
            f"{path} parses, but {SCHEMAS_DIR_VARIABLE}={folder} holds no {SCHEMAS[tool]}: not checked",
            f"Point {SCHEMAS_DIR_VARIABLE} at the folder of the assistants' published JSON Schemas.",
        )
    checked = " and matches its published schema" if _schema_file(tool) else ""
    return Finding(name, "ok", f"{path} parses{checked}")


def _read_as_assistant(tool: str, text: str, path: Path) -> None:
    """Parse ``text`` as ``tool`` reads it: InvalidConfigFileError names the file, line and column."""
    from mahavishnu.environments.switcher import assistant

    assistant(tool).parse_config(text, path)


#: Where a parse error is, as every "invalid JSON in FILE at line N, column M: ..." says it.
_AT_LINE = re.compile(
    r"invalid (?:JSON|TOML) in (?P<file>.+?) at line (?P<line>\d+), column (?P<column>\d+):"
)


def _fix_first_hint(path: Path, problem: str, then: str = "run `mahavishnu doctor` again") -> str:
    """What to do about a config file that does not parse (``problem`` may name another file than
    ``path``): fix it where the problem is, then ``then``; its backups only when it has some (a new
    user's file has none, and `ai rollback --to ID` needs one)."""
    from mahavishnu.files.safe_write import list_backups

    where = _AT_LINE.search(problem)
    path = Path(where["file"]) if where else path
    fix = f"Fix line {where['line']} col {where['column']} of {path} first" if where else f"Fix {path} first"
    if list_backups(path):
        fix += (
            f", or put a backup back: `mahavishnu ai backups --file {path}` lists them, "
            "`mahavishnu ai rollback --to ID` restores one"
        )
    return f"{fix}; then {then}."


def _schema_file(tool: str) -> Path | None:
    folder = os.environ.get(SCHEMAS_DIR_VARIABLE)
    file = Path(folder or SHIPPED_SCHEMAS) / SCHEMAS[tool] if tool in SCHEMAS else None
    return file if file is not None and file.is_file() else None


def _schema_problem(tool: str, text: str) -> str | None:
    schema_file = _schema_file(tool)
    if schema_file is None:
        return None
    import json

    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    schema = _local_refs_only(json.loads(schema_file.read_text(encoding="utf-8")))
    data = _load(tool, text)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top)"
    return f"{where}: {error.message[:160]}"


def _local_refs_only(node: Any) -> Any:
    """``node`` without its references to other documents (OpenCode's names https://models.dev/...):
    doctor never fetches, and jsonschema would (the rest of each such node is still checked)."""
    if isinstance(node, dict):
        return {
            k: _local_refs_only(v)
            for k, v in node.items()
            if not (k == "$ref" and isinstance(v, str) and not v.startswith("#"))
        }
    if isinstance(node, list):
        return [_local_refs_only(v) for v in node]
    return node


def _load(tool: str, text: str) -> Any:
    if tool == "codex":
        import tomllib

        return tomllib.loads(text.removeprefix("\ufeff"))  # Codex's reader skips a BOM
    from mahavishnu.files.json_document import JsonDocument

    return JsonDocument.parse(text, comments=tool != "claude").data


# -- keys: the helper resolves, the keyring --------------------------------------------------------


def check_profiles(settings: Settings) -> list[Finding]:
    """A profile of the settings that cannot be used (its error and fix): switches to it are
    refused, the others work."""
    from mahavishnu.environments.profiles import invalid_profiles

    broken = invalid_profiles(settings)
    if not broken:
        return [Finding("profiles", "ok", "every profile of the settings can be used")]
    return [
        Finding(f"profile:{b.name}", "error", b.error.message, b.error.hint or "") for b in broken.values()
    ]


def check_keys(settings: Settings) -> list[Finding]:
    """Each assistant's current profile has its key where the config file expects it (never shown)."""
    from mahavishnu.environments.profiles import all_profiles
    from mahavishnu.environments.secrets import find_in_chain, profile_chain, stored_in_keyring
    from mahavishnu.environments.switcher import current

    profiles = all_profiles(settings)
    findings = []
    for entry in current(settings):
        profile = profiles.get(entry.profile or "")
        if profile is None:
            continue
        name = f"key:{entry.tool}:{entry.scope}"
        shell = _shell_credentials_problem(entry.tool, profile)
        if not profile.needs_secret:
            if shell:
                findings.append(Finding(name, "warn", shell[0], shell[1]))
            continue
        chain = profile_chain(profile)
        found = stored_in_keyring(profile.name) or find_in_chain(chain) is not None
        shared_helper = _shared_helper_problem(entry.key_source)
        if found and shell:
            findings.append(Finding(name, "warn", shell[0], shell[1]))
        elif found and shared_helper:
            findings.append(Finding(name, "warn", f"{entry.path}: {shared_helper[0]}", shared_helper[1]))
        elif found:
            findings.append(Finding(name, "ok", f"the key of profile '{profile.name}' resolves"))
        else:
            hint = f"`mahavishnu secrets set {profile.name}` (or export {chain[0].name})."
            findings.append(
                Finding(name, "error", f"no key for profile '{profile.name}' ({entry.path})", hint)
            )
    return findings


def _shell_credentials_problem(tool: str, profile: Profile) -> tuple[str, str] | None:
    """A credential this shell exports (``ANTHROPIC_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``) that Claude Code
    started from it would send to ``profile``'s provider, no settings ``env`` replacing it; and what to do."""
    if tool != "claude":
        return None
    from mahavishnu.environments.assistants.claude import settings_env, shell_credentials_sent

    sent = shell_credentials_sent(profile, settings_env())
    if not sent:
        return None
    names = " and ".join(sent)
    return (
        f"the shell exports {names}, which Claude Code started from it sends to {profile.label} "
        f"(profile '{profile.name}'): a credential that is not that profile's key",
        f"`unset {' '.join(sent)}` (and remove it from your shell profile), or start Claude Code with "
        f"`mahavishnu run {profile.name}`, which leaves it out"
        + (
            f"; `mahavishnu ai switch-llm {profile.name}` again blanks ANTHROPIC_API_KEY in settings.json"
            if sent == ["ANTHROPIC_API_KEY"]
            else ""
        )
        + ".",
    )


def _shared_helper_problem(key_source: str | None) -> tuple[str, str] | None:
    """Why a project file's helper (``mahavishnu secrets get NAME``: by name, with no home, as
    teammates share it) may not find the key here, and what to do; None when it will."""
    prefix = "apiKeyHelper: mahavishnu "
    if key_source is None or not key_source.startswith(prefix):
        return None
    if shutil.which("mahavishnu") is None:
        return (
            "its apiKeyHelper runs `mahavishnu` from PATH, and PATH has none",
            "Install Mahavishnu where PATH finds it (`pipx install` or a venv's bin on PATH).",
        )
    home = os.environ.get("MAHAVISHNU_HOME")
    if home:
        return (
            f"its apiKeyHelper does not carry MAHAVISHNU_HOME ({home}): an assistant started "
            "outside this shell (an IDE) reads the default home's secrets",
            "Export MAHAVISHNU_HOME in your login profile, or switch at user or local scope.",
        )
    return None


def check_keyring(settings: Settings) -> list[Finding]:
    from mahavishnu.environments.secrets import keyring_available

    if keyring_available():
        return [Finding("keyring", "ok", "an OS keyring is available")]
    return [
        Finding(
            "keyring",
            "ok",
            "no OS keyring on this machine: `secrets set` keeps keys in the 0600 secrets file",
            "Export keys as environment variables instead to keep them off disk.",
        )
    ]


def check_private_files(settings: Settings) -> list[Finding]:
    """Files that may hold a DSN password or keys must not be readable by others."""
    from mahavishnu import paths

    findings = []
    for path in (paths.user_settings_file(), paths.secrets_file()):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            findings.append(
                Finding(f"mode:{path.name}", "warn", f"{path} is mode {mode:o}", f"`chmod 600 {path}`")
            )
        else:
            findings.append(Finding(f"mode:{path.name}", "ok", f"{path} is private"))
    roots = list(dict.fromkeys(paths.roots()))  # (MAHAVISHNU_HOME holds the others: scanned once)
    return [*findings, *(_loose_in(root) for root in roots if not any(o in root.parents for o in roots))]


#: How many entries of one of Mahavishnu's folders ``_loose_in`` looks at (a store's backups and
#: caches can be many; the first loose ones are what the finding names).
_MODE_SCAN_LIMIT = 20_000


def _loose_in(root: Path) -> Finding:
    """Whether others can reach one of Mahavishnu's own folders or what is in it: the folder with any
    permission for group or others, or a folder or file with one inside folders others can all enter
    (in a 0700 folder a 0644 file is private: files made before they were created 0600 are so)."""
    loose = [str(root)] if root.is_dir() and _mode(root) & 0o077 else []
    entered = {root: bool(_mode(root) & 0o011)}
    seen = 0
    for folder, dirs, files in os.walk(root) if root.is_dir() else ():
        here = Path(folder)
        for name in (*dirs, *files):
            path = here / name
            with contextlib.suppress(OSError):
                mode = stat.S_IMODE(path.lstat().st_mode)
                if name in dirs:
                    entered[path] = entered.get(here, False) and bool(mode & 0o011)
                if mode & 0o077 and not path.is_symlink() and entered.get(here, False):
                    loose.append(str(path))
        seen += len(dirs) + len(files)
        if seen >= _MODE_SCAN_LIMIT:
            break
    if not loose:
        return Finding(f"mode:{root}", "ok", f"others cannot reach anything under {root}")
    shown = ", ".join(loose[:3]) + (f" and {len(loose) - 3} more" if len(loose) > 3 else "")
    hint = f"`chmod -R go-rwx {shlex.quote(str(root))}`"
    return Finding(f"mode:{root}", "warn", f"others can reach {shown}", hint)


def _mode(path: Path) -> int:
    """``path``'s permission bits (0 when it cannot be read)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0


# -- the store and the MCP registration -----------------------------------------------------------------


def _not_created(settings: Settings) -> Path | None:
    """The embedded store's file when it does not exist yet (a new machine): a check reads nothing
    and, opening the store, would create it."""
    from mahavishnu.memory.core.store import default_store_path

    path = settings.memory.path or default_store_path()
    return path if settings.memory.backend == "sqlite" and not path.exists() else None


def check_store(settings: Settings) -> list[Finding]:
    """The store's migrations; for the embedded store first its file (``PRAGMA quick_check``, what
    ``db check`` runs, within ``store_check.QUICK_CHECK_SECONDS``), since a damaged file still
    reports its migrations."""
    from mahavishnu.errors import StoreDamagedError
    from mahavishnu.memory.core.backends import read_only
    from mahavishnu.memory.core.store import open_backend
    from mahavishnu.memory.ops.store_check import QUICK_CHECK_SECONDS, quick_check_store

    if (path := _not_created(settings)) is not None:
        return [Finding("store", "ok", f"sqlite at {path}: not created yet (the first memory creates it)")]
    notes: list[Finding] = []
    report = quick_check_store(settings.memory)
    if report is not None and not report.ok:
        detail = f"sqlite at {report.location}: damaged ({report.summary})"
        return [Finding("store", "error", detail, StoreDamagedError.default_hint)]
    if report is not None and report.read_only:
        store = Path(report.location)
        detail = f"sqlite at {store}: {read_only.describe(store)} (not damaged); storing memories will fail"
        notes.append(Finding("store", "warn", detail, read_only.hint(store)))
    try:
        backend = open_backend(settings.memory, migrate=False)
    except MahavishnuError:
        if notes:  # a read-only WAL store this user cannot open at all: the read-only finding says why
            return notes
        raise
    try:
        state = backend.migration_state()
    finally:
        backend.close()
    if state.pending:
        return [
            *notes,
            Finding(
                "store",
                "warn",
                f"{state.backend} at {state.location}: "
                f"{wording.count(len(state.pending), 'migration')} pending",
                "`mahavishnu db migrate` (any store command also applies them).",
            ),
        ]
    checked, hint = "", ""
    if report is not None and report.complete:
        checked = ", file checked"
    elif report is not None:
        checked = f", file check stopped after {QUICK_CHECK_SECONDS:g} s"
        hint = "`mahavishnu db check` checks the whole file (it can take minutes on a large store)."
    current = f"{state.backend} at {state.location}: migrations current{checked}"
    return notes or [Finding("store", "ok", current, hint)]


def check_embedder(settings: Settings) -> list[Finding]:
    """Whether the store's vectors come from the embedder the settings name (a model changed after
    the store was filled: every search fails until the setting is put back or the store moved),
    with the command that moves it; a reembed left unfinished. Nothing is written (an empty store
    adopts the configured embedder on its first memory) and no model is loaded."""
    from mahavishnu.memory.core.models import Filters
    from mahavishnu.memory.core.store import META_EMBEDDER, META_REEMBED, MemoryStore, open_backend

    if _not_created(settings) is not None:
        return [Finding("embedder", "ok", "the store is empty: it takes the configured embedder")]
    backend = open_backend(settings.memory, migrate=False)
    try:
        if not backend.migration_state().applied:  # a new store: not even its tables yet
            return [Finding("embedder", "ok", "the store is empty: it takes the configured embedder")]
        stored, target = backend.get_meta(META_EMBEDDER), backend.get_meta(META_REEMBED)
        if stored is None or not backend.recent(Filters(), 1):
            return [Finding("embedder", "ok", "the store is empty: it takes the configured embedder")]
        try:
            configured = MemoryStore(backend, settings.memory).embedder.identity
        except (EmbedderMismatchError, DimensionMismatchError) as exc:
            return [Finding("embedder", "error", exc.message, exc.hint or "")]
    finally:
        backend.close()
    if target:
        moving_to = target.rsplit(":", 1)[0]
        name, _, model = moving_to.partition("/")
        again = f"`mahavishnu memory reembed --embedder {name} --model {model}`"
        hint = f"Run {again} (with the --url it was given, if any)."
        return [Finding("embedder", "warn", f"a reembed to {moving_to} was left unfinished", hint)]
    return [Finding("embedder", "ok", f"the store's vectors come from {configured}, the configured embedder")]


def check_projects(settings: Settings) -> list[Finding]:
    """Which projects with memories say what they are (``memory describe``): a question naming a
    project by what it is finds the notes of a described one. Never a warning: a hint."""
    from mahavishnu.memory.core.store import META_EMBEDDER, open_backend, project_descriptions

    if _not_created(settings) is not None:
        return [Finding("projects", "ok", "no memory of a project yet")]
    backend = open_backend(settings.memory, migrate=False)
    try:  # (a new store has no tables yet; one that never held a memory, no embedder)
        held = bool(backend.migration_state().applied) and backend.get_meta(META_EMBEDDER) is not None
        projects = sorted(p for p in backend.stats()["by_project"] if p) if held else []
        described = project_descriptions(backend) if held else {}
        bare = [p for p in projects if p not in described]
    finally:
        backend.close()
    if not projects:
        return [Finding("projects", "ok", "no memory of a project yet")]
    said = f"{len(projects) - len(bare)} of {wording.count(len(projects), 'project')} described"
    if not bare:
        return [Finding("projects", "ok", said)]
    named = ", ".join(printable(p) for p in bare[:5]) + (", …" if len(bare) > 5 else "")
    hint = (
        f"Say what each is, e.g. {_describe_example(bare)}: a question naming a project by what it is "
        f"then finds its notes (not described: {named})."
    )
    return [Finding("projects", "ok", said, hint)]


def _describe_example(bare: Sequence[str]) -> str:
    """The ``memory describe`` command to show: what the manifest of one of the first projects not
    described says it is (``manifests.suggestion``), else the first one's with an example text."""
    from mahavishnu.memory.core.manifests import suggestion
    from mahavishnu.memory.core.projects import current_folder

    here = current_folder()
    for project in bare[:_SUGGESTIONS_READ]:
        offer = suggestion(project, here)
        if offer is not None:
            return f"`{printable(offer.command(project))}` (what its {offer.manifest.name} says)"
    return f'`mahavishnu memory describe {shell_word(bare[0])} "the payments API"`'


#: How many projects not described doctor reads the manifests of, for its example.
_SUGGESTIONS_READ = 20


def check_team_logins(settings: Settings) -> list[Finding]:
    """On a team store: whether its server lets anyone log in as a member without a password
    (``memory/team/logins.py``); nothing to say for a store of one's own."""
    if settings.memory.backend != "postgres":
        return []
    from mahavishnu.memory.core.backends.postgres import connect, dsn_location, resolve_dsn
    from mahavishnu.memory.team import logins
    from mahavishnu.memory.team.schema import SETUP_FIX, setup_of, setup_warning, team_group

    dsn = resolve_dsn(settings.memory)
    with connect(dsn) as conn:
        group = team_group(conn)
        paths = logins.trusted_paths(conn, dsn, group) if group is not None else []
        older = setup_warning(setup_of(conn)) if group is not None else None
    if group is None:
        return []
    findings = [Finding("team setup", "warn", older, SETUP_FIX)] if older else []
    if paths:
        return [*findings, Finding("team logins", "error", logins.warning(paths), logins.FIX)]
    probed = f"{dsn_location(dsn)}: every login probed needs its password"
    return [*findings, Finding("team logins", "ok", probed)]


def check_mcp_registered(settings: Settings) -> list[Finding]:
    from mahavishnu.environments.mcp_servers import TOOLS, list_servers

    servers, _warnings = list_servers("all")
    findings = []
    for tool in TOOLS:  # the assistants `mcp install` can register with
        ours = [s for s in servers if s.tool == tool and _is_mahavishnu_server(s.server)]
        if ours:
            findings.append(
                Finding(f"mcp:{tool}", "ok", f"registered as '{ours[0].server.name}' ({ours[0].scope})")
            )
        elif shutil.which(tool):
            hint = f"`mahavishnu mcp install --tool {tool}`."
            findings.append(Finding(f"mcp:{tool}", "warn", "Mahavishnu's MCP server is not registered", hint))
    return findings


def _is_mahavishnu_server(server: McpServer) -> bool:
    """`mahavishnu mcp serve` over stdio, or the loopback HTTP server `mcp install --http` registers
    (``http://127.0.0.1:PORT/mcp`` with a bearer token)."""
    if server.url:
        url = urlsplit(server.url)
        auth = [v for k, v in server.headers.items() if k.lower() == "authorization"]
        bearer = any(v.startswith("Bearer ") for v in auth)
        return url.hostname in ("127.0.0.1", "localhost") and url.path.rstrip("/") == "/mcp" and bearer
    words = [str(server.command or ""), *(str(a) for a in server.args)]
    return any(Path(w).name == "mahavishnu" or w == "mahavishnu" for w in words) and "serve" in words


def check_memory_hooks(settings: Settings) -> list[Finding]:
    """The memory loop's hooks (``memory hooks install``) in each assistant that has any: all present
    (and trusted, for Codex). An assistant with none of them has the loop off, which is a choice."""
    from mahavishnu.environments.memory_hooks import hooks_status

    findings = []
    for found in hooks_status("all"):
        name, state = f"{HOOKS_CHECK}:{found.tool}", found.state
        if state == "installed":
            findings.append(Finding(name, "ok", f"memory hooks installed in {found.path}"))
        elif state == "not installed":
            hint = f"`mahavishnu memory hooks install --tool {found.tool}` turns the memory loop on."
            findings.append(Finding(name, "skipped", "the memory loop is off (no hooks)", hint))
        elif state == "disabled":  # (the user's own setting: left as it is, named)
            detail = f"memory hooks installed in {found.path}, but {found.switched_off}: none of them runs"
            hint = "Take that setting out to let the assistant run hooks again (the memory loop with them)."
            if found.tool == "opencode":
                hint = 'Rename or move that plugin (or take its entry out of that file\'s "plugin" list).'
            findings.append(Finding(name, "warn", detail, hint))
        else:
            detail = f"memory hooks {state} in {found.path}" + (f": {found.error}" if found.error else "")
            if found.error and str(found.path) in found.error:
                detail = f"memory hooks not checked: {found.error}"
            hint = f"`mahavishnu memory hooks install --tool {found.tool}` puts them back (idempotent)."
            if found.error:  # the file does not parse: installing would fail on it too
                install = f"`mahavishnu memory hooks install --tool {found.tool}` puts them back"
                hint = _fix_first_hint(found.path, found.error, then=install)
            findings.append(Finding(name, "warn", detail, hint))
    return findings


def check_fallback_chains(settings: Settings) -> list[Finding]:
    """``fallback.chains`` entries that name no profile: `mahavishnu watch` would skip them."""
    from mahavishnu.services.fallback import unknown_chain_entries

    return [
        Finding(
            f"fallback:{tool}",
            "warn",
            problem,
            "Fix the name in the settings file (`mahavishnu config path`).",
        )
        for tool, problem in unknown_chain_entries(settings).items()
    ]


def check_telemetry(settings: Settings) -> list[Finding]:
    """A telemetry destination configured (an ``OTEL_EXPORTER_OTLP_*`` endpoint variable,
    ``telemetry.otlp_endpoint``, ``telemetry.prometheus`` or ``telemetry.daemon_metrics_port``)
    without the ``[otel]`` extra exports nothing: say so, with the install command. Nothing
    configured: no finding."""
    from mahavishnu import telemetry

    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [name for name in telemetry.ENDPOINT_VARIABLES if os.environ.get(name, "").strip()]
    config = settings.telemetry
    if config.otlp_endpoint:
        named.append("telemetry.otlp_endpoint")
    if config.prometheus:
        named.append("telemetry.prometheus")
    if config.daemon_metrics_port is not None:
        named.append("telemetry.daemon_metrics_port")
    if not named:
        return []
    if not telemetry.available():
        detail = f"{', '.join(named)} set, but the [otel] extra is not installed: nothing is exported"
        from mahavishnu.distribution import install_extra

        return [Finding("telemetry", "warn", detail, install_extra("otel"))]
    return [Finding("telemetry", "ok", f"on ({', '.join(named)})")]


def check_question_writer(settings: Settings) -> list[Finding]:
    """``memory.question_writer``: the profile it names, its endpoint and key, found (no request is
    sent: ``mahavishnu ai test`` asks the provider). Unset: no finding."""
    from mahavishnu.services.question_writer import readiness

    said = readiness(settings)
    if said is None:
        return []
    uses, problem = said
    if problem is None:
        return [Finding("question writer", "ok", uses)]
    hint = (
        "Name a profile `mahavishnu ai list-llms` lists as memory.question_writer (`mahavishnu config "
        "path`), with its key stored; notes are stored without a question meanwhile."
    )
    return [Finding("question writer", "warn", problem, hint)]


def check_budgets(settings: Settings) -> list[Finding]:
    """Each budget of ``usage.yaml`` (``usage.budgets``): a warning when passed, naming the budget,
    the spend and the period. No budget: no finding (and no log read)."""
    from mahavishnu.usage.budgets import spends

    return [
        Finding(
            spend.key,
            "warn" if spend.passed else "ok",
            spend.line(),
            "`mahavishnu usage --by provider` shows where it went; budgets are in usage.yaml"
            if spend.passed
            else "",
        )
        for spend in spends()
    ]


CHECKS: list[tuple[str, Check]] = [
    ("clis", check_clis),
    ("config files", check_config_files),
    ("profiles", check_profiles),
    ("keys", check_keys),
    ("keyring", check_keyring),
    ("private files", check_private_files),
    ("store", check_store),
    ("embedder", check_embedder),
    ("projects", check_projects),
    ("team logins", check_team_logins),
    ("mcp", check_mcp_registered),
    (HOOKS_CHECK, check_memory_hooks),
    ("fallback chains", check_fallback_chains),
    ("telemetry", check_telemetry),
    ("question writer", check_question_writer),
    ("budget", check_budgets),
]
