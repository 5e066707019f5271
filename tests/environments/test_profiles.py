from __future__ import annotations

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import all_profiles, resolve
from mahavishnu.errors import ConfigError, ProtocolMismatchError, UnknownProfileError

REQUIRED_PROVIDERS = {"anthropic", "qwen", "zai", "deepseek", "kimi", "openrouter", "ollama", "openai"}


def test_catalogue_has_every_required_provider_with_real_https_endpoints():
    profiles = all_profiles(load_settings())
    assert set(profiles) >= REQUIRED_PROVIDERS
    for profile in profiles.values():
        assert bool(profile.protocols) != bool(profile.settings.stock), profile.name  # a provider or a login
        for protocol in profile.protocols:
            endpoint = getattr(profile.settings, protocol)
            assert endpoint.model
            local = profile.name == "ollama"
            assert endpoint.base_url.startswith("http://localhost:" if local else "https://"), (
                endpoint.base_url
            )


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("claude", "claude"),  # Claude Code's own login; the API key is `anthropic`
        ("anthropic", "anthropic"),
        ("qwen", "qwen"),
        ("codex", "codex"),  # Codex's own ChatGPT login; the API key is `openai`
        ("GLM", "zai"),
        ("moonshot", "kimi"),
        ("login", "stock"),
    ],
)
def test_seed_names_and_aliases_resolve(typed, canonical):
    assert resolve(typed, load_settings()).name == canonical


def test_unknown_profile_suggests_close_names():
    with pytest.raises(UnknownProfileError, match="Did you mean qwen"):
        resolve("qwem", load_settings())


def test_codex_profile_cannot_drive_claude_code():
    with pytest.raises(ProtocolMismatchError, match="no anthropic endpoint"):
        resolve("codex", load_settings()).endpoint("anthropic", "Claude Code")


def _write_user_settings(home, text):
    path = home / ".mahavishnu" / "mahavishnu.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_user_profiles_are_added_and_override_builtins_field_by_field(isolated_home):
    _write_user_settings(
        isolated_home,
        """
profiles:
  qwen:
    anthropic: {model: qwen-plus}
  lab:
    label: Lab vLLM
    secret: ["env:LAB_KEY"]
    anthropic: {base_url: "http://127.0.0.1:9000", model: lab-model}
""",
    )
    profiles = all_profiles(load_settings())
    assert profiles["qwen"].settings.anthropic.model == "qwen-plus"
    assert profiles["qwen"].settings.anthropic.base_url.startswith("https://dashscope")
    assert profiles["lab"].builtin is False
    assert profiles["lab"].settings.secret == ["env:LAB_KEY"]


def test_user_profile_without_url_is_a_clear_error(isolated_home):
    _write_user_settings(isolated_home, "profiles:\n  broken:\n    anthropic: {model: m}\n")
    with pytest.raises(ConfigError, match="needs both base_url and model"):
        resolve("broken", load_settings())  # (only that profile: the others still resolve)


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://x", "https://", "//api.example.com", "http://h:port", "https://a b/v1"]
)
def test_a_base_url_that_is_not_an_http_url_is_a_clear_error(isolated_home, url):
    _write_user_settings(isolated_home, f'profiles:\n  lab:\n    openai: {{base_url: "{url}", model: m}}\n')
    with pytest.raises(
        ConfigError, match=r"profile 'lab': openai\.base_url must be an http:// or https:// URL"
    ) as bad:
        resolve("lab", load_settings())
    assert "profiles.lab.openai.base_url" in bad.value.hint


@pytest.mark.parametrize(
    "url",
    ["user:Pw9-SECRET@api.example.com/v1", "htps//user:Pw9-SECRET@api.example.com", "Pw9-SECRET@api.example"],
)
def test_a_base_url_missing_its_scheme_is_refused_without_its_password(isolated_home, url):
    # without "https://" the URL has no host for urlsplit: its user and password were shown whole
    _write_user_settings(isolated_home, f'profiles:\n  lab:\n    openai: {{base_url: "{url}", model: m}}\n')
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL") as bad:
        resolve("lab", load_settings())
    assert "SECRET" not in bad.value.message and "api.example" in bad.value.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000", "http://localhost:11434/v1", "HTTPS://[::1]:8443/v1"]
)
def test_a_local_or_https_base_url_is_taken(isolated_home, url):
    _write_user_settings(isolated_home, f'profiles:\n  lab:\n    openai: {{base_url: "{url}", model: m}}\n')
    assert all_profiles(load_settings())["lab"].settings.openai.base_url == url


def test_a_switch_to_a_profile_with_a_bad_base_url_writes_nothing(isolated_home, monkeypatch):
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "opus"}\n')
    _write_user_settings(
        isolated_home, 'profiles:\n  lab:\n    anthropic: {base_url: "not a url", model: m}\n'
    )
    monkeypatch.setenv("LAB_API_KEY", "abcdef123456")
    result = CliRunner().invoke(app, ["ai", "switch-llm", "lab"])
    assert result.exit_code != 0
    assert "anthropic.base_url must be an http:// or https:// URL, not 'not a url'" in result.output
    assert settings.read_text() == '{"model": "opus"}\n'


@pytest.mark.parametrize(
    "name", ["a;touch /tmp/PWNED;b", "$(id)", "../../etc/x", "-rf", "has space", "x" * 65]
)
def test_a_profile_name_a_shell_or_a_path_would_read_is_refused(isolated_home, name):
    """A profile's name goes into key helpers' command lines, committed project files among them
    (``mahavishnu secrets get NAME``), and into team stores: one name rule everywhere."""
    _write_user_settings(
        isolated_home,
        f'profiles:\n  "{name}":\n    anthropic: {{base_url: "http://127.0.0.1:9000", model: m}}\n',
    )
    with pytest.raises(ConfigError, match="cannot name a profile"):
        resolve(name, load_settings())


def test_a_shared_files_key_helper_quotes_the_profile_name():
    from mahavishnu.environments.api_key import helper_command

    assert helper_command("lab.v2", portable=True) == "mahavishnu secrets get lab.v2"
    assert helper_command("a;b", portable=True) == "mahavishnu secrets get 'a;b'"
