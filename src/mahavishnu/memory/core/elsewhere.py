"""What a scoped search says when its answer lies outside its scope.

A ``--project`` (or ``--group``) search ranks that scope's memories and those of no project; a
question answered in another project gets nothing relevant there. Rather than let the caller
conclude nothing is stored, the command line (on stderr), MCP's ``search_memory`` (a note after
the hits) and the dashboard (with a link) say how many memories the same search without the scope
accepts that it did not show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mahavishnu.clean_text import printable
from mahavishnu.wording import count

#: The filters that scope a search to a group of projects or one project, as the callers spell
#: them; a group first, as the search reads it (``sql.Dialect._project_sql``).
SCOPES = ("group", "project")

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
    found = [h for h in search(wider) if h.get("relevant", True) and _outside(h["memory"], shown, filters)]
    return (scope, len(found)) if found else None


def _outside(memory: Mapping[str, Any], shown: set[int], filters: Mapping[str, Any]) -> bool:
    """Whether a memory of the wider search lies outside the scope: not shown, of a project, not the
    scope's (the judge weighs each hit against the others, so one the scoped search doubted may
    pass in the wider list)."""
    return memory["id"] not in shown and memory.get("project") not in (None, filters.get("project"))


def sentence(scope: str, value: object, n: int, remedy: str = "") -> str:
    """``nothing in project web looks relevant; 1 memory outside it does[: <remedy>]`` (the scope's
    name as typed, without what a terminal would act on)."""
    outside = f"{count(n, 'memory', 'memories')} outside it {'does' if n == 1 else 'do'}"
    said = f"nothing in {scope} {printable(str(value))} looks relevant; {outside}"
    return f"{said}: {remedy}" if remedy else said
