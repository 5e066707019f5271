"""`mahavishnu doctor`: each check finds what it is for, with a fix hint; exit 0 only when all is well."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mahavishnu import doctor, paths
from mahavishnu.config import load_settings
from mahavishnu.doctor import Finding, healthy, register, run_checks


def _fake_cli(bin_dir: Path, name: str, version: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho '{version} ({name})'\n")
    script.chmod(0o755)


def _by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_cli_versions_against_the_tested_ones(tmp_path, monkeypatch):
    _fake_cli(tmp_path / "bin", "claude", doctor.TESTED["claude"][0])
    _fake_cli(tmp_path / "bin", "codex", "0.1.0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    found = _by_check(doctor.check_clis(load_settings()))
    assert found["cli:claude"].status == "ok"
    assert found["cli:codex"].status == "warn" and "@openai/codex@0.171.0" in found["cli:codex"].hint
    assert found["cli:qwen"].status == "skipped"


def test_config_files_are_checked_against_the_shipped_schemas_by_default(isolated_home):
    """No setting needed (issue 48): the package ships the assistants' published schemas."""
    assert doctor.SCHEMAS_DIR_VARIABLE not in os.environ
    claude = isolated_home / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text('{"permissions": {"defaultMode": "not-a-mode"}}')
    found = _by_check(doctor.check_config_files(load_settings()))
    assert (
        found["config:claude:user"].status == "warn" and "defaultMode" in found["config:claude:user"].detail
    )
    claude.write_text('{"model": "opus",}')
    found = _by_check(doctor.check_config_files(load_settings()))
    broken = found["config:claude:user"]
    assert broken.status == "error" and "line 1, column 17: a trailing comma" in broken.detail
    assert broken.hint.startswith(f"Fix line 1 col 17 of {claude} first")
    claude.write_text('{"model": "opus"}')
    found = _by_check(doctor.check_config_files(load_settings()))["config:claude:user"]
    assert found.status == "ok" and "published schema" in found.detail


def test_every_shipped_schema_is_used_and_catches_a_wrong_value(isolated_home):
    files = {
        "claude": (".claude/settings.json", '{"permissions": {"defaultMode": "not-a-mode"}}', "defaultMode"),
        "codex": (".codex/config.toml", 'approval_policy = "sometimes"\n', "approval_policy"),
        "gemini": (".gemini/settings.json", '{"model": {"name": 5}}', "model/name"),
    }
    for name, text, _ in files.values():
        (isolated_home / name).parent.mkdir()
        (isolated_home / name).write_text(text)
    found = _by_check(doctor.check_config_files(load_settings()))
    assert {
        tool: (found[f"config:{tool}:user"].status, where in found[f"config:{tool}:user"].detail)
        for tool, (_, _, where) in files.items()
    } == dict.fromkeys(files, ("warn", True))
    shipped = [name for tool, name in doctor.SCHEMAS.items() if tool not in doctor.NOT_SHIPPED]
    assert sorted(shipped) == sorted(p.name for p in doctor.SHIPPED_SCHEMAS.glob("*.json"))


def test_opencode_json_is_checked_against_a_saved_copy_of_its_schema_offline(
    isolated_home, monkeypatch, tmp_path
):
    """OpenCode's schema is not shipped: without a copy its file is only parsed (no warning, even with
    the variable set); with one it is checked, its reference to models.dev never fetched."""
    config = isolated_home / ".config" / "opencode" / "opencode.json"
    config.parent.mkdir(parents=True)
    config.write_text('{\n  // JSONC, as OpenCode reads it\n  "autoupdate": "sometimes"\n}\n')
    found = _by_check(doctor.check_config_files(load_settings()))["config:opencode:user"]
    assert found.status == "ok" and found.detail == f"{config} parses"
    monkeypatch.setenv(doctor.SCHEMAS_DIR_VARIABLE, str(tmp_path))
    assert _by_check(doctor.check_config_files(load_settings()))["config:opencode:user"].status == "ok"
    remote = "https://models.dev/model-schema.json#/$defs/Model"  # as opencode.ai/config.json has it
    properties = {"model": {"$ref": remote, "type": "string"}, "autoupdate": {"type": "boolean"}}
    schema = {"type": "object", "properties": properties}
    (tmp_path / "opencode-config.schema.json").write_text(json.dumps(schema))
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("doctor fetched a schema"))
    found = _by_check(doctor.check_config_files(load_settings()))["config:opencode:user"]
    assert found.status == "warn" and "autoupdate: 'sometimes' is not of type 'boolean'" in found.detail
    config.write_text('{"model": "mahavishnu/lab", "autoupdate": false}')
    found = _by_check(doctor.check_config_files(load_settings()))["config:opencode:user"]
    assert found.status == "ok" and found.detail.endswith("matches its published schema")


