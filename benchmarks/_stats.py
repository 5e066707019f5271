"""Small shared helpers for benchmark scripts: timing and one printed table."""

from __future__ import annotations

import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_runs(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    """Wall-clock milliseconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def timed_command(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run of ``command`` (the child's CPU, its workers' included, so
    a busy machine shows in wall time only), and what it printed; exits when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {proc.stderr[-2000:]}")
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, proc.stdout


def print_rows(rows: list[tuple[str, list[float]]], anchor: str) -> None:
    """One line per measurement: median, p95, and the median's ratio to the anchor row's."""
    base = statistics.median(dict(rows)[anchor])
    print(f"{'measurement':<44} {'median ms':>10} {'p95 ms':>9} {'x anchor':>9}")
    for name, samples in rows:
        median = statistics.median(samples)
        print(f"{name:<44} {median:>10.1f} {percentile(samples, 95):>9.1f} {median / base:>9.2f}")
    print(f"(anchor: {anchor}; {len(rows[0][1])} runs each)")
