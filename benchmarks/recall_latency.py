"""Recall latency as an assistant's hook sees it: a fresh process per call, from its start to the
JSON on its stdout, against a store of 100,000 memories, next to a bare ``python -c pass``.

    python benchmarks/recall_latency.py                   # 100,000 memories, 40 runs per row
    python benchmarks/recall_latency.py --rows 20000 --runs 20 --cold-runs 3
    python benchmarks/recall_latency.py --keep /tmp/recall-home   # reuse the store next time

The store lives in a throw-away home (``HOME``/``MAHAVISHNU_HOME``): SciFact sentences as memories
in 50 projects, stored with *synthetic* clustered vectors under the real embedder's identity (as
benchmarks/memory_ops.py does: embedding 100k texts on 2 cores takes most of an hour); every query
is embedded by the real local model, in whichever process answers it. Rows:

* ``python -c pass``: the anchor, the cost of any Python process here;
* ``memory search --json`` through the daemon: the console script's fast path (cli/entry.py) asks
  the warm ``mahavishnu-memory`` service over its Unix socket, the hook's path;
* ``memory context`` through the daemon, when ``mahavishnu.memory.recall`` exists (the per-prompt
  hook: payload on stdin, JSON out);
* ``memory search --json`` without the daemon (``MAHAVISHNU_DAEMON=off``): what every call cost
  before, the fallback when the daemon is down.

Each row prints median, p95 and the ratio to the anchor's median; the daemon's own time per request
is printed too. The machine is shared: quote the load average printed with the figures.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import print_rows, time_runs  # noqa: E402

PROMPTS = [
    "which journal mode does the sqlite store use",
    "how do we keep secrets out of memory",
    "vitamin D deficiency and bone density",
    "what did we decide about the CI runners",
    "gene expression in tumour cells",
]


def build_store(home: Path, rows: int) -> None:
    """Fill the home's default store with ``rows`` memories (synthetic vectors, real identity)."""
    from memory_ops import Synthetic, corpus

    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.embedders import get_embedder
    from mahavishnu.memory.store import MemoryStore

    real = get_embedder(MemorySettings())
    texts, _ = corpus(rows)
    synthetic = Synthetic(real, texts)
    settings = MemorySettings(path=home / ".mahavishnu" / "memory.db")
    began = time.perf_counter()
    with MemoryStore.open(settings, embedder=synthetic) as store:
        drafts = [
            {"content": t, "type": "decision" if i % 7 == 0 else "note", "project": f"p{i % 50}"}
            for i, t in enumerate(texts)
        ]
        for start in range(0, len(drafts), 2_000):
            store.store_many(drafts[start : start + 2_000], batch_size=2_000)
    print(f"built a store of {rows:,} memories in {time.perf_counter() - began:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="memories in the store")
    parser.add_argument("--runs", type=int, default=40, help="fresh processes per daemon row")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes without the daemon")
    parser.add_argument("--keep", type=Path, help="home to keep (and reuse) the store in")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="recall-latency-"))
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAHAVISHNU_")},
        "HOME": str(home),
        "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
        "MAHAVISHNU_DAEMON": "on",
    }
    os.environ.update(env)
    marker = home / ".mahavishnu" / f"rows-{args.rows}"
    if not marker.exists():
        shutil.rmtree(home / ".mahavishnu", ignore_errors=True)
        build_store(home, args.rows)
        marker.touch()

    from mahavishnu.config import load_settings
    from mahavishnu.memory import daemon
    from mahavishnu.services.supervisor import Supervisor

    exe = str(Path(sys.executable).parent / "mahavishnu")
    supervisor = Supervisor(load_settings())
    began = time.perf_counter()
    supervisor.start(daemon.SERVICE)
    print(f"daemon started and warm in {time.perf_counter() - began:.1f} s", flush=True)
    counter = iter(range(10**6))
    served_ms: list[float] = []

    def prompt() -> str:
        return PROMPTS[next(counter) % len(PROMPTS)]

    def search(extra_env: dict[str, str] | None = None) -> None:
        done = subprocess.run(
            [exe, "memory", "search", prompt(), "--json", "-n", "8"],
            env={**env, **(extra_env or {})},
            capture_output=True,
            check=True,
            cwd=home,
        )
        json.loads(done.stdout)

    def context() -> None:
        event = "UserPromptSubmit"
        payload = {"session_id": "b", "cwd": str(home), "prompt": prompt(), "hook_event_name": event}
        done = subprocess.run(
            [exe, "memory", "context", "--tool", "claude"],
            input=json.dumps(payload).encode(),
            env=env,
            capture_output=True,
            check=True,
            cwd=home,
        )
        if done.stdout.strip():
            json.loads(done.stdout)

    def served() -> None:
        answer = daemon.request("search", {"query": prompt(), "limit": 8})
        assert answer is not None and answer["ok"], answer
        served_ms.append(float(answer["ms"]))

    try:
        for _ in range(10):  # the vector index settles (HNSW built in the background) before timing
            served()
        rows = [
            ("python -c pass", time_runs(lambda: subprocess.run([sys.executable, "-c", "pass"]), args.runs)),
            ("memory search --json, daemon", time_runs(search, args.runs)),
        ]
        try:
            import importlib

            importlib.import_module("mahavishnu.memory.recall")
            rows.append(("memory context (hook), daemon", time_runs(context, args.runs)))
        except ImportError:
            print("(no mahavishnu.memory.recall here yet: the context row is skipped)")
        rows.append(
            (
                "memory search --json, no daemon",
                time_runs(lambda: search({"MAHAVISHNU_DAEMON": "off"}), args.cold_runs, warmup=1),
            )
        )
        served_ms.clear()
        for _ in range(args.runs):
            served()
    finally:
        supervisor.stop(daemon.SERVICE)
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)
    print(f"rows {args.rows:,}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print_rows(rows, "python -c pass")
    median = sorted(served_ms)[len(served_ms) // 2] if served_ms else float("nan")
    print(f"the daemon's own time per search request (query embedding included): median {median} ms")


if __name__ == "__main__":
    main()
