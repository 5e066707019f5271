"""Ingesting ``~`` (or ``$MAHAVISHNU_HOME``) must not copy a credential into the store (issue 14, 3)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli
from mahavishnu.config import IngestSettings
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.ingest.repo_walk import WalkOptions, walk
from mahavishnu.redaction.scrub import scrub

CANARY = "canary-7f3a9c1e5b"
SECRET_FILES = [
    ".ssh/id_ed25519",
    ".ssh/config",
    ".gnupg/private.txt",
    ".aws/credentials",
    ".env",
    "project/.env.local",
    "project/prod.env",
    "project/secrets.toml",
    "project/secrets.yaml",
    "project/server.pem",
    "project/api.key",
    ".claude/.credentials.json",
    ".claude.json",
    ".codex/auth.json",
    ".gemini/oauth_creds.json",
    ".qwen/oauth_creds.json",
    ".netrc",
    ".pgpass",
    ".git-credentials",
]


@pytest.fixture
def home(isolated_home: Path) -> Path:
    """A home full of secrets, Mahavishnu's own files among them, and one ordinary note."""
    for rel in SECRET_FILES:
        path = isolated_home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"token = {CANARY}\n")
    own = Path(os.environ["MAHAVISHNU_HOME"])
    own.mkdir(parents=True, exist_ok=True)
    (own / "secrets.toml").write_text(f'qwen = "{CANARY}"\n')
    (own / "mahavishnu.yaml").write_text(f"session_buddy:\n  url: http://u:{CANARY}@127.0.0.1:9/mcp\n")
    (isolated_home / "project" / "notes.md").write_text("Deploys run on Fridays.\n")
    (isolated_home / "project" / "id_generator.py").write_text("def next_id(): ...\n")
    return isolated_home


def _walked(root: Path, include: tuple[str, ...] = ()) -> list[str]:
    settings = IngestSettings()
    options = WalkOptions(
        frozenset(settings.extensions), settings.max_file_bytes, tuple(settings.exclude), include
    )
    return [c.path for c in walk(root.resolve(), options).files]


@pytest.mark.parametrize("include", [(), ("*",)])  # even "take everything" takes no secret
def test_walking_home_takes_no_secret_file_and_none_of_mahavishnus_own(
    home: Path, include: tuple[str, ...]
) -> None:
    taken = _walked(home, include)
    assert "project/notes.md" in taken and "project/id_generator.py" in taken
    assert [p for p in taken if p in SECRET_FILES or p.startswith(".mahavishnu")] == []


def test_walking_mahavishnu_home_takes_nothing(home: Path) -> None:
    assert _walked(Path(os.environ["MAHAVISHNU_HOME"]), ("*",)) == []


def test_a_symlink_to_a_secret_file_is_not_taken(home: Path) -> None:
    (home / "project" / "readme.txt").symlink_to(home / "project" / "secrets.toml")
    assert "project/readme.txt" not in _walked(home / "project")


def test_cli_ingest_of_home_stores_no_secret_and_the_store_is_private(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    runner = CliRunner()
    ingested = runner.invoke(memory_cli.app, ["ingest", str(home), "--include", "*", "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["files_indexed"] >= 1
    found = runner.invoke(memory_cli.app, ["query", CANARY, "--mode", "text", "--json"])
    assert found.exit_code == 0, found.output
    assert CANARY not in found.stdout
    store = Path(os.environ["MAHAVISHNU_HOME"]) / "memory.db"
    for file in store.parent.glob("memory.db*"):
        assert CANARY.encode() not in file.read_bytes()
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_a_new_store_and_its_directory_are_private(tmp_path: Path) -> None:
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.store import MemoryStore

    directory = tmp_path / "stores" / "team"
    MemoryStore.open(MemorySettings(path=directory / "memory.db")).close()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for file in directory.glob("memory.db*"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def _pem_in_base64(label: str) -> str:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + CANARY
    return base64.b64encode(f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()).decode()


def test_a_private_key_held_in_base64_by_a_kubeconfig_or_a_secret_never_reaches_the_store(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    repo = isolated_home / "deploy"
    repo.mkdir()
    keys = {label: _pem_in_base64(label) for label in ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY")}
    (repo / "kubeconfig.yaml").write_text(
        f"users:\n- name: admin\n  user:\n    client-key-data: {keys['RSA PRIVATE KEY']}\n"
    )
    (repo / "tls-secret.yaml").write_text(
        f"kind: Secret\ndata:\n  tls.crt: {_pem_in_base64('CERTIFICATE')}\n"
        f"  tls.key: {keys['EC PRIVATE KEY']}\n  other: {keys['PRIVATE KEY']}\n"
    )
    ingested = CliRunner().invoke(memory_cli.app, ["ingest", str(repo), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["files_indexed"] == 2
    for file in (Path(os.environ["MAHAVISHNU_HOME"])).glob("memory.db*"):
        stored = file.read_bytes()
        assert not [label for label, key in keys.items() if key[20:80].encode() in stored], file
    assert _pem_in_base64("CERTIFICATE")[20:80] in scrub(f"tls.crt: {_pem_in_base64('CERTIFICATE')}")


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_key_in_a_quoted_header_of_a_readmes_curl_example_never_reaches_the_store(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, quote: str
) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    repo = isolated_home / "client"
    repo.mkdir()
    key, token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "Xk29fjQm3LpZ7hT4wR8vN2cB"
    (repo / "README.md").write_text(
        f"# Client\n\n```bash\ncurl -H {quote}X-API-Key: {key}{quote} \\\n"
        f"     -H {quote}X-Auth-Token: {token}{quote} https://api.example.com/v1/items\n```\n"
    )
    ingested = CliRunner().invoke(memory_cli.app, ["ingest", str(repo), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["files_indexed"] == 1
    for file in (Path(os.environ["MAHAVISHNU_HOME"])).glob("memory.db*"):
        assert key.encode() not in file.read_bytes() and token.encode() not in file.read_bytes(), file


SIGNED_URLS = {
    "sig=": "https://acct.blob.core.windows.net/c/f.zip?sv=2020-08-04&sp=r&sig=AbC%2BxyzQ1w2e3r4t5y6u7i8o9p0LKJ%3D",
    "X-Amz-Signature=": "https://b.s3.amazonaws.com/k?X-Amz-Expires=600&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6",
    "webhooks/": "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEf",
}


def test_a_signed_url_or_a_discord_webhook_in_a_script_never_reaches_the_store(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    repo = isolated_home / "ops"
    repo.mkdir()
    (repo / "deploy.sh").write_text("".join(f'curl -fsSL "{url}"\n' for url in SIGNED_URLS.values()))
    ingested = CliRunner().invoke(memory_cli.app, ["ingest", str(repo), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["files_indexed"] == 1
    stored = b"".join(f.read_bytes() for f in Path(os.environ["MAHAVISHNU_HOME"]).glob("memory.db*"))
    secrets = {marker: url.split(marker, 1)[1][:24].encode() for marker, url in SIGNED_URLS.items()}
    assert [marker for marker, secret in secrets.items() if secret in stored] == []
