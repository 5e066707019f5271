"""``memory ingest`` skips the secret files a review found taken: Vault's token file
(``~/.vault-token``) and Terraform state (``*.tfstate``, its backups), whatever ``--include`` says."""

from __future__ import annotations

from pathlib import Path

import pytest

from mahavishnu.config import IngestSettings
from mahavishnu.memory.ingest.repo_walk import WalkOptions, walk

SECRET_FILES = [
    ".vault-token",
    "infra/terraform.tfstate",
    "infra/terraform.tfstate.backup",
    "infra/terraform.tfstate.1731000000.backup",
    "infra/terraform.tfstate.d/staging/terraform.tfstate",
    "infra/prod.tfstate",
]
ORDINARY_FILES = ["infra/main.tf", "infra/variables.tf", "infra/README.md", "notes/tfstate.md"]


def _walked(root: Path, include: tuple[str, ...]) -> list[str]:
    settings = IngestSettings()
    options = WalkOptions(
        frozenset(settings.extensions), settings.max_file_bytes, tuple(settings.exclude), include
    )
    return [c.path for c in walk(root.resolve(), options).files]


@pytest.mark.parametrize("include", [("*",), ("*.tfstate", "*.backup", ".vault-token")])
def test_vault_tokens_and_terraform_state_are_never_ingested(
    isolated_home: Path, include: tuple[str, ...]
) -> None:
    root = isolated_home / "work"
    for rel in SECRET_FILES + ORDINARY_FILES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"master_password": "canary-7f3a9c1e5b"}\n')
    taken = _walked(root, include)
    assert [p for p in taken if p in SECRET_FILES] == []
    if include == ("*",):
        assert set(ORDINARY_FILES) <= set(taken)
