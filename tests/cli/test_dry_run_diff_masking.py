"""A dry run's diff never shows a secret the file already holds (not only the ones being written)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mahavishnu.cli.main import app

BEARER = "sntrys_SECRETTOKEN123456"
PASSWORD = "hunter2pass"
KEYS = ("wk-secret-123456789", "oa-plain-abcdefghij123", "pk_live_51HabcdefGHIJKL0123456789")


def test_mcp_servers_add_dry_run_masks_the_existing_servers_secrets(isolated_home: Path) -> None:
    existing = {
        "mcpServers": {
            "sentry": {
                "type": "http",
                "url": "https://mcp.sentry.dev/mcp",
                "headers": {"Authorization": f"Bearer {BEARER}"},
            },
            "db": {
                "type": "stdio",
                "command": "npx",
                "args": ["-y", "pg-mcp", "--api-key", KEYS[2], "--password", PASSWORD],
                "env": {
                    "DATABASE_URL": f"postgres://admin:{PASSWORD}@host/db",
                    "WEATHER_KEY": KEYS[0],
                    "OPENAI_KEY": KEYS[1],
                },
            },
        }
    }
    # one line per server: the line before the new one changes (a comma), so it shows in - and +
    servers = existing["mcpServers"]
    text = (
        f'{{\n  "mcpServers": {{\n    "sentry": {json.dumps(servers["sentry"])},\n'
        f'    "db": {json.dumps(servers["db"])}\n  }}\n}}\n'
    )
    config = isolated_home / ".claude.json"
    config.write_text(text)
    assert json.loads(text) == existing

    result = CliRunner().invoke(
        app, ["mcp-servers", "add", "x", "--command", "y", "--tool", "claude", "--dry-run"]
    )

    assert result.exit_code == 0, result.output
    assert "+++ " in result.stdout and '"x"' in result.stdout
    assert '-    "db"' in result.stdout and '+    "db"' in result.stdout  # shown on both sides
    for secret in (BEARER, PASSWORD, *KEYS):
        assert secret not in result.output, secret
    assert "Bearer snt…56" in result.stdout and "postgres://admin:****@host/db" in result.stdout
    assert config.read_text() == text
