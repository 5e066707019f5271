"""The distribution's name (``mahavishnu-cp``: ``mahavishnu`` on the index is another project) and the
"install the extra" hints, which name where this copy came from (PEP 610's ``direct_url.json``): a
checkout, a directory, a wheel, a git URL, an archive's URL, or the index."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.distribution import DISTRIBUTION, install_extra

HASHES = {"hashes": {"sha256": "0" * 64}}


def installed(tmp_path: Path, origin: object | None) -> metadata.Distribution:
    """A ``.dist-info`` as pip leaves it, with ``direct_url.json`` holding ``origin`` (none: None)."""
    info = tmp_path / "mahavishnu_cp-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.3\nName: {DISTRIBUTION}\nVersion: 0.1.0\n")
    if origin is not None:
        text = origin if isinstance(origin, str) else json.dumps(origin)
        (info / "direct_url.json").write_text(text)
    return metadata.PathDistribution(info)


@pytest.mark.parametrize(
    ("origin", "hint"),
    [
        (None, "pip install 'mahavishnu-cp[aws]'"),  # from the index
        (
            {"url": "file:///home/ana/src/mahavishnu", "dir_info": {"editable": True}},
            "pip install -e '/home/ana/src/mahavishnu[aws]'",
        ),
        (
            {"url": "file:///home/ana/src/mahavishnu", "dir_info": {}},
            "pip install '/home/ana/src/mahavishnu[aws]'",
        ),
        (
            {"url": "file:///home/ana/my%20src/mahavishnu", "dir_info": {"editable": True}},
            "pip install -e '/home/ana/my src/mahavishnu[aws]'",
        ),
        (
            {"url": "file:///tmp/dl/mahavishnu_cp-0.1.0-py3-none-any.whl", "archive_info": HASHES},
            "pip install '/tmp/dl/mahavishnu_cp-0.1.0-py3-none-any.whl[aws]'",
        ),
        (
            {
                "url": "https://github.com/ana/mahavishnu.git",
                "vcs_info": {"vcs": "git", "requested_revision": "main", "commit_id": "4f1d2c3b"},
            },
            "pip install 'mahavishnu-cp[aws] @ git+https://github.com/ana/mahavishnu.git@4f1d2c3b'",
        ),
        (
            {
                "url": "https://github.com/ana/tools.git",
                "vcs_info": {"vcs": "git", "commit_id": "4f1d2c3b"},
                "subdirectory": "mahavishnu",
            },
            "pip install 'mahavishnu-cp[aws] @ git+https://github.com/ana/tools.git@4f1d2c3b"
            "#subdirectory=mahavishnu'",
        ),
        (
            {"url": "file:///home/ana/src/mahavishnu", "vcs_info": {"vcs": "git", "commit_id": "4f1d2c3b"}},
            "pip install 'mahavishnu-cp[aws] @ git+file://localhost/home/ana/src/mahavishnu@4f1d2c3b'",
        ),
        (
            {"url": "https://example.org/dl/mahavishnu_cp-0.1.0.tar.gz", "archive_info": HASHES},
            "pip install 'mahavishnu-cp[aws] @ https://example.org/dl/mahavishnu_cp-0.1.0.tar.gz'",
        ),
        ("{not json", "pip install 'mahavishnu-cp[aws]'"),  # damaged: the index, not a traceback
    ],
    ids=[
        "index",
        "editable",
        "directory",
        "space",
        "wheel",
        "git",
        "git-subdir",
        "git-local-clone",
        "archive-url",
        "damaged",
    ],
)
def test_the_hint_installs_the_extra_from_where_this_copy_came(
    tmp_path: Path, origin: object | None, hint: str
) -> None:
    assert install_extra("aws", installed(tmp_path, origin)) == hint


def test_this_copy_is_installed_under_the_new_name_with_the_same_command() -> None:
    """As .ci/run installs it: the distribution ``mahavishnu-cp`` gives the command ``mahavishnu``."""
    found = metadata.distribution(DISTRIBUTION)
    assert found.metadata["Name"] == DISTRIBUTION
    scripts = {e.name: e.value for e in found.entry_points if e.group == "console_scripts"}
    assert scripts == {"mahavishnu": "mahavishnu.cli.entry:run"}
    assert install_extra("otel") == install_extra("otel", found)


def test_a_cli_error_prints_the_hint_for_this_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    """`db backup --to s3://` without boto3, from a copy installed from a wheel."""
    from mahavishnu.cli.main import app

    wheel = {"url": "file:///opt/wheels/mahavishnu_cp-0.1.0-py3-none-any.whl", "archive_info": HASHES}
    found = installed(tmp_path, wheel)
    monkeypatch.setattr(metadata, "distribution", lambda name: found if name == DISTRIBUTION else None)
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3: ImportError
    result = CliRunner().invoke(app, ["db", "backup", "--to", "s3://bucket/key"])
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert "backups to S3 need boto3" in output
    assert "pip install '/opt/wheels/mahavishnu_cp-0.1.0-py3-none-any.whl[aws]'" in output


def test_the_plain_install_has_everything_the_dashboard_imports_and_ui_stays_an_extra() -> None:
    """`mahavishnu ui` works after `pip install mahavishnu-cp` (Jinja2 was only in the ui extra);
    `[ui]` stays accepted, so older install lines still work."""
    from testkit.requirements import imported_distributions, installed_with

    ui = Path(__file__).resolve().parents[1] / "src" / "mahavishnu" / "ui"
    plain = installed_with()
    needed = imported_distributions(ui.rglob("*.py"))
    assert {"jinja2", "starlette", "uvicorn"} <= needed.keys()
    assert {module: dists for module, dists in needed.items() if not dists & plain} == {}
    assert "ui" in (metadata.distribution(DISTRIBUTION).metadata.get_all("Provides-Extra") or [])


def test_the_package_under_test_is_this_clones() -> None:
    """Not a copy another install puts first on sys.path (an editable install under the old name,
    ``mahavishnu``, whose ``.pth`` sorts before ``mahavishnu_cp``'s: .ci/run uninstalls it)."""
    import mahavishnu

    assert Path(mahavishnu.__file__).resolve().is_relative_to(Path(__file__).resolve().parents[1])
