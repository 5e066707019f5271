"""Agno agents and the shared memory: their conversations stored, and a toolkit over the memory.

    from agno.agent import Agent
    from mahavishnu.integrations.agno import MahavishnuTools, record_conversations

    agent = Agent(
        name="Researcher",
        model=...,
        post_hooks=[record_conversations(project="atlas")],
        tools=[MahavishnuTools(project="atlas")],
    )

``record_conversations`` is an Agno post-hook (``Agent(post_hooks=[...])``: Agno calls it after every
run with the run's ``RunOutput``): the run's input becomes a ``user`` turn and its reply an
``assistant`` turn of the agent's session, stored as captured turns are (``conversations.store_turns``:
each an ``agent_conversations`` row and an ``agent`` memory, scrubbed of secrets, provenance ``user``
or ``assistant``, ★ Insights collected). ``agent_id`` is the Agno agent's id (its name, slugged, when
it has one), ``session_id`` the run's session (``/`` and ``\\`` as ``-``: ``_session_name``),
``source_system`` the agent id; the metadata records ``framework: agno``, the run id and the user id
(and ``agno_session_id`` when the session's name differs). Each turn's external id is
``agno:<run id>:<role>``, so a run recorded twice is stored once. A hook never fails the run: a store
that cannot be written is logged (Agno would log and carry on anyway).

``MahavishnuTools`` is an Agno ``Toolkit`` with two tools: ``search_memories`` (the store's hybrid
search, within the project when one is set; a quarantined memory's text withheld, as the MCP server
withholds it) and ``store_memory`` (a ``kept`` memory, as the MCP server's ``store_memory`` makes,
its ``source_system`` ``agno``): a note, a decision or an insight, ``STORABLE_TYPES``. An insight is
stored as every insight is (``store_insights``: its length checked, once for everyone, shared with the
project); the other types are written by what makes them one (``agent``: the conversations above,
``rag``: an ingested or indexed corpus's chunks, ``workflow``: a run's record). Each call opens the
store and closes it again, so an agent holds no store open between runs (the embedder the default
store loaded is kept for the next: ``integrations/_store.py``); errors come back to the model as text
with their hint. A tag that reads like an instruction to an agent is withheld from the agent too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args

from agno.tools.toolkit import Toolkit

from mahavishnu import wording
from mahavishnu.errors import InvalidInputError, MahavishnuError
from mahavishnu.integrations._store import check_opener
from mahavishnu.integrations._store import open_default as _open_default
from mahavishnu.memory.core.models import MAX_NAME_CHARS, project_or_none
from mahavishnu.memory.core.provenance import for_agents, held_back, withheld
from mahavishnu.memory.core.store import MAX_LIMIT
from mahavishnu.memory.insights.cross_project import is_known_insight, store_insights
from mahavishnu.memory.loop.conversations import StoredTurns, Turn, store_turns

if TYPE_CHECKING:
    from agno.run.agent import RunOutput
    from agno.run.team import TeamRunOutput

    from mahavishnu.memory.core.models import SearchHit
    from mahavishnu.memory.core.store import MemoryStore

FRAMEWORK = "agno"
_log = logging.getLogger(__name__)
StoreOpener = Callable[[], "MemoryStore"]
#: The types ``store_memory`` takes (Agno offers the model these, from the annotation).
StorableType = Literal["note", "decision", "insight"]
STORABLE_TYPES: tuple[StorableType, ...] = get_args(StorableType)


@contextmanager
def _opened(open_store: StoreOpener) -> Iterator[MemoryStore]:
    store = open_store()
    try:
        yield store
    finally:
        store.close()


# -- conversations ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConversationRecorder:
    """The post-hook: ``Agent(post_hooks=[ConversationRecorder(...)])`` (or ``record_conversations``)."""

    project: str | None = None
    open_store: StoreOpener = _open_default
    agent_id: str | None = None  # instead of the Agno agent's own id

    def __post_init__(self) -> None:
        # checked now: the hook logs what it cannot store, so a bad name would lose every run quietly
        object.__setattr__(self, "project", project_or_none(self.project))
        check_opener("record_conversations", self.open_store)

    def __call__(self, run_output: RunOutput | TeamRunOutput) -> None:
        """Agno passes the hook the arguments it names: here only ``run_output``."""
        turns = turns_of(run_output, project=self.project, agent_id=self.agent_id)
        if not turns:
            return
        try:
            with _opened(self.open_store) as store:
                store_turns(store, turns, source=FRAMEWORK)
        except Exception as exc:  # the agent's run must not fail because its turns were not stored
            _log.warning("mahavishnu: could not store the Agno run %s: %s", run_output.run_id, exc)

    def store(self, store: MemoryStore, run_output: RunOutput | TeamRunOutput) -> StoredTurns:
        """The run's turns stored in ``store`` (what the hook does, errors raised)."""
        return store_turns(
            store, turns_of(run_output, project=self.project, agent_id=self.agent_id), source=FRAMEWORK
        )


