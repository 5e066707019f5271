"""Secret references to local password managers: ``keepass:`` against a real ``.kdbx`` database made
with pykeepass (its password from the environment, the keyring or the 0600 file), and ``pass:``
against Debian's ``pass`` with a throwaway GnuPG key (GNUPGHOME and PASSWORD_STORE_DIR in tmp; the
test skips, saying why, when ``pass`` or ``gpg`` is not installed: ``.ci/install-pass.sh``). Each is
read through ``secrets get`` and a profile's chain; no error ever shows a value."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments.secrets import SecretRef, chain_for, resolve_chain, store_secret
from mahavishnu.errors import InvalidInputError, SecretStoreError

runner = CliRunner()
VALUE = "pw-7Qm2Zr9Lk4Xv8Ns3"  # the canary: no error may show it
DB_PASSWORD = "db-pass-Hq3Vw8Lz2"


def secrets_get(ref: str) -> Any:
    return runner.invoke(app, ["secrets", "get", ref])


# -- KeePass --------------------------------------------------------------------------------------
@pytest.fixture
def kdbx(tmp_path: Path) -> Path:
    pytest.importorskip("pykeepass", reason="the keepass extra (pykeepass) is not installed")
    from pykeepass import create_database

    path = tmp_path / "vault.kdbx"
    db = create_database(str(path), password=DB_PASSWORD)
    work = db.add_group(db.root_group, "Work")
    github = db.add_entry(work, "GitHub", "ana", VALUE, url="https://github.com")
    github.set_custom_property("token", "ghp-" + VALUE)
    db.add_entry(db.root_group, "OpenAI", "ana", "sk-" + VALUE)
    db.add_entry(db.root_group, "Twice", "a", "x1")
    db.add_entry(work, "Twice", "b", "x2")
    db.save()
    return path


def test_keepass_references_read_entries_fields_and_groups(
    kdbx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAHAVISHNU_KEEPASS_PASSWORD", DB_PASSWORD)
    assert secrets_get(f"keepass:{kdbx}#OpenAI").stdout == f"sk-{VALUE}\n"
    assert secrets_get(f"keepass:{kdbx}#GitHub").stdout == VALUE + "\n"
    assert secrets_get(f"keepass:{kdbx}#Work/GitHub").stdout == VALUE + "\n"
    assert secrets_get(f"keepass:{kdbx}#Work/GitHub/username").stdout == "ana\n"
    assert secrets_get(f"keepass:{kdbx}#GitHub/token").stdout == f"ghp-{VALUE}\n"
    assert secrets_get(f"keepass:{kdbx}#Work/Twice").stdout == "x2\n"
    chain = chain_for("openai", [f"keepass:{kdbx}#OpenAI"])
    assert resolve_chain(chain, "profile 'openai'", "openai") == f"sk-{VALUE}"


def test_the_database_password_comes_from_the_keyring_or_the_private_file(
    kdbx: Path, isolated_home: Path
) -> None:
    store_secret("keepass", DB_PASSWORD, "file")
    assert secrets_get(f"keepass:{kdbx}#OpenAI").stdout == f"sk-{VALUE}\n"
    store_secret("keepass", "wrong-password", "file")
    store_secret("keepass", DB_PASSWORD, "keyring")  # the keyring comes first
    assert secrets_get(f"keepass:{kdbx}#OpenAI").stdout == f"sk-{VALUE}\n"


def test_keepass_failures_name_the_store_and_the_fix_never_a_value(
    kdbx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_password = secrets_get(f"keepass:{kdbx}#OpenAI")
    assert no_password.exit_code != 0
    assert "no password for the KeePass database" in no_password.output
    assert "mahavishnu secrets set keepass" in no_password.output

    monkeypatch.setenv("MAHAVISHNU_KEEPASS_PASSWORD", "wrong")
    wrong = secrets_get(f"keepass:{kdbx}#OpenAI")
    assert wrong.exit_code != 0 and "did not open with the password" in wrong.output

    monkeypatch.setenv("MAHAVISHNU_KEEPASS_PASSWORD", DB_PASSWORD)
    missing = secrets_get(f"keepass:{kdbx}#Nothing")
    assert missing.exit_code != 0 and f"keepass:{kdbx}#Nothing" in missing.output
    no_field = secrets_get(f"keepass:{kdbx}#Work/GitHub/pin")
    assert no_field.exit_code != 0 and "no field 'pin'" in no_field.output and "token" in no_field.output
    twice = secrets_get(f"keepass:{kdbx}#Twice")
    assert twice.exit_code != 0 and "GROUP/TITLE" in twice.output
    no_file = secrets_get(f"keepass:{kdbx.parent / 'gone.kdbx'}#OpenAI")
    assert no_file.exit_code != 0 and "no KeePass database at" in no_file.output
    for result in (no_password, wrong, missing, no_field, twice, no_file):
        assert VALUE not in result.output and DB_PASSWORD not in result.output
    for bad in (
        "keepass:",
        "keepass:/x.kdbx",
        "keepass:/x.kdbx#",
        "keepass:#entry",
        "pass:",
        "pass:-x",
        "pass:a/../b",
    ):
        with pytest.raises(InvalidInputError):
            SecretRef.parse(bad)


def test_password_store_references_import_nothing_until_read() -> None:
    code = (
        "import os, sys; os.environ['K'] = 'v'\n"
        "from mahavishnu.environments.secrets import SecretRef\n"
        "assert SecretRef.parse('env:K').read() == 'v'\n"
        "loaded = [m for m in ('pykeepass', 'mahavishnu.environments.password_stores') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


# -- pass -----------------------------------------------------------------------------------------
def _gpg_env(tmp_path: Path) -> dict[str, str]:
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    return {
        **os.environ,
        "GNUPGHOME": str(gnupg),
        "PASSWORD_STORE_DIR": str(tmp_path / "password-store"),
    }


@pytest.fixture
def password_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A password store under tmp, encrypted to a throwaway GnuPG key without passphrase."""
    missing = [tool for tool in ("pass", "gpg", "gpgconf") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/install-pass.sh installs Debian's pass)")
    env = _gpg_env(tmp_path)
    for name in ("GNUPGHOME", "PASSWORD_STORE_DIR"):
        monkeypatch.setenv(name, env[name])
    run = {"env": env, "check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(
            ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
             "Mahavishnu Test <test@example.invalid>", "ed25519", "cert,sign", "never"],
            **run,
        )  # fmt: skip
        fingerprint = next(
            line.split(":")[9]
            for line in subprocess.run(
                ["gpg", "--batch", "--with-colons", "--list-keys"], text=True, **run
            ).stdout.splitlines()
            if line.startswith("fpr:")
        )
        subprocess.run(
            ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-add-key",
             fingerprint, "cv25519", "encr", "never"],
            **run,
        )  # fmt: skip
        subprocess.run(["pass", "init", fingerprint], **run)
        for name, value in (("work/openai", f"sk-{VALUE}\nuser: ana\n"), ("plain", VALUE)):
            subprocess.run(["pass", "insert", "--multiline", name], input=value.encode(), **run)
        yield env
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)


