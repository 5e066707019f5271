"""The provider name ``mahavishnu run`` gives a profile's runs of Codex, Pi and OpenCode, which their
logs repeat on each request: ``usage.attribution`` reads the profile back from it. Apart from
``launch`` so that a usage report need not import what starts an assistant."""

from __future__ import annotations

import hashlib

#: How a run's provider is named (``run_provider``). A profile's name starts with a letter or a digit,
#: so a name starting with "_" is none a switch writes: not a profile's own name (Pi, OpenCode),
#: ``mahavishnu``, nor ``mahavishnu-<profile>`` (Codex).
RUN_PREFIX = "_mahavishnu-run-"


def run_provider(profile_name: str) -> str:
    """The provider name of ``profile_name``'s runs: ``_mahavishnu-run-lab`` for ``lab``. It is a TOML
    bare key (``[A-Za-z0-9_-]``: Codex splits a ``-c model_providers.<id>.…`` path at each ".") with
    no "/" (OpenCode's ``provider/model``), so a name with a "." gets "-" for it, a digest of the whole
    name, and a second "-" after the prefix, which no profile's name starts with:
    ``_mahavishnu-run--lab-v2-<8 hex>`` for ``lab.v2``, never ``lab-v2``'s."""
    if "." not in profile_name:
        return RUN_PREFIX + profile_name
    digest = hashlib.sha256(profile_name.encode()).hexdigest()[:8]
    return f"{RUN_PREFIX}-{profile_name.replace('.', '-')}-{digest}"
