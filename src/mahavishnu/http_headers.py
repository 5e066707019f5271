"""Headers a request may carry once: with two, which one counts would depend on who reads it
(``dict(scope["headers"])`` keeps the last), so the servers refuse the request instead."""

from __future__ import annotations

from collections.abc import Collection, Iterable


def doubled(headers: Iterable[tuple[bytes, bytes]], single: Collection[bytes]) -> str | None:
    """The name of a header of ``single`` (lower case) that ``headers`` carries more than once, or None."""
    seen: set[bytes] = set()
    for raw, _ in headers:
        name = raw.lower()
        if name in single:
            if name in seen:
                return name.decode("latin-1").title()
            seen.add(name)
    return None
