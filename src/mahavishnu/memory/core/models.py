"""The memory data model: what is stored, what is asked for, what comes back.

Plain frozen dataclasses, shared by every backend. Validation lives here (one place, one message
per mistake) so the fake, SQLite and PostgreSQL backends only ever see clean values.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from mahavishnu.clean_text import clean_text, clipped, printable
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.provenance import MARKS, screened_tags, screened_text, untrusted
from mahavishnu.memory.core.provenance import QUESTIONS as QUESTIONS
from mahavishnu.memory.core.provenance import with_questions as with_questions
from mahavishnu.paths import MAX_PATH_CHARS
from mahavishnu.redaction.scrub import scrub, scrub_tree

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MemoryType = Literal["agent", "rag", "workflow", "insight", "decision", "note"]
MEMORY_TYPES: tuple[MemoryType, ...] = get_args(MemoryType)
SearchMode = Literal["hybrid", "vector", "text"]
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)
#: Scope columns: free-form labels that filters match exactly.
SCOPE_FIELDS = ("project", "repo_id", "agent_id", "session_id", "workflow_id", "source_system")
#: The scope labels the dashboard puts in addresses: a new one must pass ``check_name``.
NAMED_FIELDS = {"project": "project", "repo_id": "repository", "session_id": "session"}

Vector = npt.NDArray[np.float32]

#: ``source_system`` of the chunks ``memory ingest`` stores (``ingest.pipeline``): only ``forget-repo``
#: removes them.
INGEST_SOURCE = "ingest"


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """Fixed-width UTC text (microseconds, ``Z``): sorts like time and round-trips exactly."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif not isinstance(value, str):  # e.g. a number from an MCP client's filters
        raise InvalidInputError(
            f"not a date/time: {value!r} ({type(value).__name__}, not ISO 8601 text)",
            hint="Use an ISO 8601 string, e.g. 2025-01-31 or 2025-01-31T10:00:00Z.",
        )
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInputError(
                f"not a date/time: {value!r}", hint="Use ISO 8601, e.g. 2025-01-31."
            ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


#: The metadata key of a captured conversation turn's context: the end of the turn said just before
#: it in its session (``conversations.store_turns``), at most ``PREVIOUS_TURN_CHARS``.
PREVIOUS_TURN = "previous_turn"
PREVIOUS_TURN_CHARS = 200
#: The most characters of a conversation turn any store takes (a team store's too: ``team.bounds``).
#: Its row keeps the whole turn (its memory is cut at ``max_content_chars``), and no turn is longer
#: than a model reads at once (1-2 million tokens, about 4-8 million characters).
MAX_TURN_CHARS = 10_000_000


# ``QUESTIONS`` (imported from ``provenance``, which screens them): the metadata key of the questions
# a memory answers, as a developer would ask them a week later (``memory store --question``, MCP
# ``store_memory(questions=...)``): its vector reads them after its content (``embedding_text``), so a
# question asked in other words than the note's meets one. Measured (``benchmarks/devmem.py --fast
# --questions``, one question a fact, written from the fact alone): search hit@3 without ``--project``
# 0.80 / 0.86 -> 0.88 / 0.93 (tuning / validation half; a fresh set 0.82 -> 0.89), the prompt hook's
# answers 0.68 / 0.71 -> 0.79 / 0.85.

#: The most questions a memory keeps (one does best: ``docs/benchmarks.md``), and of each question.
MAX_QUESTIONS = 3
QUESTION_CHARS = 300


#: The memory types whose vector reads what their project is (``project_context``): what a team
#: writes down. A captured turn's vector reads the turn before it instead; ingested code, its own text.
DESCRIBED_TYPES: tuple[MemoryType, ...] = ("decision", "note", "insight", "workflow")
#: The most of a project's description a vector reads (a sentence or two: it comes before the content).
PROJECT_ABOUT_CHARS = 300


def project_context(project: str, description: str) -> str:
    """What a described project's memories are read with: ``ledgerd (the payments ledger: FastAPI,
    PostgreSQL)``. A note seldom says what its project is; a question a week later often names the
    project by what it is ("which DB did we settle on for the payments service?")."""
    return f"{project} ({description})"


def embedding_text(content: str, metadata: Mapping[str, Any], about: str | None = None) -> str:
    """The text a memory's vector is made from: its project's context first when the project is
    described (``about``, ``project_context``; ``MemoryStore.describe_project``), then its content,
    followed by the end of the previous turn when it is a captured turn that has one
    (``PREVIOUS_TURN``).

    Measured with each project described (``benchmarks/devmem.py``; the judge and the rerank read
    the same context, ``store.judged_text``): hit@3 without ``--project`` 0.74 / 0.79 -> 0.80 /
    0.86 (tuning / validation; the fresh set 0.80 -> 0.82), with it 0.85 / 0.93 -> 0.89 / 0.93
    (0.89 -> 0.91). The project's name alone, undescribed, lost (0.85 -> 0.83 with ``--project``).

    A reply ("Yes, last Tuesday, with my sister") means what it answers; the turn before it says
    what that is. The content comes first, so a long turn keeps its own words within the model's
    window. Only the vector reads the previous turn (and the judge the project's context): the
    full-text index, the content shown and every word count stay the memory's own.

    Measured (``benchmarks/retrieval.py --datasets locomo``, each turn stored as captured): LoCoMo
    evidence recall@10, hybrid 0.672 -> 0.717, vector 0.462 -> 0.558. The previous turn's first or
    last 120-300 characters, before or after the content, all gave 0.714-0.721; the previous and the
    next turn 0.718; the next turn alone 0.687."""
    if about:
        content = f"{about}: {content}"
    if asked := questions_of(metadata):
        content = "\n".join([content, *asked])
    before = metadata.get(PREVIOUS_TURN)
    if not isinstance(before, str) or not before.strip():
        return content
    return f"{content}\n{before[-PREVIOUS_TURN_CHARS:]}"


def content_hash(content: str) -> str:
    """SHA-256 of the exact content: dedup key (with type, project and repo)."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _reject_unknown_fields(data: Mapping[str, Any], known: set[str]) -> None:
    """InvalidInputError naming the keys of ``data`` that are not memory fields."""
    unknown = set(data) - known
    if unknown:
        raise InvalidInputError(f"unknown memory fields: {', '.join(sorted(unknown))}")


@dataclass(frozen=True, slots=True)
class Memory:
    """One stored memory. ``embedding`` is filled only where it was asked for (export)."""

    id: int
    content: str
    memory_type: MemoryType
    content_hash: str
    embedding_model: str
    embedding_dim: int
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    project: str | None = None
    repo_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    workflow_id: str | None = None
    source_system: str | None = None
    embedding: Vector | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the vector (export adds it)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "embedding"}
        data.update(
            tags=list(self.tags),
            metadata=dict(self.metadata),
            created_at=format_time(self.created_at),
            updated_at=format_time(self.updated_at),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], embedding: Vector | None = None) -> Memory:
        _reject_unknown_fields(data, {f.name for f in fields(cls)} - {"embedding"})
        values = dict(data)
        values["tags"] = tuple(values.get("tags") or ())
        values["metadata"] = dict(values.get("metadata") or {})
        values["created_at"] = parse_time(values["created_at"])
        values["updated_at"] = parse_time(values["updated_at"])
        return cls(**values, embedding=embedding)

    def with_embedding(self, embedding: Vector | None) -> Memory:
        return replace(self, embedding=embedding)


@dataclass(frozen=True, slots=True)
class MemoryDraft:
    """A memory before it is stored: what ``store``/``store_many`` accept, validated by ``checked``."""

    content: str
    type: str = "note"
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    project: str | None = None
    repo_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    workflow_id: str | None = None
    source_system: str | None = None

    def checked(self, max_content_chars: int) -> MemoryDraft:
        """The same draft, normalised (tags deduplicated), or InvalidInputError saying what is wrong."""
        content = check_content(self.content, max_content_chars)
        scope: dict[str, Any] = {name: check_label(name, getattr(self, name)) for name in SCOPE_FIELDS}
        for name, kind in NAMED_FIELDS.items():
            check_name(kind, scope[name])
        tags = check_tags(self.tags)
        for tag in tags:
            check_name("tag", tag, slash=True)
        metadata = check_metadata(self.metadata)
        # an instruction: kept, never recalled (and no writer's own trust mark)
        tags = screened_tags(untrusted(tags), screened_text(content, metadata))
        return replace(
            self, content=content, type=check_type(self.type), tags=tags, metadata=metadata, **scope
        )

    @property
    def content_hash(self) -> str:
        return content_hash(self.content)

    @property
    def memory_type(self) -> str:
        """``type`` under its column's name (``Memory.memory_type``): callers say ``type``."""
        return self.type

    @property
    def dedup_key(self) -> tuple[str, str, str | None, str | None]:
        """Same content, type, project and repo: the same memory."""
        return (self.content_hash, self.type, self.project, self.repo_id)

    @classmethod
    def coerce(cls, value: MemoryDraft | Mapping[str, Any]) -> MemoryDraft:
        if isinstance(value, MemoryDraft):
            return value
        if not isinstance(value, Mapping):
            raise InvalidInputError(f"expected a memory draft or a mapping, got {type(value).__name__}")
        data = dict(value)
        if "memory_type" in data:
            data["type"] = data.pop("memory_type")
        _reject_unknown_fields(data, {f.name for f in fields(cls)})
        if "content" not in data:
            raise InvalidInputError("a memory needs content")
        return cls(**data)


def check_content(content: object, max_chars: int) -> str:
    """The content as stored: its NUL characters dropped (PostgreSQL refuses them in text, where SQLite
    kept them: the same note must store alike on every backend), or InvalidInputError."""
    if not isinstance(content, str):  # (store(5) said "memory content is empty")
        raise InvalidInputError(
            f"memory content must be text, not {type(content).__name__}", hint="Pass the text to remember."
        )
    if "\0" in content:
        content = content.replace("\0", "")
    if not content.strip():
        raise InvalidInputError("memory content is empty", hint="Pass the text to remember.")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: bytes that were not UTF-8 (argv, stdin)
        raise InvalidInputError(
            f"memory content is not UTF-8 text (at character {exc.start})",
            hint="Convert it first, e.g. `iconv -f latin1 -t utf-8`.",
        ) from exc
    if len(content) > max_chars:
        from mahavishnu.config import MemorySettings

        default = MemorySettings.model_fields["max_content_chars"].default
        raise InvalidInputError(
            f"memory content is {len(content):,} characters, over the limit of {max_chars:,}",
            hint=(
                "Split it, or raise memory.max_content_chars in the settings (a team store takes no more "
                f"than its default, {default:,}, whatever the setting says)."
            ),
        )
    return content


def check_limit(limit: object, maximum: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise InvalidInputError(f"limit must be between 1 and {maximum}, got {limit!r}")
    return limit


def check_query(query: object) -> str:
    """The query a search reads: cleaned (``clean_text``: no NUL, no lone surrogate) and at most
    ``QUERY_CHARS`` long (its head and tail, ``clipped``). Nothing but blanks is an error (exit 1:
    not a usage mistake, an answer that there is nothing to look for)."""
    if not isinstance(query, str):  # (search(5) said "the search query is empty")
        raise InvalidInputError(
            f"the search query must be text, not {type(query).__name__}", hint="Pass the words to look for."
        )
    text = clean_text(query).strip()
    if not text:
        error = InvalidInputError(
            "the search query is empty: nothing to search for",
            hint='Give the words to look for, e.g. `mahavishnu memory search "which database we chose"`.',
        )
        error.exit_code = 1
        raise error
    return clipped(text)


def check_mode(mode: object) -> SearchMode:
    if mode not in SEARCH_MODES:
        raise InvalidInputError(
            f"invalid search mode {mode!r}", hint=f"Use one of: {', '.join(SEARCH_MODES)}."
        )
    return mode  # type: ignore[return-value]


#: How long an insight is once normalised (``normalise_insight``), however it is stored: the ★ Insight
#: collector, ``insight share``, ``memory store --type insight``, MCP and an edit all keep to it.
MIN_INSIGHT_CHARS = 30
MAX_INSIGHT_CHARS = 10_000
_BLANK_RUN = re.compile(r"\n{3,}+")


def normalise_insight(text: str) -> str:
    """An insight's canonical text: NFC, no trailing spaces, common indent removed, blank runs collapsed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUN.sub("\n\n", textwrap.dedent(text)).strip()


def check_insight(memory_type: object, content: object) -> None:
    """InvalidInputError when an insight's ``content`` is not as long as an insight is
    (``MIN_INSIGHT_CHARS`` to ``MAX_INSIGHT_CHARS``, normalised; measured before secrets are
    scrubbed, as the collector measures it): shorter text is a note, longer a document."""
    if memory_type != "insight" or not isinstance(content, str):
        return
    length = len(normalise_insight(content))
    if not MIN_INSIGHT_CHARS <= length <= MAX_INSIGHT_CHARS:
        raise InvalidInputError(
            f"an insight is {MIN_INSIGHT_CHARS:,}–{MAX_INSIGHT_CHARS:,} characters, this one {length:,}",
            hint="Store shorter or longer text as a note: `mahavishnu memory store TEXT`.",
        )


def check_type(value: object) -> MemoryType:
    if value not in MEMORY_TYPES:
        raise InvalidInputError(
            f"invalid memory type {value!r}", hint=f"Use one of: {', '.join(MEMORY_TYPES)}."
        )
    return value  # type: ignore[return-value]


def check_label(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_LABEL_CHARS:
        raise InvalidInputError(
            f"{name} is {len(value):,} characters, over {MAX_LABEL_CHARS:,}", hint="Give a shorter one."
        )
    return value


#: The longest label a memory's scope takes (an agent's, a workflow's or a source system's name; a
#: project, repository or session name is held to ``MAX_NAME_CHARS`` too): what a team store takes
#: there (``team.bounds.LABEL_CHARS``). An MCP caller stored ids of a million characters.
MAX_LABEL_CHARS = 2 * MAX_PATH_CHARS


def project_name(value: object) -> str:
    """The name a project is filed under: a non-empty label, scrubbed (a key pasted as a project is
    filed as ``[REDACTED:...]``, as a memory's ``--project`` is), then checked (``check_name``:
    its error never quotes the key)."""
    name = scrub(check_label("project", value) or "")
    check_name("project", name)
    return name


def project_or_none(value: object) -> str | None:
    """``project_name`` of a project that may be absent (None: no project)."""
    return None if value is None else project_name(value)


#: The longest name (of a project, group, tag, repository or session) a store takes.
MAX_NAME_CHARS = 256
#: The longest description of a project group (``memory groups create -d``): a sentence or two.
MAX_DESCRIPTION_CHARS = 2_000


def check_name(kind: str, value: str | None, *, slash: bool = False) -> str | None:
    """``value`` (already a label) when it may name a new project, group, repository or session:
    the dashboard puts these in its addresses, so no ``/`` or ``\\`` (a browser reads both as a path
    separator), not ``.`` or ``..``, printable, at most ``MAX_NAME_CHARS``. ``slash``: ``/`` and
    ``\\`` allowed (a tag: it is only ever a query value, and integrations tag documents by path).
    Names stored before this check are still read, shown and deleted; only new ones are refused."""
    if value is None:
        return None
    why = _name_problem(value, slash=slash)
    if why:
        allowed = "" if slash else " without / or \\"
        raise InvalidInputError(
            f"invalid {kind} name {value[:80]!r}: {why}",
            hint=f"Use printable characters{allowed}, at most {MAX_NAME_CHARS}, no white space at either "
            "end, not . or ..",
        )
    return value


def _name_problem(name: str, *, slash: bool) -> str:
    if name != name.strip():  # (``api `` and ``api`` would be two projects, one no search names)
        return "it begins or ends with white space" if name.strip() else "it is only white space"
    if not slash and ("/" in name or "\\" in name):
        return "it contains / or \\"
    if name in (".", ".."):
        return f"it is {name!r}"
    if not name.replace("\u200d", "").isprintable():  # (a zero-width joiner is part of many emoji)
        return "it contains a control or invisible character"
    if len(name) > MAX_NAME_CHARS:
        return f"it is longer than {MAX_NAME_CHARS} characters"
    return ""


def check_list(what: str, value: object) -> list[Any]:
    """A list a caller gave (``what``: "projects must be a list of names"): not a text, which
    would be read letter by letter (projects="api": projects "a", "p" and "i"), nor a number
    ("'int' object is not iterable")."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInputError(f"{what}, not {type(value).__name__}")
    return list(value)


def check_tags(tags: object) -> tuple[str, ...]:
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidInputError(f"tags must be a list of strings, got {tags!r}")
    out: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidInputError(f"invalid tag {tag!r}: tags are non-empty strings")
        out[tag.strip()] = None
    return tuple(out)


#: The most JSON text a memory's metadata may be, as a memory's content has its own limit
#: (``memory.max_content_chars``): a 5 MB value went into every row, answer and export.
METADATA_CHARS = 100_000


def questions_of(metadata: Mapping[str, Any]) -> list[str]:
    """The questions a memory answers (``QUESTIONS``), as checked when stored (none for a row
    that holds something else under the key)."""
    asked = metadata.get(QUESTIONS)
    if not isinstance(asked, list):
        return []
    return [q for q in asked[:MAX_QUESTIONS] if isinstance(q, str) and q]


#: What an edit may give (``edit_changes``); ``MemoryStore.update`` takes more (metadata, scope labels).
EDITABLE = ("content", "type", "tags", "project", "questions")


def edit_changes(current: Memory, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """Of ``wanted`` (``EDITABLE``: each field given, at its new value; a project of None or no
    questions clear it), what differs from ``current``, as ``MemoryStore.update`` takes it. New tags
    replace the old, but for recall's marks (``provenance.MARKS``), which stay as they are: only
    ``memory quarantine`` and ``memory trust`` change them (an agent's edit must not release a
    quarantined memory)."""
    if unknown := sorted(set(wanted) - set(EDITABLE)):
        raise InvalidInputError(f"cannot edit {unknown[0]!r}", hint=f"Editable: {', '.join(EDITABLE)}.")
    now: dict[str, Any] = {"content": current.content, "type": current.memory_type}
    now |= {"tags": list(current.tags), "project": current.project}
    changes: dict[str, Any] = {}
    for key, value in wanted.items():
        if key == "questions":
            if list(value) != questions_of(current.metadata):
                metadata = {k: v for k, v in current.metadata.items() if k != QUESTIONS}
                changes["metadata"] = {**metadata, QUESTIONS: list(value)} if value else metadata
            continue
        if key == "tags":
            marks = [tag for tag in current.tags if tag in MARKS]
            value = [*dict.fromkeys(tag for tag in value if tag not in MARKS), *marks]
            if set(value) == set(current.tags):  # (in another order: the same tags)
                continue
        if value != now[key]:
            changes[key] = value
    return changes


def check_questions(value: object) -> list[str]:
    """``QUESTIONS``: one to ``MAX_QUESTIONS`` questions, each a line of text (white space folded,
    what a terminal obeys dropped: ``clean_text.printable``), repeats dropped; else InvalidInputError
    saying what to give."""
    hint = "Give one to three questions, e.g. --question 'which database does the ledger use?'."
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise InvalidInputError(f"metadata {QUESTIONS!r} must be a list of questions (text)", hint=hint)
    # (a NUL, which PostgreSQL refuses, an escape or a carriage return is no part of a line)
    asked = list(dict.fromkeys(" ".join(printable(q).split()) for q in value))
    if not asked or "" in asked:
        raise InvalidInputError("a question is empty", hint=hint)
    if len(asked) > MAX_QUESTIONS:
        raise InvalidInputError(f"{len(asked)} questions: a memory keeps at most {MAX_QUESTIONS}", hint=hint)
    if (longest := max(len(q) for q in asked)) > QUESTION_CHARS:
        raise InvalidInputError(
            f"a question of {longest:,} characters: at most {QUESTION_CHARS} each", hint=hint
        )
    return asked


def check_metadata(metadata: object) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: it would fail every --json, export, MCP answer
        raise InvalidInputError(
            f"metadata is not UTF-8 text: {exc.object[max(0, exc.start - 20) : exc.end + 20]!r}",
            hint="Convert it first, e.g. `iconv -f latin1 -t utf-8`.",
        ) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata is not JSON-serialisable: {exc}") from exc
    if len(text) > METADATA_CHARS:
        raise InvalidInputError(
            f"metadata is {len(text):,} characters of JSON, more than the {METADATA_CHARS:,} a memory keeps",
            hint="Keep large data in a file and put its path in the metadata.",
        )
    checked = dict(json.loads(text))
    if QUESTIONS in checked:
        checked[QUESTIONS] = check_questions(checked[QUESTIONS])
    return checked


@dataclass(frozen=True, slots=True)
class Filters:
    """Narrow a search (or a listing) *inside* the backend's scan. Empty means everything.

    ``types`` matches any of the given types; ``tags`` requires every given tag; ``since``/``until``
    bound ``created_at`` (inclusive / exclusive). ``group`` matches any project of that project group
    (instead of one ``project``). With ``shared``, a project (or group) scope also takes in the
    insights shared with it (``cross_project.py``); with ``with_global``, the memories of no project
    (stored without ``--project``: they hold everywhere).
    """

    types: tuple[MemoryType, ...] = ()
    project: str | None = None
    repo_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    workflow_id: str | None = None
    source_system: str | None = None
    tags: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    group: str | None = None
    shared: bool = False
    with_global: bool = False

    def __bool__(self) -> bool:
        flags = ("shared", "with_global")
        return any(getattr(self, f.name) not in (None, ()) for f in fields(self) if f.name not in flags)

    def labels(self) -> dict[str, str]:
        """The exact-match label filters that are set, except ``project`` (see ``project``/``group``)."""
        return {
            name: getattr(self, name)
            for name in SCOPE_FIELDS
            if name != "project" and getattr(self, name) is not None
        }

    def admits(self, memory: Memory) -> bool:
        """Whether ``memory`` has the types, labels, tags and dates asked for (the project or group
        scope aside: the backends resolve it, with what is shared or global)."""
        if self.types and memory.memory_type not in self.types:
            return False
        if any(getattr(memory, name) != value for name, value in self.labels().items()):
            return False
        if not set(self.tags) <= set(memory.tags):
            return False
        if self.since is not None and memory.created_at < self.since:
            return False
        return self.until is None or memory.created_at < self.until

    @classmethod
    def coerce(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        """From a Filters, None, or a mapping (``type``/``types`` may be a string or a list)."""
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        if not isinstance(value, Mapping):
            raise InvalidInputError(f"filters must be a mapping, got {type(value).__name__}")
        data = dict(value)
        data["types"] = _as_tuple(data.pop("type", None)) + _as_tuple(data.pop("types", None))
        data["tags"] = _as_tuple(data.pop("tag", None)) + _as_tuple(data.pop("tags", None))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown filter {unknown[0]!r}",
                hint="Filters: type, tags, since, until, group, shared, with_global, "
                f"{', '.join(SCOPE_FIELDS)}.",
            )
        return cls._checked(data)

    @classmethod
    def _checked(cls, data: dict[str, Any]) -> Filters:
        data["types"] = tuple(dict.fromkeys(check_type(t) for t in data["types"]))
        data["tags"] = check_tags(data["tags"])
        for name in (*SCOPE_FIELDS, "group"):
            data[name] = check_label(name, data.get(name))
        if data["project"] and data["group"]:
            raise InvalidInputError(
                "filter by a project or by a group, not both", hint="Add the project to the group instead."
            )
        data["shared"] = bool(data.get("shared", False))
        data["with_global"] = bool(data.get("with_global", False))
        for name in ("since", "until"):
            data[name] = parse_time(data[name]) if data.get(name) is not None else None
        if data["since"] and data["until"] and data["since"] >= data["until"]:
            raise InvalidInputError("filter 'since' must be before 'until'")
        return cls(**data)


def _as_tuple(value: object) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(value)
    return (value,)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: the memory, its score in the asked mode, and which searches found it.

    Scores: ``vector`` = cosine similarity; ``text`` = BM25 (higher is better, unbounded);
    ``hybrid`` = the fused score in [0, 1] (see ``search.py``). ``vector_score`` is the memory's
    cosine with the query in a vector or hybrid search, also when only the text leg found it.
    ``relevant``: the relevance judge's verdict that it answers the query (``judge.py``; a text
    search's hits, which hold the query's words, and a vector search's above the floor are).
    ``probability``: the judge's probability behind that verdict (a hybrid search's; None
    otherwise), which the prompt hook reads at its own operating point (``loop/recall.py``).
    """

    memory: Memory
    score: float
    modes: tuple[str, ...]
    source: str = "memory"
    vector_score: float | None = None
    text_score: float | None = None
    relevant: bool = True
    probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": _finite(self.score),
            "modes": list(self.modes),
            "source": self.source,
            "vector_score": _finite(self.vector_score),
            "text_score": _finite(self.text_score),
            "relevant": self.relevant,
            "memory": self.memory.to_dict(),
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


@dataclass(frozen=True, slots=True)
class MigrationState:
    """What ``db status`` shows: applied migrations (name, when) and pending names."""

    backend: str
    location: str
    applied: tuple[tuple[str, str], ...]
    pending: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "location": self.location,
            "applied": [{"name": n, "applied_at": at} for n, at in self.applied],
            "pending": list(self.pending),
            "up_to_date": not self.pending,
        }


# -- secrets out: every draft is scrubbed before it is hashed, embedded or stored -------------------


def scrub_draft(draft: MemoryDraft) -> MemoryDraft:
    """A memory about to be stored with every field scrubbed: content, tags, metadata (keys and
    values), labels (project, agent, source…) and any text field added later (the same object if
    clean)."""
    if not isinstance(draft.content, str):
        return draft  # not text: ``MemoryDraft.checked`` says what is wrong
    return scrub_fields(draft)


def scrub_memory(memory: Memory) -> Memory:
    """A stored memory as it may be shown: scrubbed again, for rows stored before scrubbing existed
    (or by an older scrubber). The same object when clean."""
    scrubbed = scrub_fields(memory)
    if scrubbed is memory:
        return memory
    return replace(scrubbed, content_hash=content_hash(scrubbed.content))


#: Fields the store derives itself (a hash, the embedder's name): no text of the user's.
_DERIVED_FIELDS = frozenset({"content_hash", "embedding_model", "embedding"})
_Item = TypeVar("_Item", bound="DataclassInstance")


def scrub_fields(item: _Item) -> _Item:
    """``item`` (a draft, a memory, a conversation turn) with every field that held a secret
    scrubbed, so a key pasted as a tag, a ``--project`` label or a metadata key is caught as in the
    content. The same object when clean."""
    changed: dict[str, object] = {}
    for name in (f.name for f in fields(item) if f.name not in _DERIVED_FIELDS):
        value = getattr(item, name)
        clean = _scrubbed_value(value)
        if clean is not value and clean != value:
            changed[name] = clean
    return replace(item, **changed) if changed else item


def _scrubbed_value(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return scrub_tree(value)
    # anything but a list of strings is left to ``MemoryDraft.checked``, which says what is wrong
    if isinstance(value, list | tuple) and all(isinstance(t, str) for t in value):
        clean = tuple(scrub(t) for t in value)
        return value if clean == tuple(value) else clean
    return value
