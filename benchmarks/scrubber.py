"""The memory scrubber (``mahavishnu.redaction.scrub``): recall on canary secrets, false positives on
real source code, and its cost.

    python benchmarks/scrubber.py                     # 1,000 files of installed libraries
    python benchmarks/scrubber.py --files 300 --runs 10

* recall: every canary of ``testkit/secret_canaries.py`` (one per format: provider keys,
  private key blocks, URL passwords, .env/JSON/YAML assignments ...) is scrubbed; a canary counts as
  caught when no 10-character piece of its secret is left. Goal: 100 %.
* false positives: the ``.py`` files of installed libraries (numpy, rich, pydantic, ... : real
  source with no real secret in it), each scanned whole, as ingestion would see it. Every finding is
  listed (kind, file:line, its neighbourhood with the match cut to 4 characters). Goal: 0.
* cost: a fresh process importing the module next to a bare ``python -c pass`` (the anchor), and
  the scan time per file (median, p95) and throughput.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # testkit
from _stats import percentile, print_rows, time_runs  # noqa: E402
from testkit.secret_canaries import canaries  # noqa: E402

from mahavishnu.redaction.scrub import find_secrets, scrub  # noqa: E402

LIBRARIES = ("numpy", "rich", "pydantic", "pydantic_core", "httpx", "typer", "mcp", "starlette", "pip")


def leaked(out: str, secret: str) -> bool:
    return any(secret[i : i + 10] in out for i in range(max(1, len(secret) - 9)))


def recall() -> None:
    corpus = canaries()
    missed = [c.name for c in corpus if leaked(scrub(c.text), c.secret)]
    caught = len(corpus) - len(missed)
    print(f"recall: {caught}/{len(corpus)} canary formats caught ({100 * caught / len(corpus):.1f} %)")
    for name in missed:
        print(f"  MISSED {name}")


def source_files(count: int) -> list[Path]:
    import importlib.util

    files: list[Path] = []
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            files += sorted(Path(spec.origin).parent.rglob("*.py"))
    return files[:count]


def false_positives(files: list[Path]) -> list[float]:
    """Scan each file; print every finding; the scan times (ms per file)."""
    times: list[float] = []
    total_bytes = flagged = findings = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        total_bytes += len(text)
        start = time.perf_counter()
        found = find_secrets(text)
        times.append((time.perf_counter() - start) * 1000)
        flagged += bool(found)
        findings += len(found)
        for f in found:
            line = text.count("\n", 0, f.start) + 1
            context = text[max(0, f.start - 40) : f.start] + text[f.start : f.start + 4] + "…"
            print(f"  FOUND {f.kind:<18} {path.parent.name}/{path.name}:{line}  {context!r}")
    seconds = sum(times) / 1000
    libraries = Counter(next(p for p in path.parts if p in LIBRARIES) for path in files)
    print("scanned: " + ", ".join(f"{name} {count}" for name, count in libraries.items()))
    print(
        f"false positives: {findings} findings in {flagged} of {len(files)} files "
        f"({total_bytes / 1e6:.1f} MB, {total_bytes / 1e6 / seconds:.1f} MB/s; "
        f"per file median {statistics.median(times):.2f} ms, p95 {percentile(times, 95):.2f} ms)"
    )
    return times


def import_cost(runs: int) -> None:
    def run(code: str) -> None:
        subprocess.run([sys.executable, "-c", code], check=True)

    rows = [
        ("python -c pass", time_runs(lambda: run("pass"), runs)),
        (
            "import mahavishnu.redaction.scrub",
            time_runs(lambda: run("import mahavishnu.redaction.scrub"), runs),
        ),
        (
            "import + scrub one canary of each format",
            time_runs(
                lambda: run(
                    "import sys; sys.path.insert(0, '.'); from testkit.secret_canaries import canaries;"
                    "from mahavishnu.redaction.scrub import scrub; [scrub(c.text) for c in canaries()]"
                ),
                runs,
            ),
        ),
    ]
    print_rows(rows, "python -c pass")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000, help="source files to scan for false positives")
    parser.add_argument("--runs", type=int, default=20, help="fresh processes per import-cost row")
    args = parser.parse_args()
    recall()
    false_positives(source_files(args.files))
    import_cost(args.runs)


if __name__ == "__main__":
    main()
