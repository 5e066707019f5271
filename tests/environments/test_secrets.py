from __future__ import annotations

import os
import stat

import pytest
from typer.testing import CliRunner

from mahavishnu import paths
from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import resolve
from mahavishnu.environments.secrets import (
    SecretRef,
    delete_secret,
    list_secrets,
    lookup,
    resolve_profile_secret,
    store_secret,
)
from mahavishnu.errors import InvalidInputError, SecretNotFoundError, SecretStoreError


@pytest.mark.parametrize(
    ("text", "kind", "service", "name"),
    [
        ("env:QWEN_API_KEY", "env", "", "QWEN_API_KEY"),
        ("keyring:mahavishnu/qwen", "keyring", "mahavishnu", "qwen"),
        ("keyring:qwen", "keyring", "mahavishnu", "qwen"),
        ("file:qwen", "file", "", "qwen"),
    ],
)
def test_references_parse_and_print_back(text, kind, service, name):
    ref = SecretRef.parse(text)
    assert (ref.kind, ref.service, ref.name) == (kind, service, name)
    assert SecretRef.parse(str(ref)) == ref


@pytest.mark.parametrize("text", ["QWEN", "vault:x", "env:", ":x"])
def test_bad_references_are_refused(text):
    with pytest.raises(InvalidInputError, match="not a secret reference"):
        SecretRef.parse(text)


def test_profile_chain_prefers_env_then_keyring(monkeypatch):
    settings = load_settings()
    qwen = resolve("qwen", settings)
    store_secret("qwen", "from-keyring-123456", "keyring")
    assert resolve_profile_secret(qwen, settings) == "from-keyring-123456"
    monkeypatch.setenv("DASHSCOPE_API_KEY", "from-env-123456")
    assert resolve_profile_secret(qwen, settings) == "from-env-123456"


def test_missing_secret_names_what_was_tried_without_values():
    with pytest.raises(SecretNotFoundError) as info:
        resolve_profile_secret(resolve("deepseek", load_settings()), load_settings())
    assert "DEEPSEEK_API_KEY" in info.value.message
    assert "env:DEEPSEEK_API_KEY, keyring:mahavishnu/deepseek, file:deepseek" in info.value.hint


def test_file_store_is_0600_listed_and_deletable():
    store_secret("lab", "lab-secret-value", "file")
    mode = stat.S_IMODE(os.stat(paths.secrets_file()).st_mode)
    assert mode == 0o600
    assert lookup("lab", load_settings()) == "lab-secret-value"
    assert lookup("file:lab", load_settings()) == "lab-secret-value"
    assert {"name": "lab", "store": "file", "problem": None} in list_secrets()
    assert "lab-secret-value" not in (paths.config_dir() / "secrets-index.json").read_text()
    assert delete_secret("lab", "file") == "lab-secret-value"
    assert list_secrets() == []
    with pytest.raises(SecretNotFoundError):
        lookup("lab", load_settings())


def test_group_readable_secrets_file_is_refused():
    store_secret("lab", "lab-secret-value", "file")
    os.chmod(paths.secrets_file(), 0o644)
    with pytest.raises(SecretStoreError, match="readable by other users") as info:
        lookup("file:lab", load_settings())
    assert "chmod 600" in info.value.hint


def test_no_keyring_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring.core

    keyring.core.set_keyring(keyring.core.load_env())
    with pytest.raises(SecretStoreError, match="no OS keyring on this machine"):
        store_secret("qwen", "value-123456789", "keyring")


def test_a_file_keyring_found_on_its_own_is_no_os_keyring(monkeypatch):
    """keyrings.alt installed (Debian, containers) and no OS keyring: keyring detects its encrypted
    file, which asks for a password on the terminal (a hook has none), or its plaintext file. Neither
    is an OS keyring unless the user names it; of a chain, the OS keyring is the one used."""
    import keyring.core
    from keyring.backends import chainer
    from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

    from mahavishnu.environments.secrets import keyring_available

    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    keyring.core.set_keyring(EncryptedKeyring())
    assert not keyring_available()
    with pytest.raises(SecretStoreError, match="no OS keyring on this machine") as refused:
        store_secret("qwen", "value-123456789", "keyring")
    assert "PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring" in refused.value.hint

    class SecretService(PlaintextKeyring):  # stands for the desktop's keyring
        pass

    SecretService.__module__ = "keyring.backends.SecretService"
    os_keyring = SecretService()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [EncryptedKeyring(), os_keyring])
    keyring.core.set_keyring(chainer.ChainerBackend())
    store_secret("qwen", "value-123456789", "keyring")
    assert os_keyring.get_password("mahavishnu", "qwen") == "value-123456789"

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")  # named: used
    keyring.core.set_keyring(PlaintextKeyring())
    assert keyring_available()


