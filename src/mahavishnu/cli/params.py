"""The command-line parameters of the commands that cli/fast/ also parses without Typer, each
declared once: the Typer command's parameters (``typer_params``) and the fast path's parser
(``parse_plain``) are both made from these tables.

Imports nothing but the standard library and the assistant registry (itself standard-library only) at
module level (the fast paths load this module), and Typer only when a Typer command is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from mahavishnu.environments.assistants.registry import listed

if TYPE_CHECKING:
    from types import UnionType

Scalar = str | int | float | bool | None
#: Parsed values by parameter. ``Any`` because each value's type is its Param's ``kind``, which the
#: command body's own signature states precisely.
Values = dict[str, Any]


class Param(NamedTuple):
    """One parameter of a command: a positional argument (no ``flags``, required) or an option."""

    name: str  #: the command body's keyword argument
    flags: tuple[str, ...]  #: spellings, long first; () for the positional argument
    kind: type[str] | type[int] | type[float] | type[bool]  #: bool: a flag, which takes no value
    default: Scalar
    help: str
    repeatable: bool = False  #: a list of str (None in Typer when not given, [] in parse_plain)
    metavar: str | None = None
    fast: bool = True  #: False: the fast path leaves a command line with it to Typer


# -- the tables ----------------------------------------------------------------------------------

JSON = Param("as_json", ("--json",), bool, False, "Print machine-readable JSON.")

# ai switch-llm (TOOL, SCOPE and CODEX_PROFILE are also ``ai rollback``'s)
TOOL = Param(
    "tool",
    ("--tool", "-t"),
    str,
    None,
    f"Assistant to configure: {listed('all')} (one transaction over "
    "every file; assistants the profile cannot serve are skipped). Default: environments.default_tool "
    "(claude) when the profile serves it, else every assistant it serves.",
)
#: switch-llm's: several assistants too (``ai rollback`` undoes one assistant's, or all)
SWITCH_TOOL = TOOL._replace(
    help=f"Assistant(s) to configure: {listed('all')}, or several comma-separated (claude,codex); one "
    "transaction over every file, and with several, those the profile cannot serve are skipped. "
    "Default: environments.default_tool (claude) when the profile serves it, else every assistant it serves.",
)
SCOPE = Param(
    "scope",
    ("--scope", "-s"),
    str,
    "user",
    "Which settings file: user, project or local (local: Claude Code only; Codex has user only).",
)
CODEX_PROFILE = Param(
    "codex_profile",
    ("--codex-profile",),
    str,
    None,
    "With --tool codex: use $CODEX_HOME/NAME.config.toml, the file `codex --profile NAME` layers over "
    "config.toml, instead of config.toml itself.",
    metavar="NAME",
)
SWITCH_LLM = (
    Param("name", (), str, None, "Profile name or alias, e.g. qwen, claude, zai."),
    SWITCH_TOOL,
    SCOPE,
    Param(
        "dry_run", ("--dry-run",), bool, False, "Print one diff per file (secrets masked) and write nothing."
    ),
    Param(
        "inline_secret",
        ("--inline-secret",),
        bool,
        False,
        "Write the key itself (mode 600) instead of a reference: into Claude's settings.json, or "
        "the .env file Codex, Qwen Code or Gemini CLI loads.",
    ),
    CODEX_PROFILE,
    JSON,
)

# memory search (the filters are also those of ``memory list`` and others: cli/memory_group.py)
TYPES_HELP = "agent, rag, workflow, insight, decision or note"
TYPES = Param(
    "types", ("--type", "-t"), str, None, f"Only these types ({TYPES_HELP}); repeatable.", repeatable=True
)
TAGS = Param(
    "tags", ("--tag",), str, None, "Only memories with every given tag; repeatable.", repeatable=True
)
PROJECT = Param(
    "project", ("--project", "-p"), str, None, "Only this project (and the insights shared with it)."
)
GROUP = Param(
    "group",
    ("--group", "-g"),
    str,
    None,
    "Only the projects of this group (see `memory groups`), and their insights.",
)
REPO = Param("repo", ("--repo", "-r"), str, None, "Only this repository id.")
AGENT = Param("agent", ("--agent",), str, None, "Only this agent id.")
SESSION = Param("session", ("--session",), str, None, "Only this session id.")
SINCE = Param("since", ("--since",), str, None, "Created at or after (ISO date/time).")
UNTIL = Param("until", ("--until",), str, None, "Created before (ISO date/time).")
MEMORY_SEARCH = (
    Param("query", (), str, None, "What to look for."),
    Param("mode", ("--mode",), str, "hybrid", "hybrid, vector or text."),
    TYPES,
    REPO,
    PROJECT,
    TAGS,
    AGENT,
    SESSION,
    SINCE,
    UNTIL,
    GROUP,
    Param("limit", ("--limit", "-n"), int, 10, "How many results (1-1000)."),
    Param("min_score", ("--min-score",), float, None, "Drop results scoring lower."),
    Param(
        "everywhere",
        ("--everywhere", "-e"),
        bool,
        False,
        "Also search Session-Buddy; hits are labelled by source.",
        fast=False,  # Session-Buddy is searched in-process, not by the daemon
    ),
    Param(
        "for_agents",
        ("--for-agents",),
        bool,
        False,
        "As an agent's tool is given them (the MCP server's, Pi's): the text recall leaves out withheld.",
    ),
    JSON,
)

# memory store
MEMORY_STORE = (
    Param("content", (), str, None, "The text to remember ('-' reads standard input)."),
    Param("memory_type", ("--type", "-t"), str, "note", f"One of {TYPES_HELP}."),
    Param("tags", ("--tag",), str, None, "A tag; repeatable.", repeatable=True),
    Param("meta", ("--meta", "-m"), str, None, "Metadata key=value; repeatable.", repeatable=True),
    Param(
        "questions",
        ("--question", "-q"),
        str,
        None,
        "A question it answers, as someone would ask it later in their own words (at most 3; one "
        "is best): searches meet it there.",
        repeatable=True,
    ),
    Param("project", ("--project", "-p"), str, None, "Project it belongs to."),
    Param("repo", ("--repo", "-r"), str, None, "Repository id it belongs to."),
    AGENT._replace(help="Agent id."),
    SESSION._replace(help="Session id."),
    Param("source", ("--source",), str, "cli", "Source system label."),
    Param(
        "team",
        ("--team",),
        bool,
        False,
        "Share it with your team at once (a team store), as `memory share ID --team`.",
        fast=False,  # stored and shared in one step by the command itself (cli/memory_activity.py)
    ),
    JSON,
)

# memory context (the recall hook)
MEMORY_CONTEXT = (
    Param(
        "tool",
        ("--tool",),
        str,
        None,
        "The assistant running the hook: claude, codex, qwen, gemini, pi or opencode (default: the "
        "one the hook's JSON says sent it, by its transcript_path).",
    ),
)


def parse_meta(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``--meta`` values, ``k=v`` each; a value that parses as JSON (a number, true, a list...) is
    kept as that."""
    import json

    from mahavishnu.errors import InvalidInputError

    meta: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"invalid --meta {pair!r}", hint="Use --meta key=value.")
        try:
            meta[key.strip()] = json.loads(value)
        except ValueError:
            meta[key.strip()] = value
    return meta


