"""``mahavishnu memory store``: on a PostgreSQL store, stored by the memory daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.cli.params import Values

from mahavishnu.cli.fast.common import _daemon_result, _run

# -- memory store, on a PostgreSQL store stored by the memory daemon ------------------------------

#: How long ``memory store`` waits for the memory daemon before storing itself (a PostgreSQL store).
STORE_SECONDS = 30.0


def memory_store(args: list[str]) -> int | None:
    """``mahavishnu memory store ARGS`` stored by the memory daemon (a PostgreSQL store: its warm
    embedder and small pool, no Typer, numpy or ONNX here); None when Typer must run the command:
    an unusual spelling, ``-`` (standard input), ``--team``, the embedded store (stored by its
    client) or no daemon (Typer's path starts one for the next call)."""
    from mahavishnu.cli.params import MEMORY_STORE, parse_plain
    from mahavishnu.memory.core.provenance import ASKED_TYPES
    from mahavishnu.memory.loop import daemon

    parsed = parse_plain(MEMORY_STORE, args)
    if parsed is None or len(parsed[0]) != 1 or parsed[0][0] in ("", "-") or not daemon.enabled():
        return None
    values = {"content": parsed[0][0], **parsed[1]}
    if values["memory_type"] in ASKED_TYPES and not values["questions"] and _question_writer():
        return None  # (Typer's path asks the question writer, once)
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
    from mahavishnu.memory.core.provenance import with_questions  # (not models: numpy, spared here)

    # as metadata, not ``MemoryStore.add``'s ``questions``: a daemon started before it takes them too
    metadata = with_questions(parse_meta(values["meta"]), values["questions"] or ())
    return {
        "tags": values["tags"] or [],
        "metadata": metadata,
        "project": values["project"],
        "repo_id": values["repo"],
        "agent_id": values["agent"],
        "session_id": values["session"],
        "source_system": values["source"],
    }


def _question_writer() -> str | None:
    """The profile that writes a note's question when none is given (``memory.question_writer``):
    from the settings snapshot when it holds (no pydantic on the fast path), else the settings."""
    from mahavishnu import settings_snapshot

    found, name = settings_snapshot.cached_setting("memory", "question_writer")
    if found:
        return name if isinstance(name, str) else None
    from mahavishnu.config import load_settings

    return load_settings().memory.question_writer


def written_question(fields: dict[str, Any], content: str, memory_type: str) -> str | None:
    """The question a note or decision stored without one answers, put into ``fields``' metadata,
    from the provider ``memory.question_writer`` names; its name when one was asked. A problem is
    said on standard error (the note is stored without: ``memory questions`` writes it later)."""
    from mahavishnu.memory.core.provenance import ASKED_TYPES, QUESTIONS, with_questions

    name = _question_writer()
    if name is None or memory_type not in ASKED_TYPES or QUESTIONS in (fields["metadata"] or {}):
        return None  # (before the lookup: nothing is asked for these)
    from mahavishnu.cli.output import escape, warn
    from mahavishnu.config import load_settings
    from mahavishnu.services.question_writer import question_for

    if _answered_already(content, memory_type, fields):
        return None
    written = question_for(content, memory_type, fields["project"], load_settings())
    if written is None:
        return None
    if written.problem:
        later = "`mahavishnu doctor` checks the writer, `mahavishnu memory questions` writes it later"
        warn(f"no question written: {escape(written.problem)} ({later})")
    fields["metadata"] = with_questions(fields["metadata"], written.questions)
    return name


def _answered_already(content: str, memory_type: str, fields: dict[str, Any]) -> bool:
    """Whether the note is stored already with its questions (a repeat keeps them: nothing to ask);
    False when the store cannot be opened now (the writer is asked, and the store says why or queues)."""
    from mahavishnu.cli.memory_group import open_store
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.services.question_writer import answered

    try:
        with open_store() as store:
            return answered(store, content, memory_type, fields["project"], fields["repo_id"])
    except MahavishnuError:
        return False


def say_written(memory: dict[str, Any], asked: dict[str, Any], name: str | None) -> None:
    """The questions ``name``'s writer wrote into the ``asked`` request that the stored ``memory``
    holds (a note stored before keeps its own questions)."""
    from mahavishnu.cli.output import info
    from mahavishnu.memory.core.provenance import QUESTIONS

    stored = (memory.get("metadata") or {}).get(QUESTIONS) or []
    for question in (asked["metadata"] or {}).get(QUESTIONS) or () if name else ():
        if question in stored:
            info(f"the question it answers ({name}): {question}")


def _store_request(values: Values) -> dict[str, Any]:
    """The daemon's ``store`` request (``MemoryStore.add``'s arguments) for parsed ``values``."""
    return {"content": values["content"], "memory_type": values["memory_type"], **store_fields(values)}


def store_memory(values: Values) -> None:
    """``memory store``'s body on Typer's path: stored by the daemon on a PostgreSQL store, else
    by this process; said as JSON or one line."""
    request = _store_request(values)
    writer = written_question(request, values["content"], values["memory_type"])
    _store_and_say(request, _ask_daemon_to_store(request), as_json=values["as_json"], writer=writer)


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


def _store_and_say(
    request: dict[str, Any], reply: dict[str, Any] | None, *, as_json: bool, writer: str | None = None
) -> None:
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
    elif duplicate:
        said = f"already stored as #{memory['id']} ({memory['memory_type']})"
        info(f"{said}; its tags and metadata now include these")
    else:
        info(f"stored #{memory['id']} ({memory['memory_type']})")
    if not as_json:  # (--json shows them in the memory's metadata)
        say_written(memory, request, writer)
    say_if_quarantined(memory)  # (on stderr: the JSON stays whole)
    if memory.get("project") is None and not duplicate:
        say_if_in_a_checkout(memory)


def say_if_in_a_checkout(memory: dict[str, Any]) -> None:
    """A hint on stderr when a memory of no project was stored inside a git checkout: every project
    sees it, where a session there files its memories under the checkout's project."""
    import sys

    from mahavishnu.clean_text import printable, shell_word
    from mahavishnu.memory.core.projects import checkout_here, current_folder

    found = checkout_here(current_folder())
    if found is None:
        return
    root, name = found
    sys.stderr.write(
        f"hint: #{memory['id']} is filed under no project, so every project sees it; store it with "
        f"--project {shell_word(name)} to keep it to this checkout ({printable(str(root))})\n"
    )


def say_if_quarantined(memory: dict[str, Any]) -> None:
    """A warning when the stored memory (``Memory.to_dict``) was quarantined on the way in."""
    from mahavishnu.cli.output import warn
    from mahavishnu.memory.core.instructions import instruction_like
    from mahavishnu.memory.core.provenance import QUARANTINED

    if QUARANTINED not in memory["tags"]:
        return
    why = instruction_like(memory["content"])
    said = f"reads like an instruction to an agent ({why})" if why else "is quarantined"
    warn(
        f"#{memory['id']} {said}: kept, but never added to an assistant's context until you trust it "
        f"after reading it: `mahavishnu memory trust {memory['id']}`"
    )
