"""The MCP-server registry: one entry changes; the rest of each assistant's file stays byte for byte."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mahavishnu.doctor import SHIPPED_SCHEMAS as SCHEMAS
from mahavishnu.environments import mcp_servers
from mahavishnu.environments.assistants.base import mahavishnu_argv
from mahavishnu.environments.mcp_servers import (
    TOOLS,
    McpServer,
    add_server,
    find_server,
    install_self,
    list_servers,
    parse_env,
    parse_headers,
    parse_tools,
    remove_server,
    sync_server,
)
from mahavishnu.environments.mcp_servers.shapes import SHAPES
from mahavishnu.errors import (
    InvalidConfigFileError,
    InvalidInputError,
    NotFoundError,
    ProtocolMismatchError,
)
from mahavishnu.files import safe_write
from mahavishnu.files.json_document import JsonDocument

CODEX_SCHEMA = json.loads((SCHEMAS / "codex-config.schema.json").read_text())
GEMINI_SCHEMA = json.loads((SCHEMAS / "gemini-cli-settings.schema.json").read_text())
# Qwen Code is a fork of Gemini CLI and reads the same MCPServerConfig fields.
QWEN_ENTRY_SCHEMA = {
    "$schema": GEMINI_SCHEMA["$schema"],
    "$defs": GEMINI_SCHEMA["$defs"],
    "type": "object",
    "additionalProperties": {"$ref": "#/$defs/MCPServerConfig"},
}
# No published schema covers ~/.claude.json or .mcp.json: the shapes `claude mcp add` writes (2.1.197).
CLAUDE_ENTRIES_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [
            {
                "type": "object",
                "required": ["type", "command"],
                "properties": {
                    "type": {"const": "stdio"},
                    "command": {"type": "string", "minLength": 1},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            {
                "type": "object",
                "required": ["type", "url"],
                "properties": {
                    "type": {"enum": ["http", "sse"]},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        ]
    },
}

CLAUDE_JSON = """{
  "numStartups": 42,
  "installMethod": "npm",
  "autoUpdates": false,
  "oauthAccount": {
    "accountUuid": "00000000-1111-2222-3333-444444444444",
    "emailAddress": "dev@example.com"
  },
  "mcpServers": {
    "theirs": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@acme/mcp"],
      "env": {}
    }
  },
  "projects": {
    "PROJECT": {
      "allowedTools": [],
      "mcpServers": {},
      "hasTrustDialogAccepted": true
    }
  },
  "x-unknown": {"nested": [1, 2.50, "\\u00fc"]}
}
"""

CODEX_TOML = """# Codex config, written by hand
model = "gpt-5-codex"   # the default
model_provider = "lab"

[model_providers.lab]
name = "Lab"
base_url = "http://127.0.0.1:9999/v1"
env_key = "LAB_API_KEY"
wire_api = "responses"

[projects."/home/dev/work"]
trust_level = "trusted"

# their own server: it must survive every edit
[mcp_servers.theirs]
command = "npx"
args = ["-y", "@acme/mcp"]
startup_timeout_sec = 20

[mcp_servers.theirs.env]
ACME_TOKEN = "acme-secret-value-1234567890"

