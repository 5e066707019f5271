"""The evaluation data some benchmarks read: ``shared/data`` beside the clone (SciFact, LoCoMo: too big
for the repository, and under their own licences). A clone without it runs every test; a benchmark that
needs it stops with one line saying what is missing, instead of a traceback or an empty table."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require(folder: Path) -> Path:
    """``folder`` if it holds files; else exit with what is missing and where it is looked for."""
    if not folder.is_dir() or not any(folder.iterdir()):
        raise SystemExit(
            f"no evaluation data at {folder}: this benchmark reads {folder.name}/ from a folder "
            f"shared/data beside the clone ({SHARED_DATA}); the tests do not need it"
        )
    return folder


def dataset(name: str) -> Path:
    """The folder of the evaluation set ``name`` (``scifact``, ``locomo-dev``), or exit."""
    return require(SHARED_DATA / name)
