"""``mahavishnu watch``: restart services on config change, probe providers, fall back automatically."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

import typer

from mahavishnu.cli.output import JSON_OPTION, console, info, print_json, table

app = typer.Typer(
    help="Watch services' config files and providers' health; restart and fall back automatically. "
    "Run it in a terminal, or as a service: `mahavishnu service start mahavishnu-watch`.",
)


@app.callback(invoke_without_command=True)
def watch(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One pass (probes included), then exit."),
    as_json: bool = typer.Option(False, "--json", help="Print each event as one line of JSON."),
) -> None:
    """Run the watcher until SIGTERM or Ctrl-C (settings: `watch` and `fallback`)."""
    if ctx.invoked_subcommand is not None:
        return
    from mahavishnu.services.watch import Watcher, single_watcher

    emitted: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        emitted.append(event)
        _emit(event, as_json)

    with single_watcher():
        watcher = Watcher(on_event=on_event)
        if once:
            watcher.tick()
            if not emitted:
                _say("nothing to do", as_json)
            return
        _run(watcher, as_json)


def _run(watcher: Any, as_json: bool) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    settings = watcher.settings
    _say(
        f"watching every {settings.watch.poll_seconds:g} s; provider probes every "
        f"{settings.watch.probe_interval_seconds:g} s",
        as_json,
    )
    watcher.run(stop)
    _say("stopped", as_json)


@app.command("events")
def events(
    lines: int = typer.Option(20, "--lines", "-n", min=1, help="How many of the latest events."),
    kind: str | None = typer.Option(None, "--kind", help="Only this kind, e.g. fallback or service-restart."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show what the watcher did and why (restarts, fallbacks, switch-backs)."""
    from mahavishnu.services.events import read_events

    found = read_events(lines, kind)
    if as_json:
        print_json(found)
        return
    if not found:
        what = f"no {kind} event" if kind else "no event"
        info(
            f"{what} recorded yet: `mahavishnu watch` (or the mahavishnu-watch service) records what it "
            "does and why"
        )
        return
    table(None, ["time", "event", "details"], [(e.get("time"), e.get("event"), _details(e)) for e in found])


def _details(event: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v}"
        for k, v in event.items()
        if k not in ("time", "event", "log_tail", "tried") and v is not None
    )


def _emit(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(event, default=str) + "\n")
    else:
        details = _details(event)
        line = f"{event['time']} {event['event']}" + (f": {details}" if details else "")
        console.print(line, markup=False, highlight=False)
    sys.stdout.flush()


def _say(message: str, as_json: bool) -> None:
    if not as_json:
        console.print(message, markup=False)
        sys.stdout.flush()
