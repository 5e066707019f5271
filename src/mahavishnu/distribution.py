"""This copy of Mahavishnu as pip sees it: its distribution name, and the command that installs one of
its optional extras from wherever this copy came from.

The name on the package index is ``mahavishnu-cp`` (``mahavishnu`` there is another project); the
command and the import package stay ``mahavishnu``. A hint such as "pip install 'mahavishnu-cp[aws]'"
would fetch the index's release into a copy installed from a checkout, a wheel or a git URL, so
``install_extra`` reads how pip installed this copy (PEP 610: the ``direct_url.json`` it leaves in the
``.dist-info``; none for a copy from an index) and names the same source.
"""

from __future__ import annotations

import json
import os
import shlex
from importlib import metadata
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

DISTRIBUTION = "mahavishnu-cp"


def install_extra(extra: str, installed: metadata.Distribution | None = None) -> str:
    """The command that adds ``extra`` (e.g. ``aws``) to this copy (``installed``: its distribution,
    found by name when None): from its checkout (``pip install -e '/src[aws]'`` when it is editable),
    its wheel, its git URL at the installed commit, or the index."""
    source = _source(installed)
    if source is None:
        return f"pip install {shlex.quote(f'{DISTRIBUTION}[{extra}]')}"
    where, editable = source
    if not os.path.isabs(where):  # a URL: a direct reference (PEP 508), NAME[EXTRA] @ URL
        return f"pip install {shlex.quote(f'{DISTRIBUTION}[{extra}] @ {where}')}"
    return "pip install " + ("-e " if editable else "") + shlex.quote(f"{where}[{extra}]")


def _source(installed: metadata.Distribution | None) -> tuple[str, bool] | None:
    """Where this copy came from, as pip takes it, and whether it is an editable install: a local
    path (a checkout, a wheel) or a URL (``git+URL@COMMIT``, an archive's); None for the index (or
    unknown)."""
    try:
        found = installed or metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that pip never installed
        return None
    try:
        origin = json.loads(found.read_text("direct_url.json") or "null")
    except ValueError:
        return None
    if not isinstance(origin, dict) or not isinstance(origin.get("url"), str):
        return None
    url: str = origin["url"]
    subdirectory = origin.get("subdirectory") if isinstance(origin.get("subdirectory"), str) else None
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict):  # at the commit installed: the extra's requirements match this copy's
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        url = f"{vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else "")
    elif urlsplit(url).scheme == "file":
        path = os.path.join(url2pathname(urlsplit(url).path), subdirectory or "")
        editable = isinstance(origin.get("dir_info"), dict) and origin["dir_info"].get("editable") is True
        return path.rstrip(os.sep), editable
    parts = urlsplit(url)
    if parts.scheme.endswith("file") and not parts.netloc:  # a local clone: pip (23) refuses an empty
        url = urlunsplit(parts._replace(netloc="localhost"))  # host in NAME @ URL; git takes localhost
    return url + (f"#subdirectory={subdirectory}" if subdirectory else ""), False
