"""``mahavishnu service``: start, stop, restart and inspect supervised services."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from mahavishnu import wording
from mahavishnu.cli.output import JSON_OPTION, console, err_console, info, print_json, table
from mahavishnu.environments.assistants.registry import listed

if TYPE_CHECKING:
    from mahavishnu.errors import ServiceStartError
    from mahavishnu.services.supervisor import Supervisor

app = typer.Typer(
    help="Supervise services (Mahavishnu's MCP server, the watcher, Session-Buddy, Ollama, your own).",
    no_args_is_help=True,
)

NameArgument = typer.Argument(..., help="Service name, or `all`.")


@app.command("start")
def start(
    name: str = NameArgument,
    as_json: bool = JSON_OPTION,
    on_demand: bool = typer.Option(
        False, "--on-demand", hidden=True, help="A client's start: refused after a `service stop`."
    ),
) -> None:
    """Start in its own process group and wait until its health check passes."""
    _run_each(name, "start", as_json, on_demand=on_demand)


@app.command("restart")
def restart(
    name: str = NameArgument,
    end_non_interactive: bool = typer.Option(
        False,
        "--end-non-interactive",
        help=f"For an assistant ({listed()}): end its one-shot runs (claude or pi -p/--print, "
        "codex exec, opencode run, qwen/gemini -p/--prompt, of the installed program) that still use the "
        "old provider. "
        "Anything else (interactive sessions, IDE integrations, MCP servers) is listed, never ended.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop (if running), start, and wait until the health check passes; `all` restarts the services
    that run or are meant to run (one stopped with `service stop` stays stopped). For an assistant
    (claude, codex, qwen, gemini, opencode, pi), which are not services: list its running sessions that
    still use the old provider; new sessions pick up the change on their own."""
    from mahavishnu.services import definitions
    from mahavishnu.services.sessions import SIGNATURES

    if name in SIGNATURES and name not in definitions.all_services(_supervisor().settings):
        _assistant_sessions(name, end_non_interactive, as_json)
        return
    _run_each(name, "restart", as_json)


def _assistant_sessions(tool: str, end: bool, as_json: bool) -> None:
    from mahavishnu.services.sessions import READS_AT_START, assistant_sessions, end_session

    states = assistant_sessions(tool)
    ended = {s.session.pid for s in states if end and s.stale and end_session(s)}
    if as_json:
        print_json(
            [
                {
                    **asdict(s.session),
                    "started": s.started,
                    "interactive": s.interactive,
                    "one_shot": s.one_shot,
                    "old_provider": s.stale,
                    "ended": s.session.pid in ended,
                }
                for s in states
            ]
        )
        return
    console.print(f"{tool} is not a service: {READS_AT_START[tool]}, so new sessions pick up the change.")
    stale = [s for s in states if s.stale]
    if not stale:
        console.print(f"No running {tool} session uses an old provider.")
        return
    table(
        None,
        ["pid", "cwd", "started", "kind", "now"],
        [
            (
                s.session.pid,
                s.session.cwd,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started)) if s.started else "?",
                "one-shot" if s.one_shot else "interactive" if s.interactive else "other",
                "ended" if s.session.pid in ended else "old provider",
            )
            for s in stale
        ],
    )
    if any(not s.one_shot for s in stale):
        console.print(
            "Restart the other sessions yourself when convenient (interactive ones, IDE integrations, "
            "MCP servers): only one-shot runs are ever ended for you."
        )
    if not end and any(s.one_shot for s in stale):
        console.print(f"`mahavishnu service restart {tool} --end-non-interactive` ends the one-shot ones.")


@app.command("stop")
def stop(name: str = NameArgument, as_json: bool = JSON_OPTION) -> None:
    """SIGTERM the service's process group, SIGKILL what is left after the timeout."""
    supervisor = _supervisor(tolerant=True)
    names = _running_names(supervisor) if name == "all" else [name]
    results = [supervisor.stop(each) for each in names]
    if as_json:
        print_json([asdict(r) for r in results])
        return
    if not results:
        console.print("no service is running")
    for r in results:
        if r.was_running:
            console.print(f"{r.name}: stopped ({', '.join(r.signals) or 'it was exiting'})", markup=False)
        elif r.stale_cleaned:
            console.print(f"{r.name}: was not running (stale PID file removed)", markup=False)
        else:
            console.print(f"{r.name}: was not running", markup=False)


