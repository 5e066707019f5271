"""`mahavishnu run`'s plans: the provider in the process's environment and flags, the key only in
the environment, never in a file or on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _switch_helpers import write_profiles

from mahavishnu.config import load_settings
from mahavishnu.environments.launch import (
    PI_EXTENSION,
    PI_PROVIDER_VAR,
    RUN_KEY_VAR,
    exec_launch,
    plan,
    run_provider,
)
from mahavishnu.errors import (
    ConfigError,
    InvalidInputError,
    NotFoundError,
    ProtocolMismatchError,
    SecretNotFoundError,
)

KEY = "sk-launch-0123456789abcdef"


@pytest.mark.parametrize(
    ("profile", "tool", "var", "flag"),
    [
        ("zai", "claude", RUN_KEY_VAR, "--settings"),
        ("zai", "codex", RUN_KEY_VAR, "-c"),
        ("qwen", "qwen", "OPENAI_API_KEY", "--auth-type"),
        ("gemini", "gemini", "GEMINI_API_KEY", "--model"),
    ],
)
def test_the_key_is_in_the_environment_only(tools_on_path, monkeypatch, profile, tool, var, flag):
    for name in ("ZAI_API_KEY", "DASHSCOPE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, KEY)
    launch = plan(profile, load_settings(), tool=tool, args=["--extra"])
    assert Path(launch.argv[0]).name == tool and launch.argv[-1] == "--extra" and flag in launch.argv
    assert launch.env[var] == KEY
    assert KEY not in json.dumps(launch.argv) and KEY not in json.dumps(launch.shown_env())


def test_opencode_gets_the_provider_as_inline_config_and_the_key_by_reference(tools_on_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    launch = plan("deepseek", load_settings(), tool="opencode", args=["run", "hi"])
    assert launch.argv[1:] == ["run", "hi"] and launch.env[RUN_KEY_VAR] == KEY
    content = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])
    provider = content["provider"][run_provider("deepseek")]
    assert content["model"] == run_provider("deepseek") + "/" + next(iter(provider["models"]))
    assert provider["options"]["apiKey"] == "{env:" + RUN_KEY_VAR + "}"
    assert KEY not in json.dumps(launch.argv) and KEY not in launch.env["OPENCODE_CONFIG_CONTENT"]


def test_opencode_run_sends_the_title_request_to_the_profile_too(tools_on_path, monkeypatch):
    """OpenCode asks ``small_model`` for each session's title, with the first prompt: the user's own
    small_model (their provider, their key) would win over an inline config that sets none."""
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    launch = plan("deepseek", load_settings(), tool="opencode", args=[])
    content = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])
    provider, small = content["small_model"].split("/", 1)
    assert provider == run_provider("deepseek") and small in content["provider"][provider]["models"]


def test_opencode_refuses_a_profile_its_inline_config_would_expand(tools_on_path, isolated_home):
    """OPENCODE_CONFIG_CONTENT is expanded as a file is: {file:…} in the URL would send the file."""
    write_profiles(
        isolated_home,
        "  lab:\n    requires_key: false\n"
        "    openai: {base_url: 'http://127.0.0.1:9/{file:/etc/shadow}', model: m}\n",
    )
    with pytest.raises(ConfigError, match=r"openai\.base_url holds"):
        plan("lab", load_settings(), tool="opencode", args=["run", "hi"])


def test_pi_gets_the_provider_from_the_shipped_extension_and_the_key_by_name(tools_on_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    launch = plan("deepseek", load_settings(), tool="pi", args=["-p", "hi"])
    assert launch.argv[1:3] == ["--extension", str(PI_EXTENSION)] and PI_EXTENSION.is_file()
    provider = json.loads(launch.env[PI_PROVIDER_VAR])
    model = provider["models"][0]["id"]
    assert launch.argv[3:] == ["--provider", run_provider("deepseek"), "--model", model, "-p", "hi"]
    assert provider["apiKey"] == RUN_KEY_VAR and launch.env[RUN_KEY_VAR] == KEY
    assert KEY not in json.dumps(launch.argv) and KEY not in launch.env[PI_PROVIDER_VAR]


def test_claude_flag_settings_carry_the_provider_and_a_helper_reading_the_env(tools_on_path, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", KEY)
    launch = plan("zai", load_settings(), tool=None, args=[])
    flag = json.loads(launch.argv[launch.argv.index("--settings") + 1])
    assert flag["env"]["ANTHROPIC_BASE_URL"] == "https://api.z.ai/api/anthropic"
    assert flag["apiKeyHelper"] == f"printenv {RUN_KEY_VAR}"


def test_refusals_are_clear(tools_on_path, monkeypatch):
    with pytest.raises(ProtocolMismatchError):
        plan("claude", load_settings(), tool="claude", args=[])  # a login, not a provider
    with pytest.raises(SecretNotFoundError, match="DEEPSEEK_API_KEY"):
        plan("deepseek", load_settings(), tool="claude", args=[])
    monkeypatch.setenv("PATH", "/nonexistent")
    launch = plan("ollama", load_settings(), tool="claude", args=[])  # --show needs no install
    assert launch.argv[0] == "claude"
    with pytest.raises(NotFoundError, match="Claude Code is not installed"):
        exec_launch(launch)


def test_an_assistant_that_cannot_be_executed_is_one_line(tools_on_path, tmp_path):
    """On PATH and executable, but no program (a script without #!, a binary for another CPU):
    execvpe's OSError was a traceback."""
    (tmp_path / "bin" / "claude").write_bytes(b"\x7fELF not a program")
    launch = plan("ollama", load_settings(), tool="claude", args=[])
    with pytest.raises(NotFoundError, match=r"Claude Code cannot be started \(.*claude\): Exec format error"):
        exec_launch(launch)


#: A base URL that carries a credential, in each place a URL can: a user and password, a key in the
#: query, a token in the fragment.
SECRET = "pw-0123456789abcdef"
CARRYING = [
    f"https://user:{SECRET}@gateway.example/v1",
    f"https://{SECRET}@gateway.example/v1",
    f"https://gateway.example/v1?api_key={SECRET}",
    f"https://gateway.example/v1#{SECRET}",
]


def _lab(home: Path, url: str) -> None:
    write_profiles(
        home,
        "  lab:\n    requires_key: false\n"
        f"    openai: {{base_url: '{url}', model: m, wire_api: responses}}\n"
        f"    anthropic: {{base_url: '{url}', model: m}}\n",
    )


@pytest.mark.parametrize("url", CARRYING)
def test_qwen_gets_the_base_url_in_its_environment_never_on_its_command_line(
    tools_on_path, isolated_home, url
):
    _lab(isolated_home, url)
    launch = plan("lab", load_settings(), tool="qwen", args=["-p", "hi"])
    assert launch.env["OPENAI_BASE_URL"] == url
    assert launch.argv[1:] == ["--auth-type", "openai-responses", "-p", "hi"]
    assert SECRET not in json.dumps(launch.argv) and SECRET not in json.dumps(launch.shown_env())


@pytest.mark.parametrize(
    ("wire_api", "auth_type"),
    [("responses", "openai-responses"), ("chat", "openai"), (None, "openai")],
)
def test_run_qwen_speaks_the_wire_api_the_profile_declares(tools_on_path, isolated_home, wire_api, auth_type):
    """Qwen Code 0.24 sends the Responses API under ``--auth-type openai-responses`` (checked with the real
    CLI in tests/e2e/test_run_qwen_gemini_e2e.py), as a switch's ``"wireApi": "responses"`` does; ``run``
    gave ``openai`` for every profile, so a Responses-only endpoint got Chat Completions requests. The
    command as ``--show`` prints it; nothing written."""
    wire = f", wire_api: {wire_api}" if wire_api else ""
    endpoint = f"{{base_url: 'http://127.0.0.1:9/v1', model: m{wire}}}"
    write_profiles(isolated_home, f"  lab:\n    requires_key: false\n    openai: {endpoint}\n")
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    before = sorted(p for p in isolated_home.rglob("*") if p.is_file() and "cache" not in p.parts)
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "run", "lab", "--tool", "qwen", "--show", "--", "-p", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["argv"][1:] == ["--auth-type", auth_type, "-p", "hi"]
    assert shown["env"]["MAHAVISHNU_RUN_QWEN_MODEL"] == "m"
    assert shown["env"]["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert sorted(p for p in isolated_home.rglob("*") if p.is_file() and "cache" not in p.parts) == before
    assert before == [settings]


@pytest.mark.parametrize("tool", ["codex", "claude"])
@pytest.mark.parametrize("url", CARRYING)
def test_a_base_url_carrying_a_credential_is_refused_where_it_would_be_on_the_command_line(
    tools_on_path, isolated_home, tool, url
):
    """Codex and Claude Code take a run's base URL only on their command line, which `ps` shows."""
    _lab(isolated_home, url)
    with pytest.raises(InvalidInputError, match="base_url carries a user, password or query") as refused:
        plan("lab", load_settings(), tool=tool, args=[])
    assert SECRET not in str(refused.value) + str(refused.value.hint)
    assert f"switch-llm lab --tool {tool}" in str(refused.value.hint)


def test_run_refuses_it_in_one_line_that_says_what_to_do_and_starts_nothing(tools_on_path, isolated_home):
    _lab(isolated_home, CARRYING[0])
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "run", "lab", "--tool", "codex", "--show"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
    assert "base_url carries a user, password or query" in done.stderr and "switch-llm" in done.stderr
    assert SECRET not in done.stderr and "Traceback" not in done.stderr


def test_a_plain_base_url_still_goes_to_codex_and_claude(tools_on_path, isolated_home):
    _lab(isolated_home, "https://gateway.example:8443/v1")
    codex = plan("lab", load_settings(), tool="codex", args=[])
    assert (
        "-c" in codex.argv
        and f'model_providers.{run_provider("lab")}.base_url="https://gateway.example:8443/v1"' in codex.argv
    )
    claude = plan("lab", load_settings(), tool="claude", args=[])
    assert claude.env["ANTHROPIC_BASE_URL"] == "https://gateway.example:8443/v1"


@pytest.mark.parametrize("tool", ["pi", "opencode"])
@pytest.mark.parametrize("url", CARRYING)
def test_show_hides_a_base_url_credential_inside_the_json_it_prints(tools_on_path, isolated_home, tool, url):
    """Pi and OpenCode get their provider as JSON in the environment: ``--show`` prints that JSON,
    with the base URL's user, password, query and fragment as ``****`` (the host and path readable)."""
    _lab(isolated_home, url)
    launch = plan("lab", load_settings(), tool=tool, args=[])
    assert SECRET in json.dumps(launch.env)  # the assistant still gets it
    shown = launch.shown_env()
    assert SECRET not in json.dumps(shown)
    assert "gateway.example/v1" in json.dumps(shown) and "****" in json.dumps(shown)
    json.loads(next(v for v in shown.values() if v.startswith("{")))  # still JSON


def test_run_with_codex_on_an_undeclared_wire_api_gives_the_switchs_fix(
    tools_on_path, isolated_home: Path, monkeypatch
) -> None:
    """`run` said "serves Chat Completions only" of a profile that declares no wire API, without the
    fix `switch-llm` gives for the same profile (declare `wire_api: responses` when it serves it)."""
    write_profiles(isolated_home, "  lab:\n    openai: {base_url: 'https://lab.example/v1', model: m}\n")
    monkeypatch.setenv("LAB_API_KEY", KEY)
    with pytest.raises(ProtocolMismatchError) as refused:
        plan("lab", load_settings(), tool="codex", args=[])
    assert "serves no declared wire API" in refused.value.message
    assert "add `wire_api: responses` under `profiles.lab.openai`" in str(refused.value.hint)
