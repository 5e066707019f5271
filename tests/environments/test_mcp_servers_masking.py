"""``mcp-servers``: no secret in clear in what it prints, and a warning when one goes into a file.

``list`` (table and JSON) masks a URL's credentials as ``--dry-run`` does; errors quote a bad
``--header``, ``--env`` or ``--url`` masked; a secret-looking value written into user-scope files is
named (masked) in a warning that says it is stored there in plaintext."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mahavishnu.cli import mcp, mcp_servers
from mahavishnu.cli.main import _Root
from mahavishnu.environments.mcp_servers import McpServer, add_server, install_self, list_servers
from mahavishnu.errors import InvalidInputError

root = typer.Typer(cls=_Root, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(mcp_servers.app, name="mcp-servers")
root.add_typer(mcp.app, name="mcp")
runner = CliRunner()

TOKEN = "sk-live-SuperSecretToken1234567890abcdef"
PASSWORD = "hunter2pass"
GITHUB = "ghp_" + "x" * 36
QUERY_URL = f"https://api.example.com/mcp?api_key={TOKEN}"
USERINFO_URL = f"https://bob:{PASSWORD}@api.example.com/mcp"


def mv(*args: str) -> Any:
    return runner.invoke(root, list(args))


def ok(*args: str) -> Any:
    result = mv(*args)
    assert result.exit_code == 0, result.output
    return result


# -- 1. list shows a URL's credentials masked --------------------------------------------------------


@pytest.fixture(autouse=True)
def _gemini_trusts_the_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gemini CLI's folder-trust warning (test_mcp_servers.py) is not what these tests look at."""
    monkeypatch.setenv("GEMINI_CLI_TRUST_WORKSPACE", "true")


def test_list_masks_the_credentials_of_urls_in_the_table_and_the_json(isolated_home: Path) -> None:
    ok("mcp-servers", "add", "k", "--url", QUERY_URL, "--tool", "claude")
    ok("mcp-servers", "add", "k2", "--url", USERINFO_URL, "--tool", "claude")
    saved = json.loads((isolated_home / ".claude.json").read_text())["mcpServers"]
    assert saved["k"]["url"] == QUERY_URL and saved["k2"]["url"] == USERINFO_URL  # written as given

    table = ok("mcp-servers", "list").output
    listing = ok("mcp-servers", "list", "--json").stdout
    for shown in (table, listing):
        assert TOKEN not in shown and PASSWORD not in shown
        assert "https://bob:****@api.example.com/mcp" in shown  # user and host stay readable
        assert "https://api.example.com/mcp?api_key=sk-…ef" in shown
    urls = {row["name"]: row["url"] for row in json.loads(listing)}
    assert urls == {
        "k": "https://api.example.com/mcp?api_key=sk-…ef",
        "k2": "https://bob:****@api.example.com/mcp",
    }

    plain = "https://mcp.example.org/mcp?team=blue&page=2"  # nothing secret in it: listed as it is
    add_server(McpServer.remote("plain", plain), "claude")
    row = next(r for r in list_servers("claude")[0] if r.server.name == "plain")
    assert row.to_dict()["url"] == plain and row.server.describe() == plain


def test_the_listing_masks_urls_the_way_the_dry_run_diff_does(isolated_home: Path) -> None:
    server = McpServer.remote("k", USERINFO_URL + f"?token={TOKEN}")
    [change] = add_server(server, "claude", dry_run=True).changes
    add_server(server, "claude")
    [row] = list_servers("claude")[0]
    assert row.to_dict()["url"] in change.diff
    assert row.server.describe() == row.to_dict()["url"]
    assert PASSWORD not in row.to_dict()["url"] and TOKEN not in row.server.describe()
    assert row.server.to_dict(masked=False)["url"] == server.url  # the fingerprint still sees it all


# -- 2. errors quote values masked -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("-H", f"Authorization Bearer {TOKEN}", "invalid --header 'Authorization Bearer sk-…ef'"),
        ("-H", f"X-Api-Key {PASSWORD}", "invalid --header 'X-Api-Key ****'"),
        ("-H", TOKEN, "invalid --header 'sk-…ef'"),
        ("--url", f"htp://u:{TOKEN}@x/mcp", "URL, not 'htp://u:****@x/mcp'"),
    ],
)
def test_errors_about_a_bad_header_or_url_show_the_value_masked(
    option: str, value: str, shown: str, isolated_home: Path
) -> None:
    url = [] if option == "--url" else ["--url", "http://x/mcp"]
    result = mv("mcp-servers", "add", "a", *url, option, value, "--tool", "claude")
    assert result.exit_code == 2, result.output
    assert shown in result.output
    assert TOKEN not in result.output and PASSWORD not in result.output
    assert not (isolated_home / ".claude.json").exists()


