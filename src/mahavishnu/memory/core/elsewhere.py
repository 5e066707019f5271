"""What a scoped search says when its answer lies outside its scope.

A ``--project`` (or ``--group``) search ranks that scope's memories and those of no project; a
question answered in another project gets nothing relevant there. Rather than let the caller
conclude nothing is stored, the command line (on stderr) and MCP's ``search_memory`` (a note after
the hits) say how many memories the same search without the scope accepts that it did not show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mahavishnu.wording import count

#: The filters that scope a search to a project or a group of them, as the callers spell them.
SCOPES = ("project", "group")

Hit = Mapping[str, Any]  # ``SearchHit.to_dict``: {"memory": {"id": …}, "relevant": …, …}


def outside_scope(
    hits: Sequence[Hit], filters: Mapping[str, Any], search: Callable[[dict[str, Any]], Sequence[Hit]]
) -> tuple[str, int] | None:
    """(the scope's filter name, how many memories outside it the judge accepts) when the scoped
    search shows nothing relevant and the search without the scope (``search``, given the filters
    without it) accepts memories it did not show; None otherwise, without searching again when the
    scope showed anything relevant or there is no scope."""
    scope = next((name for name in SCOPES if filters.get(name)), None)
    if scope is None or any(h.get("relevant", True) for h in hits):
        return None
    shown = {h["memory"]["id"] for h in hits}
    wider = {k: v for k, v in filters.items() if k not in SCOPES}
    found = [h for h in search(wider) if h.get("relevant", True) and h["memory"]["id"] not in shown]
    return (scope, len(found)) if found else None


def sentence(scope: str, value: object, n: int, remedy: str) -> str:
    """``nothing in project web looks relevant; 1 memory outside it does: <remedy>``."""
    outside = f"{count(n, 'memory', 'memories')} outside it {'does' if n == 1 else 'do'}"
    return f"nothing in {scope} {value} looks relevant; {outside}: {remedy}"
