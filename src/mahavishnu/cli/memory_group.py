"""The ``memory`` command group itself and what its two command modules share: the Typer app, the
filter options, how a command opens the store, and a one-line snippet of a memory.

``cli/memory.py`` (store, search, move) and ``cli/memory_activity.py`` (conversations, insights,
groups, workflows, metrics) both add their commands to ``app``; neither imports the other's names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mahavishnu.cli import params
from mahavishnu.cli.params import typer_param
from mahavishnu.wording import count

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore

app = typer.Typer(help="Store, search and move the shared memory.", no_args_is_help=True)

# Declared in cli/params.py, where the fast path of ``memory search`` reads them too.
TypeOption = typer_param(params.TYPES)
TagOption = typer_param(params.TAGS)
ProjectOption = typer_param(params.PROJECT)
GroupOption = typer_param(params.GROUP)
RepoOption = typer_param(params.REPO)
AgentOption = typer_param(params.AGENT)
SessionOption = typer_param(params.SESSION)
SinceOption = typer_param(params.SINCE)
UntilOption = typer_param(params.UNTIL)


def open_store() -> MemoryStore:
    """The configured store (tests replace this to inject a fake embedder); what this machine's
    outbox holds for it is delivered first, when it answers (``memory/loop/sync.py``)."""
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop.sync import deliver_quietly

    store = MemoryStore.open(one_command=True)
    report = deliver_quietly(store)
    if report is not None and (report.delivered or report.captures):
        from mahavishnu.cli.output import err_console  # (stdout may be a command's JSON)

        err_console.print(
            f"delivered from this machine's outbox: {count(report.delivered, 'memory')}, "
            f"{count(report.captures, 'capture')}; {report.waiting} waiting",
            markup=False,
        )
    warn_if_set_aside(store.outbox_target)
    return store


def warn_if_set_aside(location: str | None) -> None:
    """What this machine's outbox set aside for the store at ``location`` (refused by it, for what it
    holds): one line saying so and what to do, at every memory and team command until the user sends
    it again or drops it."""
    from mahavishnu.cli.output import escape, warn
    from mahavishnu.memory.loop.sync import set_aside_notice

    notice = set_aside_notice(location)
    if notice:
        warn(escape(notice))


def _snippet(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