def test_errors_about_a_bad_env_show_the_value_masked(isolated_home: Path) -> None:
    for value, shown in [
        (f"GITHUB_TOKEN {GITHUB}", "invalid --env 'GITHUB_TOKEN ghp…xx'"),
        (f"MY-TOKEN={PASSWORD}", "invalid --env 'MY-TOKEN=****'"),
        ("NOVALUE", "invalid --env 'NOVALUE'"),  # nothing secret: quoted as given
    ]:
        result = mv("mcp-servers", "add", "a", "--command", "x", "-e", value, "--tool", "claude")
        assert result.exit_code == 2, result.output
        assert shown in result.output
        assert GITHUB not in result.output and PASSWORD not in result.output


def test_the_model_quotes_a_bad_url_masked() -> None:
    with pytest.raises(InvalidInputError) as refused:
        McpServer.remote("a", f"ftp://u:{PASSWORD}@x/mcp")
    assert PASSWORD not in refused.value.message and "ftp://u:****@x/mcp" in refused.value.message


# -- 5. a secret going into user-scope files is warned about ------------------------------------------


def test_a_secret_env_value_at_user_scope_is_warned_about_masked(isolated_home: Path) -> None:
    result = ok(
        "mcp-servers", "add", "gh", "--command", "gh-mcp", "-e", f"GITHUB_TOKEN={GITHUB}", "--tool", "all"
    )
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    [warning] = warnings
    assert "GITHUB_TOKEN=ghp…xx" in warning and "stored in plaintext" in warning
    for path in (".claude.json", ".codex/config.toml", ".qwen/settings.json", ".gemini/settings.json"):
        assert str(isolated_home / path) in warning
        assert GITHUB in (isolated_home / path).read_text()  # written as given: hence the warning
    assert GITHUB not in result.output
    # the way to keep it out, as typed, in one line: the token by reference
    assert warning.endswith("; to keep it out, give it by reference: --env 'GITHUB_TOKEN=${GITHUB_TOKEN}'")
    ok(
        "mcp-servers",
        "add",
        "gh",
        "--command",
        "gh-mcp",
        "-e",
        "GITHUB_TOKEN=${GITHUB_TOKEN}",
        "--tool",
        "all",
    )
    for path in (".claude.json", ".codex/config.toml", ".qwen/settings.json", ".gemini/settings.json"):
        assert GITHUB not in (isolated_home / path).read_text()


def test_the_user_scope_warning_in_the_result_and_a_dry_run(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = McpServer.remote("api", "https://h.example/mcp", headers={"Authorization": f"Bearer {TOKEN}"})
    codex = isolated_home / ".codex" / "config.toml"
    dry = add_server(server, "codex", dry_run=True)
    assert dry.warnings == [f"Authorization: Bearer sk-…ef would be stored in plaintext in {codex}"]
    done = add_server(server, "codex")
    assert done.warnings == [f"Authorization: Bearer sk-…ef is stored in plaintext in {codex}"]
    assert add_server(server, "codex").warnings == []  # nothing written this time

    # no warning without a secret, nor for `mcp install` (the HTTP entry carries its token by design)
    assert add_server(McpServer.stdio("plain", "x", env={"LEVEL": "debug"}), "all").warnings == []
    assert install_self("claude").warnings == []
    assert install_self("claude", name="mv-http", http_port=8680).warnings == []

    # a project file keeps its own warning (it is often committed)
    project = isolated_home / "repo"
    (project / ".git").mkdir(parents=True)
    monkeypatch.chdir(project)
    gh = McpServer.stdio("gh", "gh-mcp", env={"GITHUB_TOKEN": GITHUB})
    assert add_server(gh, "claude", "project").warnings == [
        "secret-looking values go into a project file, which is often committed"
    ]


@pytest.mark.parametrize("reference", ["Bearer {env:WEB_TOKEN}", "Bearer {file:/home/me/.web-token}"])
def test_opencodes_reference_after_an_auth_scheme_is_no_plaintext_secret(
    isolated_home: Path, reference: str
) -> None:
    """OpenCode fills {env:…} and {file:…} in itself, as the others fill ${VAR}: nothing to warn
    about, and nothing to mask in the listing."""
    server = McpServer.remote("web", "https://h.example/mcp", headers={"Authorization": reference})
    assert add_server(server, "opencode").warnings == []
    [row] = [row for row in list_servers("opencode")[0] if row.server.name == "web"]
    assert row.server.shown_secrets() == ()
