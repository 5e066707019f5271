from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest
from _switch_helpers import write_config, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.doctor import SHIPPED_SCHEMAS as SCHEMAS
from mahavishnu.environments import env_file
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import ConfigError, InvalidConfigFileError, ProtocolMismatchError, SecretStoreError
from mahavishnu.files.json_document import JsonDocument
from mahavishnu.files.safe_write import list_backups

USER_FILE = """{
  // Gemini CLI settings
  "general": {"vimMode": true},
  "ui": {
    "theme": "GitHub" // light theme
  },
  "security": {
    "auth": {"selectedType": "oauth-personal"},
    "folderTrust": {"enabled": true}
  },
  "mcpServers": {"docs": {"command": "npx", "args": ["-y", "docs"]}}
}
"""
USER_ENV = "# Gemini CLI environment\nGOOGLE_CLOUD_PROJECT=my-project\n"
SCHEMA = json.loads((SCHEMAS / "gemini-cli-settings.schema.json").read_text())
GEMINI_PROFILES = sorted(n for n, p in all_profiles(load_settings()).items() if "gemini" in p.protocols)
runner = CliRunner()


@pytest.fixture
def gemini_dir(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = write_config(isolated_home / ".gemini" / "settings.json", USER_FILE, monkeypatch).parent
    (directory / ".env").write_text(USER_ENV)
    return directory


def _without_owned(text: str) -> str:
    doc = JsonDocument.parse(text, comments=True)
    doc.delete(["security", "auth", "selectedType"])
    doc.delete(["model", "name"], prune_empty_parents=True)
    return doc.dumps()


def test_every_gemini_profile_round_trips(gemini_dir: Path) -> None:
    assert GEMINI_PROFILES == ["gemini"]
    baseline = _without_owned(USER_FILE)
    for name in GEMINI_PROFILES:
        switch_llm(name, load_settings(), tool="gemini")
        text = (gemini_dir / "settings.json").read_text()
        data = JsonDocument.parse(text, comments=True).data
        jsonschema.validate(data, SCHEMA)
        endpoint = all_profiles(load_settings())[name].settings.gemini
        assert endpoint is not None
        assert data["security"] == {
            "auth": {"selectedType": "gemini-api-key"},
            "folderTrust": {"enabled": True},
        }
        assert data["model"] == {"name": endpoint.model}
        assert _without_owned(text) == baseline
        assert "// light theme" in text
        assert (gemini_dir / ".env").read_text() == USER_ENV + (
            f"# mahavishnu: profile '{name}' (Gemini CLI)\nGOOGLE_GEMINI_BASE_URL={endpoint.base_url}\n"
        )


def test_the_key_by_reference_writes_no_key(gemini_dir: Path) -> None:
    switch_llm("gemini", load_settings(), tool="gemini")
    assert "sk-gemini-secret" not in (gemini_dir / ".env").read_text()
    [entry] = current(load_settings(), "gemini")
    assert (entry.profile, entry.model) == ("gemini", "gemini-3.8-flash")
    assert entry.key_source == "GEMINI_API_KEY from the environment"


def test_a_proxy_profile_with_an_inline_key_then_back_to_a_reference(
    gemini_dir: Path, isolated_home: Path
) -> None:
    write_profiles(
        isolated_home,
        "  proxy:\n    secret: ['file:proxy']\n"
        "    gemini: {base_url: 'https://gw.example.com', model: g-1}\n",
    )
    assert (
        runner.invoke(
            app, ["secrets", "set", "proxy", "--store", "file"], input="sk-proxy-0123456789\n"
        ).exit_code
        == 0
    )
    with pytest.raises(SecretStoreError, match="GEMINI_API_KEY"):
        switch_llm("proxy", load_settings(), tool="gemini")
    assert (gemini_dir / ".env").read_text() == USER_ENV

    result = switch_llm("proxy", load_settings(), tool="gemini", inline_secret=True)
    dotenv = gemini_dir / ".env"
    assert dotenv.read_text() == USER_ENV + (
        "# mahavishnu: profile 'proxy' (Gemini CLI)\nGOOGLE_GEMINI_BASE_URL=https://gw.example.com\n"
        "# mahavishnu: profile 'proxy' (Gemini CLI)\nGEMINI_API_KEY=sk-proxy-0123456789\n"
    )
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert all("sk-proxy-0123456789" not in f.diff for f in result.files)
    assert any("GEMINI_API_KEY is set in your environment" in w for w in result.warnings)

    switch_llm("gemini", load_settings(), tool="gemini")
    assert "sk-proxy" not in dotenv.read_text()
    assert "https://gw.example.com" not in dotenv.read_text()
    assert dotenv.read_text().startswith(USER_ENV)


def test_a_users_env_keeps_its_mode_and_one_the_switch_created_goes_with_stock(gemini_dir: Path) -> None:
    dotenv = gemini_dir / ".env"
    dotenv.chmod(0o644)
    switch_llm("gemini", load_settings(), tool="gemini")  # (the key by reference: none written)
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o644
    switch_llm("stock", load_settings(), tool="gemini")
    assert dotenv.read_text() == USER_ENV and stat.S_IMODE(dotenv.stat().st_mode) == 0o644

    dotenv.unlink()
    switch_llm("gemini", load_settings(), tool="gemini")
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600  # a new .env: a key may go in later
    created = dotenv.read_text()
    switch_llm("stock", load_settings(), tool="gemini")
    assert not dotenv.exists()  # not left empty
    assert runner.invoke(app, ["ai", "rollback"]).exit_code == 0
    assert dotenv.read_text() == created


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_users_env_without_a_last_line_break_keeps_its_bytes(gemini_dir: Path, ending: str) -> None:
    """A .env whose last line has no line break (as many editors save it) got one from the switch
    that stayed after stock took our lines out again."""
    dotenv = gemini_dir / ".env"
    own = f"# mine{ending}FOO=bar{ending}export OTHER='x y'"
    dotenv.write_bytes(own.encode())
    switch_llm("gemini", load_settings(), tool="gemini")
    assert dotenv.read_bytes().startswith(f"{own}{ending}# mahavishnu: ".encode())
    assert env_file.parse(dotenv.read_text())["OTHER"] == "x y"
    switch_llm("stock", load_settings(), tool="gemini")
    assert dotenv.read_bytes() == own.encode()


def test_a_users_own_owned_variables_are_replaced(gemini_dir: Path) -> None:
    (gemini_dir / ".env").write_text(
        "GEMINI_API_KEY=sk-old-google-key-0123\nGOOGLE_GEMINI_BASE_URL=https://old\nX=1\n"
    )
    switch_llm("gemini", load_settings(), tool="gemini")
    text = (gemini_dir / ".env").read_text()
    assert "sk-old-google-key" not in text and "https://old" not in text
    assert text.startswith("X=1\n")


def test_the_trust_caveat_is_explained_and_folder_trust_left_alone(
    gemini_dir: Path, isolated_home: Path
) -> None:
    result = switch_llm("gemini", load_settings(), tool="gemini")
    [caveat] = [w for w in result.warnings if "trusted folder" in w]
    assert "trustedFolders.json" in caveat and "GEMINI_CLI_TRUST_WORKSPACE=true" in caveat
    assert "security.folderTrust" in caveat
    data = JsonDocument.parse((gemini_dir / "settings.json").read_text()).data
    assert data["security"]["folderTrust"] == {"enabled": True}

    (gemini_dir / "trustedFolders.json").write_text(json.dumps({str(isolated_home): "TRUST_FOLDER"}))
    result = switch_llm("gemini", load_settings(), tool="gemini")
    assert not [w for w in result.warnings if "trusted folder" in w]


def test_no_trust_caveat_when_folder_trust_is_off(gemini_dir: Path) -> None:
    (gemini_dir / "settings.json").write_text('{"security": {"folderTrust": {"enabled": false}}}\n')
    result = switch_llm("gemini", load_settings(), tool="gemini")
    assert not [w for w in result.warnings if "trusted folder" in w]


def test_project_scope_writes_the_projects_files(gemini_dir: Path, isolated_home: Path, monkeypatch) -> None:
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    result = switch_llm("gemini", load_settings(), tool="gemini", scope="project")
    assert JsonDocument.parse((repo / ".gemini" / "settings.json").read_text()).data["model"]["name"]
    assert "GOOGLE_GEMINI_BASE_URL" in (repo / ".gemini" / ".env").read_text()
    assert (gemini_dir / "settings.json").read_text() == USER_FILE
    assert [(c.scope, c.profile) for c in current(load_settings(), "gemini")] == [("project", "gemini")]
    [note] = [w for w in result.warnings if "only when started in" in w]
    assert "repository root" not in note  # the workspace is the root here


def test_project_scope_in_a_subfolder_writes_where_gemini_reads(
    gemini_dir: Path, isolated_home: Path, monkeypatch
) -> None:
    # Gemini CLI reads <cwd>/.gemini/settings.json (loadSettings(process.cwd())), never the git root's
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pkg").mkdir()
    monkeypatch.chdir(repo / "pkg")
    result = switch_llm("gemini", load_settings(), tool="gemini", scope="project")
    folder = repo / "pkg" / ".gemini"
    assert sorted(f.path for f in result.files) == [str(folder / ".env"), str(folder / "settings.json")]
    assert "GOOGLE_GEMINI_BASE_URL" in (folder / ".env").read_text()
    assert not (repo / ".gemini").exists()
    [note] = [w for w in result.warnings if "only when started in" in w]
    assert f"repository root {repo}" in note


def test_profiles_without_a_gemini_endpoint_are_refused(gemini_dir: Path) -> None:
    with pytest.raises(ProtocolMismatchError, match="Gemini CLI"):
        switch_llm("qwen", load_settings(), tool="gemini")
    assert (gemini_dir / "settings.json").read_text() == USER_FILE


def test_an_http_base_url_off_loopback_is_refused(gemini_dir: Path, isolated_home: Path, monkeypatch) -> None:
    write_profiles(
        isolated_home,
        "  plain:\n    secret: ['env:GEMINI_API_KEY']\n"
        "    gemini: {base_url: 'http://gw.example.com', model: g}\n",
    )
    with pytest.raises(ConfigError, match="https"):
        switch_llm("plain", load_settings(), tool="gemini")
    write_profiles(
        isolated_home,
        "  local:\n    secret: ['env:GEMINI_API_KEY']\n"
        "    gemini: {base_url: 'http://127.0.0.1:9', model: g}\n",
    )
    switch_llm("local", load_settings(), tool="gemini")


def test_invalid_jsonc_is_refused_with_its_line(gemini_dir: Path) -> None:
    broken = USER_FILE.replace('"general": {"vimMode": true},', '"general": {"vimMode": true}')
    (gemini_dir / "settings.json").write_text(broken)
    with pytest.raises(InvalidConfigFileError, match="line 4"):
        switch_llm("gemini", load_settings(), tool="gemini")
    assert (gemini_dir / "settings.json").read_text() == broken
    assert (gemini_dir / ".env").read_text() == USER_ENV
    assert list_backups() == []


def test_dry_run_writes_nothing(gemini_dir: Path) -> None:
    result = switch_llm("gemini", load_settings(), tool="gemini", dry_run=True, inline_secret=True)
    assert (gemini_dir / "settings.json").read_text() == USER_FILE
    assert (gemini_dir / ".env").read_text() == USER_ENV
    assert [Path(f.path).name for f in result.files] == ["settings.json", ".env"]
    assert "+GEMINI_API_KEY=" in result.files[1].diff
    assert "sk-gemini-secret-0123456789" not in result.files[1].diff


def test_an_inline_key_in_a_projects_env_is_kept_out_of_git(
    gemini_dir: Path, isolated_home: Path, monkeypatch
) -> None:
    """At project scope the key goes into the repository's own .gemini/.env: the clone's
    .git/info/exclude gets it, so `git add -A` never commits the key (once, however many switches)."""
    write_profiles(
        isolated_home,
        "  proxy:\n    secret: ['file:proxy']\n"
        "    gemini: {base_url: 'https://gw.example.com', model: g-1}\n",
    )
    runner.invoke(app, ["secrets", "set", "proxy", "--store", "file"], input="sk-proxy-0123456789\n")
    repo = isolated_home / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo)

    planned = switch_llm(
        "proxy", load_settings(), tool="gemini", scope="project", inline_secret=True, dry_run=True
    )
    assert any("the switch adds it to .git/info/exclude" in w for w in planned.warnings)
    assert not (repo / ".gemini").exists()

    result = switch_llm("proxy", load_settings(), tool="gemini", scope="project", inline_secret=True)
    assert "sk-proxy-0123456789" in (repo / ".gemini" / ".env").read_text()
    assert any("added to .git/info/exclude" in w for w in result.warnings)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    staged = subprocess.run(
        ["git", "-C", str(repo), "diff", "--cached", "--name-only"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert staged.stdout.split() == [".gemini/settings.json"]  # the settings, never the .env

    again = switch_llm("proxy", load_settings(), tool="gemini", scope="project", inline_secret=True)
    assert not any("exclude" in w for w in again.warnings)
    assert (repo / ".git/info/exclude").read_text().count(".gemini/.env") == 1


def test_an_inline_key_in_a_worktrees_env_is_kept_out_of_git(
    gemini_dir: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a worktree (and a submodule) `.git` is a file: the key's `.env` went unexcluded, with only
    a warning, and `git add -A` staged it. Git's own exclude file for the checkout gets it now."""
    write_profiles(
        isolated_home,
        "  proxy:\n    secret: ['file:proxy']\n"
        "    gemini: {base_url: 'https://gw.example.com', model: g-1}\n",
    )
    runner.invoke(app, ["secrets", "set", "proxy", "--store", "file"], input="sk-proxy-0123456789\n")
    main, tree = isolated_home / "main", isolated_home / "wt"
    git = ["git", "-c", "user.email=a@b.example", "-c", "user.name=a"]
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run([*git, "-C", str(main), "commit", "-q", "--allow-empty", "-m", "i"], check=True)
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(tree)], check=True)
    monkeypatch.chdir(tree)

    result = switch_llm("proxy", load_settings(), tool="gemini", scope="project", inline_secret=True)
    assert any(w.startswith(".gemini/.env added to ") for w in result.warnings), result.warnings
    subprocess.run(["git", "-C", str(tree), "add", "-A"], check=True)
    staged = ["git", "-C", str(tree), "diff", "--cached", "--name-only"]
    assert subprocess.run(staged, capture_output=True, text=True, check=True).stdout.split() == [
        ".gemini/settings.json"
    ]


def test_settings_a_switch_created_go_with_stock_and_come_back_with_rollback(gemini_dir: Path) -> None:
    """Stock left ``{}`` in a settings.json the switch had created; one that held nothing already,
    and the user's own, stay. A rollback brings it back with its mode (the backup records it)."""
    settings = gemini_dir / "settings.json"
    settings.unlink()
    switch_llm("gemini", load_settings(), tool="gemini")
    created = settings.read_text()
    settings.chmod(0o644)  # (as the user's umask of 022 makes it)
    switch_llm("stock", load_settings(), tool="gemini")
    assert not settings.exists()
    assert runner.invoke(app, ["ai", "rollback"]).exit_code == 0
    assert settings.read_text() == created
    assert stat.S_IMODE(settings.stat().st_mode) == 0o644  # back with the mode it had, not 0600

    settings.write_text("{}\n")
    switch_llm("stock", load_settings(), tool="gemini")
    assert settings.read_text() == "{}\n"


def test_a_key_in_a_variable_gemini_does_not_read_is_named_where_it_is(
    gemini_dir: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile keeping its key in LAB_KEY was told it kept it "elsewhere (the keyring or the
    secrets file)": the refusal names the link that holds it."""
    write_profiles(
        isolated_home,
        "  lab:\n    secret: ['env:LAB_KEY']\n    gemini: {base_url: 'https://gw.example.com', model: g-1}\n",
    )
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789")
    with pytest.raises(SecretStoreError, match="keeps it in env:LAB_KEY") as refused:
        switch_llm("lab", load_settings(), tool="gemini")
    assert "keyring" not in refused.value.message and "sk-lab" not in refused.value.message
