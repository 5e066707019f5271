"""Running assistant sessions, found read-only in ``/proc``, and what a provider switch means for them.

Claude Code, Codex, Qwen Code and Gemini CLI are interactive programs, not daemons: Mahavishnu never
signals them. After a switch it says which running sessions keep the old provider until restarted;
new sessions always start with the new one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.environments.assistants.registry import REGISTRY
from mahavishnu.services import procs

if TYPE_CHECKING:
    from mahavishnu.environments.switcher import SwitchResult

#: tool -> (executable name, npm package path fragment)
SIGNATURES: dict[str, tuple[str, str]] = {info.name: (info.executable, info.package) for info in REGISTRY}
#: When each assistant reads what a switch writes. None of them reloads a provider mid-session.
READS_AT_START: dict[str, str] = {
    "claude": "Claude Code reads the env of settings.json (base URL, models, token) when a session starts",
    "codex": "Codex reads config.toml (and ~/.codex/.env) when it starts",
    "qwen": "Qwen Code reads settings.json (and its .env) when it starts",
    "gemini": "Gemini CLI reads ~/.gemini/.env and settings.json when it starts",
    "opencode": "OpenCode reads opencode.json(c) when it starts",
    "pi": "Pi reads ~/.pi/agent/settings.json when it starts (models.json again at /model)",
}
_RUNTIMES = {"node", "nodejs", "bun", "deno"}


@dataclass(frozen=True)
class Session:
    tool: str
    pid: int
    cwd: str | None
    command: str


@dataclass(frozen=True)
class SessionAdvice:
    tool: str
    profile: str
    running: list[Session]
    needs_restart: bool
    message: str


def which_tool(argv: list[str]) -> str | None:
    if not argv:
        return None
    exe = os.path.basename(argv[0])
    for tool, (name, package) in SIGNATURES.items():
        if exe == name or (exe in _RUNTIMES and any(package in arg for arg in argv[1:3])):
            return tool
    return None


def running_sessions(tools: list[str] | None = None) -> list[Session]:
    """Assistant processes now running, one per session (a wrapper's child of the same tool is
    not counted twice)."""
    wanted = set(tools or SIGNATURES)
    found: dict[int, tuple[str, int]] = {}  # pid -> (tool, ppid)
    for pid in procs.pids():
        if pid == os.getpid():
            continue
        tool = which_tool(procs.cmdline(pid))
        stat = procs.stat(pid) if tool in wanted else None
        if tool is not None and stat is not None and not stat.gone and _reads_our_config(tool, pid):
            found[pid] = (tool, stat.ppid)
    sessions = []
    for pid, (tool, ppid) in sorted(found.items()):
        if found.get(ppid, ("", 0))[0] == tool:
            continue  # e.g. Codex's native binary under its node launcher
        argv = procs.cmdline(pid)
        sessions.append(Session(tool, pid, procs.cwd(pid), " ".join(argv)[:120]))
    return sessions


#: tool -> the variable that moves its config directory, and the directory's name under HOME.
_CONFIG_HOMES: dict[str, tuple[str | None, str]] = {
    "claude": ("CLAUDE_CONFIG_DIR", ".claude"),
    "codex": ("CODEX_HOME", ".codex"),
    "qwen": (None, ".qwen"),
    "gemini": (None, ".gemini"),
    "opencode": (None, ".config/opencode"),
    "pi": ("PI_CODING_AGENT_DIR", ".pi/agent"),
}


def _config_home(tool: str, env: Mapping[str, str]) -> str | None:
    variable, name = _CONFIG_HOMES[tool]
    if variable and env.get(variable):
        return os.path.normpath(env[variable])
    return os.path.normpath(os.path.join(env["HOME"], name)) if env.get("HOME") else None


def _reads_our_config(tool: str, pid: int) -> bool:
    """Whether a session reads the config files a switch here writes: not one started with
    another HOME (or CODEX_HOME…), nor another user's (whose environment is not readable)."""
    theirs = procs.environ(pid)
    if not theirs:
        return False
    mine, its = _config_home(tool, os.environ), _config_home(tool, theirs)
    return mine is None or its is None or mine == its