# usage [daily|monthly|sessions] (and ``usage blocks``' --tool and --since)
USAGE_BY = Param(
    "by",
    ("--by",),
    str,
    None,
    "Split each period by assistant, provider, model, project or source (main, helper: a subagent, "
    "memory: what recall added).",
)
USAGE_TOOLS = Param(
    "tool", ("--tool", "-t"), str, None, f"{listed('all')} (repeat for several).", repeatable=True
)
USAGE_SINCE = Param("since", ("--since",), str, None, "From this day on (YYYY-MM-DD, local time).")
USAGE_UNTIL = Param("until", ("--until",), str, None, "Up to this day, included (YYYY-MM-DD).")
USAGE_TIMEZONE = Param(
    "timezone",
    ("--timezone", "-z"),
    str,
    None,
    "Days and months (--since and --until too) in this IANA time zone: UTC, Asia/Tokyo... "
    "Default: the system's (TZ).",
    metavar="ZONE",
)
#: ``usage blocks``': a window is the day's it opens on (as ccusage's), whole
USAGE_BLOCKS_SINCE = USAGE_SINCE._replace(help="Windows that open from this day on (YYYY-MM-DD, local time).")
USAGE_BLOCKS_UNTIL = USAGE_UNTIL._replace(help="Windows that open up to this day, included (YYYY-MM-DD).")
#: ``usage blocks``': a window opens at a UTC hour whatever the zone (as ccusage's do); the zone
#: names --since's and --until's days and the hours the windows are shown at
USAGE_BLOCKS_TIMEZONE = USAGE_TIMEZONE._replace(
    help="--since's and --until's days, and the windows' hours, in this IANA time zone: UTC, Asia/Tokyo... "
    "Default: the system's (TZ)."
)
USAGE_UNPRICED = Param(
    "unpriced",
    ("--unpriced",),
    bool,
    False,
    "List only the models nobody prices, with their requests and tokens.",
)
USAGE_VERBOSE = Param(
    "verbose",
    ("--verbose", "-v"),
    bool,
    False,
    "List the log lines skipped as damaged or hostile: file:line and why.",
)
USAGE_WATCH = Param(
    "watch",
    ("--watch", "-w"),
    bool,
    False,
    "Show the report again every few seconds, in place (Ctrl-C stops).",
    fast=False,  # (it clears a terminal: Rich's)
)
USAGE_REPORT = (
    USAGE_BY,
    USAGE_TOOLS,
    USAGE_SINCE,
    USAGE_UNTIL,
    USAGE_TIMEZONE,
    JSON,
    USAGE_UNPRICED,
    USAGE_VERBOSE,
    USAGE_WATCH,
)


