from mahavishnu.masking import mask, mask_assignments, mask_tree, mask_url, url_host


def test_mask_shows_at_most_five_characters():
    assert mask("sk-ant-0123456789abcdef") == "sk-…ef"
    assert mask("short") == "****"


def test_assignments_in_json_toml_and_env_are_masked():
    text = (
        '"ANTHROPIC_AUTH_TOKEN": "sk-old-token-abcdefghijk",\n'
        "OPENAI_API_KEY=sk-abc123456789012\n"
        'password = "x"\n'
    )
    masked = mask_assignments(text)
    assert "sk-old-token-abcdefghijk" not in masked and "sk-abc123456789012" not in masked
    assert '"ANTHROPIC_AUTH_TOKEN": "sk-…jk"' in masked and 'password = "****"' in masked


def test_names_commands_references_and_containers_are_not_secrets():
    text = (
        '"apiKeyHelper": "/bin/mahavishnu secrets get qwen",\n'
        'env_key = "OPENAI_API_KEY"\n"auth": {\n"token": "env:X"'
    )
    assert mask_assignments(text) == text


def test_urls_keep_host_but_lose_password():
    assert mask_url("postgresql://me:hunter2@db:5432/x") == "postgresql://me:****@db:5432/x"
    assert mask_url("host=db password=hunter2 user=me") == "host=db password=**** user=me"
    assert url_host("postgresql://me:hunter2@db.internal:5432/x") == "db.internal:5432"


def test_tree_masks_by_key():
    tree = {"dsn": "postgresql://a:b@h/x", "api_key": "sk-0123456789abcd", "secret": ["env:A"], "n": 3}
    assert mask_tree(tree) == {
        "dsn": "postgresql://a:****@h/x",
        "api_key": "sk-…cd",
        "secret": ["env:A"],
        "n": 3,
    }
