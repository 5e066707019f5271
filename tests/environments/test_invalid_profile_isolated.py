"""One invalid profile in mahavishnu.yaml is refused by itself: the others, ``stock`` (the way back
to the assistants' own logins) and ``ai list-llms`` still work; and an invalid base URL is shown
without its password or a key in its query."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import all_profiles, resolve
from mahavishnu.errors import ConfigError

runner = CliRunner()
BAD = 'profiles:\n  bad:\n    aliases: [worse]\n    anthropic: {base_url: "file:///etc/passwd", model: m}\n'
LAB = '  lab:\n    requires_key: false\n    anthropic: {base_url: "http://127.0.0.1:9", model: m}\n'


def _settings_file(home: Path, text: str) -> None:
    path = home / ".mahavishnu" / "mahavishnu.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_an_invalid_profile_is_left_out_and_refused_by_name_only(isolated_home: Path) -> None:
    from mahavishnu.environments.profiles import invalid_profiles

    _settings_file(isolated_home, BAD + LAB)
    settings = load_settings()
    profiles = all_profiles(settings)
    assert "bad" not in profiles and {"lab", "stock", "qwen"} <= set(profiles)
    assert list(invalid_profiles(settings)) == ["bad"]
    assert resolve("lab", settings).name == "lab" and resolve("stock", settings).name == "stock"
    for name in ("bad", "BAD", "worse"):
        with pytest.raises(
            ConfigError, match=r"profile 'bad': anthropic\.base_url must be an http"
        ) as refused:
            resolve(name, settings)
        assert "profiles.bad.anthropic.base_url" in refused.value.hint


def test_switching_back_to_stock_and_listing_work_beside_an_invalid_profile(isolated_home: Path) -> None:
    claude = isolated_home / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text('{"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}}\n')
    _settings_file(isolated_home, BAD + LAB)

    listed = runner.invoke(app, ["ai", "list-llms", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert (
        rows["bad"]["error"].startswith("profile 'bad': anthropic.base_url") and rows["lab"]["error"] is None
    )
    table = runner.invoke(app, ["ai", "list-llms"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "invalid" in table.stdout and "profile 'bad'" in table.stderr

    stock = runner.invoke(app, ["ai", "switch-llm", "stock", "--tool", "all"])
    assert stock.exit_code == 0, stock.output
    assert "ANTHROPIC_BASE_URL" not in claude.read_text()

    refused = runner.invoke(app, ["ai", "switch-llm", "bad", "--tool", "claude"])
    assert refused.exit_code == 1
    assert "error: profile 'bad': anthropic.base_url must be an http:// or https:// URL" in refused.output
    assert "ANTHROPIC_BASE_URL" not in claude.read_text()  # nothing written


@pytest.mark.parametrize(
    "url",
    [
        "htps://bob:pw@gw.example/x?api_key=QUERYSECRET",
        "http://bob:pw@gw.example:port/x?token=QUERYSECRET&v=1",  # urlsplit refuses the port
    ],
)
def test_an_invalid_base_url_is_shown_without_its_password_or_query_key(
    isolated_home: Path, url: str
) -> None:
    _settings_file(isolated_home, f'profiles:\n  gw2:\n    anthropic: {{base_url: "{url}", model: m}}\n')
    result = runner.invoke(app, ["ai", "list-llms"])
    shown = result.stdout + result.stderr
    assert "gw2" in shown and "gw.example" in shown
    assert "QUERYSECRET" not in shown and ":pw@" not in shown and "bob" not in shown
    refused = runner.invoke(app, ["ai", "switch-llm", "gw2"])
    assert refused.exit_code == 1 and "QUERYSECRET" not in refused.output and "bob" not in refused.output
    assert "[REDACTED:secret]" in refused.output


def test_ai_show_masks_a_key_in_the_query_whatever_its_shape(isolated_home: Path) -> None:
    url = "https://bob:pw@gw.example/x?api_key=QUERYSECRET"
    _settings_file(isolated_home, f'profiles:\n  gw:\n    anthropic: {{base_url: "{url}", model: m}}\n')
    result = runner.invoke(app, ["ai", "show", "gw", "--json"])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["anthropic"]["base_url"] == "https://gw.example/x?api_key=[REDACTED:secret]"
    )


def test_doctor_names_the_invalid_profile_and_its_fix(isolated_home: Path) -> None:
    from mahavishnu.doctor import check_profiles

    _settings_file(isolated_home, BAD + LAB)
    [finding] = check_profiles(load_settings())
    assert (finding.check, finding.status) == ("profile:bad", "error")
    assert "anthropic.base_url must be an http" in finding.detail and "profiles.bad" in finding.hint
    _settings_file(isolated_home, "profiles:\n" + LAB)
    assert [f.status for f in check_profiles(load_settings())] == ["ok"]


TYPO = (
    "profiles:\n"
    "  bad:\n    aliases: [worse]\n    anthropic: {base_url: 'https://x.example', model: m, timeout_ms: -1}\n"
    "  qwen:\n    anthropic: {modle: typo}\n"  # a built-in profile overridden with a typo
)


def test_a_profile_with_a_typo_or_a_wrong_value_is_refused_by_itself(isolated_home: Path) -> None:
    """A typo'd key or a value of the wrong type failed loading every setting: no `ai` command
    worked, `switch-llm stock` (the way back) included. Now only that profile is refused, under
    its aliases and a built-in one's too, and never used half (the catalogue's qwen without the
    user's override)."""
    from mahavishnu.doctor import check_profiles

    _settings_file(isolated_home, TYPO + LAB)
    settings = load_settings()
    assert {"lab", "stock"} <= set(all_profiles(settings)) and "qwen" not in all_profiles(settings)
    for name, problem in (
        ("worse", "profile 'bad' is invalid: profiles.bad.anthropic.timeout_ms: Input should be greater"),
        ("dashscope", "profile 'qwen' is invalid: profiles.qwen.anthropic.modle: Extra inputs"),
    ):
        with pytest.raises(ConfigError, match=re.escape(problem)) as refused:
            resolve(name, settings)
        assert "the other profiles work meanwhile" in (refused.value.hint or "")
    assert sorted(f.check for f in check_profiles(settings)) == ["profile:bad", "profile:qwen"]

    stocked = runner.invoke(app, ["ai", "switch-llm", "stock", "--tool", "claude"])
    assert stocked.exit_code == 0, stocked.output
    listed = runner.invoke(app, ["ai", "list-llms", "--json"])
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["qwen"]["error"].startswith("profile 'qwen' is invalid") and rows["lab"]["error"] is None
    assert load_settings().broken_profiles.keys() == {"bad", "qwen"}  # (read again: no snapshot drops them)
    shown = runner.invoke(app, ["config", "show", "--json"])
    assert shown.exit_code == 0 and "profile 'qwen' is invalid" in shown.stderr