def test_pass_references_read_the_first_line_of_a_password(password_store: dict[str, str]) -> None:
    assert secrets_get("pass:work/openai").stdout == f"sk-{VALUE}\n"
    assert secrets_get("pass:plain").stdout == VALUE + "\n"
    chain = chain_for("openai", ["pass:work/openai"])
    assert resolve_chain(chain, "profile 'openai'", "openai") == f"sk-{VALUE}"


def test_pass_failures_name_the_store_and_the_fix_never_a_value(
    password_store: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = secrets_get("pass:work/nothing")
    assert missing.exit_code != 0 and "pass:work/nothing" in missing.output

    other_home = tmp_path / "other-gnupg"  # the store is here, its secret key is not
    other_home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(other_home))
    try:
        with pytest.raises(SecretStoreError) as undecryptable:
            SecretRef.parse("pass:plain").read()
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, timeout=30)
    assert "gpg could not decrypt" in undecryptable.value.message
    assert "GNUPGHOME" in (undecryptable.value.hint or "")

    monkeypatch.setenv("PASSWORD_STORE_DIR", str(tmp_path / "no-store"))
    no_store = secrets_get("pass:plain")
    assert no_store.exit_code != 0
    assert "no password store at" in no_store.output and "pass init" in no_store.output
    for result in (missing, no_store):
        assert VALUE not in result.output
    assert VALUE not in str(undecryptable.value)


def test_without_pass_on_path_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SecretStoreError) as error:
        SecretRef.parse("pass:anything").read()
    assert "apt install pass" in (error.value.hint or "")
