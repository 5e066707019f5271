"""The memory daemon's footprint: its resident memory when idle, and how soon it goes away.

    python benchmarks/daemon_memory.py                 # idle exit after 10 s, 5 searches + 5 recalls
    python benchmarks/daemon_memory.py --idle 30 --requests 20

A throw-away home (``HOME``/``MAHAVISHNU_HOME``) gets a few memories embedded by the real local
model; the real service ``mahavishnu-memory`` is started as a user would (``mahavishnu service
start``), then asked as the assistants and the CLI ask it: ``memory search`` (the console script's
fast path) and ``memory context --tool claude`` (the recall hook, its JSON on stdin). Printed:

* its resident memory (``VmRSS`` from ``/proc/PID/status``) once warm, and idle after the requests,
  with the peak (``VmHWM``);
* the time from the last request to its exit with ``memory.daemon_idle_seconds`` set to ``--idle``
  (the default setting is 300 s), and whether it left its socket and PID file behind and what
  ``service status`` says of it afterwards.

Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mahavishnu.config import Settings

MEMORIES = [
    ("The SQLite store runs in WAL journal mode with synchronous=NORMAL.", "decision"),
    ("Secrets are scrubbed before anything is stored or embedded in memory.", "decision"),
    ("We decided the CI runners use two cores and run the suite in one job.", "decision"),
    ("The release checklist lives in docs/release.md.", "note"),
]
PROMPTS = ["which journal mode does the sqlite store use", "how many cores do the CI runners have"]
SERVICE = "mahavishnu-memory"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle", type=float, default=10.0, help="memory.daemon_idle_seconds for the run")
    parser.add_argument("--requests", type=int, default=5, help="searches, and as many recalls")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mahavishnu-daemon-memory-"))
    env = _environment(home, options.idle)
    os.environ.update(env)
    try:
        _run(home, env, options.idle, options.requests)
    finally:
        _mahavishnu(env, "service", "stop", SERVICE)  # (already gone, unless something failed)
        shutil.rmtree(home, ignore_errors=True)


def _environment(home: Path, idle: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAHAVISHNU_", "XDG_"))}
    env.update(
        HOME=str(home),
        MAHAVISHNU_HOME=str(home / ".mahavishnu"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        MAHAVISHNU_DAEMON="on",
        MAHAVISHNU_MEMORY__DAEMON_IDLE_SECONDS=f"{idle:g}",
    )
    return env


def _run(home: Path, env: dict[str, str], idle: float, requests: int) -> None:
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop import daemon
    from mahavishnu.services.supervisor import Supervisor

    (home / "app").mkdir()
    with MemoryStore.open() as store:
        for text, kind in MEMORIES:
            store.store(text, kind, project="app")
    began = time.monotonic()
    started = _mahavishnu(env, "service", "start", SERVICE)
    if started.returncode != 0:
        sys.exit(f"the daemon did not start: {started.stderr.strip()}")
    found = daemon.ping()
    if found is None:
        sys.exit("the daemon does not answer")
    pid = int(found["pid"])
    print(f"started and healthy in {time.monotonic() - began:.2f} s (pid {pid})")
    warm = _memory_kb(pid)
    asked = time.monotonic()
    for number in range(requests):
        prompt = PROMPTS[number % len(PROMPTS)]
        search = _mahavishnu(env, "memory", "search", prompt, "--json")
        payload = {"hook_event_name": "UserPromptSubmit", "prompt": prompt, "session_id": f"s{number}"}
        recall = _mahavishnu(
            env, "memory", "context", "--tool", "claude", stdin=json.dumps(payload), cwd=home / "app"
        )
        if search.returncode or recall.returncode:
            sys.exit(f"a request failed: {search.stderr.strip()} {recall.stderr.strip()}")
    last = time.monotonic()
    answered = daemon.ping()
    if answered is None or int(answered["pid"]) != pid:
        sys.exit("the daemon went away during the requests")
    served = float(answered["cpu_seconds"]) - float(found["cpu_seconds"])
    print(
        f"{requests} searches + {requests} recalls in {last - asked:.2f} s, "
        f"{served:.2f} s of the daemon's CPU"
    )
    time.sleep(1.0)  # settled: the requests' buffers freed, nothing under way
    after = _memory_kb(pid)
    while _running(pid):
        if time.monotonic() - last > idle + 120:
            sys.exit(f"the daemon did not exit within {idle:g} s + 120 s idle")
        time.sleep(0.05)
    gone = time.monotonic() - last
    status = Supervisor(_settings()).status(SERVICE, check_health=False)
    print(f"memory.daemon_idle_seconds: {idle:g} s (the default: 300 s)")
    print(f"resident memory, warm before any request: {warm['VmRSS'] / 1024:.0f} MB")
    print(
        f"resident memory, idle after the requests:  {after['VmRSS'] / 1024:.0f} MB "
        f"(peak {after['VmHWM'] / 1024:.0f} MB)"
    )
    print(f"exited {gone:.2f} s after the last request (idle time {idle:g} s): its memory is freed")
    left = [str(p) for p in (daemon.socket_path(), Supervisor(_settings()).pid_path(SERVICE)) if p.exists()]
    print(f"left behind: {', '.join(left) or 'nothing (socket and PID file removed)'}")
    print(f"service status: {status.state}, desired {status.desired} ({status.note})")


def _settings() -> Settings:
    from mahavishnu.config import load_settings

    return load_settings()


def _mahavishnu(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        env=env,
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid``, in kB, from ``/proc/PID/status``."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _running(pid: int) -> bool:
    """Alive, and not a zombie (its parent, ``service start``, has exited: init reaps it, or not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


if __name__ == "__main__":
    main()
