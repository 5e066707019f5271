"""Where a memory's text came from, and whether it may be replayed into an assistant's context.

Memory poisoning (OWASP's agentic-AI threat list): an assistant reads a hostile README, web page or
tool output, quotes it, the capture hook stores the turn, and recall would replay it into another
session as if it were knowledge, or an instruction. So every memory carries its provenance
(metadata ``provenance``), set by Mahavishnu from how the text arrived, never from a caller's
label (``--source`` is only a label):

* ``user``: the user's own words (their captured turns, the decisions they stated);
* ``kept``: what someone explicitly kept (``memory store``, the API, the MCP server's store);
* ``insight``: a ★ Insight block an assistant wrote for keeping;
* ``assistant``: an assistant's captured reply, which may quote anything it read;
* ``external``: text read from outside (ingested repository files).

Recall adds only ``RECALLED`` provenances by default, leaves out whatever is quarantined (the tag
``QUARANTINED``: ``memory quarantine ID``), and leaves out text that reads like an instruction to
an agent (``instruction_like``), which is also quarantined when stored, unless someone released it
(``memory quarantine --release ID``: the tag ``TRUSTED``). What it adds sits in one
delimited block that says it is data, with any markup that could open or close a system or tool
block neutralised (``neutralised``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, get_args

from mahavishnu.memory.core.instructions import instruction_like

Provenance = Literal["user", "kept", "insight", "assistant", "external"]
PROVENANCES: tuple[Provenance, ...] = get_args(Provenance)
#: What recall adds to a session unless told otherwise (``recall.provenances``).
RECALLED: tuple[Provenance, ...] = ("user", "kept", "insight")
QUARANTINED = "quarantined"
#: A memory released from quarantine by hand: recalled even if it reads like an instruction.
TRUSTED = "trusted"
#: Why a memory with the quarantine mark, and no text that gives orders, is left out.
UNTIL_TRUSTED = "held until the user trusts it"
#: The tags that say how recall treats a memory: set only by ``quarantine_tags`` and ``screened_tags``.
MARKS = (QUARANTINED, TRUSTED)
#: The metadata key holding a memory's provenance.
KEY = "provenance"
#: ``models.QUESTIONS``: the questions a memory answers, screened with its text (``screened_text``).
QUESTIONS = "questions"
#: The memory types a question writer writes questions for (``services/question_writer.py``): what a
#: person stores and asks about later; turns, repository chunks, insights and workflow runs are
#: written by the tools, which say what they are. (Here, not there: ``cli/fast/store.py`` reads it.)
ASKED_TYPES: tuple[Literal["note", "decision"], ...] = ("note", "decision")

# A tag, a chat-template token or an instruction bracket: shown with look-alike brackets in recall.
_MARKUP = re.compile(r"<(/?[A-Za-z!?][^<>\n]{0,80})>|\[(/?INST)\]|<\|([^|<>]{1,40})\|>", re.IGNORECASE)


def neutralised(text: str) -> str:
    """``text`` with every tag-like span (``</system>``, ``<system-reminder>``, ``<|im_start|>``,
    ``[INST]``) shown with look-alike brackets, so it can neither open nor close a block."""
    return _MARKUP.sub(_soften, text)


def _soften(match: re.Match[str]) -> str:
    tag, inst, token = match.groups()
    if tag is not None:
        return f"‹{tag}›"
    if inst is not None:
        return f"⟦{inst}⟧"
    return f"‹|{token}|›"


def provenance_of(memory_type: str, metadata: Mapping[str, object]) -> Provenance:
    """A memory's provenance: as recorded, else (a memory stored before it was recorded) what its
    type and role say: a chat turn is its speaker's, an ingested chunk external, the rest kept."""
    recorded = metadata.get(KEY)
    for known in PROVENANCES:
        if recorded == known:
            return known
    if memory_type == "agent":
        return "assistant" if metadata.get("role") == "assistant" else "user"
    if memory_type == "rag":
        return "external"
    if memory_type == "insight":
        return "insight"
    return "kept"


