"""Paths that skip Typer entirely because something calls them often and waits.

Claude Code runs ``mahavishnu secrets get NAME`` as its ``apiKeyHelper`` whenever it needs a key,
and ``mahavishnu ai switch-llm NAME`` is typed to change provider: Typer (with the pydantic-based
parameter handling it builds for every command) costs more than either command's work. Each fast
path takes only plainly spelled command lines and leaves anything else (``--help``, a typo, an
unusual spelling) to Typer, so messages and usage errors stay Typer's own. The commands' bodies
live here and the Typer commands call them, so both paths run the same code.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.cli.params import Values
    from mahavishnu.config import Settings
    from mahavishnu.environments.switcher import SwitchResult
    from mahavishnu.errors import MahavishnuError, UnknownProfileError
    from mahavishnu.services.sessions import SessionAdvice


def secrets_get(name_or_ref: str) -> int:
    """``mahavishnu secrets get``: from the settings snapshot when it holds (no pydantic, no YAML),
    else through the validated settings, which then refresh the snapshot."""
    from mahavishnu.environments.secrets import lookup_cached

    def run() -> None:
        value = lookup_cached(name_or_ref)
        if value is None:
            from mahavishnu.config import load_settings
            from mahavishnu.environments.secrets import lookup

            value = lookup(name_or_ref, load_settings())
        sys.stdout.write(value + "\n")

    return _run(run)


# -- ai switch-llm -------------------------------------------------------------------------------


def parse_switch_llm(args: list[str]) -> Values | None:
    """The parameters of ``ai switch-llm ARGS`` (cli/params.py) when every argument is plainly
    spelled and there is one name; None for anything else."""
    from mahavishnu.cli.params import SWITCH_LLM, parse_plain

    parsed = parse_plain(SWITCH_LLM, args)
    if parsed is None or len(parsed[0]) != 1 or parsed[0][0] in ("", "-"):  # Typer judges those
        return None
    return {"name": parsed[0][0], **parsed[1]}


def switch_llm(args: list[str]) -> int | None:
    """``mahavishnu ai switch-llm ARGS`` without Typer; None when Typer must handle ``args``."""
    values = parse_switch_llm(args)
    if values is None:
        return None
    warn_if_project_ignored()
    status = 0

    def body() -> None:
        nonlocal status
        status = run_switch_llm(**values)

    return _run(body) or status


def warn_if_project_ignored() -> None:
    """Say so when the repository's settings file is there but not trusted (so not read)."""
    from mahavishnu.project_trust import ignored_notice

    notice = ignored_notice()
    if notice is not None:
        from mahavishnu.cli.output import escape, warn

        warn(escape(notice))


def run_switch_llm(
    name: str,
    *,
    tool: str | None,
    scope: str,
    dry_run: bool,
    inline_secret: bool,
    codex_profile: str | None,
    as_json: bool,
) -> int:
    """The body of ``mahavishnu ai switch-llm`` (both paths); its exit status: 0, or
    ``PARTIAL_EXIT`` when an installed assistant was skipped (it keeps its previous provider)."""
    from dataclasses import asdict

    from mahavishnu.cli.output import console, escape, print_json, warn
    from mahavishnu.config import load_settings
    from mahavishnu.environments.scopes import parse_scope
    from mahavishnu.environments.switcher import switch_llm as do_switch
    from mahavishnu.errors import UnknownProfileError

    settings = load_settings()
    options: dict[str, Any] = {
        "tool": tool,
        "scope": parse_scope(scope),
        "dry_run": dry_run,
        "inline_secret": inline_secret,
        "codex_profile": codex_profile,
    }
    try:
        result = do_switch(name, settings, **options)
    except UnknownProfileError as unknown:
        settings = team_settings(name, settings, unknown, remember=not dry_run)
        result = do_switch(name, settings, **options)
    advice = session_advice(result)
    status = PARTIAL_EXIT if result.partial else 0
    if as_json:
        print_json({**asdict(result), "sessions": [asdict(a) for a in advice], "exit_code": status})
        return status
    for note in result.notes:
        console.print(note, markup=False)
    for message in result.warnings:
        warn(escape(message))
    for skipped in result.skipped:
        state = "" if skipped.installed else " (not installed)"
        console.print(f"{skipped.tool}: skipped{state}, {skipped.reason}", markup=False)
        if skipped.fix:
            console.print(f"  fix: {skipped.fix}", markup=False)
    for file in result.files:
        if dry_run:
            console.print(file.diff or f"{file.path}: no change\n", markup=False, end="")
        elif file.changed:
            console.print(f"{file.path}: now uses [bold]{result.profile}[/bold]")
        else:
            console.print(f"{file.path}: already uses [bold]{result.profile}[/bold]")
    for each in advice:
        console.print(each.message, markup=False, style="yellow" if each.needs_restart else None)
    if result.summary:
        console.print(result.summary, markup=False, style="yellow" if result.partial else None)
    return status