[tui]
# a comment at the end
"""

QWEN_JSONC = """{
  // Qwen Code settings, with comments
  "$version": 4,
  "model": {"name": "qwen3-coder-plus"},  /* inline block comment */
  "mcpServers": {
    // a server somebody added by hand
    "theirs": {
      "command": "npx",
      "args": ["-y", "@acme/mcp"],
      "trust": true
    }
  },
  "security": {"auth": {"selectedType": "openai"}}
}
"""

GEMINI_JSON = """{
  "security": {"auth": {"selectedType": "gemini-api-key"}},
  "mcpServers": {
    "theirs": {"httpUrl": "https://mcp.example.com/mcp", "timeout": 5000, "trust": false}
  },
  "model": {"name": "gemini-2.5-pro"}
}
"""

OPENCODE_JSONC = """{
  // OpenCode settings, with comments and trailing commas
  "$schema": "https://opencode.ai/config.json",
  "mcp": {
    "theirs": {"type": "local", "command": ["npx", "-y", "@acme/mcp"], "enabled": true, "timeout": 5000},
  },
  "share": "disabled",
}
"""

STDIO = McpServer.stdio("mv-test", "python3", ["-c", "print(1)"], {"LOG_LEVEL": "debug"})
HTTP = McpServer.remote("mv-http", "https://mcp.example.org/mcp", "http", {"X-Team": "blue"})
SSE = McpServer.remote("mv-sse", "https://mcp.example.org/sse", "sse")
SECRET = "sk-mcp-secret-0123456789abcdef"


@pytest.fixture
def project(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = isolated_home / "src" / "app"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    return root


def user_file(tool: str, home: Path) -> Path:
    return {
        "claude": home / ".claude.json",
        "codex": home / ".codex" / "config.toml",
        "qwen": home / ".qwen" / "settings.json",
        "gemini": home / ".gemini" / "settings.json",
        "opencode": home / ".config" / "opencode" / "opencode.json",
    }[tool]


def seed(tool: str, home: Path, project: Path) -> tuple[Path, str]:
    """Each assistant's user file, full of things that are not ours."""
    text = {
        "claude": CLAUDE_JSON.replace('"PROJECT"', json.dumps(str(project))),
        "codex": CODEX_TOML,
        "qwen": QWEN_JSONC,
        "gemini": GEMINI_JSON,
        "opencode": OPENCODE_JSONC,
    }[tool]
    path = user_file(tool, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path, text


def data(tool: str, text: str) -> dict[str, Any]:
    if tool == "codex":
        return tomllib.loads(text)
    return JsonDocument.parse(text).data


def servers_key(tool: str) -> str:
    return {"codex": "mcp_servers", "opencode": "mcp"}.get(tool, "mcpServers")


def listed(tool: str = "all") -> dict[tuple[str, str, str], mcp_servers.Registered]:
    found, warnings = list_servers(tool)
    assert warnings == []
    return {(r.tool, r.scope, r.server.name): r for r in found}


# -- the model -------------------------------------------------------------------------------------


def test_option_parsers() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_headers(["Authorization: Bearer abc", "X-A:b"]) == {
        "Authorization": "Bearer abc",
        "X-A": "b",
    }
    assert parse_tools("all") == (list(TOOLS), True)
    assert parse_tools("codex, claude,codex") == (["codex", "claude"], False)
    for bad_env in (["NOEQUALS"], ["1BAD=x"]):
        with pytest.raises(InvalidInputError):
            parse_env(bad_env)
    with pytest.raises(InvalidInputError):
        parse_headers(["no colon"])
    with pytest.raises(InvalidInputError, match="unknown tool 'cursor'"):
        parse_tools("claude,cursor")


@pytest.mark.parametrize(
    "make",
    [
        lambda: McpServer.stdio("has space", "x"),
        lambda: McpServer.stdio("a.b", "x"),
        lambda: McpServer.stdio("ok", ""),
        lambda: McpServer.stdio("ok", "x", env={"BAD-NAME": "1"}),
        lambda: McpServer.remote("ok", "ftp://host/mcp"),
        lambda: McpServer.remote("ok", "https://host/mcp", "ws"),
        lambda: McpServer.remote("ok", "https://host/mcp", headers={"Bad Header": "1"}),
    ],
)
def test_servers_every_assistant_could_not_take_are_refused(make: Callable[[], McpServer]) -> None:
    with pytest.raises(InvalidInputError):
        make()


SAMPLES = [
    STDIO,
    McpServer.stdio("bare", "mcp-server"),
    HTTP,
    McpServer.remote("plain", "http://127.0.0.1:8000/mcp"),
    SSE,
]


@pytest.mark.parametrize(
    ("tool", "server"),
    [
        pytest.param(tool, server, id=f"{tool}-{server.name}")
        for tool in TOOLS
        for server in SAMPLES
        if server.transport in SHAPES[tool].transports
    ],
)
def test_each_shape_reads_back_what_it_writes(tool: str, server: McpServer) -> None:
    shape = SHAPES[tool]
    assert shape.parse(server.name, shape.native(server)) == server


def test_entry_shapes_are_what_each_cli_writes() -> None:
    shapes = SHAPES
    headers = McpServer.remote("h", "https://x.org/mcp", headers={"Authorization": "Bearer t"})
    assert shapes["claude"].native(McpServer.stdio("s", "npx", ["-y"])) == {
        "type": "stdio",
        "command": "npx",
        "args": ["-y"],
        "env": {},
    }
    assert shapes["claude"].native(headers) == {
        "type": "http",
        "url": "https://x.org/mcp",
        "headers": {"Authorization": "Bearer t"},
    }
    assert shapes["codex"].native(headers) == {
        "url": "https://x.org/mcp",
        "http_headers": {"Authorization": "Bearer t"},
    }
    assert shapes["qwen"].native(headers) == {
        "httpUrl": "https://x.org/mcp",
        "headers": {"Authorization": "Bearer t"},
    }
    assert shapes["qwen"].native(SSE) == {"url": "https://mcp.example.org/sse"}
    assert shapes["gemini"].native(SSE) == {"url": "https://mcp.example.org/sse", "type": "sse"}
    assert shapes["gemini"].native(McpServer.stdio("s", "npx")) == {"command": "npx"}


def test_entries_written_by_hand_in_older_shapes_are_understood() -> None:
    gemini, qwen, claude = (SHAPES[t] for t in ("gemini", "qwen", "claude"))
    assert gemini.parse("a", {"httpUrl": "https://h/mcp"}).transport == "http"
    assert gemini.parse("a", {"url": "https://h/mcp"}).transport == "http"  # tried as HTTP first
    assert qwen.parse("a", {"url": "https://h/sse"}).transport == "sse"
    assert claude.parse("a", {"command": "x"}).transport == "stdio"  # .mcp.json may omit type
    assert gemini.parse("a", {"tcp": "127.0.0.1:9"}).transport == "ws"


def test_secret_values_are_found_by_name_and_by_shape() -> None:
    server = McpServer.stdio(
        "s",
        "x",
        env={"GITHUB_TOKEN": "short", "PLAIN": "debug", "KEYLESS": SECRET, "PATHLIKE": "/usr/local/bin"},
    )
    assert set(server.secret_values()) == {"short", SECRET}
    shown = server.to_dict()["env"]
    assert shown["PLAIN"] == "debug" and shown["PATHLIKE"] == "/usr/local/bin"
    assert SECRET not in json.dumps(shown) and "short" not in json.dumps(shown)
    remote = McpServer.remote("r", "https://h/mcp", headers={"Authorization": f"Bearer {SECRET}"})
    assert remote.to_dict()["headers"]["Authorization"].startswith("Bearer sk-")
    assert SECRET not in json.dumps(remote.to_dict())


# -- add / list / remove round trips ------------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("server", [STDIO, HTTP], ids=["stdio", "http"])
def test_add_list_remove_keeps_everything_else_byte_identical(
    tool: str, server: McpServer, isolated_home: Path, project: Path
) -> None:
    path, original = seed(tool, isolated_home, project)

    result = add_server(server, tool)
    assert [(c.tool, c.action) for c in result.changes] == [(tool, "added")]
    after = path.read_text()
    before_data, after_data = data(tool, original), data(tool, after)
    added = after_data[servers_key(tool)].pop(server.name)
    assert after_data == before_data  # nothing else changed
    assert SHAPES[tool].parse(server.name, added) == server

    rows = listed(tool)
    assert rows[(tool, "user", server.name)].managed
    assert rows[(tool, "user", server.name)].server == server
    assert not rows[(tool, "user", "theirs")].managed

    assert add_server(server, tool).changes[0].action == "unchanged"
    assert path.read_text() == after

    remove_server(server.name, tool)
    assert path.read_text() == original
    assert (tool, "user", server.name) not in listed(tool)


@pytest.mark.parametrize("tool", TOOLS)
def test_add_then_remove_in_a_file_without_servers_restores_it(tool: str, isolated_home: Path) -> None:
    path = user_file(tool, isolated_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    original = 'model = "gpt-5"\n' if tool == "codex" else '{\n  "model": {"name": "m"}\n}\n'
    if tool == "claude":
        original = '{\n  "numStartups": 1\n}\n'
    path.write_text(original)
    add_server(STDIO, tool)
    assert STDIO.name in path.read_text()
    remove_server(STDIO.name, tool)
    assert path.read_text() == original


def test_claude_user_file_is_created_private(isolated_home: Path) -> None:
    add_server(STDIO, "claude")
    path = isolated_home / ".claude.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["mcpServers"][STDIO.name]["type"] == "stdio"


def test_claude_config_dir_moves_the_state_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(isolated_home / "cfg"))
    add_server(STDIO, "claude")
    assert (isolated_home / "cfg" / ".claude.json").exists()
    assert not (isolated_home / ".claude.json").exists()


def test_claude_local_scope_goes_under_the_project_entry(isolated_home: Path, project: Path) -> None:
    path, original = seed("claude", isolated_home, project)
    add_server(STDIO, "claude", "local")
    saved = json.loads(path.read_text())
    assert saved["projects"][str(project)]["mcpServers"] == {STDIO.name: SHAPES["claude"].native(STDIO)}
    assert saved["projects"][str(project)]["hasTrustDialogAccepted"] is True
    assert STDIO.name not in saved["mcpServers"]
    assert listed("claude")[("claude", "local", STDIO.name)].managed
    remove_server(STDIO.name, "claude", "local")
    assert path.read_text() == original


def test_claude_local_scope_for_a_new_project_is_pruned_again(isolated_home: Path, project: Path) -> None:
    path = isolated_home / ".claude.json"
    original = '{\n  "numStartups": 3,\n  "projects": {\n    "/elsewhere": {"allowedTools": []}\n  }\n}\n'
    path.write_text(original)
    add_server(STDIO, "claude", "local")
    assert str(project) in json.loads(path.read_text())["projects"]
    remove_server(STDIO.name, "claude", "local")
    assert path.read_text() == original


@pytest.mark.parametrize(
    ("tool", "relative"),
    [("claude", ".mcp.json"), ("qwen", ".qwen/settings.json"), ("gemini", ".gemini/settings.json")],
)
def test_project_scope_files(tool: str, relative: str, isolated_home: Path, project: Path) -> None:
    add_server(SSE, tool, "project")
    path = project / relative
    assert SSE.name in json.loads(path.read_text())["mcpServers"]
    assert listed(tool)[(tool, "project", SSE.name)].managed
    assert not user_file(tool, isolated_home).exists()


def test_scopes_and_transports_an_assistant_lacks(isolated_home: Path) -> None:
    with pytest.raises(InvalidInputError, match="codex keeps no MCP servers at project scope"):
        add_server(STDIO, "codex", "project")
    with pytest.raises(InvalidInputError, match="gemini keeps no MCP servers at local scope"):
        add_server(STDIO, "gemini", "local")
    with pytest.raises(ProtocolMismatchError, match="codex cannot use an SSE"):
        add_server(SSE, "codex")
    result = add_server(SSE, "all")  # `all` skips what a tool cannot take and says so
    assert {c.tool: c.action for c in result.changes} == {
        "codex": "skipped",
        "claude": "added",
        "qwen": "added",
        "gemini": "added",
        "opencode": "skipped",
    }
    assert any("codex cannot use an SSE" in w for w in result.warnings)
    assert not (isolated_home / ".codex" / "config.toml").exists()


# -- updating and conflicts ------------------------------------------------------------------------


def test_a_server_mahavishnu_did_not_add_is_not_overwritten_unless_asked(
    isolated_home: Path, project: Path
) -> None:
    files = {tool: seed(tool, isolated_home, project) for tool in TOOLS}
    other = McpServer.stdio("theirs", "python3", ["-m", "ours"])
    with pytest.raises(InvalidInputError, match="did not add"):
        add_server(other, "all")
    for path, original in files.values():
        assert path.read_text() == original  # refused before the first write

    add_server(other, "gemini", replace=True)
    entry = json.loads(files["gemini"][0].read_text())["mcpServers"]["theirs"]
    assert entry["command"] == "python3"
    assert "httpUrl" not in entry  # another transport: the entry was replaced whole


def test_updating_keeps_the_keys_the_model_does_not_cover(isolated_home: Path, project: Path) -> None:
    path, _ = seed("codex", isolated_home, project)
    theirs = McpServer.stdio("theirs", "npx", ["-y", "@acme/mcp@2"], {"ACME_TOKEN": "new-token-abcdefghijkl"})
    add_server(theirs, "codex", replace=True)
    text = path.read_text()
    entry = tomllib.loads(text)["mcp_servers"]["theirs"]
    assert entry == {
        "command": "npx",
        "args": ["-y", "@acme/mcp@2"],
        "startup_timeout_sec": 20,
        "env": {"ACME_TOKEN": "new-token-abcdefghijkl"},
    }
    assert "# their own server: it must survive every edit" in text
    assert listed("codex")[("codex", "user", "theirs")].managed  # replaced on request: ours now

    qwen_path, _ = seed("qwen", isolated_home, project)
    add_server(McpServer.stdio("theirs", "uvx", ["acme-mcp"]), "qwen", replace=True)
    qwen_text = qwen_path.read_text()
    assert "// a server somebody added by hand" in qwen_text
    assert JsonDocument.parse(qwen_text).data["mcpServers"]["theirs"] == {
        "command": "uvx",
        "args": ["acme-mcp"],
        "trust": True,
    }


def test_a_managed_server_is_updated_in_place(isolated_home: Path, project: Path) -> None:
    path, _ = seed("gemini", isolated_home, project)
    add_server(HTTP, "gemini")
    moved = McpServer.remote(HTTP.name, "https://mcp.example.org/v2/mcp", "http")
    result = add_server(moved, "gemini")
    assert result.changes[0].action == "updated"
    saved = json.loads(path.read_text())["mcpServers"]
    assert saved[HTTP.name] == {"url": "https://mcp.example.org/v2/mcp", "type": "http"}
    assert list(saved) == ["theirs", HTTP.name]


# -- concurrent writers ----------------------------------------------------------------------------


def test_claude_rewriting_its_file_during_our_write_loses_nothing(
    isolated_home: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = seed("claude", isolated_home, project)
    rewrites: list[str] = []

    def claude_rewrites_its_state(step: str) -> None:
        if step == "before-replace" and not rewrites:
            current = json.loads(path.read_text())  # what Claude does on every run
            current["numStartups"] += 1
            current["tipsHistory"] = {"new-tip": 1}
            path.write_text(json.dumps(current, indent=2))
            rewrites.append(step)

    monkeypatch.setattr(safe_write, "fault_hook", claude_rewrites_its_state)
    add_server(STDIO, "claude")

    assert rewrites == ["before-replace"]
    saved = json.loads(path.read_text())
    assert saved["numStartups"] == 43 and saved["tipsHistory"] == {"new-tip": 1}
    assert set(saved["mcpServers"]) == {"theirs", STDIO.name}
    assert saved["oauthAccount"]["emailAddress"] == "dev@example.com"


def test_a_failed_write_rolls_back_the_files_already_written(
    isolated_home: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {tool: seed(tool, isolated_home, project) for tool in TOOLS}
    replaces: list[str] = []

    def third_write_fails(step: str) -> None:
        if step == "before-replace":
            replaces.append(step)
            if len(replaces) == 3:
                raise OSError("disk full")

    monkeypatch.setattr(safe_write, "fault_hook", third_write_fails)
    with pytest.raises(OSError, match="disk full"):
        add_server(STDIO, "all")
    assert len(replaces) > 3  # the two files written first were put back
    for path, original in files.values():
        assert path.read_text() == original
    assert not mcp_servers.state_path().exists()


# -- sync -----------------------------------------------------------------------------------------


def test_sync_copies_one_server_and_never_removes_others(isolated_home: Path, project: Path) -> None:
    files = {tool: seed(tool, isolated_home, project) for tool in TOOLS}
    add_server(HTTP, "claude")

    result = sync_server(HTTP.name, "claude", "all")
    assert {c.tool: c.action for c in result.changes} == {
        "codex": "added",
        "qwen": "added",
        "gemini": "added",
        "opencode": "added",
    }
    rows = listed()
    for tool in TOOLS:
        assert rows[(tool, "user", HTTP.name)].server == HTTP
        assert rows[(tool, "user", HTTP.name)].managed
        assert (tool, "user", "theirs") in rows and not rows[(tool, "user", "theirs")].managed
        path, original = files[tool]
        current = data(tool, path.read_text())
        current[servers_key(tool)].pop(HTTP.name)
        assert current == data(tool, original)

    remove_server(HTTP.name, "all")
    for path, original in files.values():
        assert path.read_text() == original


def test_sync_reads_the_scope_the_assistant_uses(isolated_home: Path, project: Path) -> None:
    add_server(McpServer.stdio("dup", "user-level"), "claude")
    add_server(McpServer.stdio("dup", "local-level"), "claude", "local")
    loc, server = find_server("dup", "claude")
    assert (loc.scope, server.command) == ("local", "local-level")
    sync_server("dup", "claude", "codex", source_scope="user")
    assert tomllib.loads(user_file("codex", isolated_home).read_text())["mcp_servers"]["dup"] == {
        "command": "user-level"
    }
    with pytest.raises(NotFoundError, match="qwen has no MCP server 'dup'"):
        sync_server("dup", "qwen", "all")


def test_sync_refuses_to_overwrite_a_server_it_did_not_add(isolated_home: Path, project: Path) -> None:
    path, original = seed("codex", isolated_home, project)
    add_server(McpServer.stdio("theirs", "something-else"), "claude")
    with pytest.raises(InvalidInputError, match="did not add"):
        sync_server("theirs", "claude", "codex")
    assert path.read_text() == original


def test_sync_writes_variable_references_as_the_target_expands_them(
    isolated_home: Path, project: Path
) -> None:
    """OpenCode expands {env:VAR}, not ${VAR}; Claude Code, Qwen Code and Gemini CLI the other way
    round: copied as they are, the server would get those very characters as its token."""
    env = {"GITHUB_TOKEN": "${GH}"}
    add_server(McpServer.stdio("gh", "npx", ["-y", "gh-mcp", "--org=${ORG}"], env), "claude")
    sync_server("gh", "claude", "opencode")
    _, opencode = find_server("gh", "opencode")
    assert (opencode.env, opencode.args[-1]) == ({"GITHUB_TOKEN": "{env:GH}"}, "--org={env:ORG}")
    remote = McpServer.remote(
        "web", "https://mcp.example/{env:TENANT}", headers={"Authorization": "Bearer {env:T}"}
    )
    add_server(remote, "opencode")
    sync_server("web", "opencode", "gemini")
    _, gemini = find_server("web", "gemini")
    assert (gemini.url, gemini.headers) == ("https://mcp.example/${TENANT}", {"Authorization": "Bearer ${T}"})


def test_a_variable_given_by_reference_reaches_each_assistant_as_it_expands_it(
    isolated_home: Path, project: Path
) -> None:
    """`add --tool all --env GITHUB_TOKEN=${GITHUB_TOKEN}` wrote those characters into OpenCode's file
    (which expands {env:VAR} only) and Codex's (which expands nothing): both servers got them as the
    token. Codex forwards a variable named as it is (``env_vars``), OpenCode gets {env:VAR}; a sync
    from Codex reads them back as references."""
    env = {"GITHUB_TOKEN": "${GITHUB_TOKEN}", "LEVEL": "debug"}
    add_server(McpServer.stdio("gh", "npx", ["-y", "gh-mcp"], env), "all")
    codex = tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())["mcp_servers"]["gh"]
    assert (codex["env"], codex["env_vars"]) == ({"LEVEL": "debug"}, ["GITHUB_TOKEN"])
    assert find_server("gh", "codex")[1].env == env
    assert find_server("gh", "opencode")[1].env == {"GITHUB_TOKEN": "{env:GITHUB_TOKEN}", "LEVEL": "debug"}
    assert find_server("gh", "gemini")[1].env == env
    assert add_server(McpServer.stdio("gh", "npx", ["-y", "gh-mcp"], env), "codex").changes[0].action == (
        "unchanged"
    )
    remove_server("gh", "opencode")
    sync_server("gh", "codex", "opencode")
    assert find_server("gh", "opencode")[1].env["GITHUB_TOKEN"] == "{env:GITHUB_TOKEN}"
    headers = {"Authorization": "Bearer ${WEB_TOKEN}", "X-Team": "${TEAM}", "X-Plain": "1"}
    add_server(McpServer.remote("web", "https://mcp.example/mcp", headers=headers), "codex")
    web = tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())["mcp_servers"]["web"]
    assert (web["bearer_token_env_var"], web["env_http_headers"]) == ("WEB_TOKEN", {"X-Team": "TEAM"})
    assert web["http_headers"] == {"X-Plain": "1"} and find_server("web", "codex")[1].headers == headers


def test_a_bare_dollar_variable_is_read_as_gemini_and_qwen_expand_it(
    isolated_home: Path, project: Path
) -> None:
    """A review: Gemini CLI expands ``$JIRA_TOKEN`` (its own docs' example); synced as it was, Codex
    and OpenCode (and Claude Code) gave the server those very characters as its token. A command
    line's whole ``$TOK`` is the same reference."""
    gemini = isolated_home / ".gemini" / "settings.json"
    gemini.parent.mkdir(parents=True)
    server = {"command": "node", "args": ["/opt/jira/index.js"], "env": {"JIRA_TOKEN": "$JIRA_TOKEN"}}
    gemini.write_text(json.dumps({"mcpServers": {"jira": server}}))
    for target in ("codex", "opencode", "claude"):
        sync_server("jira", "gemini", target)
    codex = tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())["mcp_servers"]["jira"]
    assert codex["env_vars"] == ["JIRA_TOKEN"] and "env" not in codex
    assert find_server("jira", "opencode")[1].env == {"JIRA_TOKEN": "{env:JIRA_TOKEN}"}
    assert find_server("jira", "claude")[1].env == {"JIRA_TOKEN": "${JIRA_TOKEN}"}
    add_server(McpServer.stdio("tok", "npx", ["srv"], {"TOK": "$TOK", "PRICE": "5$"}), "claude")
    assert find_server("tok", "claude")[1].env == {"TOK": "${TOK}", "PRICE": "5$"}


