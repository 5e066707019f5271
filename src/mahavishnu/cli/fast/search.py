"""``mahavishnu memory search``, answered by the memory daemon, and how hits are printed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.cli.params import Values

from mahavishnu.cli.fast.common import _run

# -- memory search, answered by the memory daemon -------------------------------------------------


def parse_memory_search(args: list[str]) -> Values | None:
    """The parameters of ``memory search ARGS`` (cli/params.py) when every argument is plainly
    spelled and there is one query; None for anything else: Typer then says what is wrong."""
    from mahavishnu.cli.params import MEMORY_SEARCH, parse_plain

    parsed = parse_plain(MEMORY_SEARCH, args)
    if parsed is None or len(parsed[0]) != 1 or not parsed[0][0].strip():
        return None
    return {"query": parsed[0][0], **parsed[1]}


def memory_search(args: list[str]) -> int | None:
    """``mahavishnu memory search ARGS`` answered by the memory daemon; None when Typer must run the
    command (an unusual spelling, or no daemon: then one is started for the next call)."""
    from mahavishnu.memory.loop import daemon

    values = parse_memory_search(args)
    if values is None or not daemon.enabled():
        return None
    filters = {
        "group": values["group"],
        "types": values["types"],
        "tags": values["tags"],
        "project": values["project"],
        "repo_id": values["repo"],
        "agent_id": values["agent"],
        "session_id": values["session"],
        "since": values["since"],
        "until": values["until"],
    }
    request = {
        "query": values["query"],
        "mode": values["mode"],
        "filters": {k: v for k, v in filters.items() if v not in (None, [])},
        "min_score": values["min_score"],
        "limit": values["limit"],
    }
    answer = daemon.ask("search", request)
    if answer is None:
        return None

    def show(hits: list[dict[str, Any]]) -> None:
        print_hits(hits, as_json=values["as_json"], for_agents=values["for_agents"])
        hint_outside_scope(
            hits,
            request["filters"],
            lambda wider: _results(daemon.ask("search", {**request, "filters": wider})),
            as_json=values["as_json"],
        )

    return _print_answer(answer, show)


def _results(answer: dict[str, Any] | None) -> list[dict[str, Any]]:
    return answer["result"] if answer and answer.get("ok") else []


def hint_outside_scope(
    hits: Sequence[dict[str, Any]],
    filters: dict[str, Any],
    search: Callable[[dict[str, Any]], list[dict[str, Any]]],
    *,
    as_json: bool = False,
) -> None:
    """On stderr, when a ``--project`` (or ``--group``) search shows nothing relevant, how many
    memories outside the scope the same search accepts (``memory/core/elsewhere.py``); not for
    ``--json``, whose reader takes stdout alone (and MCP's ``search_memory`` says it there)."""
    from mahavishnu.memory.core.elsewhere import outside_scope, sentence

    if as_json:
        return
    found = outside_scope(hits, filters, search)
    if found is not None:
        scope, n = found
        sys.stderr.write(f"hint: {sentence(scope, filters[scope], n, f'search without --{scope}')}\n")


def _print_answer(answer: dict[str, Any], show: Callable[[Any], None]) -> int:
    """A daemon's answer as the command would print it: the result, or the error line + hint."""
    if not answer.get("ok"):
        hint = answer.get("hint")
        sys.stderr.write(f"error: {answer.get('error')}\n" + (f"hint: {hint}\n" if hint else ""))
        return int(answer.get("exit_code") or 1)
    return _run(lambda: show(answer["result"]))


def print_hits(hits: list[dict[str, Any]], *, as_json: bool, for_agents: bool = False) -> None:
    """Search hits (``SearchHit.to_dict``) as ``memory search`` prints them: those the relevance
    judge calls weak (``"relevant": false``) dimmed and, when there are any, a ``relevant`` column
    saying which (``no``): in a pipe, where nothing is dimmed, an assistant running the command
    reads the judge's verdict there. ``for_agents``: as an agent's tool is given them, the text recall
    leaves out withheld (``provenance.hit_for_agents``)."""
    from mahavishnu.cli.output import info, print_json, table
    from mahavishnu.wording import NO_RELEVANT_MEMORIES

    if for_agents:
        from mahavishnu.memory.core.provenance import hit_for_agents

        hits = [hit_for_agents(hit) for hit in hits]

    if as_json:
        print_json(hits)
        return
    if not hits:
        info(NO_RELEVANT_MEMORIES)
        return
    team = any("author" in h["memory"] for h in hits)  # a team store: who wrote each
    verdicts = [bool(h.get("relevant", True)) for h in hits]
    judged, cells = relevant_column(verdicts)
    rows = [
        (
            h["memory"]["id"],
            f"{h['score']:.3f}",
            *cell,
            "+".join(h["modes"]),
            h["memory"]["memory_type"],
            _scope(h["memory"]),
            *([h["memory"].get("author", "")] if team else []),
            _snippet(_noted(h["memory"]["content"], h["memory"]["metadata"], h["memory"]["tags"]), 100),
        )
        for h, cell in zip(hits, cells, strict=True)
    ]
    columns = ["id", "score", *judged, "found by", "type", "scope", *(["author"] if team else []), "content"]
    table(None, columns, dimmed(rows, verdicts))


def dimmed(rows: Sequence[tuple[Any, ...]], verdicts: Sequence[bool]) -> list[tuple[Any, ...]]:
    """Hits' table rows, those the relevance judge doubts dimmed (in a pipe the ``relevant``
    column says which)."""
    from mahavishnu.cli.output import escape

    return [
        row if relevant else tuple(_dim(cell, escape) for cell in row)
        for relevant, row in zip(verdicts, rows, strict=True)
    ]


def relevant_column(verdicts: Sequence[bool]) -> tuple[list[str], list[list[str]]]:
    """A table of hits' ``relevant`` column (its header, each row's cell: ``yes`` / ``no``), there
    only when the relevance judge doubts a hit: in a pipe, where nothing is dimmed, it says which."""
    if all(verdicts):
        return [], [[] for _ in verdicts]
    return ["relevant"], [["yes" if relevant else "no"] for relevant in verdicts]


def _dim(cell: Any, escape: Callable[[str], str]) -> str:
    """A table cell shown dimmed (markup around its escaped text)."""
    from mahavishnu.cli.output import Markup

    return Markup(f"[dim]{escape(str(cell))}[/dim]")


def _scope(memory: dict[str, Any]) -> str:
    return " ".join(f"{k}={memory[f]}" for k, f in (("project", "project"), ("repo", "repo_id")) if memory[f])


def _noted(text: str, metadata: dict[str, Any], tags: Sequence[str] = ()) -> str:
    """``text`` headed by what replaces or repeats it ("[superseded by #N]", "[also #M]"), and by
    why recall leaves it out ("[quarantined: sends a secret …]": explicit searches still show it)."""
    from mahavishnu.memory.core.provenance import held_back
    from mahavishnu.memory.core.supersede import note

    marks = [f"[{said}]" for said in (note(metadata),) if said]
    why = held_back(tags, text, metadata=metadata)
    if why is not None:
        marks.insert(0, f"[quarantined: {why}]")
    return " ".join([*marks, text])


def _snippet(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
