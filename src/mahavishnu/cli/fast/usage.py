"""``mahavishnu usage [daily|monthly|sessions] [options]`` without Typer: the same body
(``cli/usage_report.py``) from the same parameters (``cli/params.py``), 0.1 s sooner."""

from __future__ import annotations

from mahavishnu.cli.fast.common import _run

PERIODS = ("daily", "monthly", "sessions")


def usage_report(args: list[str]) -> int | None:
    """``mahavishnu usage ARGS`` (ARGS after ``usage``) without Typer; None when Typer must handle
    them (another command, ``--help``, ``--watch``, anything not plainly spelled)."""
    from mahavishnu.cli.params import USAGE_REPORT, parse_plain

    period = args[0] if args and args[0] in PERIODS else "daily"
    parsed = parse_plain(USAGE_REPORT, args[1:] if args and args[0] in PERIODS else args)
    if parsed is None or parsed[0]:  # a positional argument: another command, or a mistake
        return None

    def body() -> None:
        from mahavishnu.cli.usage_report import show

        show(period, **parsed[1])  # type: ignore[arg-type]

    return _run(body)