KEY_AS_NAME = "sk-ant-api03-Xq8Zx7Lm2Pv9Rt4Wk6Ny3Bh5Jd1Fs0Gc"


def test_a_key_typed_as_the_name_is_refused_and_never_echoed():
    """`secrets set sk-…` (the key where its name goes) would list the key in `secrets list` and
    the index: refused before the prompt, in a message that does not quote it."""
    result = CliRunner().invoke(
        app, ["secrets", "set", KEY_AS_NAME, "--store", "file"], input="x" * 20 + "\n"
    )
    assert result.exit_code != 0 and "looks like a key" in result.output
    assert "Xq8Zx7Lm" not in result.output
    with pytest.raises(InvalidInputError, match="looks like a key") as refused:
        store_secret(KEY_AS_NAME, "value-0123456789", "file")
    assert "Xq8Zx7Lm" not in refused.value.message
    assert list_secrets() == [] and not paths.secrets_file().exists()
    with pytest.raises(InvalidInputError, match="not a valid secret name") as invalid:
        store_secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "value-0123456789", "file")
    assert "wJalrXUt" not in invalid.value.message
    store_secret("mahavishnu-mcp-token", "value-0123456789", "file")  # names that merely say "token"
    store_secret("openrouter", "value-0123456789", "file")


@pytest.mark.parametrize(
    "value", ["sk-abc\x00def", "\ufeffsk-abc-0123456789", "sk-\x1b[2Jabc", "sk-abc\u200bdef"]
)
def test_a_key_with_a_control_or_invisible_character_is_refused(value: str) -> None:
    """A key piped from a file saved with a byte-order mark, or pasted with a zero-width space or an
    escape sequence, was stored: no provider accepts it, and a later switch refused it saying it
    "ends with a backslash, or mixes kinds of quote"."""
    result = CliRunner().invoke(app, ["secrets", "set", "qwen", "--store", "file"], input=value)
    assert result.exit_code == 2 and "control or invisible character" in result.output, result.output
    assert "sk-" not in result.output and not paths.secrets_file().exists()
    with pytest.raises(InvalidInputError, match="control or invisible"):
        store_secret("qwen", value, "file")
    assert list_secrets() == []


@pytest.mark.parametrize("name", ["ab\x1b[31m", "a\x7fb", "a\u2028b", "a\x00b"])
def test_a_name_with_a_control_character_is_refused(name: str) -> None:
    """`secrets list` showed "ab" for each of them, as for a name "ab" stored beside them."""
    with pytest.raises(InvalidInputError, match="not a valid secret name"):
        store_secret(name, "value-0123456789", "file")
    assert list_secrets() == [] and not paths.secrets_file().exists()


@pytest.mark.parametrize(
    ("written", "kind"),
    [("[qwen]\nkey = 'sk-tab-0123456789'\n", "a table"), ("qwen = 20240101\n", "a number")],
)
def test_a_value_of_the_secrets_file_that_is_no_string_is_refused(written: str, kind: str) -> None:
    """A hand-written `[qwen]` table was taken for the key as its Python repr ("{'key': 'sk-…'}"),
    which a switch wrote into Qwen Code's .env; `secrets set` of another name rewrote the table as
    that string."""
    paths.make_dir(paths.secrets_file().parent)
    paths.secrets_file().write_text(written)
    paths.secrets_file().chmod(0o600)
    with pytest.raises(SecretStoreError, match=f"'qwen' in .* is not a quoted string \\({kind}\\)"):
        lookup("qwen", load_settings())
    setting = ["secrets", "set", "zai", "--store", "file"]
    result = CliRunner().invoke(app, setting, input="sk-zai-0123456789\n")
    assert result.exit_code == 1 and "not a quoted string" in result.output
    assert "sk-tab" not in result.output and paths.secrets_file().read_text() == written


def test_the_keys_of_a_secrets_file_with_a_value_that_is_no_string_are_still_scrubbed() -> None:
    """One hand-written `[qwen]` table made the scrubber hold none of the file's keys: every other
    key stored there (and the table's) went into captured memories as it was."""
    from mahavishnu.redaction.held import forget_held_values
    from mahavishnu.redaction.scrub import scrub

    paths.make_dir(paths.secrets_file().parent)
    paths.secrets_file().write_text("zai = 'qz7Wm2kRt9Lp4Xv'\n[qwen]\nkey = 'Lp4Xvqz7Wm2kRt9'\n")
    paths.secrets_file().chmod(0o600)
    forget_held_values()
    assert scrub("keys qz7Wm2kRt9Lp4Xv and Lp4Xvqz7Wm2kRt9") == (
        "keys [REDACTED:known-secret] and [REDACTED:known-secret]"
    )


