"""A machine without an OS keyring (SSH boxes, containers, WSL): the chain goes on to the file and
the environment, `secrets set` says where the key goes before asking, and concurrent stores keep
every key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import resolve
from mahavishnu.environments.secrets import lookup, resolve_profile_secret, store_secret
from mahavishnu.errors import SecretNotFoundError

NO_KEYRING = "keyring.backends.fail.Keyring"


@pytest.fixture
def no_keyring(monkeypatch):
    import keyring.core
    from keyring.backends import fail

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING)
    keyring.core.set_keyring(fail.Keyring())


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": NO_KEYRING}
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_the_file_store_is_found_after_a_missing_keyring(no_keyring):
    store_secret("qwen", "sk-file-0123456789", "file")
    assert resolve_profile_secret(resolve("qwen", load_settings()), load_settings()) == "sk-file-0123456789"
    assert lookup("qwen", load_settings()) == "sk-file-0123456789"


def test_the_obvious_alias_variable_is_accepted(no_keyring, monkeypatch):
    monkeypatch.setenv("QWEN_API_KEY", "sk-alias-0123456789")
    assert lookup("qwen", load_settings()) == "sk-alias-0123456789"


def test_a_missing_key_names_the_variables_and_the_command(no_keyring):
    with pytest.raises(SecretNotFoundError) as info:
        lookup("qwen", load_settings())
    assert "DASHSCOPE_API_KEY" in info.value.message and "QWEN_API_KEY" in info.value.message
    assert "no OS keyring" in info.value.message  # why that link could not answer
    assert "mahavishnu secrets set qwen" in info.value.hint


def test_secrets_set_without_a_keyring_uses_the_file_and_get_finds_it():
    stored = _cli("secrets", "set", "qwen", stdin="sk-cli-0123456789\n")
    assert stored.returncode == 0, stored.stderr
    assert "no OS keyring" in stored.stderr and "mode 600" in stored.stderr
    got = _cli("secrets", "get", "qwen")
    assert (got.returncode, got.stdout) == (0, "sk-cli-0123456789\n"), got.stderr


def test_secrets_set_store_file_as_documented_then_get():
    assert _cli("secrets", "set", "qwen", "--store", "file", stdin="k-0123456789ab\n").returncode == 0
    got = _cli("secrets", "get", "qwen")
    assert got.stdout == "k-0123456789ab\n", got.stderr


def test_secrets_set_store_keyring_is_refused_before_reading_the_value():
    refused = _cli("secrets", "set", "qwen", "--store", "keyring", stdin="k-0123456789ab\n")
    assert refused.returncode != 0
    assert "no OS keyring" in refused.stderr and "--store file" in refused.stderr
    assert "Traceback" not in refused.stderr


_STORE_ONE = """
import sys
from mahavishnu.environments.secrets import store_secret
store_secret(sys.argv[1], "value-of-" + sys.argv[1], "file")
"""


def test_twenty_concurrent_file_stores_keep_all_twenty_keys():
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": NO_KEYRING}
    procs = [
        subprocess.Popen([sys.executable, "-c", _STORE_ONE, f"key{i}"], env=env, stderr=subprocess.PIPE)
        for i in range(20)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    from mahavishnu.environments.secrets import list_secrets
    from mahavishnu.redaction.held import read_secrets_file as _secrets_file_read

    assert _secrets_file_read() == {f"key{i}": f"value-of-key{i}" for i in range(20)}
    assert {row["name"] for row in list_secrets()} == {f"key{i}" for i in range(20)}


def test_secrets_delete_finds_the_secret_where_set_put_it():
    assert _cli("secrets", "set", "zai", stdin="sk-zai-0123456789\n").returncode == 0
    deleted = _cli("secrets", "delete", "zai")
    assert (deleted.returncode, deleted.stdout) == (0, "deleted zai from the file\n"), deleted.stderr
    assert _cli("secrets", "list", "--json").stdout.strip() == "[]"
    again = _cli("secrets", "delete", "zai")
    assert again.returncode == 1 and "no secret 'zai'" in again.stderr and "keyring" not in again.stderr


def test_a_damaged_secrets_file_says_where_and_never_shows_a_key():
    assert _cli("secrets", "set", "lab", "--store", "file", stdin="sk-lab-0123456789abcdef\n").returncode == 0
    from mahavishnu import paths

    secrets = paths.secrets_file()
    secrets.write_text(secrets.read_text() + 'other = "sk-other-0123456789abcdef\n')  # a quote left open

    result = _cli("secrets", "get", "lab")

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"invalid TOML in {secrets}" in result.stderr and "line 2" in result.stderr
    assert "move it aside" in result.stderr
    assert "sk-lab" not in result.stderr + result.stdout and "sk-other" not in result.stderr


def test_secrets_delete_names_an_assistant_file_that_still_holds_the_key_in_the_clear():
    """A switch with --inline-secret writes the key into Claude's settings; deleting the stored secret
    (rotating a leaked key) left that copy without a word. A key that only looks alike (the same
    masked form) is not reported."""
    from mahavishnu import paths

    key = "sk-ant-api03-" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345" + "89"
    assert _cli("secrets", "set", "anthropic", stdin=key + "\n").returncode == 0
    switched = _cli("ai", "switch-llm", "anthropic", "--tool", "claude", "--inline-secret")
    assert switched.returncode == 0, switched.stderr
    settings = paths.home() / ".claude" / "settings.json"
    assert key in settings.read_text()

    deleted = _cli("secrets", "delete", "anthropic")

    assert deleted.returncode == 0 and "deleted anthropic" in deleted.stdout, deleted.stderr
    assert f"{settings} still holds this key in the clear" in " ".join(deleted.stderr.split())
    assert "ai switch-llm stock --tool claude" in " ".join(deleted.stderr.split())
    assert key not in deleted.stdout + deleted.stderr

    alike = "sk-ant-api03-" + "ZyXwVuTsRqPoNmLkJiHgFeDcBa987654" + "89"  # masks as the key does
    assert _cli("secrets", "set", "anthropic", stdin=alike + "\n").returncode == 0
    again = _cli("secrets", "delete", "anthropic")
    assert again.returncode == 0 and "in the clear" not in again.stderr, again.stderr


@pytest.mark.parametrize(
    ("tool", "profile", "folder"), [("codex", "zai", ".codex"), ("qwen", "qwen", ".qwen")]
)
def test_secrets_delete_names_the_dotenv_file_that_still_holds_the_key(tool: str, profile: str, folder: str):
    """Codex and Qwen Code read an inline key from their ``.env``: deleting the stored secret named
    Claude's and Gemini's copies, never theirs."""
    from mahavishnu import paths

    key = "sk-rotate-me-0123456789abcdef"
    assert _cli("secrets", "set", profile, stdin=key + "\n").returncode == 0
    switched = _cli("ai", "switch-llm", profile, "--tool", tool, "--inline-secret")
    assert switched.returncode == 0, switched.stderr
    dotenv = paths.home() / folder / ".env"
    assert key in dotenv.read_text()

    deleted = _cli("secrets", "delete", profile)

    said = " ".join(deleted.stderr.split())
    assert deleted.returncode == 0 and f"{dotenv} still holds this key in the clear" in said, deleted.stderr
    assert f"ai switch-llm stock --tool {tool}" in said
    assert key not in deleted.stdout + deleted.stderr


def test_secrets_delete_says_backups_still_hold_the_key():
    """After a switch to stock took the inline key out, `ai rollback` wrote the deleted key back in
    the clear from a backup, with no word of it at the delete."""
    key = "sk-rotate-me-0123456789abcdef"
    assert _cli("secrets", "set", "qwen", stdin=key + "\n").returncode == 0
    assert _cli("ai", "switch-llm", "qwen", "--tool", "qwen", "--inline-secret").returncode == 0
    assert _cli("ai", "switch-llm", "stock", "--tool", "qwen").returncode == 0  # the key is backed up

    deleted = _cli("secrets", "delete", "qwen")

    said = " ".join(deleted.stderr.split())
    assert deleted.returncode == 0 and "still hold this key: `mahavishnu ai rollback`" in said, said
    assert key not in deleted.stdout + deleted.stderr
    other = _cli("secrets", "set", "zai", stdin="sk-never-written-0123456789\n")
    assert other.returncode == 0 and "backup" not in _cli("secrets", "delete", "zai").stderr