def team_settings(name: str, settings: Settings, unknown: UnknownProfileError, *, remember: bool) -> Settings:
    """No local profile is ``name``: the team store's of that name (memory on a team store), said
    so with who pushed it and where it sends the member's key; else ``unknown`` stands. Nothing of
    the team's is imported, nor asked, without a team store: a local switch costs what it did.
    ``remember``: keep its references on this machine for ``secrets get NAME`` (``team_copies``)."""
    if settings.memory.backend != "postgres":
        raise unknown
    from mahavishnu.cli.output import err_console
    from mahavishnu.environments import team_copies
    from mahavishnu.errors import MahavishnuError, UnknownProfileError
    from mahavishnu.memory.team import profiles

    try:
        found = profiles.find(settings, name)
    except MahavishnuError as exc:  # the team store is down: the local answer stands, said so
        raise UnknownProfileError(f"{unknown.message} (team profiles not checked: {exc.message})") from None
    if found is None:
        raise unknown
    team = profiles.with_team_profile(settings, found)
    profile = found.profile()
    urls = ", ".join(str(getattr(profile.settings, p).base_url) for p in profile.protocols)
    err_console.print(
        f"using team profile '{found.name}' (pushed by {found.pushed_by}; your key goes to {urls})",
        markup=False,
    )
    if remember:
        team_copies.remember(
            found.name, profile.settings.model_dump(mode="json", exclude_none=True), found.pushed_by
        )
    return team


#: ``ai switch-llm``'s exit status when it wrote some assistants' files but skipped an installed one.
PARTIAL_EXIT = 3


def session_advice(result: SwitchResult) -> list[SessionAdvice]:
    """Which running assistant sessions keep the old provider (found read-only; never signalled)."""
    from mahavishnu.services.sessions import advise

    try:
        return advise(result)
    except OSError:  # /proc unreadable: the switch itself succeeded
        return []


# -- memory search, answered by the memory daemon -------------------------------------------------


def parse_memory_search(args: list[str]) -> Values | None:
    """The parameters of ``memory search ARGS`` (cli/params.py) when every argument is plainly
    spelled and there is one query; None for anything else: Typer then says what is wrong."""
    from mahavishnu.cli.params import MEMORY_SEARCH, parse_plain

    parsed = parse_plain(MEMORY_SEARCH, args)
    if parsed is None or len(parsed[0]) != 1 or not parsed[0][0].strip():
        return None
    return {"query": parsed[0][0], **parsed[1]}


def memory_search(args: list[str]) -> int | None:
    """``mahavishnu memory search ARGS`` answered by the memory daemon; None when Typer must run the
    command (an unusual spelling, or no daemon: then one is started for the next call)."""
    from mahavishnu.memory.loop import daemon

    values = parse_memory_search(args)
    if values is None or not daemon.enabled():
        return None
    filters = {
        "group": values["group"],
        "types": values["types"],
        "tags": values["tags"],
        "project": values["project"],
        "repo_id": values["repo"],
        "agent_id": values["agent"],
        "session_id": values["session"],
        "since": values["since"],
        "until": values["until"],
    }
    request = {
        "query": values["query"],
        "mode": values["mode"],
        "filters": {k: v for k, v in filters.items() if v not in (None, [])},
        "min_score": values["min_score"],
        "limit": values["limit"],
    }
    answer = daemon.ask("search", request)
    if answer is None:
        return None
    return _print_answer(answer, lambda hits: print_hits(hits, as_json=values["as_json"]))


