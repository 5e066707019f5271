"""Settings: defaults < user file < project file < ``MAHAVISHNU_*`` environment.

The user file is ``$MAHAVISHNU_HOME/mahavishnu.yaml`` (or the XDG config dir), the project file
``settings/mahavishnu.yaml`` in the enclosing repository. Environment variables nest with ``__``:
``MAHAVISHNU_MEMORY__BACKEND=postgres``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mahavishnu import paths
from mahavishnu.errors import ConfigError
from mahavishnu.wording import a

#: The assistants' tool names, spelled out as pydantic and mypy need a ``Literal``: config sits below
#: ``environments.assistants.registry`` (the one list), and tests/test_assistant_lists.py checks they match.
AssistantName = Literal["claude", "codex", "qwen", "gemini", "opencode", "pi"]

ENV_PREFIX = "MAHAVISHNU_"


class Endpoint(BaseModel):
    """How to reach a provider over one wire protocol. Both URL and model are required once the
    user's override is merged over the catalogue (a user may override just the model)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    base_url: str | None = None  # an http:// or https:// URL (http://127.0.0.1:PORT for a local server)
    model: str | None = None  # the model asked for
    opus_model: str | None = None  # Claude Code's ANTHROPIC_DEFAULT_OPUS_MODEL
    sonnet_model: str | None = None  # Claude Code's ANTHROPIC_DEFAULT_SONNET_MODEL
    # Claude Code's ANTHROPIC_DEFAULT_HAIKU_MODEL, and the small model elsewhere (OpenCode's
    # small_model, the question writer's)
    haiku_model: str | None = None
    timeout_ms: int | None = Field(default=None, gt=0)  # Claude Code's API_TIMEOUT_MS
    # the API an openai endpoint serves: responses (Codex needs it) or chat (Chat Completions only)
    wire_api: Literal["responses", "chat"] | None = None


#: The highest price a model may have, USD per million tokens (a dollar a token): far above any
#: provider's, and low enough that a year of requests at it still adds up.
MAX_PRICE = 1_000_000


class ModelPrice(BaseModel):
    """A model's price in USD per million tokens (``mahavishnu usage``): a negotiated rate, a
    gateway's own, a subscription at 0 marginal cost, or a provider the maintained price data does
    not cover. Cache prices default to the input's; ``since`` makes it hold from that day on."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    # Each price is at most 1,000,000 (MAX_PRICE): a rate of ``.inf`` or ``1e308`` cannot be priced with.
    input: float = Field(ge=0, le=MAX_PRICE)  # USD per million input tokens
    output: float = Field(ge=0, le=MAX_PRICE)  # USD per million output tokens
    cache_write: float | None = Field(default=None, ge=0, le=MAX_PRICE)  # unset: the input's price
    cache_read: float | None = Field(default=None, ge=0, le=MAX_PRICE)  # unset: the input's price
    #: the first day (UTC) the price holds: before it, requests are priced as if it were not set
    since: date | None = None


class ProfileSettings(BaseModel):
    """A provider profile; user entries are merged over the built-in catalogue by name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    label: str | None = None  # the name `ai list-llms` shows (unset: the profile's name)
    aliases: list[str] = Field(default_factory=list)  # other names the profile answers to
    secret: list[str] = Field(default_factory=list)  # references tried first; see environments/secrets.py
    requires_key: bool = True  # false: no key is looked for or sent (a local server)
    #: A "stock" profile: these assistants go back to their own login (every provider key removed).
    stock: list[AssistantName] = Field(default_factory=list)
    docs: str | None = None  # the provider's documentation URL, shown by `ai show`
    anthropic: Endpoint | None = None
    openai: Endpoint | None = None
    gemini: Endpoint | None = None
    #: The profile's own prices by model (``mahavishnu usage``), over genai-prices' for its requests.
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)


class EnvironmentsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    default_tool: AssistantName = "claude"  # the assistant switch-llm, run and rollback mean without --tool
    # backups kept of each assistant file Mahavishnu writes (`ai backups`); the oldest go first
    backups_keep: int = Field(default=10, ge=1, le=1000)


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    # sqlite: the embedded file, no server; postgres: PostgreSQL + pgvector (team memory; set by a dsn)
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = None  # the embedded store's file (unset: memory.db in the data folder)
    dsn: str | None = None  # postgresql://USER@HOST:PORT/DB; without a backend set, selects postgres
    # local: a bundled ONNX model, offline; ollama, openai (any OpenAI-compatible embeddings API),
    # fastembed (a model from a model hub). See docs/memory/storage.md.
    embedder: Literal["local", "ollama", "openai", "fastembed"] = "local"
    embedder_model: str | None = None  # unset: the embedder's default model
    embedder_url: str | None = None  # ollama's or openai's base URL (unset: its default)
    embedder_api_key: str | None = None  # openai's key, or a reference: env:VAR, keyring:NAME, file:NAME
    max_content_chars: int = Field(default=100_000, gt=0)  # the longest memory text stored
    # Embedded store: from this many vectors on, an ANN index (on-disk sidecar) replaces the exact scan.
    ann_threshold: int = Field(default=50_000, ge=1)
    # Hybrid search (memory/core/search.py; benchmarks/scifact.py measured the defaults).
    hybrid_fusion: Literal["zscore", "convex", "rrf"] = "zscore"
    hybrid_alpha: float = Field(default=0.5, ge=0.0, le=1.0)  # the vector leg's weight (zscore, convex)
    # Weight of z-score fusion's word-pair (term proximity) leg; 0 turns it off (memory/core/search.py).
    hybrid_proximity: float = Field(default=0.12, ge=0.0, le=1.0)
    # z-score fusion's word legs weigh less when no hit of theirs holds this share of the query's
    # words (memory/core/search.py, Fusion.evidence; 0: never). benchmarks/devmem.py --evidence-sweep
    # and benchmarks/retrieval.py --evidence-sweep print the choice.
    hybrid_evidence: float = Field(default=0.34, ge=0.0, le=1.0)
    # z-score fusion's text leg lifts a hit in full only when it holds this many of the query's
    # words (or all of them); fewer, less (memory/core/search.py, Fusion.words; 0: always in full).
    # benchmarks/devmem.py --evidence-sweep and benchmarks/retrieval.py --words-sweep print the choice.
    hybrid_words: int = Field(default=2, ge=0, le=8)
    # z-score fusion keeps the vector leg's first within the fused first this many places when the
    # text leg barely matches the query: none of its first hits holds hybrid_evidence of the query's
    # words (memory/core/search.py, Fusion.keep; 0: never). benchmarks/devmem.py --fusion-sweep and
    # benchmarks/retrieval.py --fusion-sweep print the choice.
    hybrid_keep: int = Field(default=1, ge=0, le=10)
    # z-score fusion also keeps the text leg's first within the first hybrid_keep places when it holds
    # every word of the query and no hit there does (an identifier the embedder puts far off).
    hybrid_keep_text: bool = True
    # z-score fusion always keeps the vector leg's first within the fused first this many places,
    # however well the text leg matches other memories (memory/core/search.py, Fusion.keep_vector;
    # 0: never): a paraphrase sharing two common words with other notes no longer buries the note
    # the embedder finds closest. benchmarks/devmem.py and benchmarks/retrieval.py --fusion-sweep
    # keep_vector=N print the choice (docs/benchmarks.md#search-and-relevance).
    hybrid_keep_vector: int = Field(default=4, ge=0, le=10)
    # A captured conversation turn ranks as if its fused score were this much lower (0 to 1) than a
    # note's, decision's or insight's of the same score: the memory that holds a fact before the
    # turns that talked about it (MemoryStore._ranked; 0: no difference). benchmarks/devmem.py
    # --fast --turns 300 and benchmarks/retrieval.py --datasets coding print the choice.
    hybrid_turn_penalty: float = Field(default=0.2, ge=0.0, le=1.0)
    # Hybrid search reorders its first this many hits by cosine + rerank_weight x how the query's
    # word pieces meet each hit's (memory/core/pieces.py; 0: off). benchmarks/devmem.py
    # --rerank-sweep and benchmarks/retrieval.py --rerank-sweep print the choice.
    rerank_depth: int = Field(default=5, ge=0, le=50)
    rerank_weight: float = Field(default=1.0, ge=0.0, le=10.0)  # the word pieces' weight in that rerank
    # The rerank runs only for a query none of whose text leg's first hits holds this share of its
    # words (asked in other words); a query the text leg matches keeps the fused order.
    rerank_evidence: float = Field(default=0.34, ge=0.0, le=1.0)
    hybrid_rrf_k: int = Field(default=60, ge=1)  # rrf fusion's k: a hit at rank r counts 1 / (k + r)
    hybrid_depth: int = Field(default=100, ge=1, le=1000)  # candidates each leg gives to the fusion
    # Cosine under which a search drops a hit without full-text evidence (None: the embedder's
    # measured floor, 0: no floor). See memory/core/relevance.py.
    relevance_floor: float | None = Field(default=None, ge=0.0, le=1.0)
    # Embedded store: a full-text query matches its rarest terms while their postings fit this budget
    # (0: every term). Bounds text-search cost on large stores; measured in benchmarks/scifact.py.
    text_posting_budget: int = Field(default=10_000, ge=0)
    # The memory daemon (memory/loop/daemon.py) exits after this long without a request, freeing
    # its memory; the next memory command starts it again. 0: it runs until stopped.
    daemon_idle_seconds: float = Field(default=300.0, ge=0)
    # On a PostgreSQL store: the most server connections the memory daemon holds, for all of the
    # machine's terminals and hooks at once (its recalls, searches, stores and captures share them),
    # so a team server's connections grow with machines, not terminals.
    daemon_pool_size: int = Field(default=2, ge=1, le=32)
    # A provider profile (`mahavishnu ai list-llms`) that writes the question a note answers when it
    # is stored without one, and for `memory questions` (services/question_writer.py; None: off).
    # Its model: question_writer_model, else the profile's haiku_model, else its model.
    question_writer: str | None = None
    question_writer_model: str | None = None  # the model question_writer's profile is asked with
    question_writer_timeout_seconds: float = Field(default=20.0, gt=0, le=300)  # unanswered: no question

    @model_validator(mode="after")
    def _dsn_selects_postgres(self) -> MemorySettings:
        """A DSN says which database to use: with ``backend`` left unset, it selects PostgreSQL (a DSN
        is never SQLite's). An explicit ``backend: sqlite`` beside a DSN would leave it unused: an error."""
        if not self.dsn:
            return self
        if "backend" not in self.model_fields_set:
            self.backend = "postgres"
        elif self.backend != "postgres":
            raise ValueError(
                "memory.dsn is set, but memory.backend is sqlite, so the DSN would not be used: set "
                "memory.backend to postgres (MAHAVISHNU_MEMORY__BACKEND=postgres) to use that database, "
                "or remove memory.dsn to stay on the embedded store"
            )
        return self


