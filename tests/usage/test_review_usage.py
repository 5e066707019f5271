"""Review findings on ``mahavishnu usage``: each test failed before its fix (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage.attribution import Attribution
from mahavishnu.usage.records import Provider, Tool

runner = CliRunner()


# --- a provider the user defined, whose name contains a vendor's --------------------------------


@pytest.mark.parametrize("tool", ["pi", "opencode", "codex"])
@pytest.mark.parametrize("name", ["anthropic-proxy", "my-openai", "openai-compat", "google-proxy"])
def test_a_user_provider_named_like_a_vendor_is_not_that_vendor_s(tool: Tool, name: str) -> None:
    """genai-prices matches a provider id that merely *contains* a vendor's (``anthropic-proxy`` is
    Anthropic for it): a provider of the user's own keeps its name, unpriced (docs/usage.md)."""
    attribution = Attribution([], {})
    for model in ("claude-sonnet-4-5", "gpt-4o", "gemini-2.5-pro"):
        assert attribution.provider(tool, 100, None, model, name) == Provider(name)


@pytest.mark.parametrize("tool", ["pi", "opencode"])
def test_the_assistants_own_vendor_providers_are_still_the_vendor_s(tool: Tool) -> None:
    attribution = Attribution([], {})
    assert attribution.provider(tool, 100, None, "claude-sonnet-4-5", "anthropic") == Provider(
        "anthropic", price_id="anthropic"
    )
    for name in ("amazon-bedrock", "google-vertex"):
        assert attribution.provider(tool, 100, None, "claude-sonnet-4-5", name) == Provider(
            name, price_id=name
        )


def test_a_user_provider_whose_base_url_is_the_vendor_s_is_priced_as_the_vendor_s() -> None:
    own = {"pi": {"anthropic-proxy": "https://api.anthropic.com", "openai-local": "http://127.0.0.1:8080/v1"}}
    attribution = Attribution([], {}, own_urls=own)
    found = attribution.provider("pi", 100, None, "claude-sonnet-4-5", "anthropic-proxy")
    assert found == Provider("anthropic-proxy", base_url="https://api.anthropic.com")
    local = attribution.provider("pi", 100, None, "gpt-4o", "openai-local")
    assert local.name == "openai-local" and local.price_id is None
    assert attribution.signature() != Attribution([], {}).signature()  # kept sums are made again


def _pi_session(home: Path, provider: str, model: str) -> None:
    folder = home / ".pi" / "agent" / "sessions" / "--home-dev-shop--"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {"type": "session", "id": "s1", "cwd": "/home/dev/shop", "timestamp": "2026-11-25T10:00:00Z"},
        {
            "type": "message",
            "id": "a1b2c3d4",
            "timestamp": "2026-11-25T10:00:02Z",
            "message": {
                "role": "assistant",
                "provider": provider,
                "model": model,
                "responseId": "resp-1",
                "usage": {"input": 1_000_000, "output": 100_000, "cacheRead": 0, "cacheWrite": 0},
            },
        },
    ]
    (folder / "2026-11-25T10-00-00_s1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def _pi_rows() -> dict[str, dict[str, object]]:
    result = runner.invoke(
        app, ["usage", "--tool", "pi", "--by", "provider", "--since", "2026-11-25", "--json"]
    )
    assert result.exit_code == 0, result.output
    return {row["provider"]: row for row in json.loads(result.stdout)["daily"]}


def test_pi_s_anthropic_proxy_is_unpriced_then_priced_by_its_base_url(isolated_home: Path) -> None:
    _pi_session(isolated_home, "anthropic-proxy", "claude-sonnet-4-5")
    row = _pi_rows()["anthropic-proxy"]
    assert row["unpriced_requests"] == 1 and row["cost_usd"] == 0
    models = isolated_home / ".pi" / "agent" / "models.json"
    models.write_text(
        json.dumps({"providers": {"anthropic-proxy": {"baseUrl": "https://api.anthropic.com"}}})
    )
    row = _pi_rows()["anthropic-proxy"]  # (the kept sums are made again: the attribution changed)
    # (1M input: above 200k, the whole request at Sonnet 4.5's long-context rates, $6 and $22.50)
    assert row["unpriced_requests"] == 0 and row["cost_usd"] == pytest.approx(6.0 + 2.25)


def test_the_base_urls_of_the_user_s_providers_are_read_from_each_assistant_s_config(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.usage.own_providers import own_urls

    monkeypatch.setenv("XDG_CONFIG_HOME", str(isolated_home / ".config"))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.delenv("PI_CODING_AGENT_DIR", raising=False)
    pi = isolated_home / ".pi" / "agent" / "models.json"
    pi.parent.mkdir(parents=True)
    pi.write_text(
        '{"providers": {"anthropic-proxy": {"baseUrl": "https://api.anthropic.com"},\n'
        ' // a switch\'s\n "mahavishnu": {"baseUrl": "http://x"},}}'
    )
    opencode = isolated_home / ".config" / "opencode" / "opencode.json"
    opencode.parent.mkdir(parents=True)
    opencode.write_text(
        json.dumps({"provider": {"my-openai": {"options": {"baseURL": "http://127.0.0.1:1/v1"}}}})
    )
    codex = isolated_home / ".codex" / "config.toml"
    codex.parent.mkdir(parents=True)
    codex.write_text('[model_providers.openai-compat]\nname = "x"\nbase_url = "https://api.openai.com/v1"\n')
    assert own_urls() == {
        "pi": {"anthropic-proxy": "https://api.anthropic.com"},
        "opencode": {"my-openai": "http://127.0.0.1:1/v1"},
        "codex": {"openai-compat": "https://api.openai.com/v1"},
    }
    pi.write_text("{not json")  # a broken config: no URL known (unpriced), never a traceback
    codex.write_text("[[[")
    assert own_urls() == {"opencode": {"my-openai": "http://127.0.0.1:1/v1"}}


def test_a_line_that_starts_with_a_bom_is_not_called_not_utf8() -> None:
    from mahavishnu.usage.logfile import parse_object

    assert parse_object(b'\xef\xbb\xbf{"type": "assistant"}') == (
        None,
        "not JSON: starts with a byte order mark (BOM)",
    )
    assert parse_object(b'{"a": "\xff"}') == (None, "not UTF-8")