@pytest.mark.parametrize("text", ['{"qwen": ["keyring"], "zai": [', "[1, 2]", "\udcff"])
def test_a_damaged_index_of_names_stops_set_and_delete_with_nothing_written(text: str) -> None:
    """A secrets-index.json that was no JSON object was read as empty and rewritten: the names of
    the keyring's keys were lost from `secrets list`, silently."""
    store_secret("qwen", "value-0123456789", "file")
    index = paths.config_dir() / "secrets-index.json"
    index.write_bytes(text.encode("utf-8", "surrogateescape"))
    before = paths.secrets_file().read_bytes()
    for command in (["secrets", "set", "zai", "--store", "file"], ["secrets", "delete", "qwen"]):
        result = CliRunner().invoke(app, command, input="value-0123456789\n")
        assert result.exit_code == 1 and "secrets-index.json is damaged" in result.output
        assert "Traceback" not in result.output and "value-0123456789" not in result.output
    assert paths.secrets_file().read_bytes() == before
    assert index.read_bytes() == text.encode("utf-8", "surrogateescape")
    assert [row["name"] for row in list_secrets()] == ["qwen"]  # (the file's names, to a reader)


def test_an_index_entry_of_another_shape_names_no_store() -> None:
    """`{"qwen": "file"}` was listed as the stores f, i, l and e; `{"zai": 3}` was a traceback."""
    index = paths.config_dir() / "secrets-index.json"
    paths.make_dir(index.parent)
    index.write_text('{"qwen": "file", "zai": 3, "kimi": ["keyring", 3]}')
    assert [(row["name"], row["store"]) for row in list_secrets()] == [("kimi", "keyring")]
    store_secret("glm", "value-0123456789", "file")
    assert [(row["name"], row["store"]) for row in list_secrets()] == [("glm", "file"), ("kimi", "keyring")]


@pytest.mark.parametrize(("piped", "said"), [("a\nb", "has 2 lines"), ("", "stdin holds no value")])
def test_a_piped_value_that_is_no_key_is_refused_before_where_it_would_go_is_said(
    piped: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`secrets set` said "the key goes to …/secrets.toml" and then that nothing was stored."""
    from mahavishnu.environments import secrets

    monkeypatch.setattr(secrets, "keyring_available", lambda: False)  # (as on a machine without one)
    assert "goes to" in CliRunner().invoke(app, ["secrets", "set", "multi"], input="sk-x-0123456789").output
    paths.secrets_file().unlink()
    result = CliRunner().invoke(app, ["secrets", "set", "multi"], input=piped)
    assert result.exit_code == 2 and said in result.output
    assert "goes to" not in result.output and not paths.secrets_file().exists()


@pytest.mark.parametrize("typed", ["glm", "ZAI"])
def test_a_key_set_under_a_profile_alias_is_stored_where_its_chain_reads(typed: str) -> None:
    """`secrets set glm` (zai's alias) stored file:glm, which neither `secrets get glm` nor a switch
    to glm ever read (zai's chain reads file:zai): stored under the profile's own name."""
    typed_in = ["secrets", "set", typed, "--store", "file"]
    result = CliRunner().invoke(app, typed_in, input="sk-glm-0123456789\n")
    assert result.exit_code == 0 and "stored as file:zai" in result.output
    assert [row["name"] for row in list_secrets()] == ["zai"]
    fetched = CliRunner().invoke(app, ["secrets", "get", typed])
    assert fetched.exit_code == 0 and fetched.output.strip() == "sk-glm-0123456789"


def test_a_key_set_under_a_profile_alias_is_deleted_by_that_alias() -> None:
    """`secrets set glm` stores zai's key: `secrets delete glm` said there was no secret 'glm'."""
    CliRunner().invoke(app, ["secrets", "set", "glm", "--store", "file"], input="sk-glm-0123456789\n")
    result = CliRunner().invoke(app, ["secrets", "delete", "glm"])
    assert result.exit_code == 0 and "deleted zai from the file" in result.output
    assert list_secrets() == []
    missing = CliRunner().invoke(app, ["secrets", "delete", "glm"])
    assert missing.exit_code != 0 and "no secret 'glm'" in missing.output