RecallProvenance = Literal["user", "kept", "insight", "assistant", "external"]


def _recalled_by_default() -> list[RecallProvenance]:
    return ["user", "kept", "insight"]


class RecallSettings(BaseModel):
    """``mahavishnu memory context``: what the assistants' hooks add to their context (loop/recall.py)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    session_tokens: int = Field(default=1_500, ge=0)  # at session start: the project's decisions and insights
    # At each prompt: the memories relevant to it. The prompt defaults are chosen from the printed
    # sweep of ``benchmarks/retrieval.py --recall-sweep`` (LoCoMo evidence recall in the added
    # context at <= 400 tokens a prompt on average; the coding-session prompts).
    prompt_tokens: int = Field(default=450, ge=0)
    # A cosine similarity a memory needs on top of the relevance judge's verdict to be added to a
    # prompt (memory/core/judge.py decides; 0: the judge alone). Raise it to add fewer, closer ones.
    min_relevance: float = Field(default=0.0, ge=-1.0, le=1.0)
    # Past the best few hits, one whose fused score is under this share of the best's is left out.
    tail_share: float = Field(default=0.4, ge=0.0, le=1.0)
    # The relevance judge's probability a note, decision or insight needs to open a prompt's
    # recall by itself (None: the judge's own hook point, memory/core/judge_weights.HOOK_POINT; the
    # first two hits can open it together too: prompt_pair_point). Lower adds more answers and more
    # to prompts whose answer is not stored (benchmarks/devmem.py --hook-sweep).
    prompt_point: float | None = Field(default=None, ge=0.0, le=1.0)
    # Once a prompt's recall is open, the first this many hits with evidence of their own (a cosine
    # of at least the floor, or every word of the prompt) are added with the accepted ones: an
    # answer the judge weighs low is often second or third (benchmarks/devmem.py --hook-sweep).
    prompt_first_hits: int = Field(default=3, ge=0, le=1_000)
    # A prompt's recall opens too when the judge's probabilities of its first two hits with
    # evidence add up to this (only one stored fact answers a question, so their sum is the chance
    # that one of them does; None: off, only prompt_point opens it, and a raised prompt_point
    # wants this off or raised too). Chosen on the tuning half of the development set, its
    # projects described, when the judge's point was 0.39 (the lowest that gave at most 40 % of
    # its near-misses something). At the judge's point since 2026-11-26 (0.19, with ``dropped``)
    # two hits under it never add up to 0.46, and the sweep gives the same figures from 0.30 to
    # 0.60 and off (benchmarks/devmem.py --hook-sweep): it matters only with a raised
    # prompt_point.
    prompt_pair_point: float | None = Field(default=0.46, ge=0.0, le=2.0)
    # A question asking for a person ("who owns the deploy tool?") opens it too when one of the first
    # prompt_first_hits names someone in a role ("Nadia Haddad maintains skiff"), however low the
    # judge weighs it (memory/core/kinds.py; English question words). False: the judge alone.
    prompt_answer_kinds: bool = True
    # The cosine a captured conversation turn needs (the judge is fitted on notes and decisions,
    # not turns): 0.35, the prompt's floor before the judge. On LoCoMo 0.62 of the evidence turns
    # reach the context, and 0.82 of the coding prompts nothing answers get nothing (retrieval.py).
    turn_relevance: float = Field(default=0.35, ge=-1.0, le=1.0)
    item_chars: int = Field(
        default=600, ge=40
    )  # at session start a longer memory is cut (its id fetches the whole)
    prompt_item_chars: int = Field(default=160, ge=40)  # at a prompt: the part around the prompt's words
    candidates: int = Field(default=20, ge=1, le=1_000)  # search results weighed per prompt
    # Whose text recall adds (memory/core/provenance.py; a test keeps the names equal): the user's
    # own words, what was explicitly kept, ★ Insights. "assistant" (captured replies, which may
    # quote what the assistant read) and "external" (ingested files) only when listed here.
    provenances: list[RecallProvenance] = Field(default_factory=_recalled_by_default)


def _default_extensions() -> list[str]:
    return [
        *(".py", ".pyi", ".md", ".txt", ".yaml", ".yml", ".rst", ".toml", ".json", ".cfg", ".ini"),
        *(".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".vue", ".svelte", ".html", ".css", ".scss"),
        *(".go", ".rs", ".java", ".kt", ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs"),
        *(".rb", ".php", ".swift", ".lua", ".sh", ".bash", ".zsh", ".sql", ".proto", ".graphql", ".tf"),
    ]


def _default_ingest_excludes() -> list[str]:
    return [
        *("node_modules/", "vendor/", "third_party/", ".venv/", "venv/", "__pycache__/", "dist/", "build/"),
        *("target/", ".tox/", ".nox/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".eggs/"),
        *("*.egg-info/", "*.min.js", "*.min.css", "*.map", "package-lock.json", "yarn.lock"),
        *("pnpm-lock.yaml", "Cargo.lock", "poetry.lock", "uv.lock", "Pipfile.lock", "composer.lock"),
    ]


class IngestSettings(BaseModel):
    """``mahavishnu memory ingest``: which files of a repository become ``rag`` memories, and how."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    extensions: list[str] = Field(default_factory=_default_extensions)  # taken unless --include is given
    exclude: list[str] = Field(default_factory=_default_ingest_excludes)  # gitignore-style, with .gitignore
    max_file_bytes: int = Field(default=1_000_000, gt=0)  # bigger files are skipped (vendored, generated)
    # Chunk size in the embedder's tokens: at most this, and never more than its window.
    chunk_tokens: int = Field(default=512, ge=16, le=8_192)
    # Context repeated where a chunk cuts a block in two. Off by default: chunks already start at
    # code structure, and on the code QA set (benchmarks/retrieval.py) 24 tokens of overlap gave
    # hybrid top-1 / top-5 0.86 / 0.96 against 0.90 / 0.98 without, with 10 % more chunks to embed.
    overlap_tokens: int = Field(default=0, ge=0)
    window_chunks: int = Field(default=64, ge=1)  # chunks stored, or embedded, per transaction

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, value: list[str]) -> list[str]:
        return [e.lower() if e.startswith(".") else f".{e.lower()}" for e in value]

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """A settings file from before chunks were sized in tokens names what to rename."""
        old = [k for k in ("chunk_chars", "overlap_chars") if isinstance(data, dict) and k in data]
        if old:
            new = old[0].replace("_chars", "_tokens")
            raise ValueError(
                f"ingest.{old[0]} is now ingest.{new}, counted in the embedder's tokens "
                "(about 4 characters each): rename it, or remove it to use the default"
            )
        return data

    @model_validator(mode="after")
    def _overlap_fits(self) -> IngestSettings:
        if self.overlap_tokens >= self.chunk_tokens // 2:
            raise ValueError("ingest.overlap_tokens must be under half of ingest.chunk_tokens")
        return self


