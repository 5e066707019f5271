"""The team flow of the documentation (docs/team.md, linked from the README), exactly as written there:
its commands, parsed from the first block of the ``## From an empty database to a shared decision``
section, run in order as processes against the real PostgreSQL 18 + pgvector, the
owner, Alice and Bob each on a machine of their own (a home each); then Bob's Claude Code starts a
session in his ``api`` checkout and runs the SessionStart hook ``team join --hooks claude`` wrote
into his settings, as Claude Code runs it (through a shell, the event's JSON on standard input).
The decision Alice stored must be in what that hook adds to the session, labelled with her name;
and (e2e) in the first request Bob's real Claude Code sends the loopback mock from that checkout."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from claude_cli import find_claude, parse_result, run_claude
from mock_llm import MockLLM
from testkit.team_pg import TeamCluster

from mahavishnu.memory.team.members import JOIN_PREFIX

TEAM_PAGE = Path(__file__).resolve().parents[2] / "docs" / "team.md"
MAX_COMMANDS = 5  # issue 37: from an empty database to a decision shared, five commands or fewer


def team_flow() -> list[list[str]]:
    """The ``mahavishnu …`` commands of the team page's step-by-step section's first bash block, as argv."""
    text = TEAM_PAGE.read_text(encoding="utf-8")
    section = text.split("## From an empty database to a shared decision", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "the team page's step-by-step section has no bash block"
    lines = [line.strip() for line in found.group(1).splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.startswith("mahavishnu ")]


class Machine:
    """One person's computer: a home of their own, no OS keyring (the 0600 secrets file instead)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True)
        self.env = {
            **os.environ,
            "HOME": str(home),
            "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }

    def run(self, words: list[str], *, cwd: Path | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mahavishnu", *words],
            env=self.env,
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, (words, done.stdout, done.stderr)
        return done.stdout

    def hook(self, command: str, payload: dict[str, Any], cwd: Path) -> str:
        """A hook command as Claude Code runs it: through a shell, the event on standard input."""
        done = subprocess.run(
            command,
            shell=True,
            input=json.dumps(payload),
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done.stdout


def join_strings(output: str) -> dict[str, str]:
    """``team add``'s join strings by member: each on its own line, after the line naming whose it is."""
    lines = output.splitlines()
    strings: dict[str, str] = {}
    for before, line in itertools.pairwise(lines):
        if line.startswith(JOIN_PREFIX):
            name = before.split(" is a member", 1)[0]
            assert name not in strings, f"two join strings for {name}"
            strings[name] = line.strip()
    return strings


def session_start_hook(machine: Machine) -> str:
    """The SessionStart command Claude Code would run, from the settings file Claude Code reads."""
    [claude] = json.loads(machine.run(["memory", "hooks", "status", "--tool", "claude", "--json"]))
    assert claude["state"] == "installed", claude
    settings = json.loads(Path(claude["path"]).read_text(encoding="utf-8"))
    commands = [
        handler["command"]
        for group in settings["hooks"]["SessionStart"]
        for handler in group["hooks"]
        if "memory context --tool claude" in handler.get("command", "")
    ]
    assert len(commands) == 1, settings
    return str(commands[0])


def walk_the_flow(team: TeamCluster, tmp_path: Path) -> tuple[dict[str, Machine], dict[str, str]]:
    """The page's commands run in order: each member's machine, and the join strings by role."""
    flow = team_flow()
    assert [w[1:3] for w in flow][:3] == [["team", "init"], ["team", "add"], ["team", "join"]], flow
    assert len(flow) <= MAX_COMMANDS, flow
    owner, members = Machine(tmp_path / "owner"), {}
    names = {"alice": team.member_name("alice"), "bob": team.member_name("bob")}  # roles: cluster-wide
    strings: dict[str, str] = {}
    first_member = ""
    for words in flow:
        words = words[1:]
        words = [team.owner_dsn if before == "--dsn" else w for before, w in itertools.pairwise(["", *words])]
        if words[:2] == ["team", "init"]:
            owner.run(words)
        elif words[:2] == ["team", "add"]:
            given = [w for w in words[2:] if w in names]
            assert given == ["alice", "bob"], words
            team.member_roles.extend(names[n] for n in given)  # dropped with the cluster
            output = owner.run([names.get(w, w) for w in words])
            strings = join_strings(output)
            assert set(strings) == set(names.values()), output
            assert all(output.count(s) == 1 for s in strings.values()), output
            first_member = given[0]
        elif words[:2] == ["team", "join"]:
            for name in names:  # each member on their own machine, with their own string
                machine = members[name] = Machine(tmp_path / name)
                joined = [strings[names[name]] if w.startswith(JOIN_PREFIX) else w for w in words]
                assert joined != words, f"no join string in {words}"
                machine.run(joined)
        else:  # what a member does once joined: Alice, the first one the owner added
            members[first_member].run(words)
    assert set(members) == {"alice", "bob"}, "the flow has no `team join`"
    return members, strings


def api_checkout(machine: Machine) -> Path:
    """Bob's clone of the api repository: the project ``api``."""
    checkout = machine.home / "src" / "api"
    (checkout / ".git").mkdir(parents=True)
    return checkout


def test_the_documented_team_flow_reaches_the_other_members_claude_code_session(
    team: TeamCluster, tmp_path: Path
) -> None:
    members, strings = walk_the_flow(team, tmp_path)
    alice_role = team.member_name("alice")

    bob = members["bob"]
    checkout = api_checkout(bob)
    session = "0d6f3c4e-1b2a-4c5d-8e9f-a0b1c2d3e4f5"
    payload = {
        "session_id": session,
        "transcript_path": str(bob.home / ".claude" / "projects" / "-src-api" / f"{session}.jsonl"),
        "cwd": str(checkout),
        "hook_event_name": "SessionStart",
        "source": "startup",
    }
    said = bob.hook(session_start_hook(bob), payload, checkout)
    assert said.strip(), "Bob's SessionStart hook added nothing to his session"
    answer = json.loads(said)
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert answer["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "Deploys go through the blue-green pipeline" in context, context
    item = next(line for line in context.splitlines() if "blue-green" in line)
    assert f"decision · kept · from {alice_role}" in item, item

    # the join strings were printed once and kept nowhere: not in any file of the three machines
    kept = "\n".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size < 10**7
    )
    assert not [s for s in strings.values() if s in kept]


@pytest.mark.e2e
@pytest.mark.skipif(
    find_claude() is None, reason="Claude Code is not installed: run `bash .ci/install-e2e.sh`"
)
def test_the_real_claude_code_of_the_other_member_sends_the_shared_decision(
    team: TeamCluster, tmp_path: Path
) -> None:
    """The same flow, then Bob's real Claude Code (against the loopback mock) starts a session in
    his api checkout: its hooks, as ``team join --hooks claude`` wrote them, put Alice's decision,
    labelled with her name, into the first request it sends."""
    members, _ = walk_the_flow(team, tmp_path)
    bob = members["bob"]
    checkout = api_checkout(bob)
    settings = bob.home / ".claude" / "settings.json"
    with MockLLM(reply="Blue-green, then.") as mock:
        # the hooks team join wrote, and the mock as the provider
        written = json.loads(settings.read_text(encoding="utf-8")) if settings.exists() else {}
        settings.parent.mkdir(parents=True, exist_ok=True)
        written["env"] = {
            "ANTHROPIC_BASE_URL": mock.base_url,
            "ANTHROPIC_MODEL": "m-anthropic",
            "ANTHROPIC_AUTH_TOKEN": "sk-team-e2e-0123456789",
        }
        settings.write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
        own = (
            "MAHAVISHNU_HOME",
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "PYTHON_KEYRING_BACKEND",
            "MAHAVISHNU_DAEMON",
        )
        hook_env = {name: bob.env[name] for name in own if name in bob.env}
        hook_env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        claude = run_claude(bob.home, "How do deploys go out?", extra_env=hook_env, cwd=checkout, timeout=180)
        assert claude.returncode == 0 and not parse_result(claude)["is_error"], claude.stderr[-3000:]
        first = " ".join(json.dumps(r.body, ensure_ascii=False) for r in mock.requests_to("/v1/messages")[:1])
    assert "Deploys go through the blue-green pipeline" in first, first[-3000:]
    assert f"from {team.member_name('alice')}" in first, first[-3000:]
