# Sourced by .ci/run and the install scripts: nothing they run may write into the real HOME.
# Caches live outside HOME, in a directory that survives re-clones (MAHAVISHNU_E2E_CACHE, default
# /var/tmp/mahavishnu-e2e): the Session-Buddy venv, pip's cache and npm's. A command that writes into
# its HOME anyway (Codex's `--version` leaves ~/.codex/tmp, npm packages' install scripts) runs with
# `use_scratch_home`. pip itself keeps the real HOME (the machine's pip.conf may be there) and only
# gets its cache moved; packages still install into the interpreter's own tree (e.g. ~/.pyenv).
export MAHAVISHNU_E2E_CACHE="${MAHAVISHNU_E2E_CACHE:-/var/tmp/mahavishnu-e2e}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$MAHAVISHNU_E2E_CACHE/pip}"
export npm_config_cache="${npm_config_cache:-$MAHAVISHNU_E2E_CACHE/npm}"
export npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# From here on, HOME is a throwaway directory (removed on exit) for this shell and what it starts,
# and so are the variables that would point a tool back into the real one. npm still reads the
# machine's ~/.npmrc (a registry mirror, say): npm_config_userconfig names it.
use_scratch_home() {
    local scratch
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/mahavishnu-scratch-home.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: the path is fixed
    trap "rm -rf '$scratch'" EXIT
    export npm_config_userconfig="${npm_config_userconfig:-$HOME/.npmrc}"
    export HOME="$scratch"
    unset CODEX_HOME CLAUDE_CONFIG_DIR XDG_CONFIG_HOME XDG_CACHE_HOME XDG_DATA_HOME XDG_STATE_HOME
}
