"""The dashboard's speed over HTTP with 100,000 memories: the Memory page's first page and search as
you type, asked of a real server on a loopback port (uvicorn in a thread, ``http.client``), as a
browser asks them (the session cookie; ``/memory/hits`` is what ``ui.js`` fetches per keystroke).

    python benchmarks/ui.py                        # 100,000 memories, 60 searches per mode
    python benchmarks/ui.py --rows 20000 --runs 30
    python benchmarks/ui.py --keep /tmp/ui-home    # reuse the store next time

The store is built as benchmarks/recall_latency.py builds it (SciFact sentences in 50 projects,
synthetic clustered vectors under the real local embedder's identity); every search's query is
embedded by the real local model in the server. Rows (wall-clock ms from request to the whole
answer read; the server runs in this process, so this is server time plus a loopback round trip):

* ``first page, cold``: the first ``GET /memory`` after start (the store opened; one sample);
* ``first page``: ``GET /memory`` (the newest 50, filters, page chrome), warm;
* ``first page, project filter``: ``GET /memory?project=p7``;
* ``search as you type, MODE``: ``GET /memory/hits?q=PREFIX&mode=MODE`` for the growing prefixes
  of SciFact queries (from 3 characters, one request per typed word), after an untimed warm-up that
  loads the vector index.

The Memory page, once it has answered, warms the dashboard up (``Library.warm``: the model, the
vector index and, above ``memory.ann_threshold`` vectors, the start of its HNSW graph build, which
the sidecar keeps for the next start). The searches are measured once the graph is built (the wait
is printed), as a running dashboard answers; ``--during-build`` measures them while a first build
still takes a core (every search a full scan beside it).

Targets (issue 38): the first page ≤ 300 ms, search p95 ≤ 100 ms. Quote the load average printed
with the figures: on a shared, overloaded machine the wall clock mostly measures waiting for a core.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import percentile  # noqa: E402

if TYPE_CHECKING:
    import uvicorn

    from mahavishnu.ui.memories import Library

TOKEN = "benchmark-token"


class Client:
    """One browser session: logged in with the token, then its cookie."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.connection.request("GET", f"/login?token={TOKEN}")
        answer = self.connection.getresponse()
        answer.read()
        found = re.match(r"([^;]+)", answer.getheader("set-cookie") or "")
        assert answer.status == 303 and found, answer.status
        self.cookie = found.group(1)

    def get(self, path: str) -> float:
        """Milliseconds to the whole answer."""
        began = time.perf_counter()
        self.connection.request("GET", path, headers={"cookie": self.cookie, "host": "127.0.0.1"})
        answer = self.connection.getresponse()
        body = answer.read()
        took = (time.perf_counter() - began) * 1000
        assert answer.status == 200 and body, (path, answer.status)
        return took


def serve() -> tuple[int, uvicorn.Server, Library]:
    import uvicorn

    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as ui/server.py
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    library = Library(MemoryStore.open)
    app = create_app(library, TOKEN)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return int(sock.getsockname()[1]), server, library


def wait_for_graph(library: Library) -> None:
    """Wait for the HNSW graph the dashboard's warm-up started (SQLite store above the threshold)."""
    began = time.perf_counter()
    with library.store() as store:
        cache = getattr(store.backend, "index", None)
        index = cache.current() if cache is not None else None
    if index is None or len(index) <= index.ann_threshold:
        return
    ready = index.wait_for_build(600)
    took = time.perf_counter() - began
    print(f"vector graph {'ready' if ready else 'not built'} after {took:.1f} s of waiting", flush=True)


def typed(queries: list[str], count: int) -> list[str]:
    """The prefixes a person's typing sends (one per word, from 3 characters), ``count`` of them."""
    out: list[str] = []
    for query in queries:
        words = query.split()
        out += [p for i in range(1, len(words) + 1) if len(p := " ".join(words[:i])) >= 3]
        if len(out) >= count:
            break
    return out[:count]


def row(name: str, samples: list[float]) -> None:
    median = statistics.median(samples)
    print(f"{name:<40} {median:>10.1f} {percentile(samples, 95):>9.1f} {len(samples):>6}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="memories in the store")
    parser.add_argument("--runs", type=int, default=60, help="requests per row")
    parser.add_argument("--keep", type=Path, help="home to keep (and reuse) the store in")
    parser.add_argument(
        "--during-build", action="store_true", help="measure without waiting for the vector graph"
    )
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="ui-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    for name in [n for n in os.environ if n.startswith("MAHAVISHNU_")]:
        del os.environ[name]
    os.environ.update(
        {"HOME": str(home), "MAHAVISHNU_HOME": str(home / ".mahavishnu"), "MAHAVISHNU_DAEMON": "off"}
    )
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.embedders import get_embedder

    get_embedder(MemorySettings()).embed("warm up")  # onnxruntime before usearch (memory_ops.py)
    marker = home / ".mahavishnu" / f"rows-{args.rows}"
    if not marker.exists():
        from recall_latency import build_store

        shutil.rmtree(home / ".mahavishnu", ignore_errors=True)
        build_store(home, args.rows)
        marker.touch()
    from memory_ops import corpus

    _, queries = corpus(10)
    prefixes = typed(queries, args.runs)

    port, server, library = serve()
    client = Client(port)
    print(f"rows {args.rows:,}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'measurement':<40} {'median ms':>10} {'p95 ms':>9} {'runs':>6}")
    row("first page, cold", [client.get("/memory")])
    row("first page", [client.get("/memory") for _ in range(args.runs)])
    row("first page, project filter", [client.get("/memory?project=p7") for _ in range(args.runs)])
    if not args.during_build:
        wait_for_graph(library)
    for mode in ("hybrid", "text", "vector"):
        for warm in prefixes[:3]:
            client.get("/memory/hits?" + urlencode({"q": warm, "mode": mode}))
        samples = [client.get("/memory/hits?" + urlencode({"q": q, "mode": mode})) for q in prefixes]
        row(f"search as you type, {mode}", samples)
    print(
        f"(targets: first page <= 300 ms, search p95 <= 100 ms; load average now "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})"
    )
    server.should_exit = True


if __name__ == "__main__":
    main()
