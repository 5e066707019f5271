"""The provider names Mahavishnu gives a profile where an assistant's log repeats them on each
request: a Codex switch's (``switch_provider``) and the runs of Codex, Pi and OpenCode
(``run_provider``). ``usage.attribution`` reads the profile back from them. Apart from the
assistants and ``launch`` so that a usage report need not import what writes or starts one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: How a run's provider is named (``run_provider``). A profile's name starts with a letter or a digit,
#: so a name starting with "_" is none a switch writes: not a profile's own name (Pi, OpenCode),
#: ``mahavishnu``, nor ``mahavishnu-<profile>`` (Codex).
RUN_PREFIX = "_mahavishnu-run-"
#: How a Codex switch names a profile's provider (``switch_provider``).
SWITCH_PREFIX = "mahavishnu-"


def run_provider(profile_name: str) -> str:
    """The provider name of ``profile_name``'s runs: ``_mahavishnu-run-lab`` for ``lab``. It is a TOML
    bare key (``[A-Za-z0-9_-]``: Codex splits a ``-c model_providers.<id>.…`` path at each ".") with
    no "/" (OpenCode's ``provider/model``), so a name with a "." gets "-" for it, a digest of the whole
    name, and a second "-" after the prefix, which no profile's name starts with:
    ``_mahavishnu-run--lab-v2-<8 hex>`` for ``lab.v2``, never ``lab-v2``'s."""
    return RUN_PREFIX + _bare(profile_name)


def switch_provider(profile_name: str) -> str:
    """The provider a Codex switch to ``profile_name`` writes (``[model_providers.<id>]``, which its
    log names as ``model_provider``): ``mahavishnu-lab`` for ``lab``, and for ``lab.v2``
    ``mahavishnu--lab-v2-<8 hex>``, never ``lab-v2``'s (earlier releases wrote ``mahavishnu-lab-v2`` for
    both: ``switched_profile`` still reads it)."""
    return SWITCH_PREFIX + _bare(profile_name)


def switched_profile(provider: str, profiles: Iterable[str]) -> str | None:
    """Which of ``profiles`` a Codex switch wrote ``provider`` for: the one whose ``switch_provider``
    it is, else one an older release named with each "." as "-" (unless a dotless profile has that
    name: its own), else None."""
    if not provider.startswith(SWITCH_PREFIX):
        return None
    names = list(profiles)
    exact = next((name for name in names if switch_provider(name) == provider), None)
    if exact is not None:
        return exact
    older = [name for name in names if SWITCH_PREFIX + name.replace(".", "-") == provider]
    return older[0] if len(older) == 1 else None


def _bare(profile_name: str) -> str:
    """``profile_name`` as a TOML bare key: itself without a "."; else a "-" before it, each "." as
    "-", and a digest of the whole name (a profile's name starts with a letter or a digit, so no
    dotless name's form starts with "-")."""
    if "." not in profile_name:
        return profile_name
    digest = hashlib.sha256(profile_name.encode()).hexdigest()[:8]
    return f"-{profile_name.replace('.', '-')}-{digest}"