def quarantine_tags(tags: Sequence[str], *, release: bool) -> list[str]:
    """``tags`` of a memory quarantined, or released (trusted) from quarantine."""
    kept = [tag for tag in tags if tag not in MARKS]
    return [*kept, TRUSTED if release else QUARANTINED]


def screened_tags(tags: Sequence[str], content: str) -> tuple[str, ...]:
    """``tags`` of a memory whose text is new here (stored, edited, imported): quarantined, and no
    longer trusted, when it reads like an instruction (a trust mark is for the text the user read,
    never one that came with the text); as they were otherwise."""
    if instruction_like(content) is None:
        return tuple(tags)
    return (*(tag for tag in tags if tag not in MARKS), QUARANTINED)


def untrusted(tags: Sequence[str]) -> tuple[str, ...]:
    """``tags`` without ``TRUSTED``: a new memory's writer (an agent's ``store_memory``, a file
    imported) never sets it, or its text would never be read again at recall when a later rule
    would flag it; only ``memory trust ID`` does, after the user read it."""
    return tuple(tag for tag in tags if tag != TRUSTED)


def replayable(
    memory_type: str,
    metadata: Mapping[str, object],
    tags: Sequence[str],
    content: str,
    recalled: Collection[str],
    *,
    theirs: bool = False,
) -> bool:
    """Whether recall may add a memory: of a ``recalled`` provenance, not quarantined, and not
    reading like an instruction unless trusted by hand (a memory stored before a rule was added
    is read again here). ``theirs``: another member wrote it (a team store), and their trust mark
    is not the reader's: it reads like an instruction, it stays out."""
    if QUARANTINED in tags or provenance_of(memory_type, metadata) not in recalled:
        return False
    return (TRUSTED in tags and not theirs) or flagged(content) is None


def screened_text(content: str, metadata: Mapping[str, object]) -> str:
    """What is screened for instructions (``screened_tags``, ``held_back``): the content and the
    questions it answers (``QUESTIONS``), which an agent reading the memory's metadata reads too:
    each text held there, not only those its vector reads (an imported file's fourth question that
    gave orders was never screened)."""
    asked = metadata.get(QUESTIONS)
    held = asked if isinstance(asked, list) else [asked]
    return "\n".join([content, *(q for q in held if isinstance(q, str) and q)])


def with_questions(
    metadata: Mapping[str, object] | None, questions: Sequence[str] | str
) -> Mapping[str, object] | None:
    """``metadata`` with ``questions`` (``--question``, MCP's and ``MemoryStore.add``'s
    ``questions``; one string is one question) after those it holds under ``QUESTIONS`` (``--meta
    questions=...``): given both ways, both are kept (``check_questions`` says when they are too many)
    rather than the metadata's dropped. Here, not in ``models``, for ``cli/fast/store.py`` (no numpy)."""
    one = isinstance(questions, str) or not isinstance(questions, Iterable)  # (5: ``check_questions`` says)
    asked = [questions] if one else list(questions)
    if not asked or not isinstance(metadata, Mapping | None):  # (no object: ``check_metadata`` says so)
        return metadata
    held = (metadata or {}).get(QUESTIONS)
    earlier = held if isinstance(held, list) else [] if held is None else [held]
    return {**(metadata or {}), QUESTIONS: [*earlier, *asked]}


def held_back(
    tags: Sequence[str],
    content: str,
    *,
    theirs: bool = False,
    metadata: Mapping[str, object] | None = None,
) -> str | None:
    """Why recall leaves a memory out whatever its provenance (why it reads like an instruction, or
    its quarantine mark: set when it was stored, or by ``memory quarantine``), or None: what
    ``memory search`` and the dashboard mark it with.
    ``theirs``: as in ``replayable``. With its ``metadata``, the questions it answers are read with
    the content (``screened_text``): a memory one of them quarantined was said "quarantined by hand".
    The mark alone says neither "by hand" nor why: a note quarantined when stored, then edited into
    plain text, keeps its mark, and nobody quarantined it by hand."""
    if TRUSTED in tags and QUARANTINED not in tags and not theirs:
        return None
    why = flagged(content if metadata is None else screened_text(content, metadata))
    if why is not None:
        return why
    return UNTIL_TRUSTED if QUARANTINED in tags else None


