"""``mahavishnu ai``: provider profiles and the assistants that use them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from mahavishnu.cli.output import JSON_OPTION, console, info, print_json, table, warn
from mahavishnu.cli.params import CODEX_PROFILE, SCOPE, SWITCH_LLM, typer_param, typer_params
from mahavishnu.environments.assistants.registry import listed

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.assistants.base import CurrentProvider
    from mahavishnu.environments.switcher import ToolStatus
    from mahavishnu.services.probe import ProbeResult

app = typer.Typer(help="Switch AI assistants between LLM provider profiles.", no_args_is_help=True)

RollbackToolOption = typer.Option(
    None,
    "--tool",
    "-t",
    help=f"Undo the most recent switch or change that involved this assistant ({listed(last='or')}; "
    "all: the most recent one). Default: the most recent switch or change, whatever files "
    "it touched.",
)
ScopeOption = typer_param(SCOPE)
CodexProfileOption = typer_param(CODEX_PROFILE)


@app.command("list-llms")
def list_llms(as_json: bool = JSON_OPTION) -> None:
    """List the provider profiles: built-in catalogue plus your own, and the team's when memory is
    on a team store (marked team, with who pushed them; a local profile of the same name wins)."""
    from mahavishnu.environments.profiles import all_profiles, invalid_profiles

    settings = _settings()
    local = all_profiles(settings)
    invalid = invalid_profiles(settings)
    rows: list[dict[str, Any]] = [{**p.summary(), "team": None, "error": None} for p in local.values()]
    for broken in invalid.values():  # listed, flagged: only using it is refused
        rows.append(
            {
                "name": broken.name,
                "label": "(invalid)",
                "aliases": list(broken.aliases),
                "protocols": [],
                "secret": [],
                "builtin": broken.builtin,
                "team": None,
                "error": broken.error.message,
            }
        )
        warn(
            escape(
                f"{broken.error.message}: only this profile is refused until it is fixed in your "
                "settings file (`mahavishnu config path` prints where it is)"
            )
        )
    team, notes = _team_rows(settings, {**local, **invalid})  # (an invalid one hides the team's too)
    rows += team
    for note in notes:
        warn(escape(note))
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["name", "provider", "aliases", "protocols", "key from", "from"],
        [
            (
                r["name"],
                r["label"],
                ", ".join(r["aliases"]),
                ", ".join(r["protocols"]),
                ", ".join(r["secret"]) or "-",
                f"team ({r['team']['pushed_by']})"
                if r["team"]
                else ("invalid" if r["error"] else "built-in" if r["builtin"] else "local"),
            )
            for r in rows
        ],
    )


def _team_rows(settings: Settings, local: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The team store's profiles not hidden by a local one, and one line per thing to know (a
    hidden one, a store that could not be read). Nothing is imported without a team store."""
    if settings.memory.backend != "postgres":
        return [], []
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.team import profiles as team_profiles

    found = team_profiles.catalogue(settings)
    notes = [found.notice] if found.notice else []
    hidden = team_profiles.hidden_by_local(local, found.profiles)
    notes += [
        f"team profile '{t.name}' (pushed by {t.pushed_by}) is hidden by your local profile of that name"
        for t in hidden
    ]
    rows: list[dict[str, Any]] = []
    for each in found.profiles:
        if each in hidden:
            continue
        try:
            rows.append({**each.profile().summary(), "team": each.to_dict(), "error": None})
        except MahavishnuError as exc:
            notes.append(f"team profile '{each.name}' (pushed by {each.pushed_by}) skipped: {exc.message}")
    return rows, notes


profile_app = typer.Typer(help="Share provider profiles with the team store (keys never go there).")
app.add_typer(profile_app, name="profile")
TeamFlag = typer.Option(
    False, "--team", help="The team store (memory.dsn of `team join`): the only place profiles go to."
)


def _team_store(team: bool, settings: Settings) -> str:
    from mahavishnu.errors import InvalidInputError

    if not team:
        raise InvalidInputError("say where: --team (the team store) is the only place for now")
    from mahavishnu.memory.team.profiles import team_dsn

    dsn = team_dsn(settings)
    if dsn is None:
        raise InvalidInputError(
            "this machine's memory is not on a team store",
            hint="Join one first: `mahavishnu team join STRING`.",
        )
    return dsn


