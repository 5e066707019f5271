"""Calls to a real Session-Buddy over its kept MCP session, against the anchor of one ``quick_search``.

    python benchmarks/session_buddy.py --url http://127.0.0.1:8678/mcp [--runs 30]

Start the server first (``session-buddy start``, e.g. from the venv .ci/install-session-buddy.sh makes)
and let it set up its database: the script makes one untimed call with a long budget. It stores a few
reflections so searches find something. Rows:

    quick_search, 1 call (anchor)     one substring, one hit
    search, 1 word                    peer_queries: the word in 3 casings, sent together
    search, 5-word question           8 substrings sent together on the one session
    store_reflection                  one write (it embeds nothing: the peer has no model offline)
    reflection_count                  reflection_stats, what `health` asks
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from _stats import print_rows, time_runs  # noqa: E402

from mahavishnu.memory.peers.session_buddy import SessionBuddy  # noqa: E402

SEED = [
    "Retry budget: cap webhook retries at three with exponential backoff starting at 200 ms.",
    "Keep DuckDB single-writer: readers open it read_only and retry with backoff.",
    "Filtering inside the ANN scan keeps k results; filtering after it can return fewer.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8678/mcp")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with SessionBuddy(url=args.url, timeout_seconds=120) as warm:
        warm.reflection_count()  # the first database call after a start takes seconds
        for text in SEED:
            warm.store_reflection(text, ["benchmark"])
    counter = itertools.count()
    with SessionBuddy(url=args.url, timeout_seconds=30) as peer:
        rows = [
            ("quick_search, 1 call", time_runs(lambda: peer.quick_search("backoff"), args.runs)),
            ("search, 1 word", time_runs(lambda: peer.search("backoff"), args.runs)),
            (
                "search, 5-word question",
                time_runs(lambda: peer.search("zebrafish retry budget webhook backoff"), args.runs),
            ),
            (
                "store_reflection",
                time_runs(lambda: peer.store_reflection(f"benchmark reflection {next(counter)}"), args.runs),
            ),
            ("reflection_count", time_runs(peer.reflection_count, args.runs)),
        ]
    print_rows(rows, "quick_search, 1 call")


if __name__ == "__main__":
    main()