@app.command("status")
def status(
    name: str = typer.Argument("all", help="Service name, or `all` (the default)."),
    no_health: bool = typer.Option(False, "--no-health", help="Skip the health checks."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show pid, uptime, health and restarts of each service."""
    supervisor = _supervisor()
    names = supervisor.names() if name == "all" else [name]
    rows = [supervisor.status(each, check_health=not no_health) for each in names]
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    if not rows:  # (services.builtins off, and none declared)
        from mahavishnu import paths

        where = paths.user_settings_file()
        info(f"no service declared: declare one under services.definitions in {where}")
        return
    table(
        None,
        ["service", "state", "pid", "uptime", "health", "restarts", "note"],
        [
            (
                r.name + ("" if r.declared else " (undeclared)"),
                r.state,
                r.pid,
                _duration(r.uptime_seconds),
                _health(r.healthy, r.health),
                r.restarts,
                r.note,
            )
            for r in rows
        ],
    )


@app.command("logs")
def logs(
    name: str = typer.Argument(..., help="Service name."),
    lines: int = typer.Option(50, "--lines", "-n", min=1, help="How many of the last lines to print."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C stops)."),
) -> None:
    """Print the end of a service's log (stdout and stderr)."""
    from mahavishnu.services import definitions

    supervisor = _supervisor()
    if not supervisor.log_path(name).exists():
        definitions.get(name, supervisor.settings)  # an unknown name is an error
        console.print(f"{name}: no log yet (it has not run): `mahavishnu service start {name}`", markup=False)
        if not follow:
            return
    for line in supervisor.tail(name, lines):
        console.print(line, markup=False, highlight=False)
    if follow:
        _follow(supervisor, name)


def _follow(supervisor: Supervisor, name: str) -> None:
    path = supervisor.log_path(name)
    position = path.stat().st_size if path.exists() else 0
    try:
        while True:
            time.sleep(0.5)
            size = path.stat().st_size if path.exists() else 0
            if size < position:
                position = 0  # rotated
            if size > position:
                with path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                position += len(chunk)
                console.print(chunk.decode("utf-8", "replace"), end="", markup=False, highlight=False)
    except KeyboardInterrupt:
        return


def _run_each(name: str, action: str, as_json: bool, *, on_demand: bool = False) -> None:
    from mahavishnu.errors import MahavishnuError, ServiceError, ServiceStartError
    from mahavishnu.services.definitions import UI_SERVICE

    supervisor = _supervisor()
    names = _names_to(action, name, supervisor)
    results: list[dict[str, Any]] = []
    failures: list[ServiceStartError] = []
    for each in names:
        try:
            if action == "start":
                started = supervisor.start(each, on_demand=on_demand)
            else:
                was_running = supervisor.running(each) is not None
                started = supervisor.restart(each)
            if not started.healthy:
                raise _failing_health_check(started)
        except MahavishnuError as exc:  # with `all`, any: a busy one is told beside those started
            start_failed = exc if isinstance(exc, ServiceStartError) else None
            if name != "all" and not (as_json and start_failed):
                if start_failed:
                    _print_tail(start_failed)
                raise
            failed = start_failed or ServiceStartError(exc.message, exc.hint)
            failures.append(failed)
            results.append({"name": each, "ok": False, "error": failed.message, "log_tail": failed.log_tail})
            continue
        except KeyboardInterrupt:
            _say_interrupted(supervisor, each)
            raise typer.Exit(130) from None
        results.append(
            {"ok": True, **asdict(started), **({} if action == "start" else {"was_running": was_running})}
        )
    if as_json:
        print_json(results)
    else:
        if not names:
            console.print("no service is running or meant to run")
        for result, failure in _paired(results, failures):
            if failure is not None:
                err_console.print(f"[red]{escape(result['name'])}: {escape(failure.message)}[/red]")
                _print_tail(failure)
            elif result["already_running"]:
                console.print(f"{result['name']}: already running (pid {result['pid']})", markup=False)
            else:
                verb = "restarted" if result.get("was_running") else "started"
                verb += " (it was not running)" if action == "restart" and verb == "started" else ""
                console.print(
                    f"{result['name']}: {verb}, pid {result['pid']}, healthy after {result['seconds']:.2f} s "
                    f"({result['health']})",
                    markup=False,
                )
            if failure is None and result["name"] == UI_SERVICE:
                _print_dashboard_url()
    if failures:
        raise ServiceError(
            f"{len(failures)} of {wording.count(len(names), 'service')} failed to {action}",
            hint="Read their logs with `mahavishnu service logs NAME`.",
        )


def _print_dashboard_url() -> None:
    """The dashboard's login URL (it carries the token), as `mahavishnu ui` prints it: a supervised
    dashboard prints it only to its log. It listens a moment before it records the URL, and its
    health check (a TCP connect) may pass in between: the record is waited for, up to 2 s."""
    import time

    from mahavishnu.services import definitions

    deadline = time.monotonic() + 2.0
    while (running := definitions.dashboard_running()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if running is not None:
        typer.echo(f"open the dashboard: {running.url}")  # echo: a URL never wrapped


def _names_to(action: str, name: str, supervisor: Supervisor) -> list[str]:
    """The services `start NAME` or `restart NAME` acts on: `start all` starts every declared one,
    `restart all` those that run or are meant to run (one stopped on purpose stays stopped, one that
    exited when idle is started by its clients when they need it)."""
    from mahavishnu.services import definitions

    if name != "all":
        return [name]
    declared = list(definitions.all_services(supervisor.settings))
    if action == "start":
        return declared
    return [
        n
        for n in declared
        if supervisor.state(n).desired not in ("stopped", "idle") or supervisor.pid_path(n).exists()
    ]


def _failing_health_check(started: Any) -> ServiceStartError:
    from mahavishnu.errors import ServiceStartError

    name = started.name
    return ServiceStartError(
        f"service '{name}' is already running (pid {started.pid}) but failing its health check: "
        f"{started.health}",
        hint=f"`mahavishnu service restart {name}` restarts it; "
        f"`mahavishnu service logs {name}` shows its output.",
    )


def _say_interrupted(supervisor: Supervisor, name: str) -> None:
    """Ctrl-C while a start waited for the health check: say what was left running."""
    record = supervisor.running(name)
    if record is None:
        err_console.print(f"interrupted: {name} is not running.", markup=False)
        return
    err_console.print(
        f"interrupted before {name}'s health check passed: it was started (pid {record.pid}) and is "
        f"still tracked, meant to run (`mahavishnu watch` looks after it). `mahavishnu service status "
        f"{name}` shows its health; `mahavishnu service stop {name}` stops it.",
        markup=False,
    )


def _paired(
    results: list[dict[str, Any]], failures: list[ServiceStartError]
) -> list[tuple[dict[str, Any], Any]]:
    remaining = iter(failures)
    return [(r, None if r["ok"] else next(remaining)) for r in results]


def _print_tail(exc: ServiceStartError) -> None:
    if exc.log_tail:
        err_console.print("last log lines:", style="dim")
        for line in exc.log_tail:
            err_console.print(f"  {line}", markup=False, highlight=False)


def _running_names(supervisor: Supervisor) -> list[str]:
    """What `stop all` stops: what runs, and what its clients would start on demand (the memory
    daemon after an idle exit), so that it stays stopped too."""
    names = supervisor.names()
    return [n for n in names if supervisor.pid_path(n).exists() or supervisor.state(n).desired == "idle"]


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{seconds:.1f}s"


def _health(healthy: bool | None, detail: str | None) -> str | None:
    if healthy is None:
        return None
    if healthy:
        return f"ok ({detail})"
    return f"failing: {detail}" if detail else "failing"  # a dead service has no check to quote


def _supervisor(*, tolerant: bool = False) -> Supervisor:
    """The supervisor with the settings; ``tolerant`` (for a stop, which a PID file is enough for):
    invalid settings are a warning and the defaults stand in, so a running service can still be
    stopped while the settings are being fixed."""
    from mahavishnu.config import Settings, load_settings
    from mahavishnu.errors import ConfigError
    from mahavishnu.services.supervisor import Supervisor

    try:
        return Supervisor(load_settings())
    except ConfigError as exc:
        if not tolerant:
            raise
        err_console.print(
            f"warning: {exc.message}; stopping by PID file with the default settings", markup=False
        )
        return Supervisor(Settings.model_construct())