def record_conversations(
    *, project: str | None = None, open_store: StoreOpener | None = None, agent_id: str | None = None
) -> ConversationRecorder:
    """A post-hook storing every run of the agent it is given to (see the module docstring)."""
    return ConversationRecorder(project, open_store or _open_default, agent_id)


def turns_of(
    run_output: RunOutput | TeamRunOutput, *, project: str | None = None, agent_id: str | None = None
) -> list[Turn]:
    """The user and assistant turns of one Agno run (either left out when empty)."""
    agent = agent_id or _runner(run_output) or FRAMEWORK
    session = _session_name(run_output.session_id or run_output.run_id or "default")
    run_id = run_output.run_id
    when = datetime.fromtimestamp(run_output.created_at, UTC) if run_output.created_at else None
    metadata: dict[str, str] = {"framework": FRAMEWORK}
    if run_output.session_id and session != run_output.session_id:
        metadata["agno_session_id"] = run_output.session_id
    for key, value in (("run_id", run_id), ("user_id", run_output.user_id), ("model", run_output.model)):
        if value:
            metadata[key] = str(value)
    said = run_output.input.input_content_string() if run_output.input is not None else ""
    reply = run_output.get_content_as_string() if run_output.content is not None else ""
    return [
        Turn(
            agent,
            session,
            role,
            content,
            metadata,
            project,
            when,
            f"{FRAMEWORK}:{run_id}:{role}" if run_id else None,
        )
        for role, content in (("user", said), ("assistant", reply))
        if content and content.strip()
    ]


def _runner(run_output: RunOutput | TeamRunOutput) -> str | None:
    """The id (or name) of the agent that ran, or of the team: a ``Team``'s post-hooks get a
    ``TeamRunOutput``, which has no ``agent_id`` (the hook raised, and every team run was lost)."""
    for field in ("agent_id", "agent_name", "team_id", "team_name"):
        value = getattr(run_output, field, None)
        if value:
            return str(value)
    return None


def _session_name(session_id: str) -> str:
    """An Agno session id as a session name the store takes (``check_name``): ``/`` and ``\\``
    become ``-``, control and invisible characters go, at most ``MAX_NAME_CHARS``. Agno takes any
    text (``slack/C042/1700000000.1``), and the store refuses such a name, so the hook lost the run."""
    name = "".join("-" if c in "/\\" else c for c in session_id if c.isprintable()).strip()
    name = name[:MAX_NAME_CHARS]
    return name if name and name not in (".", "..") else "default"


