"""Secrets are masked by what they are, wherever they appear: in diffs and config text (``mask_text``),
in argument vectors (``mask_args``) and in trees (``mask_tree``)."""

from __future__ import annotations

import pytest

from mahavishnu.masking import is_secret_name, mask_args, mask_text, mask_tree

BEARER = "sntrys_SECRETTOKEN123456"
STRIPE = "pk_live_51HabcdefGHIJKL0123456789"


def test_a_diff_masks_bearer_headers_url_passwords_and_token_shaped_values() -> None:
    diff = (
        "--- /h/.claude.json (current)\n+++ /h/.claude.json (new)\n@@ -1,4 +1,5 @@\n"
        f'-        "Authorization": "Bearer {BEARER}"\n'
        f'+        "Authorization": "Bearer {BEARER}",\n'
        '+        "X-Other": "Basic dXNlcjpodW50ZXIycGFzcw=="\n'
        ' DATABASE_URL = "postgres://admin:hunter2pass@host/db"\n'
        f'+      "args": ["--api-key", "{STRIPE}", "--token=tok_0123456789ab", "-y"],\n'
        "+OPENAI_KEY=oa-plain-abcdefghij123\n"
        "-WEATHER_KEY=wk-secret-123456789\n"
    )
    masked = mask_text(diff)
    for secret in (BEARER, "dXNlcjpodW50ZXIycGFzcw==", "hunter2pass", STRIPE, "tok_0123456789ab"):
        assert secret not in masked, secret
    assert "oa-plain-abcdefghij123" not in masked and "wk-secret-123456789" not in masked
    assert '"Authorization": "Bearer snt…56"' in masked  # the scheme stays readable
    assert 'DATABASE_URL = "postgres://admin:****@host/db"' in masked
    assert masked.count("\n") == diff.count("\n") and masked.startswith("--- /h/.claude.json")


def test_a_flag_value_on_the_next_line_of_an_argument_list_is_masked() -> None:
    diff = '+      "args": [\n+        "--password",\n+        "hunter2pass"\n+      ],\n'
    assert "hunter2pass" not in mask_text(diff)
    # a context line between them belongs to both sides, a removed line only to the old one
    assert "hunter2pass" not in mask_text('-   "--password",\n+   "x",\n-   "hunter2pass"\n')


def test_commands_with_inline_credentials_are_masked() -> None:
    line = '"command": "curl -H \'Authorization: Bearer abc123def456ghi\' --token=xyzsecret1 https://x"'
    masked = mask_text(line)
    assert "abc123def456ghi" not in masked and "xyzsecret1" not in masked
    assert "curl -H" in masked and "https://x" in masked


def test_names_ending_in_key_or_pat_hold_secrets_but_not_every_key_does() -> None:
    for name in ("WEATHER_KEY", "OPENAI_KEY", "GITHUB_PAT", "SMTP_PASS", "X-Key", "stripeKey"):
        assert is_secret_name(name), name
    for name in ("env_key", "envKey", "apiKeyHelper", "public_key", "OPENAI_COMPAT", "MAX_THINKING_TOKENS"):
        assert not is_secret_name(name), name


def test_mask_args_masks_flag_values_and_key_shaped_arguments() -> None:
    args = [
        "-y",
        "@acme/mcp",
        "--api-key",
        STRIPE,
        "--token=tok_0123456789ab",
        "--password",
        "hunter2",
        "--port",
        "8",
    ]
    assert mask_args(args) == [
        "-y",
        "@acme/mcp",
        "--api-key",
        "pk_…89",
        "--token=tok…ab",
        "--password",
        "****",
        "--port",
        "8",
    ]
    assert mask_args(["npx", "server", STRIPE]) == ["npx", "server", "pk_…89"]


def test_a_tree_masks_env_by_name_and_args_by_flag() -> None:
    tree = {
        "env": {"WEATHER_KEY": "wk-secret-123456789", "OPENAI_KEY": "oa-plain-abcdefghij123", "PORT": "8080"},
        "args": ["--secret", "plainsecretvalue", "--verbose"],
        "headers": {"X-Key": "$K", "Authorization": "Bearer ${TOKEN}"},  # references stay
    }
    assert mask_tree(tree) == {
        "env": {"WEATHER_KEY": "wk-…89", "OPENAI_KEY": "oa-…23", "PORT": "8080"},
        "args": ["--secret", "pla…ue", "--verbose"],
        "headers": {"X-Key": "$K", "Authorization": "Bearer ${TOKEN}"},
    }


@pytest.mark.parametrize(
    "value",
    [
        "claude-sonnet-4-5-20250929",
        "qwen3-coder-480b-a35b-instruct",
        "anthropic/claude-sonnet-4.5",
        "Bash(npm run test:integration2024abcdef)",
        "4f1c2a9e-0000-4000-8000-000000000001",
    ],
)
def test_model_ids_rules_and_uuids_are_not_secrets(value: str) -> None:
    assert mask_tree({"model": value}) == {"model": value}
    assert mask_text(f'"model": "{value}"') == f'"model": "{value}"'


def test_masking_is_idempotent() -> None:
    once = mask_text(f'"Authorization": "Bearer {BEARER}"\nX=postgres://u:pw@h/db?password=abc&ssl=1\n')
    assert mask_text(once) == once
    assert "&ssl=1" in once


@pytest.mark.parametrize("token", ["glsa_AbCdEfGh", "glc_eyJvIjoiMSJ9"])
def test_a_short_grafana_token_in_an_argument_list_is_masked_by_its_prefix(token: str) -> None:
    """The scrubber knows Grafana's tokens by their prefix; masking on screen did not, and a short
    one (no long random run) was shown whole."""
    assert token not in " ".join(mask_args(["grafana-cli", "--token-file", "x", token]))