def _print_answer(answer: dict[str, Any], show: Callable[[Any], None]) -> int:
    """A daemon's answer as the command would print it: the result, or the error line + hint."""
    if not answer.get("ok"):
        hint = answer.get("hint")
        sys.stderr.write(f"error: {answer.get('error')}\n" + (f"hint: {hint}\n" if hint else ""))
        return int(answer.get("exit_code") or 1)
    return _run(lambda: show(answer["result"]))


def print_hits(hits: list[dict[str, Any]], *, as_json: bool) -> None:
    """Search hits (``SearchHit.to_dict``) as ``memory search`` prints them."""
    from mahavishnu.cli.output import info, print_json, table

    if as_json:
        print_json(hits)
        return
    if not hits:
        info("no relevant memories")
        return
    team = any("author" in h["memory"] for h in hits)  # a team store: who wrote each
    rows = [
        (
            h["memory"]["id"],
            f"{h['score']:.3f}",
            "+".join(h["modes"]),
            h["memory"]["memory_type"],
            _scope(h["memory"]),
            *([h["memory"].get("author", "")] if team else []),
            _snippet(_noted(h["memory"]["content"], h["memory"]["metadata"])),
        )
        for h in hits
    ]
    columns = ["id", "score", "found by", "type", "scope", *(["author"] if team else []), "content"]
    table(None, columns, rows)


def _scope(memory: dict[str, Any]) -> str:
    return " ".join(f"{k}={memory[f]}" for k, f in (("project", "project"), ("repo", "repo_id")) if memory[f])


def _noted(text: str, metadata: dict[str, Any]) -> str:
    """``text`` headed by what replaces or repeats it ("[superseded by #N]", "[also #M]")."""
    from mahavishnu.memory.core.supersede import note

    said = note(metadata)
    return f"[{said}] {text}" if said else text


