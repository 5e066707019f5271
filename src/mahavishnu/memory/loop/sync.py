"""Sync: what this machine queued while its team store was unreachable, delivered once it answers.

The outbox (``core/outbox.py``) holds memories the store path could not write and session files the
capture hook could not capture. ``deliver`` sends them, memories first (``MemoryStore.deliver_queued``:
in order, each once), then runs each queued capture again (the session file, from where its last
capture stopped; turns have stable ids, so nothing is stored twice). It is called by ``mahavishnu team
sync``, by memory commands when they open the store, and by the memory daemon every
``DELIVER_SECONDS`` while something waits.

What the store refuses for what it holds (``outbox.RefusedError``: a memory longer than the team
store takes, queued by a member whose ``memory.max_content_chars`` is larger) is set aside, not
retried: ``refused_notice`` is the line that tells the user, wherever the outbox is shown.

``unreachable_answer`` is what the recall hooks print while the store does not answer: nothing at a
prompt, and at session start one line saying so and what waits, within the hook's budget.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mahavishnu import wording
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core.outbox import Outbox, Refused, RefusedError, outbox_path

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore

#: How often the memory daemon looks for something to deliver.
DELIVER_SECONDS = 30.0
_SESSION_START = "SessionStart"


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Memories delivered (and found delivered already), captures run again, what still waits;
    ``refused``: items set aside now, the store refusing them for what they hold; ``set_aside``: all
    those that wait for the user's word (``refused_notice``)."""

    delivered: int
    skipped: int
    captures: int
    dropped: int  #: queued captures whose session file is gone or no longer readable
    waiting: int
    busy: bool = False
    refused: int = 0
    set_aside: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "already_delivered": self.skipped,
            "captures": self.captures,
            "captures_dropped": self.dropped,
            "waiting": self.waiting,
            "busy": self.busy,
            "refused": self.refused,
            "set_aside": self.set_aside,
        }


def deliver(store: MemoryStore) -> SyncReport:
    """Deliver everything queued for ``store``; ``ServerUnreachableError`` when it still does not
    answer (what was not delivered stays queued)."""
    memories = store.deliver_queued()
    target = store.outbox_target
    if target is None or memories.busy:
        return SyncReport(memories.delivered, memories.skipped, 0, 0, memories.waiting, memories.busy)
    captures = dropped = refused = 0
    with Outbox() as box, box.delivering() as mine:
        if not mine:
            return SyncReport(memories.delivered, memories.skipped, 0, 0, box.waiting(target).count, True)
        for item in box.items(target, "capture", 10_000):
            try:
                captured = _capture_again(store, item.body)
            except RefusedError as refusal:  # (a turn's memory over the team's bound, say)
                box.set_aside(item, refusal.message)
                refused += 1
                continue
            if captured:
                captures += 1
            else:
                dropped += 1
            box.remove([item.client_id])
        waiting, aside = box.waiting(target).count, len(box.refused(target))
    refused += memories.refused
    return SyncReport(
        memories.delivered, memories.skipped, captures, dropped, waiting, refused=refused, set_aside=aside
    )


def refused_notice(refused: list[Refused]) -> str | None:
    """The one line telling what was set aside (``Outbox.refused``), why, and what to do; None: nothing."""
    if not refused:
        return None
    them = "it" if len(refused) == 1 else "them"
    return (
        f"{set_aside_count(refused)} queued on this machine "
        f"{'was' if len(refused) == 1 else 'were'} refused by the team store and set aside "
        f"({_first_line(refused[0].reason)}); `mahavishnu team status --json` shows {them}, "
        f"`mahavishnu team sync --retry-refused` sends {them} again, `--drop-refused` deletes {them}"
    )


def _first_line(reason: str) -> str:
    """A reason's first line: PostgreSQL's ``DETAIL`` (``Failing row contains (…)``, the memory's own
    text) is for ``team status --json``, not the one-line notice."""
    return next(iter(reason.splitlines()), "")


def _capture_again(store: MemoryStore, body: dict[str, Any]) -> bool:
    """Run a queued capture; False when its session file can no longer be captured (gone, or
    refused): there is nothing left to deliver for it."""
    from mahavishnu.memory.loop.capture import capture_file
    from mahavishnu.memory.loop.session_logs import check_tool

    within = body.get("within")
    try:
        capture_file(
            store,
            check_tool(str(body.get("tool"))),
            Path(str(body.get("path"))),
            within=Path(within) if isinstance(within, str) else None,
            cwd=body.get("cwd") if isinstance(body.get("cwd"), str) else None,
        )
    except (InvalidInputError, NotFoundError):
        return False
    return True


def deliver_quietly(store: MemoryStore, *, retry_now: bool = False) -> SyncReport | None:
    """``deliver`` when something waits for ``store`` and it was not found unreachable a moment
    ago (``retry_now``: even then); None when nothing does or it failed (the caller goes on: its
    own work says what is wrong with the store)."""
    target = store.outbox_target
    if target is None or not store.queued().count or (not retry_now and recently_unreachable(target)):
        return None  # (found down a moment ago: the command's own call tries again)
    with contextlib.suppress(Exception):
        return deliver(store)
    return None


def unreachable_notice(target: str, waiting: int) -> str:
    """The one line a session starts with while its team store does not answer."""
    queued = f"{wording.count(waiting, 'item')} queued on this machine" if waiting else "nothing queued yet"
    return (
        f"Mahavishnu: team memory {target} is unreachable; {queued}; what is stored meanwhile waits "
        "here and is delivered when it is back."
    )


def unreachable_answer(payload: dict[str, Any], target: str) -> dict[str, Any] | None:
    """A recall hook's answer while the store does not answer: at session start the notice (as
    ``additionalContext``, the one answer all four assistants read), at a prompt nothing."""
    if payload.get("hook_event_name") != _SESSION_START:
        return None
    with Outbox() as box:
        waiting = box.waiting(target).count
    notice = unreachable_notice(target, waiting)
    return {"hookSpecificOutput": {"hookEventName": _SESSION_START, "additionalContext": notice}}


def recently_unreachable(target: str | None) -> bool:
    """Whether ``target`` was found unreachable a moment ago (a hook then does not wait for it)."""
    if target is None:
        return False
    with Outbox() as box:
        return box.recently_unreachable(target) is not None


def set_aside_notice(target: str | None) -> str | None:
    """``refused_notice`` of what this machine's outbox set aside for ``target``; None: nothing."""
    if target is None or not outbox_path().exists():
        return None
    with Outbox() as box:
        return refused_notice(box.refused(target))


def set_aside_count(refused: list[Refused]) -> str:
    """``1 memory``, ``2 captures``, ``3 items``: what ``refused`` holds."""
    kinds = {aside.item.kind for aside in refused}
    noun = "memory" if kinds == {"memory"} else "capture" if kinds == {"capture"} else "item"
    return wording.count(len(refused), noun)
