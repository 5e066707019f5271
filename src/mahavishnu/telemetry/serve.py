"""``GET /metrics`` on a loopback port, behind a bearer token: this process's metrics in
Prometheus' text format (``telemetry.prometheus_text``), for a process that serves nothing else
over HTTP (the memory daemon). A thread of its own; every other path is 404, a missing or wrong
token 401, two Authorization headers 400. Only the standard library is used here.
"""

from __future__ import annotations

import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mahavishnu import telemetry

LOOPBACK = "127.0.0.1"
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    """Serves ``/metrics`` on ``127.0.0.1:port`` (0: any free port, see ``port``) until ``close``.
    OSError when the port cannot be bound; ValueError without a token."""

    def __init__(self, port: int, token: str) -> None:
        if not token:
            raise ValueError("no bearer token to serve /metrics behind")
        expected = f"bearer {token}".encode()

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a client that sends nothing holds one thread this long, no more

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self._answer(404, b"not found\n", "text/plain")
                    return
                sent = self.headers.get_all("Authorization") or []
                if len(sent) > 1:  # which one would count depends on who reads it: neither does
                    self._answer(400, b"more than one Authorization header\n", "text/plain")
                    return
                given = (sent[0] if sent else "").strip().encode()
                scheme, _, rest = given.partition(b" ")
                if not hmac.compare_digest(scheme.lower() + b" " + rest.strip(), expected):
                    self._answer(401, b"unauthorized\n", "text/plain", challenge=True)
                    return
                self._answer(200, (telemetry.prometheus_text() or "").encode(), _CONTENT_TYPE)

            def _answer(self, status: int, body: bytes, kind: str, *, challenge: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if challenge:
                    self.send_header("WWW-Authenticate", 'Bearer realm="mahavishnu"')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # (the daemon's log is for what it does, not for every scrape)

        self.http = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self.http.daemon_threads = True
        self.port = int(self.http.server_address[1])
        self.thread = threading.Thread(target=self.http.serve_forever, name="metrics", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/metrics"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(timeout=5)