def _snippet(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- memory store, on a PostgreSQL store stored by the memory daemon ------------------------------

#: How long ``memory store`` waits for the memory daemon before storing itself (a PostgreSQL store).
STORE_SECONDS = 30.0


def memory_store(args: list[str]) -> int | None:
    """``mahavishnu memory store ARGS`` stored by the memory daemon (a PostgreSQL store: its warm
    embedder and small pool, no Typer, numpy or ONNX here); None when Typer must run the command:
    an unusual spelling, ``-`` (standard input), ``--team``, the embedded store (stored by its
    client) or no daemon (Typer's path starts one for the next call)."""
    from mahavishnu.cli.params import MEMORY_STORE, parse_plain
    from mahavishnu.memory.loop import daemon

    parsed = parse_plain(MEMORY_STORE, args)
    if parsed is None or len(parsed[0]) != 1 or parsed[0][0] in ("", "-") or not daemon.enabled():
        return None
    values = {"content": parsed[0][0], **parsed[1]}
    try:
        request = _store_request(values)
    except Exception:  # (a --meta that is not key=value: Typer's path says so)
        return None
    reply, why = daemon.exchange("store", request, STORE_SECONDS)
    if reply is None and why not in ("silent", "broken"):
        return None
    # No answer from a daemon that is there (busy past STORE_SECONDS, or gone midway): asking again
    # on Typer's path would wait as long again, so this process stores it now.
    return _run(lambda: _store_and_say(request, reply, as_json=values["as_json"]))


def store_fields(values: Values) -> dict[str, Any]:
    """``MemoryStore.add``'s keyword arguments for ``memory store``'s parsed ``values``."""
    from mahavishnu.cli.params import parse_meta

    return {
        "tags": values["tags"] or [],
        "metadata": parse_meta(values["meta"]),
        "project": values["project"],
        "repo_id": values["repo"],
        "agent_id": values["agent"],
        "session_id": values["session"],
        "source_system": values["source"],
    }


def _store_request(values: Values) -> dict[str, Any]:
    """The daemon's ``store`` request (``MemoryStore.add``'s arguments) for parsed ``values``."""
    return {"content": values["content"], "memory_type": values["memory_type"], **store_fields(values)}


def store_memory(values: Values) -> None:
    """``memory store``'s body on Typer's path: stored by the daemon on a PostgreSQL store, else
    by this process; said as JSON or one line."""
    request = _store_request(values)
    _store_and_say(request, _ask_daemon_to_store(request), as_json=values["as_json"])


def _ask_daemon_to_store(request: dict[str, Any]) -> dict[str, Any] | None:
    """On a PostgreSQL store, the daemon's reply; None on the embedded store or without one (then a
    daemon is started for next time)."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.loop import daemon

    if not daemon.enabled() or load_settings().memory.backend != "postgres":
        return None
    # A daemon that is busy (every terminal of a loaded machine asks it) is still waited for: storing
    # here instead would load the model and open connections of this process's own just then.
    return daemon.ask("store", request, timeout=STORE_SECONDS)


def _store_here(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` stored by this process, answered as the daemon's ``store`` op answers."""
    from mahavishnu.cli.memory_group import open_store
    from mahavishnu.errors import QueuedOfflineError

    fields = {k: v for k, v in request.items() if k not in ("content", "memory_type")}
    try:
        with open_store() as store:
            stored = store.add(request["content"], request["memory_type"], **fields)
    except QueuedOfflineError as queued:  # acknowledged: it waits in this machine's outbox
        return {"queued": True, "message": queued.message, "client_ids": list(queued.client_ids)} | {
            "waiting": queued.waiting
        }
    return {"memory": stored.memory.to_dict(), "duplicate": stored.duplicate}


def _store_and_say(request: dict[str, Any], reply: dict[str, Any] | None, *, as_json: bool) -> None:
    """``request`` stored: by the daemon (its ``reply``), else by this process when there is none.
    Queued in the outbox (the team server unreachable) counts as stored: it is acknowledged."""
    from mahavishnu.cli.output import info, print_json, warn

    answer = _daemon_result(reply) if reply is not None else _store_here(request)
    if answer.get("queued"):
        if as_json:
            print_json(
                {"queued": True, "client_ids": answer.get("client_ids") or [], "waiting": answer["waiting"]}
            )
        else:
            warn(str(answer.get("message")))
        return
    memory, duplicate = answer["memory"], bool(answer.get("duplicate"))
    if as_json:
        print_json({**memory, "already_stored": duplicate})
        return
    if duplicate:
        said = f"already stored as #{memory['id']} ({memory['memory_type']})"
        info(f"{said}; its tags and metadata now include these")
    else:
        info(f"stored #{memory['id']} ({memory['memory_type']})")
    say_if_quarantined(memory)


def say_if_quarantined(memory: dict[str, Any]) -> None:
    """A warning when the stored memory (``Memory.to_dict``) was quarantined on the way in."""
    from mahavishnu.cli.output import warn
    from mahavishnu.memory.core.provenance import QUARANTINED, instruction_like

    if QUARANTINED not in memory["tags"]:
        return
    warn(
        f"#{memory['id']} reads like an instruction to an agent ({instruction_like(memory['content'])}): "
        "quarantined, never added to an assistant's context; "
        f"`mahavishnu memory quarantine --release {memory['id']}` lets recall add it"
    )


# -- the memory loop's hooks: recall (memory context) and capture (memory import --tool T -) -------

#: Set by a capture hook for the detached process it hands the import to (see ``memory_import_hook``).
CAPTURE_ENV = "MAHAVISHNU_CAPTURE"
#: A detached capture still running after this long (stuck in a read on a hung mount, say) is
#: ended by SIGALRM; a capture reads for at most ``capture.CAPTURE_SECONDS`` when it can.
DETACHED_CAPTURE_SECONDS = 900
#: ``memory.session_logs.TOOLS`` (a test keeps them equal), spelled here so that a hook need not
#: import that module (dataclasses, datetime and the log readers) to check its own name.
HOOK_TOOLS = ("claude", "codex", "qwen", "gemini")


def hook_tool(args: list[str], tail: tuple[str, ...] = ()) -> str | None:
    """The assistant of a hook command line spelled as the hooks install it (``--tool T`` or
    ``--tool=T``, then ``tail``); None for anything else (Typer then parses it)."""
    if len(args) >= 2 and args[0] == "--tool" and tuple(args[2:]) == tail:
        tool = args[1]
    elif args and args[0].startswith("--tool=") and tuple(args[1:]) == tail:
        tool = args[0].removeprefix("--tool=")
    else:
        return None
    return tool if tool and not tool.startswith("-") else None


@contextlib.contextmanager
def never_blocking() -> Iterator[None]:
    """A hook command's errors exit 1, never 2: all four assistants read exit code 2 as "block"
    (Claude Code drops the prompt on UserPromptSubmit and keeps the agent going on Stop; Gemini
    CLI blocks the turn on BeforeAgent), and a memory hook that fails must only be reported.
    Whatever the hook's input: what the environment raises (``from_unexpected``: input nested too
    deeply, a damaged store ...) is said in its one line, and so is a bug (its type and first
    line, no traceback: an assistant shows a hook's stderr), each exiting 1."""
    from mahavishnu.errors import MahavishnuError, from_unexpected

    try:
        yield
    except MahavishnuError as error:
        error.exit_code = min(error.exit_code, 1)  # (0: acknowledged, e.g. queued in the outbox)
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] == "click":  # typer.Exit, click.Abort: Click's own
            raise
        said = from_unexpected(exc) or MahavishnuError(
            f"the memory hook failed unexpectedly: {_first_line(exc)}",
            hint="This is a bug in Mahavishnu; the assistant goes on without the memory hook.",
        )
        said.exit_code = 1
        raise said from exc