def _every_assistant() -> list[AssistantName]:
    return list(get_args(AssistantName))


_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class HealthCheckSettings(BaseModel):
    """How to tell a service is up: at most one check; with none, a live process counts as healthy."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    http: str | None = None  # GET this URL: healthy on a 2xx/3xx answer
    tcp: str | None = None  # "host:port" or "port" (127.0.0.1): healthy when it accepts a connection
    mcp: str | None = None  # a streamable-HTTP MCP endpoint: healthy when initialize + ping answer
    bearer_secret: str | None = None  # the http/mcp check sends this secret as a bearer token
    command: list[str] | None = None  # argv (a string is split like a shell would): healthy on exit 0
    timeout_seconds: float = Field(default=2.0, gt=0)  # a check not answered by then failed

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_check(self) -> HealthCheckSettings:
        chosen = [k for k in ("http", "tcp", "mcp", "command") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(
                f"a health check is one of http, tcp, mcp or command, not {' and '.join(chosen)}"
            )
        return self

    @property
    def kind(self) -> str:
        return next((k for k in ("http", "tcp", "mcp", "command") if getattr(self, k)), "process")


class ServiceSettings(BaseModel):
    """A supervised service. User entries are merged field by field over a built-in of the same name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    description: str | None = None  # a note of your own on what it is
    enabled: bool = True  # false hides a built-in (and keeps `all` from starting it)
    command: list[str] = Field(default_factory=list)  # argv, run without a shell; a string is split
    env: dict[str, str] = Field(default_factory=dict)  # variables set over the environment it inherits
    cwd: Path | None = None  # the folder it runs in (unset: your home folder)
    health: HealthCheckSettings = Field(default_factory=HealthCheckSettings)
    # on-failure: `mahavishnu watch` restarts it when it exits without `service stop` or fails its
    # health check `unhealthy_after` times in a row; no: never restarted automatically.
    restart: Literal["no", "on-failure"] = "on-failure"
    max_restarts: int = Field(default=5, ge=0)  # automatic restarts allowed per restart_window
    restart_window_seconds: float = Field(default=600.0, gt=0)  # the window max_restarts counts in
    unhealthy_after: int = Field(default=3, ge=1)  # failed health checks in a row before a restart
    config_files: list[Path] = Field(default_factory=list)  # a change restarts the service (watch)
    start_timeout_seconds: float | None = Field(default=None, gt=0)  # default: services.start_timeout
    stop_timeout_seconds: float | None = Field(default=None, gt=0)  # default: services.stop_timeout

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value


class ServicesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    builtins: bool = True  # Mahavishnu's MCP server, the watcher, Session-Buddy and Ollama (if installed)
    start_timeout_seconds: float = Field(default=30.0, gt=0)  # wait this long for the health check
    stop_timeout_seconds: float = Field(default=10.0, gt=0)  # SIGTERM, then SIGKILL after this
    log_max_bytes: int = Field(default=5_000_000, ge=0)  # a bigger log is rotated (.1) on start; 0: never
    definitions: dict[str, ServiceSettings] = Field(default_factory=dict)

    @field_validator("definitions")
    @classmethod
    def _names(cls, value: dict[str, ServiceSettings]) -> dict[str, ServiceSettings]:
        for name in value:
            if not _SERVICE_NAME.match(name) or name == "all":
                raise ValueError(
                    f"'{name}' is not a service name (letters, digits, '.', '_', '-'; not 'all')"
                )
        return value


class WatchSettings(BaseModel):
    """``mahavishnu watch``: config files, service liveness and provider probes. Sub-second values work."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    poll_seconds: float = Field(default=1.0, gt=0)  # how often files and processes are looked at
    debounce_seconds: float = Field(default=2.0, ge=0)  # quiet time after the last change before a restart
    services: bool = True  # restart services on config change / exit / failed health checks
    health_interval_seconds: float = Field(default=30.0, ge=0)  # 0: only liveness, no health checks
    probe_interval_seconds: float = Field(default=120.0, ge=0)  # 0: no provider probes
    probe_timeout_seconds: float = Field(default=10.0, gt=0)  # a probe not answered by then failed
    probe_tools: list[AssistantName] = Field(default_factory=_every_assistant)  # whose provider is probed


class FallbackSettings(BaseModel):
    """Automatic provider fallback, run by ``mahavishnu watch``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    chains: dict[AssistantName, list[str]] = Field(default_factory=dict)  # tool -> profiles, preferred first
    failures_before_switch: int = Field(default=3, ge=1)  # failed probes in a row before a fallback
    switch_back: bool = True  # return to the original profile once it answers again
    successes_before_switch_back: int = Field(default=2, ge=1)  # passed probes of the first, in a row
    scope: Literal["user", "project", "local"] = "user"  # the config file probed and switched
    notify_command: list[str] | None = None  # run on every switch, event as JSON in MAHAVISHNU_EVENT

    def chain(self, tool: str) -> list[str]:
        return next((names for name, names in self.chains.items() if name == tool), [])

    @field_validator("notify_command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value


class McpSettings(BaseModel):
    """Mahavishnu's own MCP server (see ``mcp_access``)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    # Folders whose files tools such as ingest_repository may read (empty: the home directory);
    # secret-bearing dot-dirs (~/.ssh, ~/.gnupg, ~/.aws ...) and MAHAVISHNU_HOME stay out regardless.
    allowed_roots: list[Path] = Field(default_factory=list)


class SessionBuddySettings(BaseModel):
    """The Session-Buddy peer (an MCP memory server) that unified search and reflections reach."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    enabled: bool = True  # false: never contact the peer (searches say it was skipped)
    url: str | None = None  # streamable-HTTP endpoint, e.g. http://127.0.0.1:8678/mcp
    command: list[str] = Field(default_factory=list)  # or a stdio MCP server (Session-Buddy 0.23: HTTP only)
    timeout_seconds: float = Field(default=2.0, gt=0)  # per call; a search never waits longer
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)  # peer hits re-scored below this are dropped

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @property
    def configured(self) -> bool:
        return self.enabled and bool(self.url or self.command)


class TelemetrySettings(BaseModel):
    """OpenTelemetry and Prometheus (``mahavishnu.telemetry``; needs the ``[otel]`` extra). Off by
    default. The standard ``OTEL_EXPORTER_OTLP_*`` variables, when set, win over ``otlp_endpoint``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    # OTLP/HTTP base URL (e.g. http://127.0.0.1:4318): metrics, spans and logs go to /v1/<signal>.
    otlp_endpoint: str | None = None
    # `mahavishnu mcp serve --http` also serves /metrics in Prometheus' text format (same bearer token).
    prometheus: bool = False
    # The memory daemon (where the hooks' recall and capture run) serves /metrics on 127.0.0.1 at
    # this port, behind the MCP server's bearer token (0: any free port, said in its log); None: not.
    daemon_metrics_port: int | None = Field(default=None, ge=0, le=65535)


class TeamSettings(BaseModel):
    """Team memory on one PostgreSQL (``mahavishnu team``)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    # New decisions, ★ Insights and ingested repositories are stored shared with the team (off:
    # private until `memory share ID --team`). Captured conversation turns stay private regardless.
    share_by_default: bool = False


