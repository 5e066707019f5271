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

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Literal, get_args

Provenance = Literal["user", "kept", "insight", "assistant", "external"]
PROVENANCES: tuple[Provenance, ...] = get_args(Provenance)
#: What recall adds to a session unless told otherwise (``recall.provenances``).
RECALLED: tuple[Provenance, ...] = ("user", "kept", "insight")
QUARANTINED = "quarantined"
#: A memory released from quarantine by hand: recalled even if it reads like an instruction.
TRUSTED = "trusted"
#: The metadata key holding a memory's provenance.
KEY = "provenance"

# Text that tells an agent what to do rather than what is so: a download piped into an
# interpreter, an override of its instructions, a forged role or system block.
_INSTRUCTION_LIKE = (
    (
        "pipes a download into a shell",
        r"\b(?:curl|wget|iwr|invoke-webrequest|fetch)\b[^\n|]{0,300}\|\s*(?:sudo\s+)?"
        r"(?:ba|z|da|k)?sh\b|\b(?:curl|wget)\b[^\n|]{0,300}\|\s*(?:sudo\s+)?(?:python\d?|perl|ruby|node|iex)\b"
        r"|\b(?:ba|z)?sh\s+<\(\s*(?:curl|wget)\b|\biex\s*\(\s*(?:iwr|invoke-webrequest|new-object)\b",
    ),
    (
        "tells the agent to ignore its instructions",
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*"
        r"(?:previous|prior|above|earlier|system|original)\s+(?:instructions|prompts?|rules|directions)\b",
    ),
    (
        "forges a system or role block",
        r"</?\s*(?:system(?:[-_ ]?(?:reminder|prompt|message|notice))?|assistant|user|tool_result|"
        r"function_results|instructions?|im_start|im_end)\s*>|<\|im_(?:start|end)\|>|\[/?INST\]"
        r"|\bIMPORTANT\s+SYSTEM\s+(?:NOTICE|MESSAGE|INSTRUCTIONS?)\b|^\s*#{2,}\s*system\s*:",
    ),
)
_INSTRUCTIONS = [
    (why, re.compile(pattern, re.IGNORECASE | re.MULTILINE)) for why, pattern in _INSTRUCTION_LIKE
]
# A tag, a chat-template token or an instruction bracket: shown with look-alike brackets in recall.
_MARKUP = re.compile(r"<(/?[A-Za-z!?][^<>\n]{0,80})>|\[(/?INST)\]|<\|([^|<>]{1,40})\|>", re.IGNORECASE)


def instruction_like(text: str) -> str | None:
    """Why ``text`` reads like an instruction to an agent (a few words), or None."""
    for why, pattern in _INSTRUCTIONS:
        if pattern.search(text):
            return why
    return None


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
    kept = [tag for tag in tags if tag not in (QUARANTINED, TRUSTED)]
    return [*kept, TRUSTED if release else QUARANTINED]


def replayable(
    memory_type: str,
    metadata: Mapping[str, object],
    tags: Sequence[str],
    content: str,
    recalled: Collection[str],
) -> bool:
    """Whether recall may add a memory: of a ``recalled`` provenance, not quarantined, and not
    reading like an instruction unless released by hand."""
    if QUARANTINED in tags or provenance_of(memory_type, metadata) not in recalled:
        return False
    return TRUSTED in tags or instruction_like(content) is None