def advise(result: SwitchResult, sessions: list[Session] | None = None) -> list[SessionAdvice]:
    """For each assistant a switch changed: its running sessions and whether they need a restart."""
    if result.dry_run:
        return []
    changed = {f.tool for f in result.files if f.changed}
    tools = [t for t in (result.tools or [result.tool]) if t in changed]
    if not tools:
        return []
    found = running_sessions(tools) if sessions is None else sessions
    project = _project_root() if result.scope in ("project", "local") else None
    advice = []
    outranked = {o.tool: o for o in result.outranked}
    own = {f.tool for f in result.files if f.own}  # a stock switch put the user's set-up back there
    for tool in tools:
        running = [s for s in found if s.tool == tool and _affected(s, project)]
        uses = "your own provider settings" if tool in own else result.profile

        if running:
            pids = ", ".join(str(s.pid) for s in running)
            noun = "session" if len(running) == 1 else "sessions"
            message = (
                f"{tool}: {len(running)} running {noun} (pid {pids}) keep the old provider until restarted "
                f"({READS_AT_START[tool]}); new sessions use {uses}"
            )
        else:
            message = f"{tool}: no running session; new sessions use {uses}"
        here = outranked.get(tool)
        if here is not None:  # a file of a higher scope wins in this folder: say what is used here
            message += f" (in this folder: {here.uses}, its {here.scope} file wins)"
        advice.append(SessionAdvice(tool, result.profile, running, bool(running), message))
    return advice


def _project_root() -> Path:
    from mahavishnu import paths

    return (paths.project_root() or Path.cwd()).resolve()


def _affected(session: Session, project: Path | None) -> bool:
    """A user-scope switch affects every session; a project one only sessions inside the project."""
    if project is None or session.cwd is None:
        return True
    cwd = Path(session.cwd)
    return cwd == project or project in cwd.parents


# -- `mahavishnu service restart claude`: an assistant is not a service ---------------------------

#: tool -> the flags of its real one-shot invocation (``claude -p``), or for Codex the subcommand
#: that must come first (``codex exec``). Only such a run may be ended by ``--end-non-interactive``.
_ONE_SHOT_FLAGS: dict[str, tuple[str, ...]] = {
    "claude": ("-p", "--print"),
    "qwen": ("-p", "--prompt"),
    "gemini": ("-p", "--prompt"),
    "pi": ("-p", "--print"),
}
_ONE_SHOT_SUBCOMMANDS: dict[str, tuple[str, ...]] = {"codex": ("exec", "e"), "opencode": ("run",)}
#: Arguments that make a run one-shot (no one types into it), whichever the assistant.
_ONE_SHOT = {arg for args in (*_ONE_SHOT_FLAGS.values(), *_ONE_SHOT_SUBCOMMANDS.values()) for arg in args}
#: Long-running modes (IDE integrations, MCP servers, interactive prompts): never one-shot.
_LONG_RUNNING = {
    "mcp",
    "mcp-server",
    "app-server",
    "serve",
    "proto",
    "-i",
    "--prompt-interactive",
    "--acp",
    "--experimental-acp",
    "--ide",
}


@dataclass(frozen=True)
class SessionState:
    """A running session of an assistant and whether it still uses the provider it started with."""

    session: Session
    started: float | None  # epoch seconds
    interactive: bool  # has a terminal and is not a one-shot run: never ended unasked
    stale: bool  # started before one of the config files it read last changed
    #: its command line is the assistant's real one-shot invocation (``claude -p``, ``codex exec``)
    #: of its installed program: the only kind ``end_session`` signals
    one_shot: bool = False


def assistant_sessions(tool: str) -> list[SessionState]:
    """The running sessions of ``tool``, each checked against the mtime of the config files it reads
    (its user files and the project files of its working folder)."""
    states = []
    for session in running_sessions([tool]):
        found = procs.stat(session.pid)
        started = procs.started_at(found) if found is not None else None
        changed = _last_config_change(tool, session.cwd)
        stale = started is not None and changed is not None and changed > started
        one_shot = is_one_shot(tool, session.pid)
        states.append(SessionState(session, started, _interactive(session), stale, one_shot))
    return states


