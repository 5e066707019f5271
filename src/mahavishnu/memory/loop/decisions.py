"""Decisions a user states in a conversation ("we decided to…", "Decision: …"), kept as ``decision``
memories of the project so they come back at the next session's start. One extractor for every
way turns arrive: the capture hook, ``memory import --tool``, ``memory import-transcript``
(``conversations.store_transcript_turns`` calls ``store_decisions`` on the turns it adds)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from mahavishnu.memory.core.models import MemoryDraft

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore


class Turn(Protocol):
    """What a decision needs of a stored turn (``conversations.Turn``, not imported: it imports us)."""

    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def project(self) -> str | None: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...


_DECISION = re.compile(
    r"\b(?:we|i|the team)\s+(?:have\s+|'ve\s+)?(?:decided|agreed|settled on)\b"
    r"|\b(?:we|the team)\s+(?:have\s+|'ve\s+)?chose\b"
    r"|\bdecision\s*:"
    r"|\blet'?s\s+(?:go with|standardi[sz]e on|stick with)\b"
    r"|\bwe\s+(?:will\s+|'ll\s+)?always\s+use\b",
    re.IGNORECASE,
)
# "Let's use X" / "we will use X" is a decision only when it says it lasts.
_LASTING_USE = re.compile(
    r"\b(?:let'?s|we\s+will|we'll)\s+use\b.*\b(?:from now on|going forward|by default|everywhere|"
    r"in (?:this|the) (?:project|repo|codebase))\b",
    re.IGNORECASE,
)
# Not a decision: a question, something asked of the assistant, or something meant for the moment.
_NOT_A_DECISION = re.compile(
    r"\?|\b(?:whether|if|why|did|do you|can you|could you|would you|should we|remember|not sure)\b"
    r".*\b(?:decided|agreed|settled|chose|use)\b"
    r"|\b(?:for now|for the moment|temporarily|just this once|this time|for this test|earlier)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_DECISION_CHARS = (12, 500)


def extract_decisions(text: str) -> list[str]:
    """The sentences of a user's turn that state a lasting decision, in order, without duplicates
    (not questions, requests or what is meant for now)."""
    found: dict[str, None] = {}
    for sentence in _SENTENCE.split(text):
        sentence = " ".join(sentence.split())
        low, high = _DECISION_CHARS
        if not low <= len(sentence) <= high or _NOT_A_DECISION.search(sentence):
            continue
        if _DECISION.search(sentence) or _LASTING_USE.search(sentence):
            found[sentence] = None
    return list(found)


def store_decisions(store: MemoryStore, turns: Sequence[Turn]) -> int:
    """Store the decisions the user states in ``turns``: how many were stated."""
    drafts = [
        MemoryDraft(
            decision,
            "decision",
            ("captured",),
            {"turn": turn.external_id, "provenance": "user"},  # the user's own words (provenance.py)
            project=turn.project,
            agent_id=turn.agent_id,
            session_id=turn.session_id,
            source_system=turn.agent_id,
        )
        for turn in turns
        if turn.role == "user"
        for decision in extract_decisions(turn.content)
    ]
    if drafts:
        store.store_many(drafts)
    return len(drafts)
