"""Mahavishnu as an MCP server: every operation an agent needs, as thin wrappers over the library.

    mahavishnu mcp serve                      # stdio (logs on stderr only)
    mahavishnu mcp serve --http [--port 8680] # streamable HTTP (stateless) on 127.0.0.1, path /mcp

Tools: list_llms, current_llm, switch_llm; store_memory, search_memory, get_memory, update_memory,
delete_memory, describe_project;
ingest_repository, query_knowledge_base; store_conversation, import_transcript, list_insights,
share_insight, store_workflow_execution, search_everywhere; health_check, service_status,
restart_service.

Tools return JSON (structured content, echoed as text). A ``MahavishnuError`` becomes a tool error
(``is_error``) carrying its message and hint; every tool error is scrubbed of secrets the caller gave
(``ScrubbedErrors``). Tools that change configuration or services are annotated
``read_only_hint=False, destructive_hint=True`` and accept ``dry_run``.

Resources: ``mahavishnu://memory/{memory_id}`` (one memory) and ``mahavishnu://settings`` (the
effective settings, secrets masked).

What an agent reads is what recall would add: a memory recall leaves out (quarantined, or
text that reads like an instruction to an agent, ``provenance.held_back``), a repository chunk
included, comes back from every tool and resource with its text withheld, ``"quarantined"``
saying why, and what the user runs to read and trust it (``provenance.memory_for_agents``). The CLI and the
dashboard still show it to the user.

HTTP requires a bearer token, on loopback too (``mcp_access``: a token generated once and kept as the
secret ``mahavishnu-mcp-token``): every request without ``Authorization: Bearer <token>`` is
answered 401; ``--no-auth`` (loopback only) is the explicit opt-out. Tools that read files the
caller names take only paths under the allowed roots (``mcp.allowed_roots``, default the home,
never ``~/.ssh`` and the like nor ``MAHAVISHNU_HOME``). Heavy modules (numpy, the store, embedders)
load on first use, not on import.
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import logging
import os
import re
import shlex
import signal
import socket
import threading
import types
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp.types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    CallToolResult,
    ErrorData,
    GetPromptRequestParams,
    GetPromptResult,
    InputRequiredResult,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    ReadResourceRequestParams,
    ReadResourceResult,
    TextContent,
    ToolAnnotations,
    jsonrpc_message_adapter,
)
from pydantic import ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from mahavishnu import telemetry, wording
from mahavishnu.__about__ import __version__
from mahavishnu.clean_text import clean_tree
from mahavishnu.environments.mcp_access import (
    TOKEN_SECRET as TOKEN_SECRET,  # re-exported: callers name it here
)
from mahavishnu.environments.mcp_access import authorization_matches, readable_path
from mahavishnu.environments.mcp_access import bearer_token as bearer_token
from mahavishnu.errors import InvalidInputError, MahavishnuError, from_unexpected
from mahavishnu.json_types import JSONValue
from mahavishnu.loopback import host_name, is_loopback, raise_open_files_limit
from mahavishnu.memory.core.provenance import hit_for_agents, memory_for_agents

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.abc import ObjectReceiveStream, TaskStatus
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from mcp.server.mcpserver import Context
    from mcp.server.transport_security import TransportSecuritySettings
    from mcp.shared._stream_protocols import WriteStream
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from mahavishnu.config import Settings
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.peers.session_buddy import SessionBuddy

_F = TypeVar("_F", bound=Callable[..., object])
SERVER_NAME = "mahavishnu"
DEFAULT_PORT = 8680
#: How long a memory tool waits for this machine's memory daemon before doing the work itself
#: (``Backing.daemon``): a store as long as ``memory store`` waits, a search as long as the CLI's.
STORE_SECONDS, SEARCH_SECONDS = 30.0, 10.0

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)
#: Ingestion replaces a repository's chunks (removed files' too); running it twice changes nothing.
INGEST = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)
#: An edit replaces what it gives; giving it twice changes nothing more.
EDIT = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

Scope_ = Literal["user", "project", "local"]
SearchMode = Literal["hybrid", "vector", "text"]
MemoryType = Literal["agent", "rag", "workflow", "insight", "decision", "note"]

INSTRUCTIONS = (
    "Mahavishnu: the local control plane for AI coding assistants. Switch the provider an assistant "
    "uses (list_llms, current_llm, switch_llm), keep shared memory (store_memory, search_memory, "
    "get_memory, update_memory, delete_memory, describe_project), index and query repositories "
    "(ingest_repository, query_knowledge_base), record conversations and workflow runs (store_conversation, "
    "import_transcript, store_workflow_execution), collect and share ★ Insights across projects "
    "(list_insights, share_insight), search everything including Session-Buddy (search_everywhere), "
    "check health (health_check) and supervise services (service_status, "
    "restart_service). Tools that change files or services accept dry_run: use it first."
)


def _tool(tools: list[Tool], annotations: ToolAnnotations) -> Callable[[_F], _F]:
    """Register ``fn`` as a tool (appended to ``tools``), with the docstring dedented into the
    description agents read, and refusing arguments it does not take (``strict_arguments``)."""

    def register(fn: _F) -> _F:
        description = inspect.cleandoc(fn.__doc__ or "")
        tools.append(
            strict_arguments(
                ArgumentsChecked.from_function(fn, description=description, annotations=annotations)
            )
        )
        return fn

    return register


class ArgumentsChecked(Tool):
    """A tool whose arguments, when they do not fit its input schema, are refused in one line per
    argument (``limit: Input should be a valid integer``). The SDK's refusal is pydantic's report:
    a count, the model's class name, the input type and a documentation URL on lines of their own,
    which an agent reads as noise and the CLI never shows."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
        except ValidationError as exc:
            raise ToolError(f"Error executing tool {self.name}: {argument_errors(exc)}") from exc
        return await super().run(arguments, context, convert_result)


def argument_errors(exc: ValidationError) -> str:
    """``exc`` in one line: each error as ``argument.path: message`` (a refusal of the arguments
    as a whole, such as an unknown one, as its message alone), joined by ``; ``."""
    said = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        said.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(said)


def strict_arguments(tool: Tool) -> Tool:
    """``tool`` refusing unknown arguments: by default the SDK drops them silently, so a misspelt or
    guessed one (``project`` for ``filters.project``, ``repo`` for ``repo_id``) changes nothing and
    the agent gets an unscoped answer. An unknown one is instead an error naming it and the accepted
    ones, and the input schema says ``additionalProperties: false``.

    Each argument is also taken strictly, as its JSON type says (pydantic's ``strict``): a boolean
    only ``true``/``false``, an integer only a JSON integer, a number only a JSON number. Lax mode
    read ``dry_run: "no"`` as false (a deletion, not its dry run), ``limit: true`` as 1, ``"5"`` as
    5 and ``memory_id: true`` as #1; each is now refused, naming the argument."""
    base = tool.fn_metadata.arg_model
    accepted = [field.alias or name for name, field in base.model_fields.items()]
    known = set(accepted)
    tool_name = tool.name

    class StrictArguments(base):  # type: ignore[valid-type,misc]
        model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True, title=base.__name__)

        @model_validator(mode="before")
        @classmethod
        def _known_only(cls, data: object) -> object:
            if isinstance(data, dict) and (unknown := [k for k in data if k not in known]):
                listed = ", ".join(repr(k) for k in unknown)
                raise PydanticCustomError(
                    "unknown_argument",
                    "{tool} takes no argument {listed}; accepted: {accepted}",
                    {"tool": tool_name, "listed": listed, "accepted": ", ".join(accepted) or "none"},
                )
            return data

    tool.fn_metadata = TextAsGiven(**{**dict(tool.fn_metadata), "arg_model": StrictArguments})
    tool.parameters = StrictArguments.model_json_schema(by_alias=True)
    return tool