def withheld(number: object, why: str) -> str:
    """What an agent reads in place of the text of memory ``number``, which recall leaves out
    (``held_back``'s ``why``): why, and what the user runs to read and trust it. The MCP server's
    tools and the integrations' agent tools (Agno's) answer with it."""
    return (
        f"[withheld from agents: quarantined, {why}. The user reads it with `mahavishnu memory get "
        f"{number}` and, if they trust it, runs `mahavishnu memory trust {number}`]"
    )


def for_agents(text: str, number: object) -> str:
    """``text`` (a tag, a value of memory ``number``'s metadata) as an agent may read it: as it is,
    or a notice in its place when it reads like an instruction (``flagged``)."""
    why = flagged(text)
    if why is None:
        return text
    return f"[withheld from agents: it {why}. The user reads it with `mahavishnu memory get {number}`]"


def flagged(content: str) -> str | None:
    """``instruction_like(content)``, remembered by a digest of the content computed here (never
    the stored ``content_hash``: a team member writing rows by hand sets that to anything, and an
    instruction given another note's hash was recalled as that note's verdict)."""
    digest = hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if digest not in _VERDICTS:
        if len(_VERDICTS) >= _VERDICTS_KEPT:
            _VERDICTS.clear()
        _VERDICTS[digest] = instruction_like(content)
    return _VERDICTS[digest]


#: Digest of a text -> ``instruction_like``: the recall of a warm daemon reads the same memories
#: again and again (each read is a few hundred microseconds per thousand characters, the digest
#: about one).
_VERDICTS: dict[bytes, str | None] = {}
_VERDICTS_KEPT = 8192


def memory_for_agents(memory: Mapping[str, Any]) -> dict[str, Any]:
    """``memory`` (``Memory.to_dict``) as an agent may read it: the text of one recall would leave
    out is withheld (an agent must not be handed an instruction someone stored), and so is each
    tag and each text of its metadata that reads like an instruction (a captured reply's
    ``previous_turn`` quotes the turn before it; ``store_memory`` takes any metadata); the rest kept.
    The MCP server's tools and ``memory search --for-agents`` (Pi's tool) answer with it."""
    content, tags = memory.get("content"), memory.get("tags")
    shown = dict(memory)
    if isinstance(memory.get("metadata"), Mapping):
        shown["metadata"] = _metadata_for_agents(memory["metadata"], memory.get("id"))
    if isinstance(tags, list | tuple):  # (any agent, or ``memory add --tag``, sets tags)
        shown["tags"] = [for_agents(str(tag), memory.get("id")) for tag in tags]
    metadata = memory.get("metadata")
    asked = metadata if isinstance(metadata, Mapping) else None  # (questions read with the content)
    why = (
        held_back([str(t) for t in tags or ()], content, metadata=asked) if isinstance(content, str) else None
    )
    if why is None:
        return shown
    return {**shown, "content": withheld(memory.get("id"), why), "quarantined": why}


def _metadata_for_agents(value: Any, number: object) -> Any:
    """``value`` (a memory's metadata, or a value in it) with each text that reads like an
    instruction withheld, at any depth."""
    if isinstance(value, str):
        return for_agents(value, number)
    if isinstance(value, Mapping):
        return {key: _metadata_for_agents(item, number) for key, item in value.items()}
    if isinstance(value, list):
        return [_metadata_for_agents(item, number) for item in value]
    return value


def hit_for_agents(hit: Mapping[str, Any]) -> dict[str, Any]:
    """A search hit (``{"memory": …}`` with, for ``search_everywhere``, a ``"content"`` copy) as
    an agent may read it (``memory_for_agents``)."""
    memory = hit.get("memory")
    if not isinstance(memory, Mapping):
        return dict(hit)
    shown = memory_for_agents(memory)
    copied = {"content": shown["content"]} if "content" in hit else {}
    return {**hit, "memory": shown, **copied}
