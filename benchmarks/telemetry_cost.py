"""What telemetry costs the prompt hook, with the memory daemon answering: a fresh process per call,
from its start to the JSON on its stdout, next to a bare ``python -c pass``.

    python benchmarks/telemetry_cost.py             # 20 runs per row
    python benchmarks/telemetry_cost.py --runs 40

A throwaway home holds one memory of project ``api``; a loopback OTLP/HTTP receiver (it answers
every export 200 and keeps nothing) stands for a collector. Rows, each the recall hook exactly as
the assistants run it (``python -S -P -m mahavishnu memory context --tool claude``, the hook's JSON
on stdin, a new session each):

* telemetry off, the daemon answering;
* ``OTEL_EXPORTER_OTLP_ENDPOINT`` set for the hook and for the daemon (it was started with it): the
  daemon records the hook's command, the hook loads no OpenTelemetry module;
* the endpoint set for the hook only (the daemon was started without it): the hook records its
  command itself, loading the SDK and exporting as it exits.

Needs the ``[otel]`` extra. Quote the load average printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import print_rows, time_runs  # noqa: E402

HOOK = [sys.executable, "-S", "-P", "-m", "mahavishnu", "memory", "context", "--tool", "claude"]


@contextmanager
def receiver() -> Iterator[str]:
    """A loopback OTLP/HTTP endpoint that accepts every export; yields its base URL."""

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def daemon(env: dict[str, str]) -> Iterator[None]:
    """The memory daemon, started with ``env``, warm; stopped after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "memory", "daemon"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ping = [
            sys.executable,
            "-c",
            "from mahavishnu.memory.loop import daemon; print(daemon.ping(timeout=1.0))",
        ]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if subprocess.run(ping, env=env, capture_output=True, text=True).stdout.strip() != "None":
                break
            time.sleep(0.3)
        else:
            raise SystemExit("the memory daemon did not start within 120 s")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def hook_runs(env: dict[str, str], folder: Path, runs: int, tag: str) -> list[float]:
    """Milliseconds of ``runs`` recall hooks (each a new session), after two untimed ones."""
    sessions = iter(range(runs + 10))

    def one() -> None:
        payload = {
            "hook_event_name": "UserPromptSubmit",
            "session_id": f"{tag}-{next(sessions)}",
            "cwd": str(folder),
            "prompt": "where does the quokka live?",
        }
        done = subprocess.run(HOOK, input=json.dumps(payload), env=env, capture_output=True, text=True)
        if done.returncode != 0 or "quokka" not in done.stdout:
            raise SystemExit(f"the hook did not recall the memory: {done.stderr[-500:]}")

    return time_runs(one, runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        raise SystemExit("needs the [otel] extra: pip install 'mahavishnu-cp[otel]'") from None
    with tempfile.TemporaryDirectory(prefix="telemetry-cost-") as tmp, receiver() as endpoint:
        home = Path(tmp)
        folder = home / "api"
        folder.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        base |= {"HOME": str(home), "MAHAVISHNU_HOME": str(home / ".mahavishnu"), "MAHAVISHNU_DAEMON": "on"}
        otel = base | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        stored = subprocess.run(
            [
                sys.executable,
                "-m",
                "mahavishnu",
                "memory",
                "store",
                "The quokka lives in the api",
                "--project",
                "api",
            ],
            env=base,
            capture_output=True,
            text=True,
        )
        if stored.returncode != 0:
            raise SystemExit(stored.stderr)
        rows = [
            ("python -c pass", time_runs(lambda: subprocess.run([sys.executable, "-c", "pass"]), args.runs))
        ]
        with daemon(base):
            rows.append(("hook, telemetry off", hook_runs(base, folder, args.runs, "off")))
            rows.append(("hook, telemetry on, the daemon's off", hook_runs(otel, folder, args.runs, "self")))
        with daemon(otel):
            rows.append(
                ("hook, telemetry on, the daemon's on too", hook_runs(otel, folder, args.runs, "handed"))
            )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print_rows(rows, "python -c pass")
    print("(the daemon's on: it was started with the endpoint too, and records the hook's command)")


if __name__ == "__main__":
    main()