def _first_line(exc: BaseException) -> str:
    """``Type: the first line of its text``, cut to 200 characters."""
    text = str(exc).strip().splitlines()
    said = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return said if len(said) <= 200 else said[:199] + "…"


def hook_stdin(hint: str) -> str:
    """Standard input, which holds the hook's JSON; a clear error instead of waiting for input when
    it is a terminal (someone trying the command by hand). A closed or unreadable standard input
    reads as an empty one (``read_hook_payload`` then says that it holds no JSON)."""
    from mahavishnu.errors import InvalidInputError

    if _interactive():
        raise InvalidInputError(
            "this command reads an assistant hook's JSON on standard input, and none was piped in",
            hint=hint,
        )
    return read_stdin()


def read_stdin() -> str:
    """All of standard input as text; bytes that are not UTF-8 read as U+FFFD (the rest of a
    hook's JSON still counts), a closed or unreadable standard input as nothing."""
    stdin = sys.stdin
    if stdin is None:  # started with file descriptor 0 closed
        return ""
    try:
        raw = getattr(stdin, "buffer", None)
        if raw is None:  # a text stream only (a test's)
            return str(stdin.read())
        return bytes(raw.read()).decode("utf-8", "replace").removeprefix("\ufeff")
    except (OSError, ValueError):  # a descriptor that cannot be read (or was closed meanwhile)
        return ""