class TextAsGiven(FuncMetadata):
    """A tool's arguments with a string given for one that takes text kept as given. The SDK reads
    a string as JSON for every argument not typed exactly ``str`` (for clients that send a list or
    an object as JSON text, which still works): an optional text (``str | None``) given
    ``'{"port": 8080}'`` became an object, refused, and ``"null"`` became not given (an edit that
    changed nothing, a search of every repository)."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        fields = self.arg_model.model_fields.items()
        texts = {field.alias or name for name, field in fields if _takes_text(field.annotation)}
        return {
            key: data[key] if key in texts else value for key, value in super().pre_parse_json(data).items()
        }


def _takes_text(annotation: object) -> bool:
    """Whether an argument typed ``annotation`` takes text: ``str``, or a union holding it (not a
    ``list[str]``, which a client may send as JSON text)."""
    if annotation is str:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and str in get_args(annotation)


def _found(rows: Sequence[Mapping[str, object]], nothing: str) -> CallToolResult:
    """A search's hits as a tool result: structured ``{"result": rows}``, each hit echoed as JSON
    text; no hits says ``nothing`` in the text (an empty text reads as a failure)."""
    if not rows:
        return CallToolResult(content=[TextContent(text=nothing)], structured_content={"result": []})
    texts = [TextContent(text=json.dumps(row, indent=2, ensure_ascii=False, default=str)) for row in rows]
    return CallToolResult(content=list(texts), structured_content={"result": _jsonable(rows)})


def _about_for_agents(project: str, text: str | None) -> str | None:
    """A project's description (or a manifest's, suggested) as an agent may read it: withheld when
    it reads like an instruction to an agent, as a memory's text is (``memory_for_agents``)."""
    from mahavishnu.memory.core.instructions import instruction_like

    why = instruction_like(text) if text else None
    if why is None:
        return text
    return (
        f"[withheld from agents: it {why}. The user reads it with `mahavishnu memory describe "
        f"{shlex.quote(project)}`]"
    )


