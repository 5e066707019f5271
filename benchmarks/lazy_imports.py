"""Do the two start-up shortcuts of the switch path pay? Each row is a fresh interpreter (as a user's
command is), against the anchor of a bare Python start:

* ``switcher.assistant_class`` imports each assistant on use: a Claude switch loads only
  assistants/claude.py. Compared with importing all four assistant modules (what
  plain imports in switcher.py would do: codex pulls tomlkit, qwen and gemini json-five).
* json_document's strict-JSON model parses Claude Code's settings.json without json-five (and the
  regex and sly packages under it). Compared with parsing the same file through json-five's model.

    python benchmarks/lazy_imports.py [--runs 20]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import print_rows

SETTINGS = (
    '{\\n  "model": "opus",\\n  "env": {"ANTHROPIC_BASE_URL": "https://x"},\\n'
    '  "permissions": {"allow": ["Bash(ls)"]}\\n}\\n'
)

ROWS = {
    "python -c pass (anchor)": "pass",
    "claude assistant, lazy (as shipped)": (
        "from mahavishnu.environments.switcher import assistant; assistant('claude')"
    ),
    "all four assistant modules imported": (
        "from mahavishnu.environments.switcher import assistant\n"
        "for t in ('claude', 'codex', 'qwen', 'gemini'): assistant(t)"
    ),
    "settings.json, strict model (as shipped)": (
        f"from mahavishnu.files.json_document import JsonDocument\n"
        f"JsonDocument.parse('{SETTINGS}', comments=False).dumps()"
    ),
    "settings.json through json-five": (
        f"from mahavishnu.files.json_document import JsonDocument\n"
        f"JsonDocument.parse('{SETTINGS}', comments=True).dumps()"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    samples: dict[str, list[float]] = {label: [] for label in ROWS}
    for _ in range(runs + 1):  # rows interleaved, so a change of load hits them alike; the first is warm-up
        for label, code in ROWS.items():
            samples[label].append(_child_cpu_ms([sys.executable, "-c", code]))
    print(
        "CPU time (user + sys) of each child process, which the machine's load inflates less than wall time"
    )
    print_rows([(label, values[1:]) for label, values in samples.items()], anchor="python -c pass (anchor)")


def _child_cpu_ms(command: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


if __name__ == "__main__":
    main()