def _interactive() -> bool:
    """Whether standard input is a terminal (the command run by hand, not by a hook)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


#: The fields of a hook's JSON that the hooks read (recall: event, session, project, prompt;
#: capture: the session file): each a string, or absent.
HOOK_FIELDS = (
    "hook_event_name",
    "session_id",
    "cwd",
    "source",
    "prompt",
    "submitted_prompt",
    "transcript_path",
)


def read_hook_payload(text: str) -> dict[str, str]:
    """The JSON object an assistant's hook gives on standard input, as the hooks read it: only
    ``HOOK_FIELDS``, each a string (a field of another type counts as absent), with a lone
    surrogate (half of an emoji Node's ``JSON.stringify`` cut) as U+FFFD. Small and flat, so the
    daemon and the recall take it as it is whatever the hook sent."""
    import json

    from mahavishnu.clean_text import clean_text, clipped
    from mahavishnu.errors import InvalidInputError

    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # (RecursionError: nested too deeply to be a hook's)
        payload = None
    if not isinstance(payload, dict):
        raise InvalidInputError(
            "standard input holds no hook JSON object",
            hint="This command is run by an assistant's hook; see `mahavishnu memory hooks install`.",
        )
    fields = {name: value for name in HOOK_FIELDS if isinstance(value := payload.get(name), str)}
    for name in PROMPT_FIELDS & fields.keys():  # a prompt of any size: what recall reads of it
        fields[name] = clipped(fields[name], HOOK_PROMPT_CHARS)
    return {name: clean_text(value) for name, value in fields.items()}


#: The fields holding a prompt: only their head and tail are read (``clean_text.clipped``), so a
#: 10 MB paste costs the hook what a short prompt does, and reaches the daemon under its size cap.
PROMPT_FIELDS = frozenset({"prompt", "submitted_prompt"})
#: Generous beside the ``QUERY_CHARS`` recall reads: the context blocks Gemini CLI folds into a
#: prompt must arrive whole for recall to remove them before it takes the prompt's ends.
HOOK_PROMPT_CHARS = 64_000


def memory_context(args: list[str]) -> int | None:
    """``mahavishnu memory context --tool T`` (the recall hook) without Typer: the warm daemon
    answers, or, when none does, the same work in this process; without ``--tool``, for the
    assistant the hook's JSON says sent it. None when Typer must parse."""
    tool = hook_tool(args)
    if tool is None and args:
        return None

    def body() -> None:
        with never_blocking():
            run_memory_context(tool, ask_daemon=True)

    return _run(body)


def run_memory_context(
    tool: str | None, *, ask_daemon: bool, open_store: Callable[[], Any] | None = None
) -> None:
    """The body of ``memory context`` (both paths): check the assistant and the hook's JSON (the
    assistant, when ``tool`` is None, told from it: ``session_logs.hook_sender``), then print the
    answer of ``recall.build_context`` (asked of the daemon first when ``ask_daemon``), nothing
    when there is nothing to add. A failure is also written to the hook log (one line, what the
    command says), unless the command was run by hand at a terminal: an assistant shows little of
    it (Codex only "SessionStart Failed"), ``memory hooks status`` shows the last one until a later
    recall succeeds."""
    from mahavishnu.memory.loop.hook_log import log_hook_line, mark_success

    name = tool or "?"  # the assistant, once known
    try:
        payload = _context_payload(tool)
        if tool is None:
            name = _hook_sender(payload)
        _memory_context(name, payload, ask_daemon=ask_daemon, open_store=open_store)
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit, BrokenPipeError)) and not _interactive():
            log_hook_line(name, "recall", f"error: {_one_line(exc)}")
        raise
    mark_success(name, "recall")


def _one_line(exc: BaseException) -> str:
    """What a hook log line says of a failure: the command's own message (as it prints it), or,
    for anything unexpected, only its type (whose text could hold anything)."""
    from mahavishnu.errors import MahavishnuError, from_unexpected

    known = exc if isinstance(exc, MahavishnuError) else None
    if known is None and isinstance(exc, Exception):
        known = from_unexpected(exc)
    if known is None:
        return f"{type(exc).__name__} (unexpected: see the assistant's output of the hook)"
    text = " ".join(str(known.message).split())
    return text if len(text) <= 300 else text[:299] + "…"


def _context_payload(tool: str | None) -> dict[str, str]:
    """The recall hook's JSON, once ``tool`` (when given) is known to be an assistant."""
    if tool is not None and tool not in HOOK_TOOLS:
        from mahavishnu.memory.loop.session_logs import check_tool

        check_tool(tool)  # raises the command's error
    example = '{"hook_event_name": "SessionStart", "cwd": "/path/to/project"}'
    by_hand = f"echo '{example}' | mahavishnu memory context --tool {tool or 'claude'}"
    return read_hook_payload(hook_stdin(f"Pipe one in, e.g. {by_hand}"))


def _memory_context(
    name: str, payload: dict[str, str], *, ask_daemon: bool, open_store: Callable[[], Any] | None
) -> None:
    import json

    reply = None
    busy: list[float] = []
    served = False  # a daemon serves this home (on, not stopped by the user)
    if ask_daemon:
        from mahavishnu.memory.loop import daemon

        request = {"payload": payload, "tool": name}
        reply = daemon.ask("context", request, timeout=daemon.RECALL_SECONDS, on_silence=busy.append)
        served = reply is None and daemon.enabled() and not daemon.stopped_by_user()
    prompt = payload.get("hook_event_name") == "UserPromptSubmit"
    if reply is not None:
        answer = _daemon_result(reply)
    elif served and (busy or prompt) and _through_daemon_only():  # (no connection of each hook's own)
        if busy:
            _say_busy(name, busy[0], "no recall for this prompt")
        answer = None
    else:
        if busy:
            _say_busy(name, busy[0], "recalled without it")
        answer = _recall_here(name, payload, open_store)
    if answer is not None:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")