# -- the fast path's parser ----------------------------------------------------------------------


def parse_plain(params: Sequence[Param], args: list[str]) -> tuple[list[str], Values] | None:
    """The positional arguments of ``args`` and every option's value (its default when not given)
    when each argument is plainly spelled: known options, ``--opt value``, ``--opt=value``,
    ``-o value``, values of the option's kind. None for anything else (an unknown option, a missing
    value, ``-tX``, ``--flag=x``, ``-n x``, a one-value option given twice): Typer must parse the
    line and say what is wrong."""
    options = {flag: p for p in params if p.fast for flag in p.flags}
    values: Values = {p.name: [] if p.repeatable else p.default for p in params if p.flags}
    given: set[str] = set()
    positional: list[str] = []
    rest = iter(args)
    for arg in rest:
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        flag, equals, value = arg.partition("=")
        param = options.get(flag)
        if param is None or (equals and (param.kind is bool or not flag.startswith("--"))):
            return None  # ``--flag=x`` is an error, ``-t=x`` means "=x": Typer says so
        if param.kind is bool:
            values[param.name] = True
            continue
        value = value if equals else next(rest, "")
        converted = _converted(param, value)
        if converted is None:
            return None
        if param.repeatable:
            values[param.name].append(converted)
        elif param.name in given:
            return None  # (``cli/repeats.py``)
        else:
            given.add(param.name)
            values[param.name] = converted
    return positional, values


def _converted(param: Param, value: str) -> Scalar:
    """``value`` as ``param``'s kind; None when it is missing, looks like an option or does not
    parse (Typer then reports it)."""
    if not value or value.startswith("-"):
        return None
    try:
        return param.kind(value)
    except ValueError:
        return None


# -- the Typer command's parameters --------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., None])


def typer_params(params: Sequence[Param]) -> Callable[[F], F]:
    """Decorate a Typer command taking ``**values``: Typer sees ``params`` as its parameters."""
    import inspect

    def decorate(command: F) -> F:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(p.name, kind, default=typer_param(p), annotation=_annotation(p))
                for p in params
            ]
        )
        return command

    return decorate


def typer_param(param: Param) -> Any:
    """``param`` as Typer declares it: ``typer.Argument(...)`` or ``typer.Option(...)`` (which
    Typer types as ``Any``, to be any parameter's default)."""
    import typer

    if not param.flags:
        return typer.Argument(..., help=param.help)
    return typer.Option(param.default, *param.flags, help=param.help, metavar=param.metavar)


def _annotation(param: Param) -> type | UnionType:
    if param.repeatable:
        return list[str] | None
    return param.kind | None if param.default is None and param.flags else param.kind