@profile_app.command("push")
def profile_push(
    name: str = typer.Argument(..., help="A local profile's name or alias."),
    team: bool = TeamFlag,
    as_json: bool = JSON_OPTION,
) -> None:
    """Put a local profile in the team store, without keys: every member sees it in `ai list-llms`
    and switches to it with their own key. Refused when it holds a literal key; replaces a team
    profile of that name only if you pushed it."""
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.memory.team.profiles import push

    settings = _settings()
    dsn = _team_store(team, settings)
    pushed = push(dsn, resolve(name, settings))
    if as_json:
        print_json(pushed.to_dict())
        return
    verb = "replaced" if pushed.replaced else "pushed"
    info(f"team profile '{pushed.name}' {verb} at {pushed.location} (as {pushed.pushed_by}); no key went")
    for ref in pushed.dropped:
        warn(escape(f"left out {ref}: it names a file on this machine only"))


@profile_app.command("remove")
def profile_remove(
    name: str = typer.Argument(..., help="A team profile's name."),
    team: bool = TeamFlag,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a team profile you pushed (the team store's owner: anyone's)."""
    from mahavishnu.memory.team.profiles import remove

    removed = remove(_team_store(team, _settings()), name)
    if as_json:
        print_json({"name": removed.name, "pushed_by": removed.pushed_by, "removed": True})
        return
    info(f"team profile '{removed.name}' (pushed by {removed.pushed_by}) removed")


@app.command("show")
def show(name: str = typer.Argument(..., help="Profile name or alias."), as_json: bool = JSON_OPTION) -> None:
    """Show one profile's endpoints and where its key comes from (a team profile's too, when no
    local one has that name)."""
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.environments.secrets import profile_chain
    from mahavishnu.errors import UnknownProfileError

    settings = _settings()
    try:
        profile = resolve(name, settings)
    except UnknownProfileError as unknown:
        from mahavishnu.cli.fast.switch import team_settings

        settings = team_settings(name, settings, unknown, remember=False)
        profile = resolve(name, settings)
    from mahavishnu.masking import strip_credentials

    shown = profile.settings.model_dump(exclude_none=True)
    for protocol in profile.protocols:  # a key written into an endpoint's URL is not shown
        shown[protocol]["base_url"] = strip_credentials(str(shown[protocol]["base_url"]))
    data = {
        "name": profile.name,
        "builtin": profile.builtin,
        **shown,
        "secret_chain": [str(ref) for ref in profile_chain(profile)] if profile.needs_secret else [],
    }
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]{profile.name}[/bold] — {profile.label}" + (" (built-in)" if profile.builtin else "")
    )
    if profile.aliases:
        console.print(f"  aliases: {', '.join(profile.aliases)}")
    for protocol in profile.protocols:
        console.print(f"  {protocol}: {data[protocol]['base_url']}  model {data[protocol]['model']}")
    chain = data["secret_chain"]
    console.print(f"  key: {' → '.join(chain) if chain else 'none needed'}")
    if profile.settings.docs:
        console.print(f"  docs: {profile.settings.docs}")


@app.command("current")
def current(
    tool: str | None = typer.Option(None, "--tool", "-t", help="Only this assistant."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show which provider each assistant points at, read from its real config files (Codex: also
    each $CODEX_HOME/NAME.config.toml, which only `codex --profile NAME` reads)."""
    from mahavishnu.environments.switcher import current as read_current
    from mahavishnu.environments.switcher import overview

    settings = _settings()
    if tool and tool != "all":
        entries = read_current(settings, tool)
        if as_json:
            print_json([asdict(e) for e in entries])
        elif not entries:
            console.print(f"{tool} is not configured by a provider profile: try `mahavishnu ai switch-llm`.")
        else:
            _current_table([_row(e) for e in entries])
            _say_unread(entries)
        _exit_if_unreadable(any(e.error for e in entries))
        return
    statuses, recovered = overview(settings)
    for message in recovered:
        warn(escape(message))
    if as_json:  # one flat row per config file; an assistant without one (or unreadable) gets a row of nulls
        print_json(
            [
                row
                for status in statuses
                for row in (
                    ([_empty(status)] if status.error or not status.entries else [])
                    + [asdict(e) for e in status.entries]
                )
            ]
        )
        _exit_if_unreadable(any(s.unreadable for s in statuses))
        return
    rows: list[tuple[Any, ...]] = []
    for status in statuses:
        if status.error:
            rows.append((status.tool, "-", "unreadable", None, None, escape(status.error)))
        elif not status.entries:
            rows.append((status.tool, "-", "stock", None, None, "its own login"))
        rows += [_row(e) for e in status.entries]
    _current_table(rows)
    _say_unread([e for status in statuses for e in status.entries])
    _exit_if_unreadable(any(s.unreadable for s in statuses))


