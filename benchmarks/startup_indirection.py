"""What the two start-up indirections save: the lazy command groups of ``cli/main.py`` and the lazy
public names of ``mahavishnu/__init__.py`` (PEP 562). A fresh process per run; CPU time (user +
system) of the child, which a loaded machine disturbs less than wall time.

    PYTHONPATH=src python benchmarks/startup_indirection.py [--runs 15]

Rows: the anchor (a bare interpreter); ``import mahavishnu`` as shipped (names load on first use)
against loading every public name, as an eager ``__init__`` would; the root command with only the
``memory`` group built (what ``mahavishnu memory …`` pays) against every group built, as an eager
``add_typer`` of each group would.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import print_rows

ROOT = "from mahavishnu.cli.main import app; import typer; c = typer.main.get_command(app); "
CASES = {
    "python (anchor)": "pass",
    "import mahavishnu (lazy names)": "import mahavishnu",
    "every public name loaded": "import mahavishnu; [getattr(mahavishnu, n) for n in mahavishnu.__all__]",
    "CLI, memory group only (lazy)": ROOT + "c.commands['memory']",
    "CLI, every group built": ROOT + "[c.commands[n] for n in list(c.commands)]",
}


def cpu_ms(code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved, so a burst of load hits every row alike
        for name, code in CASES.items():
            samples[name].append(cpu_ms(code))
    print_rows(list(samples.items()), "python (anchor)")


if __name__ == "__main__":
    main()
