"""Where the recall hook's relevance floor (``recall.min_relevance``) should sit, measured.

A small hand-labelled set: project memories of the kinds the memory loop captures (decisions,
★ Insights, notes) and prompts a developer types, each either about one of the memories or about
none of them. With the configured embedder it prints every prompt's best cosine similarity, the
lowest similarity of a relevant pair, the highest of an unrelated pair, and how many prompts the
floor gets right: a relevant memory above it, nothing from an unrelated prompt.

    python benchmarks/recall_relevance.py [--floor 0.35]
"""

from __future__ import annotations

import argparse

import numpy as np

from mahavishnu.config import RecallSettings, load_settings
from mahavishnu.memory.core.store import default_embedder

MEMORIES = [
    "We decided to use httpx for every HTTP call in this project.",
    "Decision: all timestamps are stored in UTC.",
    "Retries live in one module so every client backs off the same way.",
    "We run tests with pytest -x for quick feedback.",
    "The billing service is written in Go and deployed on Fridays.",
    "Prefer tomlkit over toml so comments survive an edit.",
    "Migrations are append-only: never edit one that has shipped.",
    "Secrets come from the OS keyring, never from plaintext config files.",
    "The embedded store is SQLite in WAL mode; PostgreSQL with pgvector for teams.",
    "Front-end components use Svelte and are tested with Playwright.",
    "Log lines are JSON with a request id so traces can be joined.",
    "Docker images are built from a distroless base to keep them small.",
]
#: (prompt, index of the memory it is about, or None)
PROMPTS: list[tuple[str, int | None]] = [
    ("Which HTTP client should I use?", 0),
    ("How do we store dates?", 1),
    ("how do I add a retry to the API call?", 2),
    ("run the test suite", 3),
    ("when can I deploy the billing service?", 4),
    ("edit config.toml keeping comments", 5),
    ("can I change the 0003 migration?", 6),
    ("where should the API key go?", 7),
    ("which database does the store use?", 8),
    ("write an end-to-end test for the login page component", 9),
    ("how should I format log messages?", 10),
    ("make the container image smaller", 11),
    ("fix the typo in the README", None),
    ("draw a unicorn", None),
    ("what's the weather like", None),
    ("rename the variable foo to bar in utils.py", None),
    ("write a haiku about autumn", None),
    ("explain this regular expression", None),
    ("sort this list in reverse order", None),
    ("translate this paragraph into French", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floor", type=float, default=RecallSettings().min_relevance)
    args = parser.parse_args()
    embedder = default_embedder(load_settings().memory)
    memories = embedder.embed_many(MEMORIES, kind="document")
    prompts = embedder.embed_many([p for p, _ in PROMPTS], kind="query")
    scores = prompts @ memories.T
    relevant = [float(scores[i, target]) for i, (_, target) in enumerate(PROMPTS) if target is not None]
    unrelated = [
        float(scores[i, j])
        for i, (_, target) in enumerate(PROMPTS)
        for j in range(len(MEMORIES))
        if j != target
    ]
    right = 0
    for i, (prompt, target) in enumerate(PROMPTS):
        best = int(np.argmax(scores[i]))
        above = [j for j in range(len(MEMORIES)) if scores[i, j] >= args.floor]
        ok = above == [] if target is None else target in above and best == target
        right += ok
        label = "-" if target is None else f"#{target}"
        verdict = "ok" if ok else "WRONG"
        print(f"{prompt[:46]:46s} about {label:>3s}  best #{best} {scores[i, best]:.2f}  {verdict}")
    print(f"embedder {embedder.identity}; floor {args.floor:.2f}")
    print(f"relevant pairs: min {min(relevant):.2f}, median {float(np.median(relevant)):.2f}")
    print(f"unrelated pairs: max {max(unrelated):.2f}, p95 {float(np.percentile(unrelated, 95)):.2f}")
    print(f"prompts right at the floor: {right}/{len(PROMPTS)}")


if __name__ == "__main__":
    main()
