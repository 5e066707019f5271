#!/usr/bin/env bash
# Install the pinned Session-Buddy server for the real-server contract tests (tests/memory/test_session_buddy_real.py).
# Session-Buddy 0.23.0 is the newest that installs here (0.24+ need Python 3.14); it runs on Python 3.13 in its own
# virtual environment (~1.3 GB), kept outside HOME in a cache directory that survives re-clones (MAHAVISHNU_E2E_CACHE,
# default /var/tmp/mahavishnu-e2e; pip's cache is there too, see .ci/env.sh); its dependencies are pinned by
# .ci/session-buddy-constraints.txt (a `pip freeze` of a working install). Idempotent: a no-op (~0.3 s) when the
# pinned version is there; a cold install takes ~7 minutes on a loaded 2-core machine. Without Python 3.13 it
# installs nothing and exits 0: the contract tests then skip with that reason in pytest's summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=.ci/env.sh
source "$root/.ci/env.sh"

SESSION_BUDDY_VERSION="${SESSION_BUDDY_VERSION:-0.23.0}"
python="${SESSION_BUDDY_PYTHON:-}"  # else pyenv's 3.13, else python3.13 on PATH
if [ -z "$python" ]; then
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3 "$(command -v python3.13 || true)"; do
        if [ -x "$candidate" ]; then python="$candidate"; break; fi
    done
fi
cache="$MAHAVISHNU_E2E_CACHE"
venv="$cache/session-buddy-$SESSION_BUDDY_VERSION"
constraints="$root/.ci/session-buddy-constraints.txt"

installed_version() {  # the marker is written last: an interrupted install is never taken for a finished one
    [ -f "$venv/.installed" ] && [ -x "$venv/bin/session-buddy" ] || return 1
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("session-buddy"))' 2>/dev/null
}

if [ "$(installed_version || true)" = "$SESSION_BUDDY_VERSION" ]; then
    echo "install-session-buddy: session-buddy $SESSION_BUDDY_VERSION already in $venv"
    exit 0
fi
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
    echo "install-session-buddy: no Python 3.13 (${python:-none found}); the real Session-Buddy tests will be skipped" >&2
    exit 0
fi

echo "install-session-buddy: installing session-buddy $SESSION_BUDDY_VERSION into $venv"
rm -rf "$venv"  # a venv cannot be moved (its scripts name their interpreter): build it in place
mkdir -p "$cache"
"$python" -m venv "$venv"
pin=()
[ -f "$constraints" ] && pin=(--constraint "$constraints")
# -qq: errors only (a machine's pip config may add index locations that warn once per package).
"$venv/bin/python" -m pip install -qq \
    --no-input "${pin[@]}" "session-buddy==$SESSION_BUDDY_VERSION" </dev/null
touch "$venv/.installed"
echo "install-session-buddy: session-buddy $(installed_version) ready in $venv"