def _exit_if_unreadable(any_unreadable: bool) -> None:
    """Exit 1 once everything readable is shown, when a config file could not be read."""
    if any_unreadable:
        raise typer.Exit(1)


def _empty(status: ToolStatus) -> dict[str, Any]:
    fields = ("scope", "path", "profile", "base_url", "model", "key_source", "used_with", "unread")
    return {"tool": status.tool, **dict.fromkeys(fields), "error": status.error}


def _say_unread(entries: list[CurrentProvider]) -> None:
    """Why a file in the table is not read by a session started here, and what to do (once each)."""
    for reason in dict.fromkeys(e.unread for e in entries if e.unread):
        warn(escape(str(reason)))


def _row(e: CurrentProvider) -> tuple[Any, ...]:
    scope = f"only with `{e.used_with}`" if e.used_with else e.scope
    scope = f"{scope} (not read here)" if e.unread else scope
    if e.error:
        return (e.tool, scope, "unreadable", None, None, escape(e.error))
    return (e.tool, scope, e.profile or "?", e.base_url, e.model, e.key_source)


def _current_table(rows: list[tuple[Any, ...]]) -> None:
    table(None, ["tool", "scope", "profile", "base url", "model", "key"], rows)


@app.command("switch-llm")
@typer_params(SWITCH_LLM)
def switch_llm(**values: Any) -> None:
    """Point one assistant, or all of them, at a provider profile, editing only the keys it owns."""
    # Its parameters are declared in cli/params.py, from which cli/fast/ also parses plainly
    # spelled command lines without Typer (see cli/entry.py); both run the same body.
    from mahavishnu.cli.fast.switch import run_switch_llm

    status = run_switch_llm(**values)
    if status:
        raise typer.Exit(status)