_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_INTERVAL_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str) -> float:
    """``30s``, ``15m``, ``6h``, ``1d`` or plain seconds (``90``, ``0.5``) as seconds; ValueError else."""
    found = _INTERVAL.fullmatch(text.strip().lower())
    seconds = float(found[1]) * _INTERVAL_UNITS[found[2]] if found else 0.0
    if seconds <= 0:
        raise ValueError(f"'{text}' is not an interval (e.g. 30s, 15m, 6h, 1d)")
    return seconds


class BackupSettings(BaseModel):
    """A scheduled backup off the machine: with ``to`` set, the ``mahavishnu-backup`` service runs
    ``mahavishnu db backup --every EVERY --to TO [--keep N] [--sse X]``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    to: str | None = None  # s3://BUCKET/PREFIX/ (dated backups, rotated by keep) or s3://BUCKET/KEY
    every: str = "6h"  # 30s, 15m, 6h, 1d
    keep: int | None = Field(default=None, ge=1)  # a prefix only: the newest N stay
    sse: Literal["AES256", "aws:kms"] | None = None  # server-side encryption

    @field_validator("every")
    @classmethod
    def _interval(cls, value: str) -> str:
        parse_interval(value)
        return value

    @field_validator("to")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError(f"'{value}' is not an S3 URL (s3://BUCKET/PREFIX/ or s3://BUCKET/KEY)")
        return value

    @model_validator(mode="after")
    def _keep_needs_prefix(self) -> BackupSettings:
        if self.keep is not None and self.to is not None and not self.to.endswith("/"):
            raise ValueError("backup.keep needs a prefix destination (ending with /)")
        return self


class Settings(BaseModel):
    """Every setting. ``Settings(**values)`` merges ``values`` over the settings files (deeply, as
    pydantic-settings did); ``load_settings()`` passes the ``MAHAVISHNU_*`` environment as ``values``.

    A plain model rather than a pydantic-settings ``BaseSettings``: importing pydantic-settings
    (and asyncio under it) costs ~50 ms, paid now only when a ``MAHAVISHNU_*`` variable sets
    something (see ``_env_layer``). ``model_validate`` validates its input alone, as before.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, defer_build=True)

    environments: EnvironmentsSettings = Field(default_factory=EnvironmentsSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    recall: RecallSettings = Field(default_factory=RecallSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    fallback: FallbackSettings = Field(default_factory=FallbackSettings)
    session_buddy: SessionBuddySettings = Field(default_factory=SessionBuddySettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    team: TeamSettings = Field(default_factory=TeamSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)

    #: Profiles whose entry does not validate, kept apart: name -> (the problem, the entry as given).
    _broken_profiles: dict[str, tuple[str, object]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _profiles_apart(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """A profile entry that does not validate (a typo'd key, a value of the wrong type) is kept
        apart instead of failing every setting: only that profile is refused, by name
        (``environments.profiles``), and ``stock`` and the other profiles still work."""
        broken: dict[str, tuple[str, object]] = {}
        entries = data.get("profiles") if isinstance(data, dict) else None
        if isinstance(entries, dict):
            kept = {}
            for name, entry in entries.items():
                try:
                    ProfileSettings.model_validate(entry)
                except ValidationError as exc:
                    problem = f"profile '{name}' is invalid: {first_error(exc, 'profiles', str(name))}"
                    broken[str(name)] = (problem, entry)
                else:
                    kept[name] = entry
            data = {**data, "profiles": kept}
        settings = handler(data)
        settings._broken_profiles = broken
        return settings

    @property
    def broken_profiles(self) -> dict[str, tuple[str, object]]:
        """The profiles kept apart (``_profiles_apart``): name -> (the problem, the entry as given)."""
        return self._broken_profiles

    def __init__(self, **values: Any) -> None:
        # Highest precedence first (as pydantic-settings called its sources): the project file is
        # read, and its errors raised, before the user file's.
        layers = [read_settings_file(path) for _, path in reversed(applied_layer_files())]
        merged: dict[str, Any] = {}
        for layer in reversed(layers):
            merged = _deep_update(merged, layer)
        super().__init__(**_deep_update(merged, values))


def _deep_update(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``: mappings are merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in update.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_update(current, value)
        else:
            merged[key] = value
    return merged


def layer_files() -> list[tuple[str, Path]]:
    """The settings files in precedence order, lowest first."""
    return paths.layer_files()


def applied_layer_files() -> list[tuple[str, Path]]:
    """The settings files that apply, lowest first: the user file, and the repository's file once
    the user has trusted it as it is (``project_trust``)."""
    from mahavishnu.project_trust import project_file

    project = project_file()
    applied = project is not None and project.applies
    return [(kind, path) for kind, path in layer_files() if kind != "project" or applied]


def read_settings_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except NotADirectoryError as exc:
        above = next(folder for folder in path.parents if folder.exists())
        raise ConfigError(
            f"cannot read settings file {path}: {above} is a file, not a folder",
            hint="Point MAHAVISHNU_HOME (or XDG_CONFIG_HOME) at a folder, or move that file aside; "
            "nothing was changed.",
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at line {line})",
            hint="Save it as UTF-8; nothing was changed.",
        ) from exc
    import yaml  # ~15 ms: only when there is a file to read

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"invalid YAML in {path}{where}", hint="Fix the file; nothing was changed."
        ) from exc
    except RecursionError as exc:
        raise ConfigError(
            f"{path} is nested too deeply to read", hint="Fix the file; nothing was changed."
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def _env_layer() -> dict[str, Any]:
    """The ``MAHAVISHNU_*`` variables that set something, as nested values (pydantic-settings'
    rules: names are case-insensitive, ``__`` nests, complex values are JSON)."""
    if not _sets_anything(os.environ):
        return {}  # the usual case: skip importing pydantic-settings
    from pydantic_settings import EnvSettingsSource

    class PlainWhenNotJson(EnvSettingsSource):
        """A list or mapping value that is not JSON is passed on as the string it is: a command
        splits it as a shell would (``MAHAVISHNU_SESSION_BUDDY__COMMAND=session-buddy``), anything
        else is then a validation error naming the variable, not a traceback."""

        def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
            try:
                return super().decode_complex_value(field_name, field, value)
            except ValueError:
                return value

    source = PlainWhenNotJson(
        Settings,  # type: ignore[arg-type]  # it only reads the fields and the config
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )
    return source()


def _sets_anything(environ: Any) -> bool:
    """Whether some variable is ``MAHAVISHNU_<FIELD>`` or ``MAHAVISHNU_<FIELD>__...`` (any case):
    the only names pydantic-settings' env source reads for these fields."""
    from mahavishnu.settings_snapshot import env_sets_settings

    return env_sets_settings(environ)


def load_settings() -> Settings:
    """The effective settings, with env overriding the files.

    Validated settings are kept in a snapshot (see ``settings_snapshot``) and rebuilt from it,
    without parsing YAML or building pydantic schemas, while no input has changed.
    """
    from mahavishnu import settings_snapshot as snapshot

    key = snapshot.fingerprint()
    if key is not None:
        cached = snapshot.read("settings", key)
        if cached is not None:
            try:
                restored = snapshot_decode(cached)
            except Exception:  # a damaged or foreign cache file is a cache miss
                restored = None
            if isinstance(restored, Settings):
                return restored
    try:
        settings = Settings(**_env_layer())
    except ValidationError as exc:
        raise _invalid(exc) from exc
    settled = key is not None and snapshot.settled(key) and snapshot.fingerprint() == key
    if settled and not settings.broken_profiles:  # (a snapshot keeps no broken profile: none is written)
        with contextlib.suppress(ValueError):  # something it cannot represent: just do not cache
            snapshot.write("settings", key, snapshot_encode(settings))
    return settings


# -- snapshot encoding: validated models as JSON, rebuilt with model_construct (no validation) ------


def _snapshot_models() -> dict[str, type[BaseModel]]:
    models: list[type[BaseModel]] = [
        Endpoint,
        ModelPrice,
        ProfileSettings,
        EnvironmentsSettings,
        MemorySettings,
        RecallSettings,
        IngestSettings,
        HealthCheckSettings,
        ServiceSettings,
        ServicesSettings,
        WatchSettings,
        FallbackSettings,
        SessionBuddySettings,
        McpSettings,
        TelemetrySettings,
        TeamSettings,
        BackupSettings,
        Settings,
    ]
    return {model.__name__: model for model in models}


def snapshot_encode(value: Any) -> Any:
    """``value`` (validated settings or a part of them) as JSON-able data that ``snapshot_decode``
    turns back into equal objects, ``model_fields_set`` included. ValueError for anything else."""
    if isinstance(value, BaseModel):
        name = type(value).__name__
        if _snapshot_models().get(name) is not type(value) or value.__pydantic_extra__:
            raise ValueError(f"cannot snapshot {name}")
        return {
            "$model": name,
            "set": sorted(value.model_fields_set),
            "fields": {field: snapshot_encode(getattr(value, field)) for field in type(value).model_fields},
        }
    if isinstance(value, Path):
        return {"$path": str(value)}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("cannot snapshot a mapping with non-string keys")
        return {"$dict": {key: snapshot_encode(item) for key, item in value.items()}}
    if isinstance(value, list):
        return [snapshot_encode(item) for item in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ValueError(f"cannot snapshot {a(type(value).__name__)}")


def snapshot_decode(data: Any) -> Any:
    if isinstance(data, list):
        return [snapshot_decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    if "$path" in data:
        return Path(data["$path"])
    if "$dict" in data:
        return {key: snapshot_decode(item) for key, item in data["$dict"].items()}
    model = _snapshot_models()[data["$model"]]
    fields = {name: snapshot_decode(item) for name, item in data["fields"].items()}
    if fields.keys() != model.model_fields.keys():
        raise ValueError(f"the snapshot of {model.__name__} has other fields")
    return model.model_construct(_fields_set=set(data["set"]), **fields)


#: The validation errors one line names (the rest counted): fixing them one run at a time was tiresome.
NAMED_ERRORS = 3


def first_error(exc: ValidationError, *within: str) -> str:
    """The validation errors in one line, the first ``NAMED_ERRORS`` each as where (below
    ``within``) and what, and how many more (``pricing.qwen.input: Input should be greater than or
    equal to 0; pricing.qwen.output: Input should be a valid number``)."""
    return "; ".join(_described(error, within) for error in exc.errors()[:NAMED_ERRORS]) + _more(exc)


def _described(error: Any, within: Sequence[str] = ()) -> str:
    where = ".".join(str(part) for part in (*within, *error["loc"]))
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"  # (a validator's own sentence)


def _more(exc: ValidationError) -> str:
    return f" (and {exc.error_count() - NAMED_ERRORS} more)" if exc.error_count() > NAMED_ERRORS else ""


def _invalid(exc: ValidationError) -> ConfigError:
    """The validation errors, each naming the variable or file that set its value."""
    errors = exc.errors()
    named = [(error, _variable_setting(error["loc"]), _file_setting(error["loc"])) for error in errors]
    variable, file = named[0][1], named[0][2]
    if variable is None and file is None:
        # a check across several settings (e.g. memory.dsn with memory.backend): name the variables in play
        below = [name for name in sorted(os.environ) if _variable_setting(errors[0]["loc"], name)]
        hint = None
        if below:
            hint = (
                f"Fix the variables {', '.join(below)} or the settings file (`mahavishnu config path` "
                "prints where it is); nothing was changed."
            )
        return ConfigError(f"invalid settings: {first_error(exc)}", hint=hint)
    sources = [variable or found for _, variable, found in named[:NAMED_ERRORS]]
    if len(set(sources)) == 1:
        said = f"{first_error(exc)} (set by {sources[0]})"
    else:
        said = "; ".join(
            _described(error) + (f" (set by {source})" if source else "")
            for (error, _, _), source in zip(named, sources, strict=False)
        ) + _more(exc)
    hint = f"Fix or unset {variable}." if variable else f"Fix it in {file}."
    if len(set(sources)) > 1:
        hint = "Fix each where it is set; nothing was changed."
    elif variable and errors[0]["type"] in ("list_type", "dict_type", "model_type"):
        example = '\'["/a", "/b"]\'' if errors[0]["type"] == "list_type" else '\'{"key": "value"}\''
        hint = f"{variable} takes JSON here, e.g. {variable}={example}."
    return ConfigError(f"invalid settings: {said}", hint=hint)


def _variable_setting(loc: Sequence[Any], below: str | None = None) -> str | None:
    """The ``MAHAVISHNU_*`` variable that sets the value at ``loc`` (``MAHAVISHNU_MEMORY__BACKEND``);
    with ``below``, that variable if it sets a value inside ``loc`` (``MAHAVISHNU_MEMORY__DSN``)."""
    wanted = [str(part).lower() for part in loc]
    prefix = ENV_PREFIX.lower()
    for name in [below] if below else os.environ:
        parts = name.lower().removeprefix(prefix).split("__")
        if not name.lower().startswith(prefix):
            continue
        if parts == wanted[: len(parts)] or (below and parts[: len(wanted)] == wanted):
            return name
    return None


def _file_setting(loc: Sequence[Any]) -> str | None:
    """The settings file whose value at ``loc`` applies (the project file's over the user's)."""
    for _, path in reversed(applied_layer_files()):
        node: Any = read_settings_file(path)
        for part in loc:
            if isinstance(node, dict) and str(part) in node:
                node = node[str(part)]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                break
        else:
            return str(path)
    return None


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def settings_with_sources(settings: Settings | None = None) -> list[tuple[str, Any, str]]:
    """Each effective leaf setting of ``settings`` (default: loaded now) as (dotted key, value, source),
    sources being ``default``, ``user: PATH``, ``project: PATH`` or ``env``."""
    effective = _flatten((settings or load_settings()).model_dump(mode="json", exclude_none=False))
    layers = [(f"{name}: {path}", _flatten(read_settings_file(path))) for name, path in applied_layer_files()]
    layers.append(("env", _flatten(_env_layer())))
    rows = []
    for key, value in effective.items():
        if value is None and key.startswith("profiles."):
            continue  # a field a profile override leaves out: the catalogue's value applies
        source = "default"
        for name, flat in layers:
            if any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in flat):
                source = name
        if key == "memory.backend" and source == "default" and value == "postgres":
            source = "memory.dsn"  # a DSN selects PostgreSQL (MemorySettings._dsn_selects_postgres)
        rows.append((key, value, source))
    return rows