@pytest.mark.parametrize(
    "server",
    [
        McpServer.stdio("gh", "npx", [], {"TOKEN": "${GITHUB_TOKEN}"}),
        McpServer.stdio("gh", "npx", ["--org=${ORG}"]),
        McpServer.remote("web", "https://mcp.example/${TENANT}"),
        McpServer.remote("web", "https://mcp.example/mcp", headers={"X-Key": "key ${KEY}"}),
    ],
)
def test_a_reference_codex_cannot_forward_is_refused_before_any_file_is_written(
    isolated_home: Path, project: Path, server: McpServer
) -> None:
    with pytest.raises(InvalidInputError, match=r"Codex does not expand \$\{VAR\}"):
        add_server(server, "all")
    assert not (isolated_home / ".claude.json").exists()
    assert not (isolated_home / ".codex" / "config.toml").exists()


# -- remove -----------------------------------------------------------------------------------------


def test_remove_names_the_scope_it_is_at(isolated_home: Path, project: Path) -> None:
    add_server(STDIO, "claude", "local")
    with pytest.raises(NotFoundError, match="at local scope"):
        remove_server(STDIO.name, "claude")
    remove_server(STDIO.name, "claude", "local")
    with pytest.raises(NotFoundError):
        remove_server(STDIO.name, "claude", "local")