@app.command("backups")
def backups(
    path: Path | None = typer.Option(None, "--file", help="Only the backups of this config file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the switches and other changes made (time, what, files; newest first, what `ai rollback`
    undoes) and the backups taken before each write (`ai rollback --to ID` puts any of them back)."""
    from mahavishnu.files.safe_write import list_backups
    from mahavishnu.files.switch_log import records

    found = list_backups(path)
    switches = [] if path is not None else records(changes=True)
    if as_json:
        print_json(
            {
                "switches": [s.summary() for s in switches],
                "backups": [{"id": b.id, "path": str(b.path), "size": b.size} for b in found],
            }
        )
        return
    if switches:
        table(
            "switches and changes (newest first; `ai rollback` undoes the first not undone yet)",
            ["time", "change", "tools", "files"],
            [
                (s.time, s.describe(), ", ".join(s.tools), "\n".join(str(e.path) for e in s.files))
                for s in switches
            ],
        )
    if found:
        table("file backups", ["id", "file", "bytes"], [(b.id, b.path, b.size) for b in found])
    elif path is not None:
        info(f"no backup of {path} yet: Mahavishnu backs a file up before it writes over it")
    elif not switches:
        info(
            "nothing recorded yet: `ai switch-llm`, `mcp-servers add/remove/sync`, `mcp install` and "
            "`memory hooks install/remove` record what they change, and back up each file before they write "
            "over it"
        )
    else:  # the recorded changes only created files: there was nothing to back up
        info("no file backups: the changes above only created files (a backup is taken before an overwrite)")


@app.command("rollback")
def rollback(
    to: str | None = typer.Option(
        None,
        "--to",
        help="Backup id of any file, as `ai backups` lists it: that file goes back to it, with the files "
        "the same switch or change wrote.",
    ),
    tool: str | None = RollbackToolOption,
    scope: str = ScopeOption,
    codex_profile: str | None = CodexProfileOption,
) -> None:
    """Undo the most recent switch or change Mahavishnu recorded (a switch-llm, an mcp-servers
    add/remove/sync, an mcp install, a memory hooks install/remove) that is not undone yet: every file
    it wrote goes back (or is removed if it created it, with the folders it created once empty); in
    ~/.claude.json, Claude Code's own state file, only the MCP servers it changed go back and
    everything else stays as it is. Run it again to step back further, like undo. `claude
    hooks/permissions/statusline` edits are not recorded: `ai backups --file FILE` lists the backups
    taken before them, `--to ID` puts one back. What the files hold now is backed up first, so `--to
    ID` can put back what a rollback replaced."""
    from mahavishnu.environments.scopes import parse_scope
    from mahavishnu.environments.switcher import (
        ALL,
        LABELS,
        assistant,
        restore_backup,
        rollback_to,
        undo_switch,
    )
    from mahavishnu.errors import NotFoundError
    from mahavishnu.files import switch_log
    from mahavishnu.files.safe_write import find_backup

    settings = _settings()
    where = parse_scope(scope)
    named = None if tool in (None, ALL) else tool
    if to is not None:
        chosen, done = rollback_to(settings, to, tool=named, scope=where, codex_profile=codex_profile)
        console.print(f"putting back the backup {to} of {chosen.path}", markup=False)
        _print_rolled_back(done)
        return
    if codex_profile is None:
        last = switch_log.to_undo(named)
        if last is not None:
            noun = "switch" if last.kind == switch_log.SWITCH else "change"
            what = f"to {last.profile}" if noun == "switch" else f"({last.profile})"
            unrecorded = switch_log.unrecorded_since(last)
            undone = undo_switch(settings, last)  # (said once done: a refusal undoes nothing)
            console.print(f"undid the {noun} of {last.time} {what}", markup=False)
            _print_rolled_back(undone, noun)
            for backup in unrecorded:
                warn(
                    f"{backup.path} was changed after that {noun} by a Mahavishnu edit that is not recorded "
                    f"(claude hooks, permissions or statusline): left as it is; `mahavishnu ai rollback "
                    f"--to {backup.id}` undoes the last such edit"
                )
            return
        if any(named is None or named in entry.tools for entry in switch_log.records(changes=True)):
            raise NotFoundError(
                "nothing left to undo: every recorded switch or change"
                + (f" of {LABELS.get(named, named)}" if named else "")
                + " is undone already",
                hint="`mahavishnu ai backups` lists them; `mahavishnu ai rollback --to ID` puts back any "
                "backup it lists (what a rollback replaced included).",
            )
        if tool == ALL:
            raise NotFoundError("no switch or change is recorded", hint="See `mahavishnu ai backups`.")
    # nothing recorded (for that assistant): its settings file from its newest backup, said as such
    target = assistant(named or settings.environments.default_tool, codex_profile=codex_profile)
    path = target.settings_path(where)
    try:
        chosen = find_backup(path, None)
    except NotFoundError as exc:
        raise NotFoundError(
            f"no switch or change of {LABELS[target.name]} is recorded, and {path} has no backup",
            hint="See `mahavishnu ai backups`.",
        ) from exc
    why = "" if codex_profile else f"no switch or change of {LABELS[target.name]} is recorded: "
    console.print(
        f"{why}putting back the newest backup of {chosen.path}, {chosen.id} (what it held before "
        "Mahavishnu last wrote it)",
        markup=False,
    )
    _print_rolled_back(restore_backup(settings, chosen, validate=target.validate_text, scope=where))


def _print_rolled_back(done: list[Any], noun: str = "switch") -> None:
    for each in done:
        source = f" from backup {each.source}" if each.source else ""
        if each.action == "merged":
            what = (
                f"its MCP servers put back as backup {each.source} had them"
                if each.source
                else "the MCP servers the change added taken out (it had created the file)"
            )
            message = f"{what}; Claude Code's own state in it kept as it is"
        else:
            message = {
                "restored": f"restored{source}",
                "unchanged": "restored (it already matched)",
                "removed": f"removed (the {noun} had created it; a backup was kept)",
            }[each.action]
        console.print(f"{each.path}: {message}", markup=False)
        for note in each.notes:
            warn(f"{each.path}: {note}")
        if each.edited_kept_as:
            warn(
                f"{each.path} had changed since that {noun} (by hand or by the assistant), and those "
                f"changes are undone too; the file as it was is backed up: `mahavishnu ai rollback --to "
                f"{each.edited_kept_as}` puts it back"
            )


@app.command("test")
def test(
    name: str | None = typer.Argument(
        None, help="Profile name or alias, or `all` (every profile; those without a key are not contacted)."
    ),
    tool: str | None = typer.Option(
        None,
        "--tool",
        "-t",
        help=f"Instead of a profile: the provider this assistant uses now ({listed('all')}), probed "
        "exactly as `mahavishnu watch` does.",
    ),
    protocol: str | None = typer.Option(
        None, "--protocol", "-p", help="Only this wire protocol: anthropic, openai or gemini."
    ),
    scope: str = typer.Option(
        "user", "--scope", "-s", help="With --tool: which config file (user, project, local)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Probe providers once (one cheap authenticated request): status, HTTP code, latency.
    Exits 1 when no probe succeeded."""
    from mahavishnu.errors import InvalidInputError
    from mahavishnu.services import metrics, probe

    settings = _settings()
    if name is None and tool is None:
        raise InvalidInputError(
            "name a profile (or `all`), or pass --tool",
            hint="e.g. `mahavishnu ai test qwen` or `--tool claude`.",
        )
    if name is not None and tool is not None:  # --tool probes what the assistant uses now, not a profile
        raise InvalidInputError(
            f"give a profile or --tool, not both: '{name}' and --tool {tool}",
            hint=f"`mahavishnu ai test {name}` probes that profile; `mahavishnu ai test --tool {tool}` "
            "the provider that assistant uses now.",
        )
    if protocol not in (None, "anthropic", "openai", "gemini"):
        raise InvalidInputError(f"unknown protocol '{protocol}'", hint="Use anthropic, openai or gemini.")
    timeout = settings.watch.probe_timeout_seconds
    results: list[ProbeResult] = []
    if tool is not None:
        from mahavishnu.environments.switcher import ASSISTANTS, assistant, current

        for each in list(ASSISTANTS) if tool == "all" else [assistant(tool).name]:
            found = probe.probe_active(each, settings, scope=scope, timeout=timeout)
            if found is not None:
                results.append(found)
            elif any(entry.scope == scope for entry in current(settings, each)):
                console.print(f"{each}: not pointed at a known profile at {scope} scope", markup=False)
            else:
                console.print(f"{each}: its own login at {scope} scope, no provider to probe", markup=False)
    else:
        from mahavishnu.environments.profiles import all_profiles

        names = list(all_profiles(settings)) if name == "all" else [str(name)]
        for each in names:
            probed = probe.probe_profile(each, settings, protocol=protocol, timeout=timeout)  # type: ignore[arg-type]
            if not probed and name != "all" and not as_json:
                console.print(
                    f"{each}: the assistant's own login, no provider to probe "
                    "(the assistant checks its login itself)",
                    markup=False,
                )
            results += probed
    for result in results:
        if result.status != "no-key":
            metrics.record_probe(result)
    if as_json:
        print_json([asdict(r) for r in results])
    elif results:
        columns = ["profile", "protocol", "status", "http", "latency ms", "detail"]
        rows = [
            [r.profile, r.protocol, r.status, r.http_status, r.latency_ms, None if r.ok else _short(r.detail)]
            for r in results
        ]
        if tool is not None:
            columns.insert(0, "tool")
            rows = [[r.tool, *row] for r, row in zip(results, rows, strict=True)]
        table(None, columns, rows)
        _print_hints(results)
    if results and not any(r.ok for r in results):
        raise typer.Exit(1)


def _print_hints(results: list[ProbeResult]) -> None:
    """Each failure's next step once, with the protocols it applies to."""
    protocols: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r.hint:
            protocols.setdefault((r.profile, r.hint), []).append(r.protocol)
    for (profile, hint), names in protocols.items():
        console.print(f"{profile} ({', '.join(names)}): {hint}", markup=False)


def _short(text: str, limit: int = 60) -> str:
    text = text.split(" (tried ")[0]  # a missing key's message lists every reference tried
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _settings() -> Settings:
    from mahavishnu.config import load_settings

    return load_settings()