def _say_busy(name: str, seconds: float, what: str) -> None:
    from mahavishnu.memory.loop.hook_log import log_hook_line

    log_hook_line(name, "recall", f"the memory daemon did not answer within {seconds:g} s: {what}")


def _through_daemon_only() -> bool:
    """Whether a recall the daemon did not answer is left out rather than done here: on a
    PostgreSQL store, where the daemon's small pool serves every terminal of the machine
    (``memory.daemon_pool_size``) and a hook of its own would open another server connection (and
    load the model) just when the machine is busiest. So a prompt's recall is the daemon's or none
    (a daemon that is down is started for the next prompt); a session start's, when the daemon is
    down rather than busy, is still done here, once per session, while the daemon warms up."""
    from mahavishnu.config import load_settings

    return bool(load_settings().memory.backend == "postgres")


def _recall_here(name: str, payload: dict[str, str], open_store: Callable[[], Any] | None) -> Any:
    """The recall in this process. A team store found unreachable a moment ago is not waited for,
    one that does not answer now is waited for ``HOOK_CONNECT_SECONDS`` at most: the answer is then
    empty (at session start, one line saying so: ``sync.unreachable_answer``), never an error."""
    import os

    from mahavishnu.config import load_settings
    from mahavishnu.errors import ServerUnreachableError
    from mahavishnu.memory.loop import sync
    from mahavishnu.memory.loop.recall import build_context

    settings = load_settings()
    target = _team_location(settings)
    if target is not None and sync.recently_unreachable(target):
        return sync.unreachable_answer(payload, target)
    os.environ.setdefault("MAHAVISHNU_PG_CONNECT_TIMEOUT", str(HOOK_CONNECT_SECONDS))
    try:
        with (open_store or _open_store)() as store:
            return build_context(store, payload, name, settings.recall)
    except ServerUnreachableError:
        if target is None:
            raise
        return sync.unreachable_answer(payload, target)


#: The most a recall hook run in-process waits for a PostgreSQL server to answer a connection.
HOOK_CONNECT_SECONDS = 1


def _team_location(settings: Any) -> str | None:
    """The PostgreSQL store's location (None for the embedded store)."""
    if settings.memory.backend != "postgres":
        return None
    from mahavishnu.memory.core.backends.postgres import configured_location

    location: str | None = configured_location(settings.memory)
    return location


def _hook_sender(payload: dict[str, str]) -> str:
    """The assistant whose hook sent ``payload`` (``memory context`` without ``--tool``), or the
    command's error (exit 1: never a usage error, which an assistant reads as "block")."""
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.loop.session_logs import TOOLS, hook_sender

    found = hook_sender(payload)
    if found is None:
        raise MahavishnuError(
            "memory context: cannot tell which assistant sent this hook's JSON (no transcript_path "
            "under one assistant's session folder), and no --tool names it",
            hint=f"Add --tool ({', '.join(TOOLS)}) to the hook's command, or run "
            "`mahavishnu memory hooks install --tool all`, which writes it.",
        )
    return found


def memory_import_hook(args: list[str]) -> int | None:
    """``mahavishnu memory import --tool T -`` (the capture hook, after every turn) without making
    the assistant wait: the hook's JSON is checked here (a bad one is reported at once, as Typer
    would), then taken by the warm daemon, which acknowledges it at once and writes the outcome to
    the hook log, or, when no daemon takes it, handed to a detached ``memory import`` (which asks
    the daemon, or imports in-process when none runs) and this process exits. Nothing is lost
    when that process or the daemon dies: the hook's JSON only names the assistant's own session
    file, which stays, and the next capture of the session (or ``memory import --tool all``)
    re-reads it; import is idempotent. None when Typer must run the command (another spelling, ``all``)."""
    import os

    tool = hook_tool(args, ("-",))
    if tool is None or tool not in HOOK_TOOLS:
        return None
    if os.environ.get(CAPTURE_ENV) == "detached":
        return _capture_now(tool)
    by_hand = f"Pass the session file instead of '-': mahavishnu memory import --tool {tool} FILE"

    def body() -> None:
        with never_blocking():
            _hand_off_capture(tool, hook_stdin(by_hand))

    return _run(body)


