import time

from mahavishnu.masking import mask, mask_text, mask_tree, mask_url, url_host


def test_mask_shows_at_most_five_characters():
    assert mask("sk-ant-0123456789abcdef") == "sk-…ef"
    assert mask("short") == "****"


def test_assignments_in_json_toml_and_env_are_masked():
    text = (
        '"ANTHROPIC_AUTH_TOKEN": "sk-old-token-abcdefghijk",\n'
        "OPENAI_API_KEY=sk-abc123456789012\n"
        'password = "x"\n'
    )
    masked = mask_text(text)
    assert "sk-old-token-abcdefghijk" not in masked and "sk-abc123456789012" not in masked
    assert '"ANTHROPIC_AUTH_TOKEN": "sk-…jk"' in masked and 'password = "****"' in masked


def test_names_commands_references_and_containers_are_not_secrets():
    text = (
        '"apiKeyHelper": "/bin/mahavishnu secrets get qwen",\n'
        'env_key = "OPENAI_API_KEY"\n"auth": {\n"token": "env:X"\n'
        # OpenCode's substitutions and Pi's variable name: where the key is (a dry run shows them)
        '+ "apiKey": "{file:/home/me/.mahavishnu/opencode/api-key}",\n'
        '+ "apiKey": "{env:DASHSCOPE_API_KEY}",\n'
        '+ "apiKey": "MAHAVISHNU_RUN_API_KEY"'
    )
    assert mask_text(text) == text
    assert mask_text('"apiKey": "{file:x} sk-proj-abcdefghijklmnopqrstuvwx1234"').count("abcdefghij") == 0


def test_urls_keep_host_but_lose_password():
    assert mask_url("postgresql://me:hunter2@db:5432/x") == "postgresql://me:****@db:5432/x"
    assert mask_url("host=db password=hunter2 user=me") == "host=db password=**** user=me"
    assert url_host("postgresql://me:hunter2@db.internal:5432/x") == "db.internal:5432"
    # a key in the query (a gateway's ?api_key=), a URL without its scheme://
    assert mask_url("https://gw.example/v1?v=2&api_key=hunter2") == "https://gw.example/v1?v=2&api_key=****"
    assert mask_url("https://gw.example/v1?key=AIzaSyA-0123456789") == "https://gw.example/v1?key=AIz…89"
    assert mask_url("me:hunter2@db.internal/x") == "me:****@db.internal/x"
    assert mask_url("htps//me:hunter2@db.internal") == "htps//me:****@db.internal"


def test_a_long_word_is_masked_in_linear_time():
    # the password of a URL without its scheme:// was found by a regex that tried each start in
    # turn: a 100 kB hook command took a minute to show (`claude hooks add … --command`)
    began = time.monotonic()
    assert mask_url("A" * 200_000) == "A" * 200_000
    assert mask_url("me" * 100_000 + ":pw@db") == "me" * 100_000 + ":****@db"
    assert time.monotonic() - began < 2


def test_assignments_nested_in_values_thousands_deep_are_masked_without_a_recursion_error():
    # "a:a:a:…": each value holds the next assignment; looked into level by level, a 1 kB line was
    # a RecursionError (a traceback from any command that shows it)
    began = time.monotonic()
    assert mask_text("a:" * 50_000) == "a:" * 50_000
    assert time.monotonic() - began < 2
    assert "0123456789abcdefghij" not in mask_text("a:" * 500 + "sk-ant-0123456789abcdefghij")


def test_tree_masks_by_key():
    tree = {"dsn": "postgresql://a:b@h/x", "api_key": "sk-0123456789abcd", "secret": ["env:A"], "n": 3}
    assert mask_tree(tree) == {
        "dsn": "postgresql://a:****@h/x",
        "api_key": "sk-…cd",
        "secret": ["env:A"],
        "n": 3,
    }


def test_names_that_only_contain_token_or_auth_are_not_secrets():
    settings = {
        "includeCoAuthoredBy": True,
        "env": {
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "32000",
            "MAX_THINKING_TOKENS": "31999",
            "ANTHROPIC_AUTH_TOKEN": "sk-inline-0123456789abcdef",
            "GITHUB_TOKEN": "plain",
        },
        "apiKeyHelper": "/usr/bin/mahavishnu secrets get qwen",
    }
    masked = mask_tree(settings)
    assert masked["includeCoAuthoredBy"] is True
    assert masked["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "32000"
    assert masked["env"]["MAX_THINKING_TOKENS"] == "31999"
    assert masked["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-…ef"
    assert masked["env"]["GITHUB_TOKEN"] == "****"  # a known secret name, whatever its value looks like
    assert masked["apiKeyHelper"] == settings["apiKeyHelper"]
    text = (
        '"includeCoAuthoredBy": true,\n"MAX_THINKING_TOKENS": "31999",\n'
        '"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "32000"'
    )
    assert mask_text(text) == text


def test_a_key_shaped_value_is_masked_under_any_name():
    assert mask_tree({"X_CUSTOM": "sk-live-0123456789abcdef"}) == {"X_CUSTOM": "sk-…ef"}
    assert mask_tree({"header": "Bearer abcdefghijklmnop123"}) == {"header": "Bearer abc…23"}
    assert mask_tree(
        {"model": "anthropic/claude-sonnet-5.5", "id": "4f1c2a9e-0000-4000-8000-000000000001"}
    ) == {
        "model": "anthropic/claude-sonnet-5.5",
        "id": "4f1c2a9e-0000-4000-8000-000000000001",
    }