def _chunks_for_agents(store: MemoryStore, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Knowledge-base hits (``KnowledgeHit.to_dict``) as an agent may read them: a repository chunk
    recall would leave out (a README that gives orders, say) has its text withheld, as
    ``memory_for_agents``."""
    from mahavishnu.memory.core.provenance import held_back, withheld

    memories = store.get_many([int(row["memory_id"]) for row in rows])
    shown = []
    for row in rows:
        memory = memories.get(int(row["memory_id"]))
        why = held_back(list(memory.tags), memory.content) if memory is not None else None
        if why is not None:
            row = {**row, "text": withheld(row["memory_id"], why), "quarantined": why}
        shown.append(row)
    return shown


def tool_error(exc: MahavishnuError) -> ToolError:
    text = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    return ToolError(text)


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Errors as the agent's tool result: ours with their hint, and those of the environment (a
    path the OS cannot name or reach, a full disk, a busy store: ``from_unexpected``, as the CLI
    says them) in one line too; anything else (a bug of ours) with its type and message, so the
    agent can tell what went wrong, and the traceback in the server's log. Either is scrubbed of
    secrets on its way out (``ScrubbedErrors``)."""
    try:
        yield
    except MahavishnuError as exc:
        raise tool_error(exc) from exc
    except (ToolError, ResourceError):
        raise
    except Exception as exc:
        said = from_unexpected(exc)
        if said is not None:  # (a path too long was "unexpected error: OSError", a traceback logged)
            raise tool_error(said) from exc
        logging.getLogger(__name__).exception("tool failed")
        raise ToolError(f"unexpected error: {type(exc).__name__}: {exc}") from exc


def _readable(path: str, settings: Settings) -> Path:
    """``path`` resolved, if MCP tools may read it (``readable_path``); an empty path, or a relative
    one (relative to the server's working folder, which the agent does not know), is refused as
    such rather than as outside the folders MCP tools may read."""
    if not path.strip():
        raise InvalidInputError("no path given", hint="Pass an absolute path (or one starting with ~/).")
    if not os.path.isabs(os.path.expanduser(path)):
        raise InvalidInputError(
            f"{path!r} is a relative path: MCP tools take an absolute one",
            hint="Pass the full path on the server's machine, e.g. /home/me/src/app or ~/src/app.",
        )
    return readable_path(path, settings)


def _jsonable(data: object) -> JSONValue:
    """Plain JSON types only (datetimes and paths as text)."""
    value: JSONValue = json.loads(json.dumps(data, default=str))
    return value


def _jsonable_object(data: Mapping[str, object]) -> dict[str, object]:
    """An object of plain JSON types only, member by member (see ``_jsonable``)."""
    return {key: _jsonable(value) for key, value in data.items()}


class Backing:
    """What the tools run against: settings loaded per call (edits apply at once), one store,
    opened on first use and shared by every call (the store is thread-safe), and one Session-Buddy
    client keeping its MCP session open for the server's lifetime (rebuilt when
    ``session_buddy`` settings change; thread-safe too)."""

    def __init__(
        self,
        settings: Callable[[], Settings] | None = None,
        store: Callable[[], MemoryStore] | None = None,
    ) -> None:
        self._settings = settings
        self._store_factory = store
        self._store: MemoryStore | None = None
        self._store_settings: dict[str, object] | None = None
        self._peer: SessionBuddy | None = None
        self._peer_settings: dict[str, object] | None = None
        self._lock = threading.Lock()

    def settings(self) -> Settings:
        if self._settings is not None:
            return self._settings()
        from mahavishnu.config import load_settings

        return load_settings()

    def store(self) -> MemoryStore:
        """The store of the current ``memory`` settings: the same one while they stay the same; a
        change (another backend, path, DSN or embedder) opens the new one, so the server need not
        restart when the settings file changes. So does a store moved to another embedder by a
        ``memory reembed`` elsewhere, or whose file was replaced (``superseded``): it would search
        with the old model, and its writes are refused."""
        from mahavishnu.memory.core.store import superseded

        settings = None if self._store_factory is not None else self.settings()
        wanted = None if settings is None else settings.memory.model_dump(mode="json")
        old = None
        with self._lock:
            if self._store is not None and (self._store_settings != wanted or superseded(self._store)):
                old, self._store = self._store, None
            if self._store is None:
                if settings is None:
                    self._store = self._store_factory()  # type: ignore[misc]
                else:
                    from mahavishnu.memory.core.store import MemoryStore

                    self._store = MemoryStore.open(settings)
                self._store_settings = wanted
                # Bind the embedder (cheap: models load on first embed) here, once, rather than in
                # concurrent calls; a failure is reported by the first call that needs it.
                with suppress(MahavishnuError):
                    self._store.embedder  # noqa: B018
            store = self._store
        if old is not None and old is not store:  # (a factory may hand the same one back)
            old.close()
        return store

    def daemon(self, op: str, args: dict[str, object], timeout: float) -> Any:
        """What this machine's memory daemon answers ``op`` (its result; a user error raised), or
        None when this server does the work itself: no daemon, another configuration, or tools
        built over a store of their own (``store=``). On a team store, the hot tools go through the
        daemon's small pool, so a machine's connections do not grow with its assistants' sessions,
        and no session's server loads the embedder; the daemon leaves an embedded store's writes
        to the client."""
        if self._store_factory is not None or self._settings is not None:
            return None
        from mahavishnu.memory.loop import daemon

        reply = daemon.ask(op, args, timeout=timeout)
        return None if reply is None else daemon.result(reply)

    def peer(self, settings: Settings) -> SessionBuddy:
        """The Session-Buddy client for ``settings.session_buddy``: the same one (and session) while
        those settings stay the same; a change closes the old one and builds a new one."""
        from mahavishnu.memory.peers.session_buddy import SessionBuddy

        wanted = settings.session_buddy.model_dump(mode="json")
        with self._lock:
            old = self._peer
            if old is not None and self._peer_settings == wanted:
                return old
            self._peer, self._peer_settings = SessionBuddy.from_settings(settings), wanted
            peer = self._peer
        if old is not None:
            old.close()
        return peer

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            peer, self._peer, self._peer_settings = self._peer, None, None
        if peer is not None:
            peer.close()


def build_server(backing: Backing | None = None) -> MCPServer:
    """The MCP server with every tool and resource registered."""
    backing = backing or Backing()
    tools: list[Tool] = []
    _provider_tools(tools, backing)
    _memory_tools(tools, backing)
    _knowledge_tools(tools, backing)
    _activity_tools(tools, backing)
    _service_tools(tools, backing)
    server = ScrubbedErrors(
        SERVER_NAME, version=__version__, instructions=INSTRUCTIONS, log_level="WARNING", tools=tools
    )
    _resources(server, backing)
    return server


class ScrubbedErrors(MCPServer):
    """The SDK's server, each tool error scrubbed of secrets (``redaction.scrub``) before the caller
    reads it, as the CLI's errors are (``cli.fast.common.error_lines``): an error may quote what the
    caller gave, a key pasted where a profile's name, a path or a filter goes (``unknown profile
    'sk-…'``, ``takes no argument 'sk-…'``). Every tool call passes here, and so every tool error
    (message and hint), every refusal of a call's arguments and of an unknown tool; and every error
    answer of a request (``_scrubbing_errors``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lowlevel_server.middleware.append(_scrubbing_errors)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            from mahavishnu.redaction.scrub import scrub

            said = scrub(str(exc))
            if said == str(exc):
                raise
            raise type(exc)(said) from exc.__cause__

    async def _handle_get_prompt(
        self, ctx: ServerRequestContext[Any], params: GetPromptRequestParams
    ) -> GetPromptResult | InputRequiredResult:
        """A prompt asked for that is not there (this server has none) is refused as invalid params,
        its name scrubbed: the SDK answered with code 0, the name as sent (a key pasted there), and
        logged a traceback quoting it (in a service's log, over HTTP)."""
        try:
            return await super()._handle_get_prompt(ctx, params)
        except MCPError as exc:
            raise _scrubbed(exc) from None
        except ValueError as exc:
            from mahavishnu.redaction.scrub import scrub

            raise MCPError(code=INVALID_PARAMS, message=scrub(str(exc))) from None

    async def _handle_read_resource(
        self, ctx: ServerRequestContext[Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult | InputRequiredResult:
        """A resource read's error scrubbed too: its message and data repeat the URI asked for
        (``not a memory id: 'sk-…'``, ``Unknown resource: mahavishnu://sk-…``)."""
        try:
            return await super()._handle_read_resource(ctx, params)
        except MCPError as exc:
            raise _scrubbed(exc) from exc


async def _scrubbing_errors(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a request's error answer scrubbed of secrets (``_scrubbed``), whatever
    refused it: the SDK answers a method it does not know with "Method not found" and the method
    as sent as its data (a key pasted there came back whole, over stdio and HTTP). Params of the
    wrong shape (``arguments`` a list, a tool's ``name`` a number) are said, one line naming each
    param: the SDK answered "Invalid request parameters" and nothing of which, or why. So it
    answered a request sent before ``initialize`` too (every param right): that is said instead."""
    try:
        return await call_next(ctx)
    except MCPError as exc:
        if exc.error == NOT_INITIALIZED and ctx.session.client_params is None:
            # ctx.method is one the server serves (an unknown one is "Method not found" first)
            said = f"Invalid request parameters: {ctx.method} before initialize; send initialize, then "
            raise MCPError(code=INVALID_PARAMS, message=said + "notifications/initialized, first") from None
        raise _scrubbed(exc) from exc
    except ValidationError as exc:
        said = f"Invalid request parameters: {argument_errors(exc)}"[:PARAMS_ERROR_CHARS]
        raise _scrubbed(MCPError(code=INVALID_PARAMS, message=said)) from None


#: The SDK's refusal of a request sent before ``initialize`` (``ServerRunner._on_request``).
NOT_INITIALIZED = ErrorData(code=INVALID_PARAMS, message="Invalid request parameters", data="")
#: Where the refusal of a request's params stops: a union's refusal lists each of its members.
PARAMS_ERROR_CHARS = 300


def _scrubbed(exc: MCPError) -> MCPError:
    """``exc`` with its message and data scrubbed of secrets (what the caller sent, repeated)."""
    from mahavishnu.redaction.scrub import scrub, scrub_tree

    error = exc.error
    return MCPError(code=error.code, message=scrub(error.message), data=scrub_tree(error.data))


# -- providers -----------------------------------------------------------------------------------------------


def _provider_tools(tools: list[Tool], backing: Backing) -> None:
    @_tool(tools, READ_ONLY)
    def list_llms() -> list[dict[str, object]]:
        """List the provider profiles (built-in catalogue plus the user's): name, label, aliases,
        the wire protocols each speaks and where its key comes from."""
        from mahavishnu.environments.profiles import all_profiles

        with _as_tool_errors():
            return [dict(p.summary()) for p in all_profiles(backing.settings()).values()]

    @_tool(tools, READ_ONLY)
    def current_llm(tool: str = "all") -> list[dict[str, object]]:
        """What each assistant (claude, codex, qwen, gemini, opencode, pi; or all) points at now, per
        settings scope: profile, base URL, model and where the key comes from. Codex profile files
        ($CODEX_HOME/NAME.config.toml) are rows of scope profile:NAME, used only by `codex --profile
        NAME` (used_with); a file that cannot be read has its error; one the assistant started in this
        folder does not read (a folder it does not trust) says why and what to do (unread)."""
        from mahavishnu.environments.switcher import ASSISTANTS, assistant, overview

        with _as_tool_errors():
            if tool != "all":
                assistant(tool)  # an unknown name is an error, not an empty answer
            statuses, _ = overview(backing.settings())
            wanted = [s for s in statuses if tool == "all" or s.tool == tool]
            rows: list[dict[str, object]] = []
            for status in wanted:
                if status.tool not in ASSISTANTS:
                    continue
                if status.error or not status.entries:
                    rows.append({"tool": status.tool, "profile": None, "error": status.error})
                rows += [asdict(e) for e in status.entries]  # Codex profile files: scope profile:NAME
            return rows

    @_tool(tools, DESTRUCTIVE)
    def switch_llm(
        name: str, tool: str | None = None, scope: Scope_ = "user", dry_run: bool = False
    ) -> dict[str, object]:
        """Point an assistant (claude, codex, qwen, gemini, opencode, pi or all; default: the configured
        default tool) at provider profile `name`, editing its settings files as one transaction. With
        dry_run, return the diffs and write nothing. Running sessions need a restart to see it."""
        from mahavishnu.environments.switcher import switch_llm as switch

        with _as_tool_errors():
            settings = backing.settings()
            result = switch(name, settings, tool=tool, scope=scope, dry_run=dry_run)
            return _jsonable_object(asdict(result))


# -- memory --------------------------------------------------------------------------------------------------


def _memory_tools(tools: list[Tool], backing: Backing) -> None:
    @_tool(tools, ADDITIVE)
    def store_memory(
        content: str,
        type: MemoryType = "note",
        tags: list[str] | None = None,
        metadata: dict[str, object] | None = None,
        project: str | None = None,
        repo_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        workflow_id: str | None = None,
        source_system: str | None = None,
        questions: list[str] | None = None,
    ) -> dict[str, object]:
        """Remember `content` in the shared memory store. questions: the question this memory
        answers as a developer would ask it a week later, in their own words rather than the
        note's (one is best, at most 3; e.g. "which database does the payments service use?" for
        "Ledger storage is PostgreSQL 15"): searches and recall meet it there. The same content,
        type, project and repo returns the stored memory instead of a duplicate (with the new tags
        and metadata added, and `already_stored` true). Returns the memory (with its id) as the
        other tools show it: text that reads like an instruction to an agent is quarantined, its
        text withheld and `quarantined` saying why; while a team store is unreachable, `queued`
        true instead (kept on this machine, stored once it is back)."""
        from mahavishnu.errors import QueuedOfflineError
        from mahavishnu.memory.core.models import QUESTIONS, check_insight, with_questions
        from mahavishnu.services.question_writer import answered, asks, question_for

        with _as_tool_errors():  # (before a question is written for it)
            check_insight(type, content)
        asked = with_questions(metadata, questions or ())
        written = None  # none given: the provider memory.question_writer names writes one
        ask = QUESTIONS not in (asked or {}) and isinstance(content, str) and asks(type, backing.settings())
        if ask and not answered(backing.store(), content, type, project, repo_id):  # (not for a repeat)
            written = question_for(content, type, project, backing.settings())
            asked = with_questions(asked, written.questions if written else ())
        said = {"notice": f"no question written: {written.problem}"} if written and written.problem else {}
        fields: dict[str, Any] = {"tags": list(tags or ()), "metadata": asked, "project": project}
        fields |= {"repo_id": repo_id, "agent_id": agent_id, "session_id": session_id}
        fields |= {"workflow_id": workflow_id, "source_system": source_system or "mcp"}
        with _as_tool_errors():
            answer = backing.daemon(
                "store", {"content": content, "memory_type": type, **fields}, STORE_SECONDS
            )
            if answer is None:
                try:
                    stored = backing.store().add(content, type, **fields)
                except QueuedOfflineError as queued:  # acknowledged: delivered once the store is back
                    return {"queued": True, "client_ids": list(queued.client_ids), "notice": queued.message}
                return {
                    **memory_for_agents(stored.memory.to_dict()),
                    "already_stored": stored.duplicate,
                    **said,
                }
            if answer.get("queued"):
                return {"queued": True, "client_ids": answer["client_ids"], "notice": answer["message"]}
            return {
                **memory_for_agents(answer["memory"]),
                "already_stored": bool(answer["duplicate"]),
                **said,
            }

    @_tool(tools, READ_ONLY)
    def search_memory(
        query: str,
        mode: SearchMode = "hybrid",
        limit: int = 10,
        filters: dict[str, object] | None = None,
        min_score: float | None = None,
    ) -> Annotated[CallToolResult, list[dict[str, object]]]:
        """Search the shared memory. mode: hybrid (default), vector or text. filters: type (one or a
        list), tags (all required), since/until (ISO dates), project, repo_id, agent_id, session_id,
        workflow_id, source_system (a project also sees the memories of no project). min_score: 0 to
        1, as scores are (1: the best match). Each hit has its score, the searches that found it,
        "relevant" (the relevance judge's verdict that it answers the query) and the memory.
        Repository chunks (type rag) come back only when asked for by type (or use
        query_knowledge_base). An empty list means nothing stored is close; a project (or group)
        filter under which nothing looks relevant, while memories outside it do, adds a note saying
        so after the hits."""
        from mahavishnu.clean_text import clipped
        from mahavishnu.memory.core.authors import hit_dicts
        from mahavishnu.memory.core.elsewhere import outside_scope, sentence

        query = clipped(query)  # a search reads no more (check_query): the daemon gets no more either
        request: dict[str, object] = {"query": query, "mode": mode, "filters": filters}
        request |= {"min_score": min_score, "limit": limit}
        with _as_tool_errors():
            if min_score is not None and not 0 <= min_score <= 1:  # (NaN too)
                raise InvalidInputError(
                    f"min_score must be between 0 and 1, got {min_score!r}",
                    hint="Scores are 0 to 1 (1: the best match); leave min_score out to keep every hit.",
                )

            def search(scope: dict[str, object] | None) -> list[dict[str, Any]]:
                found = backing.daemon("search", {**request, "filters": scope}, SEARCH_SECONDS)
                if found is None:
                    store = backing.store()
                    hits = store.search(query, mode=mode, filters=scope, min_score=min_score, limit=limit)
                    found = hit_dicts(store.backend, hits)
                return list(found)

            found = search(filters)
            result = _found([hit_for_agents(hit) for hit in found], wording.NO_RELEVANT_MEMORIES)
            elsewhere = outside_scope(found, filters or {}, search)
            if elsewhere is not None:  # the answer may lie in another project: say so after the hits
                scope, n = elsewhere
                note = sentence(scope, (filters or {})[scope], n, f"search without the {scope} filter")
                result.content.append(TextContent(text=note))
            return result

    @_tool(tools, READ_ONLY)
    def get_memory(memory_id: int) -> dict[str, object]:
        """One memory by id."""
        from mahavishnu.memory.core.authors import memory_dicts

        with _as_tool_errors():
            store = backing.store()
            return memory_for_agents(memory_dicts(store.backend, [store.get(memory_id)])[0])

    @_tool(tools, EDIT)
    def update_memory(
        memory_id: int,
        content: str | None = None,
        type: MemoryType | None = None,
        tags: list[str] | None = None,
        project: str | None = None,
        clear_project: bool = False,
        questions: list[str] | None = None,
    ) -> dict[str, object]:
        """Correct a stored memory: its text, type, tags, project or the questions it answers
        (each given replaces the old; [] removes the tags or questions; clear_project makes it a
        memory of no project). What is not given stays. New text is screened as when stored (text
        that reads like an instruction is quarantined); quarantine and trust marks stay as they
        are (the user changes them). Returns the memory and `changed`, the fields that changed."""
        wanted = {"content": content, "type": type, "tags": tags, "project": project, "questions": questions}
        given: dict[str, Any] = {key: value for key, value in wanted.items() if value is not None}
        with _as_tool_errors():
            if clear_project and project is not None:
                raise InvalidInputError("give a project or clear_project, not both")
            if clear_project:
                given["project"] = None
            memory, changed = backing.store().edit(memory_id, given)
            return {**memory_for_agents(memory.to_dict()), "changed": changed}

    @_tool(tools, DESTRUCTIVE)
    def delete_memory(memory_id: int, dry_run: bool = False) -> dict[str, object]:
        """Delete one memory by id. With dry_run, return the memory that would be deleted."""
        from mahavishnu.memory.core.authors import require_mine

        with _as_tool_errors():
            store = backing.store()
            memory = store.get(memory_id)
            if dry_run:  # refused as the deletion would be (another team member's memory)
                require_mine(store.backend, [memory_id], "delete")
            else:
                store.delete(memory_id)
            return {"deleted": not dry_run, "dry_run": dry_run, "memory": memory_for_agents(memory.to_dict())}

    @_tool(tools, INGEST)
    def describe_project(
        project: str, description: str | None = None, dry_run: bool = False, clear: bool = False
    ) -> dict[str, object]:
        """Say in a few words what `project` is ("the payments ledger service"), or without
        `description` read what it is said to be (and, when nothing, what its pyproject.toml,
        package.json or Cargo.toml says: `suggested`). A described project's decisions, notes,
        insights and workflows are embedded with it, so a question naming the project by what it is
        finds them; the earlier description is replaced (`clear`: forgotten). With dry_run, return
        the description as it would be stored and change nothing. On a team store only its owner
        describes."""
        from mahavishnu.memory.core.manifests import suggestion
        from mahavishnu.memory.core.models import project_name
        from mahavishnu.memory.core.projects import current_folder
        from mahavishnu.memory.core.store import checked_about

        with _as_tool_errors():
            store = backing.store()
            project = project_name(project)
            now = store.project_description(project)
            said = functools.partial(_about_for_agents, project)
            if clear and description is not None:
                raise InvalidInputError("give a description or clear, not both")
            if description is None and not clear:
                offer = suggestion(project, current_folder()) if now is None else None
                suggested = offer and {**offer.as_json(), "description": said(offer.description)}
                return {"project": project, "description": said(now), "suggested": suggested}
            if dry_run:
                return {
                    "project": project,
                    "description": said(now),
                    "would_be": None if clear else said(checked_about(description or "")),
                    "dry_run": True,
                }
            embedded = store.describe_project(project, None if clear else description)
            return {
                "project": project,
                "description": said(store.project_description(project)),
                "embedded": embedded,
            }


def _activity_tools(tools: list[Tool], backing: Backing) -> None:
    """Conversations, ★ Insights, sharing across projects, workflow runs, unified search."""

    @_tool(tools, ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False))
    def store_conversation(
        agent_id: str,
        session_id: str,
        role: Literal["user", "assistant"],
        content: str,
        metadata: dict[str, object] | None = None,
        project: str | None = None,
    ) -> dict[str, object]:
        """Record one conversation turn (role user or assistant): kept verbatim, searchable as an
        agent memory, and scanned for ★ Insight blocks, each stored once as a shared insight.
        Returns the conversation row id, the memory id and the insight ids found."""
        from mahavishnu.memory.loop.conversations import store_conversation as store_turn

        with _as_tool_errors():
            stored = store_turn(
                backing.store(), agent_id, session_id, role, content, metadata, project=project
            )
            return dict(stored.to_dict())

    @_tool(tools, ADDITIVE)
    def import_transcript(path: str, project: str | None = None) -> list[dict[str, object]]:
        """Import a Claude Code session transcript (.jsonl, or a directory of them such as
        ~/.claude/projects; an absolute path, or one starting with ~/) on the server's machine: turns
        become searchable and ★ Insights are collected. Importing again adds only new turns."""
        from mahavishnu.memory.loop.conversations import import_transcripts

        with _as_tool_errors():
            allowed = _readable(path, backing.settings())
            return [dict(r.to_dict()) for r in import_transcripts(backing.store(), allowed, project=project)]

    @_tool(tools, READ_ONLY)
    def list_insights(
        project: str | None = None, since: str | None = None, limit: int = 50
    ) -> Annotated[CallToolResult, list[dict[str, object]]]:
        """★ Insights, newest first: all, or those a project sees (its own and those shared with it).
        Each has its text, source, and the projects it is shared with."""
        from mahavishnu.memory.insights.cross_project import list_insights as insights

        with _as_tool_errors():
            found = insights(backing.store(), project=project, since=since, limit=limit)
            given = ", ".join(f"{k} {v!r}" for k, v in (("project", project), ("since", since)) if v)
            recorded = bool(found) or bool(given and insights(backing.store(), limit=1))
            nothing = f"no insights match {given}" if recorded else "no insights yet"  # (as the CLI says)
            return _found([memory_for_agents(i.to_dict()) for i in found], nothing)

    @_tool(tools, ADDITIVE)
    def share_insight(
        insight: int | str,
        projects: list[str] | None = None,
        group: str | None = None,
        from_project: str | None = None,
    ) -> dict[str, object]:
        """Share an insight (its memory id, or the text of a new insight from from_project) with
        projects and/or every project of a group: their project-scoped searches then find it."""
        from mahavishnu.memory.insights.cross_project import share_insight as share

        with _as_tool_errors():
            result = share(
                backing.store(), insight, projects=projects or (), group=group, project=from_project
            )
            return dict(result.to_dict())

    @_tool(tools, ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False))
    def store_workflow_execution(
        workflow_id: str,
        adapter: str,
        repos: list[str] | None = None,
        status: Literal["pending", "running", "completed", "failed", "cancelled"] = "completed",
        result: object = None,
        duration: float | None = None,
        error: str | None = None,
        project: str | None = None,
    ) -> dict[str, object]:
        """Record a workflow run (duration in seconds, result any JSON); its summary becomes a
        searchable workflow memory. Returns the run's id, its memory's id, status and time."""
        from mahavishnu.memory.core.workflows import store_workflow_execution as record

        with _as_tool_errors():
            run = record(
                backing.store(),
                workflow_id,
                adapter,
                repos or (),
                status,
                result,
                duration,
                error,
                project=project,
            )
            # Ids, not the row: its error and result are a program's output, or any text the caller
            # wrote ("ignore previous instructions and ..."), which the model reading the reply could
            # take for orders (their memory, the summary, is screened as any memory is).
            return {
                "id": run.id,
                "memory_id": run.memory.id,
                "status": run.row["status"],
                "created_at": run.row["created_at"],
            }

    @_tool(tools, ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True))
    def search_everywhere(
        query: str, mode: SearchMode = "hybrid", limit: int = 10, filters: dict[str, object] | None = None
    ) -> dict[str, object]:
        """Search memories, insights and the Session-Buddy peer together (filters as in
        search_memory, plus group). Each hit is labelled with its source; scores are normalised per
        source (1.0 = that source's best). An unavailable peer is a warning, never an error."""
        from mahavishnu.memory.peers.unified import search_everywhere as search

        with _as_tool_errors():
            settings = backing.settings()
            found = search(
                backing.store(), query, filters=filters, limit=limit, mode=mode, peer=backing.peer(settings)
            )
            shown = found.to_dict()
            hits = shown["hits"]
            if isinstance(hits, list):
                shown["hits"] = [hit_for_agents(h) if isinstance(h, dict) else h for h in hits]
            return _jsonable_object(shown)


def _knowledge_tools(tools: list[Tool], backing: Backing) -> None:
    """Repository ingestion (RAG) and knowledge-base queries (``mahavishnu.memory.ingest.pipeline``)."""

    @_tool(tools, INGEST)
    def ingest_repository(
        path: str,
        repo_id: str | None = None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> dict[str, object]:
        """Index a repository (a directory on the machine the server runs on: an absolute path, or one
        starting with ~/) into the shared store as rag memories: changed files are re-chunked and
        re-embedded, unchanged ones cost one hash, chunks of deleted files are removed.
        include/exclude: gitignore-style patterns. Returns the run's counts."""
        from mahavishnu.memory.ingest.pipeline import ingest_repository as ingest

        with _as_tool_errors():
            allowed = _readable(path, backing.settings())
            report = ingest(
                backing.store(),
                allowed,
                repo_id=repo_id,
                include=include or (),
                exclude=exclude or (),
                settings=backing.settings().ingest,
            )
            return dict(report.to_dict())

    @_tool(tools, READ_ONLY)
    def query_knowledge_base(
        query: str, repo_id: str | None = None, limit: int = 10, mode: SearchMode = "hybrid"
    ) -> Annotated[CallToolResult, list[dict[str, object]]]:
        """Search ingested repositories (optionally one, by repo_id): the best chunks of the best
        files (a file ranks by its best chunk, its outline and its full-text match; up to three
        chunks each), with their location (path:start-end), language, file score and text."""
        from mahavishnu.memory.core.relevance import check_repo
        from mahavishnu.memory.ingest.knowledge import query_knowledge_base as query_kb

        with _as_tool_errors():
            if repo_id is not None:
                check_repo(backing.store(), repo_id)
            hits = query_kb(backing.store(), query, repo_id=repo_id, limit=limit, mode=mode)
            nothing = "no relevant chunks" + (
                f" in {repo_id}" if repo_id else " in the ingested repositories"
            )
            rows = _chunks_for_agents(backing.store(), [dict(hit.to_dict()) for hit in hits])
            return _found(rows, nothing)


# -- health and services -------------------------------------------------------------------------------------


def _service_tools(tools: list[Tool], backing: Backing) -> None:
    @_tool(tools, ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True))
    def health_check(probe_providers: bool = True) -> dict[str, object]:
        """One report of every component: memory store (backend, rows, size, migrations), embedder
        (model, dimension, latency of one embed), PostgreSQL and Session-Buddy when configured, each
        service, and the provider each assistant uses (probed with one request unless
        probe_providers is false). The same report, and verdict, as `mahavishnu health`."""
        from mahavishnu.health import health_report

        with _as_tool_errors():
            try:
                store = backing.store()
            except MahavishnuError:
                store = None  # the report opens it again and shows why it fails
            report = health_report(backing.settings(), store=store, probe_providers=probe_providers)
            return _jsonable_object(report.to_dict())

    @_tool(tools, ToolAnnotations(read_only_hint=True, destructive_hint=False))
    def service_status(name: str = "all", check_health: bool = True) -> list[dict[str, object]]:
        """State, pid, uptime, health and restarts of a supervised service, or of all of them."""
        from mahavishnu.services.supervisor import Supervisor

        with _as_tool_errors():
            supervisor = Supervisor(backing.settings())
            names = supervisor.names() if name == "all" else [name]
            return [asdict(supervisor.status(each, check_health=check_health)) for each in names]

    @_tool(tools, DESTRUCTIVE)
    def restart_service(name: str, dry_run: bool = False) -> dict[str, object]:
        """Stop a supervised service (if running) and start it again, waiting for its health check.
        With dry_run, return its current status and the command that would run."""
        from mahavishnu.errors import InvalidInputError
        from mahavishnu.services.supervisor import NAME_ENV, Supervisor

        with _as_tool_errors():
            if os.environ.get(NAME_ENV) == name and not dry_run:
                raise InvalidInputError(
                    f"'{name}' is the service answering this call: restarting it would cut the call off",
                    hint=f"Run `mahavishnu service restart {name}` from a shell.",
                )
            supervisor = Supervisor(backing.settings())
            if dry_run:
                return supervisor.restart_plan(name)  # the command masked, as `config show` shows it
            return {"dry_run": False, **asdict(supervisor.restart(name))}


# -- resources -----------------------------------------------------------------------------------------------


def _resources(server: MCPServer, backing: Backing) -> None:
    @server.resource("mahavishnu://memory/{memory_id}", mime_type="application/json")
    def memory_resource(memory_id: str) -> str:
        """One memory of the shared store, as JSON."""
        # plain ASCII digits (int() also reads "+1", "1_0" as #10, other scripts' digits), at
        # most an int64's 19 (int() refuses a number of thousands of digits)
        if not (memory_id.isascii() and memory_id.isdigit() and len(memory_id) <= 19):
            raise ResourceNotFoundError(f"not a memory id: {memory_id!r}")  # (-32602: the caller's)
        wanted = int(memory_id)
        from mahavishnu.errors import NotFoundError
        from mahavishnu.memory.core.authors import memory_dicts

        try:
            store = backing.store()
            shown = memory_for_agents(memory_dicts(store.backend, [store.get(wanted)])[0])
            return json.dumps(shown, ensure_ascii=False)
        except NotFoundError as exc:
            raise ResourceNotFoundError(exc.message) from exc
        except MahavishnuError as exc:
            raise ResourceError(exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")) from exc

    @server.resource("mahavishnu://settings", mime_type="application/json")
    def settings_resource() -> str:
        """The effective settings (defaults < user file < project file < environment), secrets masked."""
        from mahavishnu.masking import mask_tree

        try:
            data = backing.settings().model_dump(mode="json")
        except MahavishnuError as exc:
            raise ResourceError(exc.message) from exc
        return json.dumps(mask_tree(data), ensure_ascii=False)


# -- transports ----------------------------------------------------------------------------------------------


class _ScrubbedRecords:
    """A log record factory scrubbing secrets (``redaction.scrub``) from the message of each record
    of the SDK's loggers (``mcp`` and below): it logs a refused Origin or Host header as sent, a
    key in it too. A filter on the ``mcp`` logger would not see its children's records."""

    def __init__(self, made: Callable[..., logging.LogRecord]) -> None:
        self.made = made

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.made(*args, **kwargs)
        if record.name == "mcp" or record.name.startswith("mcp."):
            from mahavishnu.redaction.scrub import scrub

            with suppress(Exception):  # arguments the message does not take: the handler says so
                record.msg, record.args = scrub(record.getMessage()), ()
        return record


def scrub_sdk_logs() -> None:
    """Make every record the SDK logs from now on scrubbed (``_ScrubbedRecords``), once."""
    made = logging.getLogRecordFactory()
    if not isinstance(made, _ScrubbedRecords):
        logging.setLogRecordFactory(_ScrubbedRecords(made))


class _DroppedClients(logging.Filter):
    """Leaves out the SDK's record of a POST whose client closed its connection before sending the
    whole body (``ClientDisconnect``: a cancelled call, a client's timeout): it logged each as an
    ERROR with a traceback of its own frames, ten lines on the server's stderr about nothing the
    server did wrong, and a client dropping many buried every other line of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from starlette.requests import ClientDisconnect

        return not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect))


def drop_disconnect_tracebacks() -> None:
    """Install ``_DroppedClients`` on the SDK's streamable-HTTP logger, once."""
    sdk = logging.getLogger("mcp.server.streamable_http")
    if not any(isinstance(each, _DroppedClients) for each in sdk.filters):
        sdk.addFilter(_DroppedClients())


def serve_stdio(server: MCPServer) -> bool:
    """Serve on stdin/stdout until stdin ends or SIGINT (Ctrl-C) comes; whether SIGINT stopped it.
    While serving, the protocol
    is kept on private duplicates of fd 0 and 1: fd 0 points at the null device (``_stdin_wire``),
    so a child or a library that reads stdin reads none of it, and fd 1 (and ``sys.stdout``) at
    stderr (the SDK's transport), so a stray print, or a native library writing to fd 1, cannot
    corrupt it. ``_stdin_lines`` reads the lines, ``Screened`` parses them as the SDK would and
    answers each request the SDK would leave unanswered."""
    scrub_sdk_logs()
    interrupted = threading.Event()
    try:
        anyio.run(_serve_stdio, server, interrupted)
    except KeyboardInterrupt:  # (Ctrl-C before the server reads stdin: a stop, as after)
        return True
    return interrupted.is_set()


async def _serve_stdio(server: MCPServer, interrupted: threading.Event) -> None:
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server  # as MCPServer.run_stdio_async, with stdin read here
    no_input = cast("anyio.AsyncFile[str]", _NoInput())  # (the SDK's transport only iterates it)
    with _stdin_wire() as wire:
        async with _stdin_lines(wire, interrupted) as lines, stdio_server(stdin=no_input) as streams:
            unread, write_stream = streams
            await unread.aclose()  # (what the SDK reads: nothing)
            options = lowlevel.create_initialization_options()
            screened = Screened(lines, write_stream, interrupted)
            await lowlevel.run(screened, _Answers(write_stream, screened.pending), options)


class _NoInput:
    """What the SDK's stdio transport reads in place of stdin (``_stdin_lines`` reads it): nothing."""

    def __aiter__(self) -> _NoInput:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration


@contextmanager
def _stdin_wire() -> Iterator[int]:
    """stdin's pipe on a private descriptor while fd 0 points at the null device (as the SDK's
    transport would arrange, had it read stdin); fd 0 restored after. The private descriptor stays
    open: the thread reading it may still be in a read."""
    import fcntl

    wire = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    try:
        yield wire
    finally:
        os.dup2(wire, 0)


@asynccontextmanager
async def _stdin_lines(wire: int, interrupted: threading.Event) -> AsyncIterator[ObjectReceiveStream[str]]:
    """The lines read from ``wire`` (UTF-8, a bad byte as U+FFFD, as the SDK's transport reads
    stdin), by a daemon thread; they end at the end of input, or at SIGINT (Ctrl-C: ``interrupted``
    set), which so ends the server as a closed stdin does. The SDK reads stdin in a worker thread
    its event loop waits for: Ctrl-C could not end the server while the client kept stdin open. A
    daemon thread blocked in a read holds nothing up."""
    from anyio.from_thread import BlockingPortal

    send, receive = anyio.create_memory_object_stream[str](0)

    def read(portal: BlockingPortal) -> None:
        with suppress(Exception), open(wire, encoding="utf-8", errors="replace", closefd=False) as text:
            for line in text:
                portal.call(send.send, line)
        with suppress(Exception):  # (the end of input; unless the server has ended first)
            portal.call(send.close)

    async def end_at_sigint(*, task_status: TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                interrupted.set()
                send.close()

    async with BlockingPortal() as portal, anyio.create_task_group() as tasks:
        await tasks.start(end_at_sigint)
        threading.Thread(target=read, args=(portal,), name="mcp-stdin", daemon=True).start()
        try:
            yield receive
        finally:
            receive.close()  # (a line the thread is still handing over is refused, ending it)
            tasks.cancel_scope.cancel()


class Screened:
    """The JSON-RPC messages of stdin's lines, each parsed as the SDK's transport parses it, with
    what the SDK would leave unanswered, and its client waiting forever, answered instead. A line
    the SDK cannot read (``json.loads`` takes what pydantic's parser refuses) is read again with
    each lone surrogate (``"\\ud800"``) as U+FFFD, or else answered with a JSON-RPC error naming its
    id where it has one: a line that is not JSON (-32700), or JSON nested deeper than the SDK
    reads, or no JSON-RPC message (-32600). A request whose id is no JSON-RPC id (an object, an
    array, true, 1.5, null), which the SDK reads as a notification, is answered -32600 with id
    null. A notification that cannot be read is dropped, as JSON-RPC wants."""

    last_context = None  # (the SDK's dispatcher then runs each message in its own context)

    def __init__(
        self,
        lines: ObjectReceiveStream[str],
        answer: WriteStream[SessionMessage],
        interrupted: threading.Event | None = None,
    ) -> None:
        self._lines = lines
        self._answer = answer
        self._interrupted = interrupted or threading.Event()
        #: the ids of the requests handed to the SDK and not answered yet (``_Answers`` takes them out)
        self.pending: set[str | int] = set()

    async def receive(self) -> SessionMessage | Exception:
        while True:
            try:
                line = await self._lines.receive()
            except anyio.EndOfStream:
                await self._drain()
                raise
            try:
                message = jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValidationError as error:
                data = _loaded(line)
                repaired = _repaired(data)
                if repaired is not None:
                    return SessionMessage(repaired)
                if not (isinstance(data, dict) and "id" not in data):  # (a notification: no answer)
                    await self._answer.send(SessionMessage(_refusal(error, line, data)))
                continue
            except Exception as exc:  # as the SDK's transport does: the dispatcher logs it
                return exc
            if isinstance(message, JSONRPCNotification) and _has_id(line):
                await self._answer.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=_NO_ID)))
                continue
            if isinstance(message, JSONRPCRequest):
                self.pending.add(message.id)
            return SessionMessage(message)

    async def _drain(self) -> None:
        """At the end of input, the requests still running answered first (a client that pipes its
        requests and closes stdin reads the answers until the server exits: they were cut off, what
        they did done all the same); not after Ctrl-C, and for at most ``DRAIN_SECONDS``."""
        with anyio.move_on_after(DRAIN_SECONDS):
            while self.pending and not self._interrupted.is_set():
                await anyio.sleep(0.02)

    async def aclose(self) -> None:
        await self._lines.aclose()

    def __aiter__(self) -> Screened:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Screened:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


#: How long requests still running when stdin ends may take to be answered before the server exits.
DRAIN_SECONDS = 300


class _Answers:
    """The SDK's write stream, each answer taking its request out of ``pending`` (``Screened``)."""

    def __init__(self, stream: WriteStream[SessionMessage], pending: set[str | int]) -> None:
        self._stream = stream
        self._pending = pending

    async def send(self, item: SessionMessage, /) -> None:
        await self._stream.send(item)
        if isinstance(item.message, JSONRPCResponse | JSONRPCError) and item.message.id is not None:
            self._pending.discard(item.message.id)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> _Answers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_MISSING = object()
#: What a request whose id is no JSON-RPC id is answered (with id null).
_NO_ID = ErrorData(code=INVALID_REQUEST, message="Invalid request: an id is a string or an integer")


def _loaded(line: str) -> object:
    """``line`` as Python's json reads it (a lone surrogate too), or ``_MISSING``."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return _MISSING


def _has_id(line: str) -> bool:
    """Whether ``line``, read as a notification, is an object with an ``id``: a request whose id
    the SDK refused (a notification has none)."""
    data = _loaded(line)
    return isinstance(data, dict) and "id" in data


def _repaired(data: object) -> JSONRPCMessage | None:
    """The message ``data`` is once its lone surrogates are U+FFFD (``clean_tree``), when it held one."""
    try:
        cleaned = clean_tree(data)
        if cleaned == data:
            return None  # nothing to repair: the SDK refused it for another reason
        return jsonrpc_message_adapter.validate_python(cleaned, by_name=False)
    except (ValidationError, RecursionError):
        return None


#: Where a request's id sits when the rest cannot be read: first or last of its top-level members.
_ID_FIRST = re.compile(
    r'^\s*\{(?:\s*"(?:jsonrpc|method)"\s*:\s*"[^"\\]*"\s*,)*\s*"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")'
)
_ID_LAST = re.compile(r',\s*"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")\s*\}\s*$')


def _refusal(error: ValidationError, line: str, data: object) -> JSONRPCError:
    """The JSON-RPC error answering ``line`` (``data``: as ``json.loads`` reads it): its id, when
    one can be told, and what is wrong (the parser's words, never the line's text)."""
    if isinstance(data, dict):
        found = data.get("id")
    else:
        match = _ID_FIRST.search(line[:1000]) or _ID_LAST.search(line[-1000:])
        found = json.loads(match[1]) if match else None
    request_id = found if isinstance(found, (str, int)) and not isinstance(found, bool) else None
    errors = error.errors(include_url=False)
    first: dict[str, object] = dict(errors[0]) if errors else {}
    unreadable = first.get("type") == "json_invalid"
    code, what = (PARSE_ERROR, "Parse error") if unreadable else (INVALID_REQUEST, "Invalid request")
    detail = str(first.get("msg", ""))[:200]
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=f"{what}: {detail}"))


class BearerAuth:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``.

    The SDK's own bearer support (``AuthSettings`` + ``TokenVerifier``) is an OAuth resource server:
    it needs an issuer URL and advertises OAuth metadata that sends clients looking for an
    authorization server. A static local token has no issuer, hence this small check."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            doubled = _doubled(scope.get("headers") or [])
            if doubled:  # with two, which one counts would depend on who reads it: neither does
                await _refuse(scope, send, 400, f"more than one {doubled} header")
                return
            auth = [value for name, value in scope.get("headers") or [] if name.lower() == b"authorization"]
            if not auth or not authorization_matches(auth[0], self.token):
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)


#: Headers a request may carry at most once (the SDK reads Host and Origin for its DNS-rebinding check).
SINGLE_HEADERS = frozenset({b"authorization", b"host", b"origin"})


def _doubled(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The name of a header in ``SINGLE_HEADERS`` that ``headers`` carries more than once, or None."""
    from mahavishnu.http_headers import doubled

    return doubled(headers, SINGLE_HEADERS)


async def _refuse(
    scope: Scope, send: Send, status: int = 401, error: str = "unauthorized", hint: str | None = None
) -> None:
    if scope["type"] == "websocket":  # an HTTP answer to an upgrade made uvicorn log a 500 and its traceback
        await send({"type": "websocket.close", "code": 1008})  # (uvicorn answers 403)
        return
    hint = hint or (
        f"Send exactly one Authorization: Bearer <token>; the token is the secret {TOKEN_SECRET}, printed by "
        f"`mahavishnu secrets get {TOKEN_SECRET}` on the server's machine (`mahavishnu mcp install "
        "--tool all --http` writes it into the assistants' MCP entries)."
    )
    body = json.dumps({"error": error, "hint": hint}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mahavishnu"'))
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: Calls (POST requests) served at once; one more is answered 503 at once. Unbounded, a client that
#: sent thousands at once (an agent's loop, a script gone wrong) had each wait for one of anyio's 40
#: worker threads while holding its body (up to the SDK's 4 MiB): memory without bound, and every
#: other client's call queued behind them. 128 is above an HTTP client's usual pool (httpx's: 100
#: connections), so one well-behaved client is never refused; at most 512 MiB of bodies are held.
MAX_IN_FLIGHT = 128
#: Event streams (GET requests) held open at once; one more is answered 503 at once. Each keeps a
#: connection, a server task and its buffers for as long as the client keeps it: unbounded, a client
#: that opened thousands and closed none held memory and open files without bound. A client holds at
#: most one per session; 64 are many assistants' worth. Counted apart from the calls, so idle
#: streams never refuse a call.
MAX_STREAMS = 64


class InFlightCap:
    """ASGI middleware: at most ``most`` ``method`` requests served at once, the next answered 503
    with ``Retry-After`` (it sits behind the bearer check: a request without the token counts for
    nothing). POST: the calls. GET: the event streams a client may hold open while it runs, capped
    apart (one cap for both, a few clients' idle streams would have refused every call)."""

    def __init__(self, app: ASGIApp, most: int, method: Literal["POST", "GET"] = "POST") -> None:
        self.app = app
        self.most = most
        self.method = method
        self.serving = 0  # (one event loop: no lock needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        if self.serving >= self.most:
            if self.method == "GET":
                said = f"busy: this server already holds {self.most} event streams open"
                hint = "Retry in a moment, or close the event streams (GET /mcp) you no longer read."
            else:
                said = f"busy: this server already serves {self.most} requests at once"
                hint = "Retry in a moment, or send fewer requests at once (nothing of this one was done)."
            await _refuse(scope, send, 503, said, hint)
            return
        self.serving += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.serving -= 1


class MetricsRoute:
    """ASGI: ``GET /metrics`` answers with this process's metrics in Prometheus' text format
    (``telemetry.prometheus_text``); every other request goes on to the MCP app. ``guard``: the
    MCP app's rebinding guard, checked here too (the SDK checks it for ``/mcp`` only: a rebinding
    page read the metrics of a server run with ``--no-auth``)."""

    def __init__(self, app: ASGIApp, guard: TransportSecuritySettings | None = None) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = (
            telemetry.prometheus_text() if scope["type"] == "http" and scope["path"] == "/metrics" else None
        )
        if text is None:
            await self.app(scope, receive, send)
            return
        from mcp.server.transport_security import TransportSecurityMiddleware
        from starlette.requests import Request

        refused = await TransportSecurityMiddleware(self.guard).validate_request(Request(scope))
        if refused is not None:
            await refused(scope, receive, send)
            return
        from mahavishnu.telemetry.prometheus import CONTENT_TYPE

        body = text.encode()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class MaskedErrors:
    """ASGI middleware: an error answer's body (status 400 or more) with every secret in it
    redacted (``scrub``). The SDK answers a JSON-RPC body it cannot validate with pydantic's
    dump of it, which repeats what was sent: a token pasted into a malformed request came back
    whole (over stdio ``Screened`` answers such a line in one line of its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held["start"] = message
                return
            if "start" not in held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            from mahavishnu.redaction.scrub import scrub

            body = scrub(b"".join(chunks).decode("utf-8", "replace")).encode()
            start = held.pop("start")
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, sending)


def http_app(
    server: MCPServer,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    metrics: bool = False,
    port: int | None = None,
) -> ASGIApp:
    """The streamable-HTTP app (endpoint ``/mcp``; ``metrics``: ``/metrics`` too), behind the bearer
    check when a token is given. ``port``: the one it is served on, the only one an Origin may name.

    Stateless: each request is served on its own and leaves nothing behind. The tools keep no
    session state (the store and settings are the server's; no tool asks the client anything), and
    with sessions the SDK keeps each one open until it is deleted or idle for 30 minutes, at most
    10,000: a client that opened 10,000 in about a minute, closing none, kept every other out (503).
    At most ``MAX_IN_FLIGHT`` POST requests are served at once, and ``MAX_STREAMS`` event streams
    (GET) held open: one more is answered 503."""
    guard = _rebinding_guard(host, port)
    app: ASGIApp = MaskedErrors(
        server.streamable_http_app(host=host, transport_security=guard, stateless_http=True)
    )
    app = InFlightCap(app, MAX_STREAMS, "GET")  # (/metrics, outside it, is never refused for streams)
    if metrics:
        app = MetricsRoute(app, guard)
    app = InFlightCap(app, MAX_IN_FLIGHT)
    if is_loopback(host):  # (the SDK's "127.0.0.1:*" takes any Host that starts so: "127.0.0.1:1@evil")
        app = WellFormedHost(app)
    return BearerAuth(app, token) if token else app


class WellFormedHost:
    """ASGI middleware: a request whose ``Host`` is not a name with at most a numeric port gets
    421 (``loopback.host_name``); the SDK's rebinding guard then checks the name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            hosts = [value for name, value in scope.get("headers") or [] if name.lower() == b"host"]
            if hosts and host_name(hosts[0].decode("latin-1")) is None:
                said = "the Host header names no host this server answers to"
                await _refuse(
                    scope, send, 421, said, "Ask for http://127.0.0.1:PORT/mcp or http://localhost:PORT/mcp."
                )
                return
        await self.app(scope, receive, send)


def _rebinding_guard(host: str, port: int | None = None) -> TransportSecuritySettings | None:
    """On any loopback address, requests only for it by its own names (a DNS-rebinding page's Host
    or Origin is refused): the SDK guards 127.0.0.1, localhost and ::1 on its own, not 127.0.0.2,
    which ``--no-auth`` may serve too. An Origin names ``port`` when it is known: the SDK's
    ``http://127.0.0.1:*`` took a page of any other local server (and ``http://127.0.0.1:1@evil``,
    which it matches by its start). None elsewhere: the SDK's own choice, behind the token."""
    from mcp.server.transport_security import TransportSecuritySettings

    if not is_loopback(host):
        return None
    names = list(dict.fromkeys([f"[{host}]" if ":" in host else host, "127.0.0.1", "localhost", "[::1]"]))
    return TransportSecuritySettings(
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:{port or '*'}" for name in names],
    )


def serve_http(
    server: MCPServer,
    *,
    host: str,
    port: int,
    token: str | None,
    announce: Callable[[str], None] | None = None,
    metrics: bool = False,
) -> None:
    """Serve on ``host:port``. The port is bound first, so a busy one is an error before anything
    is announced; ``announce`` then gets the endpoint URL (with the real port when ``port`` is 0).
    ``metrics``: serve ``/metrics`` too (telemetry on, with Prometheus' text format)."""
    import uvicorn

    if not is_loopback(host) and not token:
        raise MahavishnuError(
            f"refusing to serve on {host} without a bearer token",
            hint="Only loopback (127.0.0.1) may be served without one (--no-auth).",
        )
    scrub_sdk_logs()
    drop_disconnect_tracebacks()
    raise_open_files_limit()
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    if announce is not None:
        announce(f"http://{_netloc(host, bound_port)}/mcp")
    if metrics and telemetry.enable(prometheus=True) is None:
        from mahavishnu.distribution import install_extra

        raise MahavishnuError(
            "telemetry.prometheus needs the OpenTelemetry SDK, which is not installed",
            hint=f"{install_extra('otel')}, or set telemetry.prometheus: false.",
        )
    app = http_app(server, host=host, token=token, metrics=metrics, port=bound_port)
    config = uvicorn.Config(app, log_level="warning")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line error when it is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise MahavishnuError(
            f"cannot serve on {_netloc(host, port)}: {exc.strerror or exc}",
            hint=_BIND_HINTS.get(exc.errno or 0, _TAKEN),
        ) from exc
    return sock


_TAKEN = "Choose another port with --port (or stop what holds it: `mahavishnu service status`)."
#: What to do when a bind fails for another reason than a port in use.
_BIND_HINTS = {
    errno.EADDRNOTAVAIL: "That address is not one of this machine's: give --host one of its addresses "
    "(127.0.0.1: this machine only; 0.0.0.0: every interface).",
    errno.EACCES: "Ports under 1024 need root: choose one above 1024 with --port.",
}


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
