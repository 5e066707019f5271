"""A small loopback HTTP service for the supervisor tests (stdlib only).

    python http_service.py PORT [--grandchild PIDFILE] [--ignore-term] [--unhealthy]

``GET /health`` answers 200 (503 with --unhealthy), ``GET /pid`` the server's pid. With --grandchild
it starts a sleeping child (same process group) and writes the child's pid to PIDFILE; with
--ignore-term it ignores SIGTERM, so only SIGKILL stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main() -> None:
    port = int(sys.argv[1])
    args = sys.argv[2:]
    if "--ignore-term" in args:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "--grandchild" in args:
        pidfile = args[args.index("--grandchild") + 1]
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(pidfile, "w") as handle:
            handle.write(str(child.pid))
    status = 503 if "--unhealthy" in args else 200

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = str(os.getpid()).encode() if self.path == "/pid" else b"ok"
            self.send_response(status if self.path == "/health" else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            sys.stdout.write("request " + (format % args) + "\n")
            sys.stdout.flush()

    server = HTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