def test_remove_of_a_named_server_touches_only_that_entry(isolated_home: Path, project: Path) -> None:
    path, _ = seed("qwen", isolated_home, project)
    add_server(STDIO, "qwen")
    with pytest.raises(InvalidInputError, match="did not add"):
        remove_server("theirs", "qwen")  # the user's own: refused unless forced
    remove_server("theirs", "qwen", force=True)
    saved = JsonDocument.parse(path.read_text())
    assert list(saved.data["mcpServers"]) == [STDIO.name]
    assert "// Qwen Code settings, with comments" in path.read_text()


# -- invalid files and dry runs ----------------------------------------------------------------------


def test_an_invalid_file_stops_everything_with_its_line(isolated_home: Path, project: Path) -> None:
    claude_path, claude_original = seed("claude", isolated_home, project)
    gemini_path = user_file("gemini", isolated_home)
    gemini_path.parent.mkdir(parents=True, exist_ok=True)
    gemini_path.write_text('{\n  "model": {"name": "x"},\n  "mcpServers": {\n    "a": \n  }\n}\n')
    with pytest.raises(InvalidConfigFileError, match=r"settings\.json at line 5"):
        add_server(STDIO, "all")
    assert claude_path.read_text() == claude_original  # claude comes first, and was still not written
    assert not user_file("codex", isolated_home).exists()


