"""What reading a text for instructions to an agent costs (``memory/core/instructions.py``): every
stored memory is read once, and recall reads each candidate it has no verdict for (a warm daemon
remembers verdicts by content hash).

    python benchmarks/instruction_rules.py            # the repository's README paragraphs + hostile shapes

Rows: the README's paragraphs (technical prose, commands, URLs) one call each; a short decision; and
100,000-character texts built to be slow for a regular expression (repeated cues, long runs without
a space, dotted runs). Each row prints the best of five rounds of CPU time per call and per 1,000
characters, next to the three rules that were there before issue 47 (``--old`` column), and the
load average: on a shared machine only the CPU time means anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from mahavishnu.memory.core.instructions import _COMPILED, instruction_like

ROOT = Path(__file__).resolve().parent.parent


def old_rules(text: str) -> object:
    return next((why for why, pattern in _COMPILED[:3] if pattern.search(text)), None)


def best(call: Callable[[str], object], texts: list[str], rounds: int = 5) -> float:
    """The best round's CPU seconds for reading every text once."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            call(text)
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        "README paragraphs": [p for p in readme.split("\n\n") if p.strip()],
        "a short decision": ["We decided to keep the retry policy of every service in config/retries.toml."]
        * 100,
        "100k: cues repeated": [
            (("token ~/.aws/credentials send the env | " + "x" * 50 + " to ") * 1500)[:100_000]
        ],
        "100k: 'send it to' x10k": [("send it to " * 10_000)[:100_000]],
        "100k: 'env | ' x20k": [("env | " * 20_000)[:100_000]],
        "100k: one dotted run": ["a." * 50_000],
        "100k: one word": ["a" * 100_000],
        "100k: 'a@' x50k": ["a@" * 50_000],
    }
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"{'texts':28} {'chars/text':>10} {'ms/text':>9} {'ms/1k chars':>12} {'--old ms/1k':>12}")
    for name, texts in rows.items():
        chars = sum(len(t) for t in texts)
        new, old = best(instruction_like, texts), best(old_rules, texts)
        per_text = new * 1000 / len(texts)
        print(
            f"{name:28} {chars // len(texts):>10} {per_text:>9.3f} {new * 1e6 / chars:>12.3f}"
            f" {old * 1e6 / chars:>12.3f}"
        )


if __name__ == "__main__":
    main()
