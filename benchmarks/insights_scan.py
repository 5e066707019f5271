"""★ Insight scanning speed on a 1 MB transcript and on pathological inputs.

    python benchmarks/insights_scan.py --runs 20

The anchor is one pass of ``str.count`` over the same text: the floor for any scan that reads it.
"""

from __future__ import annotations

import argparse

from _stats import print_rows, time_runs

from mahavishnu.memory.insights.extract import extract_insights

BLOCK = (
    "`★ Insight ─────────────────────────────────────`\n"
    "Retries use a budget per host so a flapping upstream cannot starve the pool.\n"
    "`─────────────────────────────────────────────────`\n"
)
FILLER = "Some prose with `code`, a ─── rule and a ★ star.\n```py\nx = 1\n```\n"
PATHOLOGICAL = {
    "long rule after a star": "★ Insight " + "─" * 300_000 + " x",
    "300k quote markers": "> " * 150_000 + "★ Insight ─ x",
    "20k unterminated openers": "`★ Insight ─`\n```py\n─────\n" * 20_000,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    transcript = FILLER * (1_000_000 // len(FILLER)) + BLOCK
    rows = [
        ("str.count over 1 MB", time_runs(lambda: transcript.count("★"), runs)),
        ("extract_insights, 1 MB transcript", time_runs(lambda: extract_insights(transcript), runs)),
    ]
    for name, text in PATHOLOGICAL.items():
        rows.append((f"extract_insights, {name}", time_runs(lambda t=text: extract_insights(t), runs)))
    print_rows(rows, anchor=rows[0][0])


if __name__ == "__main__":
    main()