def end_session(state: SessionState) -> bool:
    """SIGTERM one one-shot session; refuses anything else (never ended unasked). Checked again
    right before the signal, on the process itself: its command line must still be the assistant's
    one-shot invocation of its installed program (a process is never chosen by its name alone)."""
    import signal

    if state.interactive or not state.one_shot or not is_one_shot(state.session.tool, state.session.pid):
        return False
    try:
        os.kill(state.session.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def config_files(tool: str, cwd: str | None) -> list[Path]:
    """The files whose change a running ``tool`` session does not see (see READS_AT_START)."""
    from mahavishnu.environments.switcher import assistant

    target = assistant(tool)
    files = [target.settings_path("user")]
    files.append(files[0].parent / ".env")
    if cwd is not None:
        folder = Path(cwd)
        names = {"claude": (".claude/settings.json", ".claude/settings.local.json")}
        files += [folder / n for n in names.get(tool, (f".{tool}/settings.json", f".{tool}/.env"))]
    return files


def _last_config_change(tool: str, cwd: str | None) -> float | None:
    times = []
    for path in config_files(tool, cwd):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    return max(times, default=None)


def is_one_shot(tool: str, pid: int) -> bool:
    """Whether process ``pid`` is a one-shot run of ``tool``: its arguments are the real one-shot
    invocation (``claude -p``, ``codex exec``, ``qwen -p``, ``gemini --prompt``), in no long-running
    mode (``mcp-server``, ``mcp serve``, ACP/IDE, interactive), and its program is the installed one
    (inside the assistant's npm package, or the file ``shutil.which(tool)`` resolves to)."""
    if tool not in SIGNATURES:
        return False
    argv = procs.cmdline(pid)
    launched = _program(tool, argv, pid)
    if launched is None:
        return False
    program, args = launched
    if not _installed(tool, program):
        return False
    if any(arg.split("=", 1)[0] in _LONG_RUNNING for arg in args):
        return False
    if tool in _ONE_SHOT_SUBCOMMANDS:
        return bool(args) and args[0] in _ONE_SHOT_SUBCOMMANDS[tool]
    flags = _ONE_SHOT_FLAGS[tool]
    return any(arg.split("=", 1)[0] in flags for arg in args)


def _program(tool: str, argv: list[str], pid: int) -> tuple[str, list[str]] | None:
    """The file the assistant runs from (resolved) and its arguments: for ``node script …`` the
    script, else the executable of the process itself (``/proc/PID/exe``)."""
    if not argv:
        return None
    folder = procs.cwd(pid) or "/"
    if os.path.basename(argv[0]) in _RUNTIMES:
        package = SIGNATURES[tool][1]
        for index, arg in enumerate(argv[1:3], start=1):
            if package in arg or os.path.basename(arg).startswith(tool):
                return os.path.realpath(os.path.join(folder, arg)), argv[index + 1 :]
        return None
    try:
        exe = os.readlink(procs.PROC / str(pid) / "exe")
    except OSError:
        return None
    return os.path.realpath(exe), argv[1:]


def _installed(tool: str, program: str) -> bool:
    import shutil

    package = SIGNATURES[tool][1]
    if f"/node_modules/{package}/" in program:
        return True
    found = shutil.which(tool)
    return found is not None and os.path.realpath(found) == program


def _interactive(session: Session) -> bool:
    """A terminal of its own and no one-shot argument (``claude -p``, ``codex exec``)."""
    try:
        fields = (procs.PROC / str(session.pid) / "stat").read_text().rsplit(")", 1)[1].split()
        tty = int(fields[4])  # tty_nr, 0 without a controlling terminal
    except (OSError, IndexError, ValueError):
        return True  # unknown: treat as someone's terminal
    return tty != 0 and not _ONE_SHOT.intersection(session.command.split()[1:4])
