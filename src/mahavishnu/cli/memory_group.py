"""The ``memory`` command group itself and what its two command modules share: the Typer app, the
filter options, how a command opens the store, and a one-line snippet of a memory.

``cli/memory.py`` (store, search, move) and ``cli/memory_activity.py`` (conversations, insights,
groups, workflows, metrics) both add their commands to ``app``; neither imports the other's names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mahavishnu.memory.store import MemoryStore

app = typer.Typer(help="Store, search and move the shared memory.", no_args_is_help=True)

TYPES_HELP = "agent, rag, workflow, insight, decision or note"
TypeOption = typer.Option(None, "--type", "-t", help=f"Only these types ({TYPES_HELP}); repeatable.")
TagOption = typer.Option(None, "--tag", help="Only memories with every given tag; repeatable.")
ProjectOption = typer.Option(
    None, "--project", "-p", help="Only this project (and the insights shared with it)."
)
GroupOption = typer.Option(
    None, "--group", "-g", help="Only the projects of this group (see `memory groups`), and their insights."
)
RepoOption = typer.Option(None, "--repo", "-r", help="Only this repository id.")
AgentOption = typer.Option(None, "--agent", help="Only this agent id.")
SessionOption = typer.Option(None, "--session", help="Only this session id.")
SinceOption = typer.Option(None, "--since", help="Created at or after (ISO date/time).")
UntilOption = typer.Option(None, "--until", help="Created before (ISO date/time).")


def open_store() -> MemoryStore:
    """The configured store (tests replace this to inject a fake embedder)."""
    from mahavishnu.memory.store import MemoryStore

    return MemoryStore.open()


def _snippet(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