def _hand_off_capture(tool: str, text: str) -> None:
    import json
    import os
    import subprocess
    import tempfile

    from mahavishnu.memory.loop.hook_log import capture_log, rotate

    payload = read_hook_payload(text)
    if _taken_by_daemon(tool, payload):
        return
    log = capture_log()
    spool = log.parent
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    rotate(log)
    with tempfile.TemporaryFile(dir=spool) as handle, open(log, "ab") as errors:  # 0600, no name
        handle.write(json.dumps(payload, ensure_ascii=False).encode())
        handle.seek(0)
        subprocess.Popen(
            [sys.executable, "-m", "mahavishnu", "memory", "import", "--tool", tool, "-"],
            stdin=handle,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env={**os.environ, CAPTURE_ENV: "detached"},
            start_new_session=True,
            close_fds=True,
        )


#: How long the capture hook waits for the daemon to take its capture before handing it to a
#: detached process (the daemon's reading thread answers at once; a capture taken twice is read once).
HAND_OFF_SECONDS = 1.0


def _taken_by_daemon(tool: str, payload: dict[str, str]) -> bool:
    """The warm daemon took the capture (it writes the outcome to the hook log): no process of its
    own needed. False when it runs with other settings, is down or does not answer at once."""
    from mahavishnu.memory.loop import daemon

    request = {"payload": payload, "tool": tool, "root": _session_root(tool), "detach": True}
    reply, _why = daemon.exchange("capture", request, HAND_OFF_SECONDS)
    return reply is not None and reply.get("ok") is True


def _capture_now(tool: str) -> int | None:
    """The detached capture: through the warm daemon (one writer, the embedder loaded), else None
    and the Typer command imports in-process (it reads the hook's JSON from stdin again)."""
    import signal

    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.loop import daemon

    signal.alarm(DETACHED_CAPTURE_SECONDS)
    from mahavishnu.memory.loop.hook_log import StampedErrors, mark_success

    sys.stderr = StampedErrors(sys.stderr, tool)
    text = read_stdin()
    try:
        payload: dict[str, Any] | None = read_hook_payload(text)
    except MahavishnuError:  # (the hook's process checked it) the command says what is wrong
        payload = None
    # Detached: nobody waits, so a long first import of a session may take its time (a client that
    # gave up would import it a second time in-process).
    # The session folder the transcript must lie under, as this hook's environment (the assistant's:
    # CLAUDE_CONFIG_DIR, CODEX_HOME...) says, not the daemon's.
    request = {"payload": payload, "tool": tool, "root": _session_root(tool)}
    reply = daemon.ask("capture", request, timeout=600) if payload is not None else None
    if reply is None:
        sys.stdin = io.StringIO(text)  # the Typer command reads it again
        return None

    def show() -> None:
        with never_blocking():  # the daemon's user error says exit 2, as the command would
            _daemon_result(reply)
        mark_success(tool, "capture")

    return _run(show)


def _session_root(tool: str) -> str:
    from mahavishnu.memory.loop.session_logs import check_tool, session_root

    return str(session_root(check_tool(tool)))


def _daemon_result(reply: dict[str, Any]) -> Any:
    """The result of a daemon's answer; its user error raised as the command raises it."""
    from mahavishnu.memory.loop import daemon

    return daemon.result(reply)


def _open_store() -> Any:
    from mahavishnu.memory.core.store import MemoryStore

    return MemoryStore.open()


# -- errors and exit codes, as the Typer app reports them -----------------------------------------


def _run(body: Callable[[], None]) -> int:
    """Run a command body; a MahavishnuError becomes one line + hint on stderr and its exit code
    (as cli/main.py's root group does), Ctrl-C and a closed pipe end it as Click would."""
    from mahavishnu.errors import MahavishnuError, from_unexpected

    try:
        body()
    except MahavishnuError as exc:
        return _report(exc)
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\nAborted!\n")
        return 1
    except BrokenPipeError:  # e.g. piped into `head`: quietly, like Click
        _silence_broken_pipe()
        return 1
    except Exception as exc:
        translated = from_unexpected(exc)
        if translated is None:
            raise
        return _report(translated)
    return 0


def _report(exc: MahavishnuError) -> int:
    sys.stderr.write(f"error: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
    return exc.exit_code


def _silence_broken_pipe() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