@pytest.mark.parametrize("tool", ["qwen", "gemini"])
def test_a_file_its_assistant_cannot_read_is_refused_not_written(tool: str, isolated_home: Path) -> None:
    """Qwen Code and Gemini CLI refuse a trailing comma (JSON.parse after the comments go): a server
    added there would be lost on a file the assistant never loads, so it is refused as switch-llm
    refuses it (OpenCode's jsonc-parser takes trailing commas: its file is written)."""
    path = user_file(tool, isolated_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = '{\n  // mine\n  "mcpServers": {"a": {"command": "x"},},\n}\n'
    path.write_text(text)
    with pytest.raises(InvalidConfigFileError, match=r"line 3, column 39: a trailing comma"):
        add_server(STDIO, tool)
    assert path.read_text() == text
    _, warnings = list_servers(tool)
    assert len(warnings) == 1 and "trailing comma" in warnings[0]


def test_invalid_toml_is_reported_with_its_line(isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('model = "x"\n\n[mcp_servers.a\ncommand = "y"\n')
    with pytest.raises(InvalidConfigFileError, match=r"invalid TOML in .*config\.toml at line 3"):
        add_server(STDIO, "codex")
    _, warnings = list_servers("codex")
    assert len(warnings) == 1 and "line 3" in warnings[0]


def test_servers_map_of_the_wrong_type_is_refused(isolated_home: Path) -> None:
    path = user_file("gemini", isolated_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"mcpServers": []}\n')
    with pytest.raises(InvalidConfigFileError, match="not a map of MCP servers"):
        add_server(STDIO, "gemini")
    assert path.read_text() == '{"mcpServers": []}\n'


def test_dry_run_writes_nothing_and_masks_secrets(isolated_home: Path, project: Path) -> None:
    files = {tool: seed(tool, isolated_home, project) for tool in TOOLS}
    server = McpServer.remote(
        "secretive", "https://h.example/mcp", headers={"Authorization": f"Bearer {SECRET}"}
    )
    result = add_server(server, "all", dry_run=True)
    assert result.dry_run and {c.action for c in result.changes} == {"added"}
    for change in result.changes:
        assert "secretive" in change.diff
        assert SECRET not in change.diff
    for path, original in files.values():
        assert path.read_text() == original
    assert not mcp_servers.state_path().exists()


# -- schemas of the written files ------------------------------------------------------------------


def test_written_files_match_the_published_schemas(isolated_home: Path, project: Path) -> None:
    for tool in TOOLS:
        seed(tool, isolated_home, project)
    secret_env = McpServer.stdio("withenv", "uvx", ["tool"], {"API_KEY": SECRET})
    for server in (STDIO, HTTP, SSE, secret_env):
        add_server(server, "all")
    add_server(McpServer.stdio("proj", "x"), "all", "project")
    add_server(McpServer.stdio("loc", "x"), "claude", "local")

    codex = tomllib.loads(user_file("codex", isolated_home).read_text())
    jsonschema.Draft7Validator(CODEX_SCHEMA).validate(codex)
    assert set(codex["mcp_servers"]) == {"theirs", STDIO.name, HTTP.name, "withenv"}

    gemini = json.loads(user_file("gemini", isolated_home).read_text())
    jsonschema.Draft202012Validator(GEMINI_SCHEMA).validate(gemini)
    jsonschema.Draft202012Validator(GEMINI_SCHEMA).validate(
        json.loads((project / ".gemini/settings.json").read_text())
    )

    qwen = JsonDocument.parse(user_file("qwen", isolated_home).read_text()).data
    jsonschema.Draft202012Validator(QWEN_ENTRY_SCHEMA).validate(qwen["mcpServers"])

    claude = json.loads(user_file("claude", isolated_home).read_text())
    validator = jsonschema.Draft7Validator(CLAUDE_ENTRIES_SCHEMA)
    validator.validate(claude["mcpServers"])
    validator.validate(claude["projects"][str(project)]["mcpServers"])
    validator.validate(json.loads((project / ".mcp.json").read_text())["mcpServers"])
    # a file holding a secret is readable by its owner only
    assert stat.S_IMODE(user_file("codex", isolated_home).stat().st_mode) == 0o600


# -- mcp install -------------------------------------------------------------------------------------


def test_install_registers_mahavishnu_mcp_serve(isolated_home: Path) -> None:
    result = install_self("all")
    assert {c.action for c in result.changes} == {"added"}
    for tool in TOOLS:
        server = listed(tool)[(tool, "user", "mahavishnu")].server
        assert server.transport == "stdio"
        assert server.args[-2:] == ("mcp", "serve")
        assert [server.command, *server.args] == mahavishnu_argv("mcp", "serve")
        assert server.env == {"MAHAVISHNU_HOME": os.environ["MAHAVISHNU_HOME"]}
    assert {c.action for c in install_self("all").changes} == {"unchanged"}


def test_install_takes_over_a_stale_entry_of_the_same_name(isolated_home: Path) -> None:
    path = user_file("claude", isolated_home)
    path.write_text('{"mcpServers": {"mahavishnu": {"type": "stdio", "command": "/old/mahavishnu"}}}\n')
    install_self("claude")
    entry = json.loads(path.read_text())["mcpServers"]["mahavishnu"]
    assert entry["command"] != "/old/mahavishnu" and entry["args"][-2:] == ["mcp", "serve"]


def test_a_damaged_state_file_only_forgets_what_was_added(isolated_home: Path) -> None:
    add_server(STDIO, "claude")
    mcp_servers.state_path().write_text("{not json")
    assert not listed("claude")[("claude", "user", STDIO.name)].managed
    add_server(STDIO, "claude")  # the same entry, so no conflict
    remove_server(STDIO.name, "claude", force=True)  # no record of it any more: it reads as the user's
    assert json.loads(mcp_servers.state_path().read_text())["servers"] == []


# -- entries changed by hand ---------------------------------------------------------------------

HAND_WRITTEN_DOCS = """[mcp_servers.docs]
command = "my-own-docs-server"
args = ["--port", "7000"]
"""


def test_an_entry_changed_by_hand_since_mahavishnu_added_it_is_the_users(isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    add_server(McpServer.stdio("docs", "npx", ["-y", "docs-mcp"]), "codex")
    path.write_text(HAND_WRITTEN_DOCS)  # the user rewrites it to their own server
    row = listed("codex")[("codex", "user", "docs")]
    assert not row.managed and row.changed_by_hand

    again = McpServer.stdio("docs", "npx", ["-y", "docs-mcp@2"])
    with pytest.raises(InvalidInputError, match=r"did not add .*changed by hand") as refused:
        add_server(again, "codex")
    assert "--replace" in (refused.value.hint or "")
    assert path.read_text() == HAND_WRITTEN_DOCS

    assert add_server(again, "codex", replace=True).changes[0].action == "updated"
    assert listed("codex")[("codex", "user", "docs")].managed  # written again: Mahavishnu's again
    assert add_server(McpServer.stdio("docs", "npx", ["-y", "docs-mcp@3"]), "codex").changes[0].action == (
        "updated"
    )


def test_keys_the_model_does_not_cover_do_not_make_an_entry_the_users(isolated_home: Path) -> None:
    path = user_file("gemini", isolated_home)
    add_server(STDIO, "gemini")
    saved = json.loads(path.read_text())
    saved["mcpServers"][STDIO.name]["trust"] = True  # kept by every update anyway
    path.write_text(json.dumps(saved))
    moved = McpServer.stdio(STDIO.name, "python3", ["-c", "print(2)"])
    assert add_server(moved, "gemini").changes[0].action == "updated"
    assert json.loads(path.read_text())["mcpServers"][STDIO.name]["trust"] is True


def test_removing_an_entry_changed_by_hand_says_so(isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    add_server(McpServer.stdio("docs", "npx"), "codex")
    path.write_text(HAND_WRITTEN_DOCS)
    [change] = remove_server("docs", "codex").changes  # by name, like any server the user added
    assert change.action == "removed" and "changed by hand" in change.reason
    assert path.read_text() == ""


def test_a_record_without_a_fingerprint_keeps_the_old_rule(isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    add_server(McpServer.stdio("docs", "npx"), "codex")
    state = json.loads(mcp_servers.state_path().read_text())
    for record in state["servers"]:
        del record["fingerprint"]  # a state file written before fingerprints
    mcp_servers.state_path().write_text(json.dumps(state))
    path.write_text(HAND_WRITTEN_DOCS)
    assert listed("codex")[("codex", "user", "docs")].managed
    assert add_server(McpServer.stdio("docs", "npx"), "codex").changes[0].action == "updated"


# -- codex servers in every TOML form ---------------------------------------------------------------

CODEX_DOTTED = """model = "o3"
mcp_servers.inline1 = { command = "x" }
mcp_servers.dotted.command = "y"
mcp_servers.dotted.args = ["a"]

[tui]
theme = "dark"
"""


def test_codex_servers_written_as_dotted_keys_or_inline_tables(isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text(CODEX_DOTTED)
    docs = McpServer.stdio("docs", "npx", ["-y", "docs-mcp"], {"LEVEL": "debug"})
    add_server(docs, "codex")
    assert set(listed("codex")) == {("codex", "user", n) for n in ("inline1", "dotted", "docs")}
    moved = McpServer.stdio("docs", "npx", ["-y", "docs-mcp@2"])
    assert add_server(moved, "codex").changes[0].action == "updated"  # tables in two places now
    changed = McpServer.stdio("dotted", "z", env={"A": "1"})
    add_server(changed, "codex", replace=True)
    assert listed("codex")[("codex", "user", "dotted")].server == changed

    remove_server("docs", "codex")
    remove_server("inline1", "codex", force=True)  # written by hand
    remove_server("dotted", "codex")
    assert tomllib.loads(path.read_text()) == {"model": "o3", "tui": {"theme": "dark"}}
    assert "mcp_servers" not in path.read_text()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            'model = "o3"\n\n# the docs server\n[mcp_servers.docs]\ncommand = "d"\n\n'
            '[mcp_servers.docs.env]\nA = "1"\n\n[tui]\ntheme = "dark"\n',
            'model = "o3"\n\n[tui]\ntheme = "dark"\n',
            id="its-comment-goes-with-it",
        ),
        pytest.param(
            'model = "o3"\n\n[mcp_servers.keep]\ncommand = "k"\n\n[mcp_servers.docs]\ncommand = "d"\n',
            'model = "o3"\n\n[mcp_servers.keep]\ncommand = "k"\n',
            id="no-blank-line-left-at-the-end",
        ),
        pytest.param(
            'model = "o3"\n\n[mcp_servers]\ndocs = { command = "d" }\n\n[tui]\ntheme = "dark"\n',
            'model = "o3"\n\n[tui]\ntheme = "dark"\n',
            id="no-empty-header-left",
        ),
        pytest.param(
            'mcp_servers.docs.command = "d"\nmcp_servers.keep = { command = "k" }\n',
            'mcp_servers.keep = { command = "k" }\n',
            id="top-level-dotted-keys",
        ),
    ],
)
def test_removing_a_codex_server_leaves_the_file_as_if_it_had_never_been_there(
    before: str, after: str, isolated_home: Path
) -> None:
    path = user_file("codex", isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text(before)
    remove_server("docs", "codex", force=True)  # written by hand
    assert path.read_text() == after


@pytest.mark.parametrize(
    "original",
    [
        'model = "o3"\nmcp_servers.inline1 = { command = "x" }\n\n[tui]\ntheme = "dark"\n',
        'mcp_servers.a.command = "x"\nmcp_servers.a.args = []\n\n[tui]\ntheme = "dark"\n\n',
        '[mcp_servers]\na = { command = "x" }\n',
        'mcp_servers = { a = { command = "x" } }\n',
        '# top\n\n[mcp_servers.a]\ncommand = "x"\n\n[tui]\ntheme = "dark"\n# the end\n',
        'model = "o3"',  # no line break at the end: none is left there
    ],
)
def test_add_then_remove_restores_a_codex_file_in_any_toml_form(original: str, isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text(original)
    add_server(STDIO, "codex")
    assert listed("codex")[("codex", "user", STDIO.name)].server == STDIO
    remove_server(STDIO.name, "codex")
    assert path.read_text() == original


def test_opencode_entries_are_what_opencode_reads_and_its_own_keys_stay(
    isolated_home: Path, project: Path
) -> None:
    path, original = seed("opencode", isolated_home, project)
    add_server(STDIO, "opencode")
    add_server(HTTP, "opencode")
    entries = JsonDocument.parse(path.read_text()).data["mcp"]
    assert entries[STDIO.name] == {
        "type": "local",
        "command": ["python3", "-c", "print(1)"],
        "environment": {"LOG_LEVEL": "debug"},
    }
    assert entries[HTTP.name] == {"type": "remote", "url": HTTP.url, "headers": {"X-Team": "blue"}}
    assert listed("opencode")[("opencode", "user", STDIO.name)].server == STDIO
    remove_server(STDIO.name, "opencode")
    remove_server(HTTP.name, "opencode")
    assert path.read_text() == original

    add_server(McpServer.stdio("theirs", "uvx", ["acme-mcp"]), "opencode", replace=True)
    text = path.read_text()
    assert "// OpenCode settings, with comments and trailing commas" in text
    assert JsonDocument.parse(text).data["mcp"]["theirs"] == {
        "type": "local",
        "command": ["uvx", "acme-mcp"],
        "enabled": True,
        "timeout": 5000,
    }


def test_a_codex_file_saved_with_a_bom_gets_a_server_and_keeps_the_bom(isolated_home: Path) -> None:
    path = user_file("codex", isolated_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    original = "\ufeff" + CODEX_TOML
    path.write_text(original, encoding="utf-8")
    add_server(STDIO, "codex")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\ufeff") and text.count("\ufeff") == 1
    assert STDIO.name in tomllib.loads(text[1:])["mcp_servers"]
    assert ("codex", "user", STDIO.name) in listed("codex")
    remove_server(STDIO.name, "codex")
    assert path.read_text(encoding="utf-8") == original


@pytest.mark.parametrize("tool", ["qwen", "gemini"])
def test_a_project_server_in_the_home_folder_is_refused_not_written_to_the_user_file(
    tool: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the home folder, Qwen Code's and Gemini CLI's project file is their user file: --scope
    project there would write the user's own servers while saying it wrote the project's."""
    monkeypatch.chdir(isolated_home)
    server = McpServer(name="docs", command="docs-mcp", args=["--stdio"])
    with pytest.raises(InvalidInputError, match=r"user settings file .*no project"):
        add_server(server, tool, "project")
    assert list_servers(tool) == ([], [])
    assert not (isolated_home / f".{tool}" / "settings.json").exists()


def test_a_server_for_gemini_in_a_folder_it_does_not_trust_says_it_starts_there_disabled(
    project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gemini mcp list` showed the server just added `Disabled` (Gemini CLI 0.4x starts no MCP server,
    the user's ones neither, in a folder it does not trust), and the add had said nothing of it."""
    server = McpServer.stdio("docs", "docs-mcp")
    [warning] = add_server(server, "gemini").warnings
    trusted = isolated_home / ".gemini" / "trustedFolders.json"
    assert f"and {project} is not trusted yet" in warning and str(trusted) in warning
    assert add_server(server, "gemini").warnings == []  # nothing written: nothing to say
    trusted.write_text(json.dumps({str(project): "TRUST_FOLDER"}))
    assert add_server(McpServer.stdio("more", "more-mcp"), "gemini").warnings == []
    monkeypatch.chdir(isolated_home)  # (the user's other servers stay as they were: no warning for them)
    assert add_server(McpServer.stdio("docs", "docs-mcp"), "claude,codex,qwen,opencode").warnings == []