def test_a_schemas_folder_named_by_the_variable_takes_the_shipped_ones_place(
    isolated_home, monkeypatch, tmp_path
):
    (tmp_path / "claude-code-settings.json").write_text('{"type": "object"}')  # accepts any object
    monkeypatch.setenv(doctor.SCHEMAS_DIR_VARIABLE, str(tmp_path))
    claude = isolated_home / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text('{"permissions": {"defaultMode": "not-a-mode"}}')
    found = _by_check(doctor.check_config_files(load_settings()))["config:claude:user"]
    assert found.status == "ok" and found.detail.endswith("matches its published schema")


def test_a_schemas_folder_without_the_schema_is_a_warning_not_a_silent_pass(isolated_home, monkeypatch):
    monkeypatch.setenv(doctor.SCHEMAS_DIR_VARIABLE, "DIR")  # typed as the README shows it
    claude = isolated_home / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text('{"model": "opus"}')
    found = _by_check(doctor.check_config_files(load_settings()))["config:claude:user"]
    assert found.status == "warn" and "holds no claude-code-settings.json" in found.detail


def test_a_current_profile_without_its_key_is_an_error_that_never_shows_a_key(isolated_home, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    from mahavishnu.environments.switcher import switch_llm

    switch_llm("zai", load_settings())
    assert _by_check(doctor.check_keys(load_settings()))["key:claude:user"].status == "ok"
    monkeypatch.delenv("ZAI_API_KEY")
    missing = _by_check(doctor.check_keys(load_settings()))["key:claude:user"]
    assert missing.status == "error" and "mahavishnu secrets set zai" in missing.hint


def test_a_shared_project_helper_that_cannot_find_the_key_here_is_a_warning(isolated_home, monkeypatch):
    from mahavishnu.environments.secrets import store_secret
    from mahavishnu.environments.switcher import switch_llm

    (isolated_home / "app" / ".git").mkdir(parents=True)
    monkeypatch.chdir(isolated_home / "app")
    store_secret("zai", "sk-zai-0123456789abcdef", "file")
    switch_llm("zai", load_settings(), scope="project")  # `mahavishnu secrets get zai`, by name
    bin_dir = isolated_home / "bin"
    _fake_cli(bin_dir, "mahavishnu", "1.0")

    monkeypatch.setenv("PATH", str(bin_dir))
    on_path = _by_check(doctor.check_keys(load_settings()))["key:claude:project"]
    monkeypatch.setenv("PATH", str(isolated_home / "empty"))
    off_path = _by_check(doctor.check_keys(load_settings()))["key:claude:project"]

    assert on_path.status == "warn" and "MAHAVISHNU_HOME" in on_path.detail  # the tests' own home
    assert off_path.status == "warn" and "PATH has none" in off_path.detail
    assert "sk-zai" not in on_path.detail + off_path.detail


def test_a_settings_file_others_can_read_is_flagged():
    path = paths.user_settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("memory: {backend: sqlite}\n")
    path.chmod(0o644)
    found = _by_check(doctor.check_private_files(load_settings()))["mode:mahavishnu.yaml"]
    assert found.status == "warn" and "chmod 600" in found.hint


def test_checks_can_be_registered_and_a_failing_one_is_reported(monkeypatch):
    monkeypatch.setattr(doctor, "CHECKS", [])

    def broken(settings):
        raise RuntimeError("boom")

    register(doctor.HOOKS_CHECK, lambda settings: [Finding("hooks", "ok", "all present")])
    register("broken", broken)
    findings = run_checks(load_settings())
    assert [(f.check, f.status) for f in findings] == [("hooks", "ok"), ("broken", "error")]
    assert not healthy(findings)


def test_doctor_exits_zero_only_when_all_is_well(isolated_home, tmp_path):
    env = {
        **os.environ,
        "PATH": str(tmp_path / "empty"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }

    def doctor_cli() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mahavishnu", "doctor", "--json"]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    fresh = doctor_cli()
    assert fresh.returncode == 0, fresh.stdout  # a new machine: no store yet, nothing wrong
    from mahavishnu.memory.core.store import default_store_path

    default_store_path().parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(default_store_path()).close()  # a store whose migrations never ran
    pending = doctor_cli()
    assert pending.returncode == 1
    store = _by_check([Finding(**f) for f in json.loads(pending.stdout)["findings"]])["store"]
    assert store.status == "warn" and "db migrate" in store.hint
    subprocess.run(
        [sys.executable, "-m", "mahavishnu", "db", "migrate"], env=env, check=True, capture_output=True
    )
    done = doctor_cli()
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["healthy"] is True


@pytest.fixture(autouse=True)
def _no_real_clis(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "no-clis"))


def test_doctor_reports_the_memory_hooks_of_each_assistant(isolated_home):
    from mahavishnu.environments.memory_hooks import install

    def hooks() -> dict[str, Finding]:
        return {f.check: f for f in doctor.check_memory_hooks(load_settings())}

    assert {f.status for f in hooks().values()} == {"skipped"}  # the loop is off: a choice, not a fault
    install(["claude", "codex"])
    found = hooks()
    assert found["hooks:claude"].status == "ok" and found["hooks:codex"].status == "ok"
    assert found["hooks:qwen"].status == "skipped" and "hooks install --tool qwen" in found["hooks:qwen"].hint
    (isolated_home / ".codex" / "config.toml").write_text("")  # Codex lost its trust entries
    found = hooks()["hooks:codex"]
    assert found.status == "warn" and "untrusted" in found.detail and "--tool codex" in found.hint
    assert ("hooks", doctor.check_memory_hooks) in doctor.CHECKS


@pytest.mark.parametrize("http", [False, True])
def test_mahavishnus_mcp_registration_is_recognised_over_stdio_and_http(isolated_home, monkeypatch, http):
    from mahavishnu.environments.mcp_servers import install_self

    bin_dir = isolated_home / "bin"
    _fake_cli(bin_dir, "claude", "2.1.197")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    before = _by_check(doctor.check_mcp_registered(load_settings()))["mcp:claude"]
    install_self("claude", "user", backups=3, http_port=8680 if http else None)

    after = _by_check(doctor.check_mcp_registered(load_settings()))["mcp:claude"]

    assert before.status == "warn" and after.status == "ok", after


def test_a_misspelled_fallback_chain_entry_is_a_warning():
    path = paths.user_settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("fallback: {chains: {claude: [anthropicc, zai]}}\n")

    (found,) = doctor.check_fallback_chains(load_settings())

    assert found.check == "fallback:claude" and found.status == "warn" and "anthropicc" in found.detail


def test_pi_s_models_json_is_checked_beside_its_settings(isolated_home):
    """A switch writes Pi's provider into models.json: doctor reads it as Pi does (JSON with comments)."""
    agent = isolated_home / ".pi" / "agent"
    agent.mkdir(parents=True)
    (agent / "settings.json").write_text('{"defaultProvider": "mahavishnu", "defaultModel": "m"}\n')
    models = agent / "models.json"
    models.write_text(
        '{\n  // mine\n  "providers": {"mahavishnu": {"baseUrl": "http://127.0.0.1:1/v1"}}\n}\n'
    )
    found = _by_check(doctor.check_config_files(load_settings()))
    assert found["config:pi:user"].status == "ok"
    assert found["config:pi:models.json"] == Finding("config:pi:models.json", "ok", f"{models} parses")
    models.write_text('{"providers": {} /* mine */}\n')  # Pi 0.73 strips // comments only
    broken = _by_check(doctor.check_config_files(load_settings()))["config:pi:models.json"]
    assert broken.status == "error" and str(models) in broken.detail and "line 1" in broken.detail
    assert broken.hint.startswith("Fix line 1 col")
    models.write_text('{"providers": ["not", "an", "object"]}\n')
    wrong = _by_check(doctor.check_config_files(load_settings()))["config:pi:models.json"]
    assert wrong.status == "error" and "providers" in wrong.detail


def test_doctor_names_the_projects_that_do_not_say_what_they_are(isolated_home):
    """A hint, never a warning: describing is optional."""
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore

    settings = load_settings()
    assert _by_check(doctor.check_projects(settings))["projects"].detail == "no memory of a project yet"
    with MemoryStore.open(settings.memory, embedder=FakeEmbedder()) as store:
        store.store("Storage is PostgreSQL 16", "decision", project="ledger")
        store.store("The cache is SQLite", "note", project="trail mix")
        store.store("We use pytest", "note")
        store.describe_project("ledger", "the payments service")

    found = _by_check(doctor.check_projects(settings))["projects"]
    assert (found.status, found.detail) == ("ok", "1 of 2 projects described")
    assert "mahavishnu memory describe 'trail mix'" in found.hint and "not described: trail mix" in found.hint

    with MemoryStore.open(settings.memory, embedder=FakeEmbedder()) as store:
        store.describe_project("trail mix", "a hiking app")
    assert _by_check(doctor.check_projects(settings))["projects"].hint == ""


def test_doctor_shows_what_a_projects_own_manifest_says_it_is(isolated_home, monkeypatch):
    """Run inside the checkout of a project not described, doctor's example is the command with
    what its pyproject.toml says (scrubbed, one line), not an example text."""
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore

    settings = load_settings()
    with MemoryStore.open(settings.memory, embedder=FakeEmbedder()) as store:
        store.store("Storage is PostgreSQL 16", "decision", project="ledgerd")
    checkout = isolated_home / "src" / "ledgerd"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\ndescription = "Double-entry\\nledger daemon"\n')
    monkeypatch.chdir(checkout)

    hint = _by_check(doctor.check_projects(settings))["projects"].hint
    assert (
        "`mahavishnu memory describe ledgerd 'Double-entry ledger daemon'` (what its pyproject.toml says)"
        in hint
    )
    monkeypatch.chdir(isolated_home)
    assert (
        'mahavishnu memory describe ledgerd "the payments API"'
        in _by_check(doctor.check_projects(settings))["projects"].hint
    )


def test_a_new_users_first_doctor_finds_no_fault_in_the_store_it_never_made(isolated_home):
    """Before any memory command there is no store: not an error ("no such table: meta"), not a
    warning ("8 migrations pending", which made a new machine's first doctor exit 1), and doctor,
    which only looks, does not create it."""
    from mahavishnu.memory.core.store import default_store_path

    findings = _by_check(run_checks(load_settings()))

    assert findings["store"].status == "ok" and "not created yet" in findings["store"].detail
    assert (findings["embedder"].status, findings["embedder"].detail) == (
        "ok",
        "the store is empty: it takes the configured embedder",
    )
    assert findings["projects"].status == "ok"
    assert not list(default_store_path().parent.glob(default_store_path().name + "*"))


def test_a_store_whose_tables_were_never_made_is_named_with_its_migrations(isolated_home):
    """A store file that exists but was never migrated (another tool made it, or one cut short)."""
    from mahavishnu.memory.core.store import default_store_path

    default_store_path().parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(default_store_path()).close()
    findings = _by_check(run_checks(load_settings()))

    assert findings["store"].status == "warn" and "migrations pending" in findings["store"].detail
    assert findings["embedder"].status == findings["projects"].status == "ok"


def test_what_others_can_reach_in_mahavishnus_own_folders_is_flagged():
    """A 0644 file in a 0700 folder is private (files made before they were created 0600 are so);
    a folder others may enter exposes it, and the finding names both and how to close them."""
    root = paths.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    (root / "locks").mkdir(mode=0o700, exist_ok=True)
    state = root / "locks" / "memory.lock"
    state.write_text("")
    state.chmod(0o644)

    def found() -> Finding:
        return _by_check(doctor.check_private_files(load_settings()))[f"mode:{root}"]

    assert found().status == "ok"
    (root / "locks").chmod(0o755)
    assert found().status == "ok"  # (the store's folder still keeps others out)
    root.chmod(0o711)
    loose = found()
    assert loose.status == "warn" and "go-rwx" in loose.hint
    assert loose.detail.removeprefix("others can reach ").split(", ") == [
        str(root),
        str(root / "locks"),
        str(state),
    ]
