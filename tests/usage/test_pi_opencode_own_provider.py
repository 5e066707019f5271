"""Pi and OpenCode name a provider on every message. A provider the user defined themselves
(``myproxy`` in Pi's models.json or OpenCode's config) keeps its name and is unpriced unless
usage.yaml prices it, whatever its model is called (``gpt-4o`` is not OpenAI's list price there)
and whatever Mahavishnu switched: a switch writes its own provider (``mahavishnu``). The providers
the assistants themselves name for a vendor are still that vendor's."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage.attribution import Attribution, ProfileEndpoints, Switch
from mahavishnu.usage.records import Provider, Tool

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pi-opencode-home"
LAB = {"lab": ProfileEndpoints(stock=(), base_urls={"openai": "http://127.0.0.1:4000/v1"}, own=True)}
SWITCHED = Provider("lab", "lab", "http://127.0.0.1:4000/v1", gateway=True)


@pytest.mark.parametrize("tool", ["pi", "opencode"])
@pytest.mark.parametrize("at", [50, 150], ids=["no switch", "switched"])
def test_a_provider_of_the_user_s_own_keeps_its_name_switched_or_not(tool: Tool, at: float) -> None:
    attribution = Attribution([Switch(100, tool, "lab", None, "s1")], LAB)
    assert attribution.provider(tool, at, None, "gpt-4o", "myproxy") == Provider("myproxy")
    assert attribution.provider(tool, at, None, "claude-sonnet-4-5", "corp-gateway") == Provider(
        "corp-gateway"
    )
    assert attribution.provider(tool, at, None, "gpt-4o", "ollama") == Provider("ollama")
    # the vendors the assistant itself names are theirs, priced by them
    assert attribution.provider(tool, at, None, "gpt-4o", "openai") == Provider("openai", price_id="openai")
    assert attribution.provider(tool, at, None, "claude-sonnet-4-5", "anthropic") == Provider(
        "anthropic", price_id="anthropic"
    )
    # one of Pi's own providers genai-prices has no id for (Vercel's gateway, OpenCode Zen): the
    # model's provider, as with no switch (the switch's provider is named ``mahavishnu``)
    by_model = Provider("anthropic", price_id="anthropic")
    assert attribution.provider(tool, at, None, "claude-sonnet-4-5", "vercel-ai-gateway") == by_model
    assert attribution.provider(tool, at, None, "claude-sonnet-4-5", "opencode") == by_model
    assert attribution.provider(tool, at, None, "my-model", "opencode") == Provider("opencode")
    # the switch's own provider: the profile in force (none before the switch: the model's)
    mahavishnu = attribution.provider(tool, at, None, "gpt-4o", "mahavishnu")
    assert mahavishnu == (SWITCHED if at > 100 else Provider("openai", price_id="openai"))


def _opencode_reply(home: Path, message_id: str, provider: str, model: str) -> None:
    """One OpenCode reply of 1M input and 100k output tokens, as OpenCode 1.18 stores it."""
    database = home / ".local/share/opencode/opencode.db"
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        session = db.execute("SELECT id FROM session ORDER BY time_created LIMIT 1").fetchone()[0]
        at = db.execute("SELECT MAX(time_updated) FROM message").fetchone()[0] + 60_000
        tokens = {"input": 1_000_000, "output": 100_000, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        body = {
            "role": "assistant",
            "path": {"cwd": "/home/dev/src/shop", "root": "/"},
            "tokens": tokens,
            "modelID": model,
            "providerID": provider,
            "time": {"created": at - 1000, "completed": at},
        }
        db.execute(
            "INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)",
            (message_id, session, at - 1000, at, json.dumps(body)),
        )


def _rows(*extra: str) -> tuple[dict[str, dict[str, object]], list[str]]:
    result = CliRunner().invoke(app, ["usage", "--tool", "opencode", "--by", "provider", "--json", *extra])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return {row["provider"]: row for row in report["daily"]}, report["unpriced_models"]


def test_opencode_s_provider_of_the_user_s_own_is_unpriced_until_usage_yaml_prices_it(
    isolated_home: Path,
) -> None:
    shutil.copytree(FIXTURES / ".local", isolated_home / ".local")
    _opencode_reply(isolated_home, "msg_myproxy", "myproxy", "gpt-4o")
    _opencode_reply(isolated_home, "msg_openai", "openai", "gpt-4o")
    rows, unpriced = _rows()
    assert rows["myproxy"]["requests"] == rows["myproxy"]["unpriced_requests"] == 1
    assert rows["myproxy"]["cost_usd"] == 0
    assert "myproxy/gpt-4o" in unpriced
    assert rows["openai"]["unpriced_requests"] == 0 and float(rows["openai"]["cost_usd"]) > 0  # type: ignore[arg-type]

    (isolated_home / ".mahavishnu").mkdir(exist_ok=True)
    (isolated_home / ".mahavishnu" / "usage.yaml").write_text(
        yaml.safe_dump({"pricing": {"myproxy": {"gpt-4o": {"input": 1.0, "output": 2.0}}}})
    )
    rows, unpriced = _rows()
    assert rows["myproxy"]["unpriced_requests"] == 0 and "myproxy/gpt-4o" not in unpriced
    assert rows["myproxy"]["cost_usd"] == pytest.approx(1.0 + 0.2)