# -- the toolkit --------------------------------------------------------------------------------
class MahavishnuTools(Toolkit):
    """Search and store Mahavishnu memories from an Agno agent."""

    def __init__(
        self,
        *,
        project: str | None = None,
        open_store: StoreOpener | None = None,
        search_limit: int = 5,
        max_chars: int = 2000,
        name: str = "mahavishnu_memory",
    ) -> None:
        self.project = project_or_none(project)  # now, not as an error at every tool call
        check_opener("MahavishnuTools", open_store or _open_default)
        self.open_store = open_store or _open_default
        self.search_limit = _setting("search_limit", search_limit, 5, MAX_LIMIT)
        self.max_chars = _setting("max_chars", max_chars, 2000)  # (0 cut nothing: text[:-1])
        super().__init__(name=name, tools=[self.search_memories, self.store_memory])

    def search_memories(self, query: str, limit: int = 0) -> str:
        """Search the shared memory (notes, decisions, earlier conversations, insights) for what is
        relevant to a query. Returns the best memories as JSON: id, type, score, relevant (false: the
        relevance judge doubts it answers the query), project, tags, content.

        Args:
            query: What to look for, in words.
            limit: At most this many memories (0: the toolkit's default).
        """
        wanted = limit if limit > 0 else self.search_limit
        filters = {"project": self.project} if self.project else None
        try:
            with _opened(self.open_store) as store:
                hits = store.search(query, filters=filters, limit=wanted)
        except MahavishnuError as exc:
            return _tool_error(exc)
        if not hits:
            return wording.NO_RELEVANT_MEMORIES
        rows = [self._row(hit) for hit in hits]
        return json.dumps(rows, ensure_ascii=False, indent=1)

    def _row(self, hit: SearchHit) -> dict[str, object]:
        """A hit as the agent reads it: the text of a memory recall leaves out (quarantined, or
        reading like an instruction to an agent) withheld, as the MCP server's tools withhold it,
        and each tag that reads like one."""
        memory = hit.memory
        why = held_back(memory.tags, memory.content, metadata=memory.metadata)
        row: dict[str, object] = {
            "id": memory.id,
            "type": memory.memory_type,
            "score": round(hit.score, 4),
            "relevant": hit.relevant,
            "project": memory.project,
            "tags": [for_agents(tag, memory.id) for tag in memory.tags],  # (any agent sets tags)
            "content": _cut(memory.content, self.max_chars) if why is None else withheld(memory.id, why),
        }
        return row if why is None else {**row, "quarantined": why}

    def store_memory(
        self, content: str, memory_type: StorableType = "note", tags: list[str] | None = None
    ) -> str:
        """Keep something in the shared memory, for this agent and every other assistant to find
        later: a fact, a decision, a lesson. Returns the stored memory's id.

        Args:
            content: The text to keep, self-contained.
            memory_type: note, decision or insight (default note).
            tags: A few words to find it by.
        """
        if memory_type not in STORABLE_TYPES:
            return _tool_error(
                InvalidInputError(
                    f"an agent stores a note, a decision or an insight, not {memory_type!r}",
                    hint="Pass memory_type note, decision or insight.",
                )
            )
        try:
            with _opened(self.open_store) as store:
                if memory_type == "insight":  # as every insight: its length checked, shared with the project
                    known = is_known_insight(store, content)
                    [insight] = store_insights(
                        store,
                        [content],
                        project=self.project,
                        tags=tags or (),
                        source=FRAMEWORK,
                        source_system=FRAMEWORK,
                    )
                    return f"{'already stored' if known else 'stored'} as memory {insight.id}"
                stored = store.add(
                    content,
                    memory_type,
                    tags=tags or (),
                    project=self.project,
                    source_system=FRAMEWORK,
                )
        except MahavishnuError as exc:
            return _tool_error(exc)
        verb = "already stored" if stored.duplicate else "stored"
        return f"{verb} as memory {stored.memory.id}"


def _setting(name: str, value: object, default: int, most: int | None = None) -> int:
    """A toolkit's count, checked when the toolkit is made: out of range, every search failed (or,
    for ``max_chars``, cut nothing) while the agent ran."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= (most or value):
        return value
    within = f"between 1 and {most}" if most else "1 or more"
    raise InvalidInputError(
        f"MahavishnuTools' {name} must be {within}, not {value!r}",
        hint=f"Pass {name}={default}, say, or leave it out.",
    )


def _tool_error(exc: MahavishnuError) -> str:
    return f"error: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
