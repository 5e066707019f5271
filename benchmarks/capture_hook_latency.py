"""How long the capture hook (``memory import --tool claude -``, after every turn) keeps the assistant
waiting, three ways, next to a bare ``python -c pass``:

    python benchmarks/capture_hook_latency.py            # 10 runs per row
    python benchmarks/capture_hook_latency.py --runs 5

* ``hand-off``: what the installed hook does (cli/fast/capture.py ``memory_import_hook``): check the hook's
  JSON, start a detached import, exit;
* ``through the daemon, waiting``: the import done by the warm daemon while the hook waits for it;
* ``in-process, waiting``: the Typer command importing in the hook's own process (the fallback, and
  what every turn cost before).

Each run is a new Claude Code session (the real sample transcript of tests/memory/fixtures with a
fresh session id and text), so every import stores new turns (embedded by the real local model).
Wall clock and CPU time (user + system) of the hook process; the detached import's own CPU is not
in the hand-off row (it runs after the hook has returned). Quote the load average printed.
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
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import print_rows  # noqa: E402

SAMPLE = next((HERE.parent / "tests" / "memory" / "fixtures" / "sessions" / "claude").rglob("*.jsonl"))


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--runs", type=int, default=10, help="hook runs per row")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="capture-latency-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAHAVISHNU_")},
        "HOME": str(home),
        "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
        "MAHAVISHNU_DAEMON": "on",
    }
    os.environ.update(env)
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop import daemon
    from mahavishnu.services.supervisor import Supervisor

    with MemoryStore.open() as store:
        store.store("a first memory, so the store exists", "note")
    exe = str(Path(sys.executable).parent / "mahavishnu")
    original = SAMPLE.read_text(encoding="utf-8")
    session = json.loads(original.splitlines()[0])["sessionId"]
    counter = iter(range(10**6))

    def new_session() -> str:
        n = next(counter)
        path = home / "sessions" / f"{n}.jsonl"
        path.parent.mkdir(exist_ok=True)
        text = original.replace(session, str(uuid.uuid4())).replace("use httpx", f"use httpx {n}")
        path.write_text(text, encoding="utf-8")
        return json.dumps({"session_id": str(n), "transcript_path": str(path), "hook_event_name": "Stop"})

    cpu: dict[str, list[float]] = {}

    def sessions_stored() -> int:
        with MemoryStore.open() as store:
            found = store.recent({"agent_id": "claude-code"}, limit=1_000)
        return len({m.session_id for m in found})

    def hook(extra: dict[str, str]) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(
                [exe, "memory", "import", "--tool", "claude", "-"],
                input=new_session().encode(),
                env={**env, **extra},
                capture_output=True,
                check=True,
                cwd=home,
            )

        return run

    def timed(name: str, fn: Callable[[], None]) -> tuple[str, list[float]]:
        fn()  # warm-up
        wall, spent = [], []
        for _ in range(args.runs):
            before = os.times()
            start = time.perf_counter()
            fn()
            wall.append((time.perf_counter() - start) * 1000)
            after = os.times()
            spent.append((sum(after[2:4]) - sum(before[2:4])) * 1000)
        cpu[name] = spent
        return name, wall

    supervisor = Supervisor(load_settings())
    supervisor.start(daemon.SERVICE)
    try:
        rows = [
            timed("python -c pass", lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)),
            timed("capture hook, hand-off (installed)", hook({})),
            timed("capture, through the daemon, waiting", hook({"MAHAVISHNU_CAPTURE": "detached"})),
            timed(
                "capture, in-process, waiting",
                hook({"MAHAVISHNU_CAPTURE": "detached", "MAHAVISHNU_DAEMON": "off"}),
            ),
        ]
        expected = 3 * (args.runs + 1)  # every run of the three hook rows is a new session
        deadline = time.monotonic() + 600  # the detached imports may still be running
        while (landed := sessions_stored()) < expected and time.monotonic() < deadline:
            time.sleep(2)
        print(f"sessions imported: {landed} of {expected}")
    finally:
        supervisor.stop(daemon.SERVICE)
        shutil.rmtree(home, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("wall clock, the hook process (start to exit):")
    print_rows(rows, "python -c pass")
    print("CPU time of the hook process (the detached import not included):")
    print_rows([(name, cpu[name]) for name, _ in rows], "python -c pass")


if __name__ == "__main__":
    main()
