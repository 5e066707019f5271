#!/usr/bin/env bash
# Install the pinned assistant CLIs into .e2e-tools/ (repo root) for tests/e2e:
#   Claude Code, Codex CLI, Qwen Code, Gemini CLI (and, optional, Pi and OpenCode).
# Also the MCP Inspector (its --cli mode drives `mahavishnu mcp serve` in tests/e2e).
# Idempotent: a no-op (about a second) when the pinned versions are already there. Writes nothing into
# the real HOME: npm's cache is under MAHAVISHNU_E2E_CACHE, everything else runs in a throwaway HOME.
# Everything comes from the npm registry: Claude Code ships its native binary in a per-platform npm
# package (@anthropic-ai/claude-code-linux-x64), Codex in its own (@openai/codex@VERSION-linux-x64,
# an npm alias); Qwen Code and Gemini CLI are JavaScript bundles. Their optional native add-ons
# (node-pty, keytar, clipboard, sharp) come as prebuilt npm packages or build locally with node-gyp;
# none is needed for the headless runs the tests make, so a failed optional build is harmless.
# Qwen Code declares node >= 22 but runs headless (`qwen -p`) on Node 20, which is what Debian ships.
set -euo pipefail

CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.332}"
CODEX_VERSION="${CODEX_VERSION:-0.171.0}"
QWEN_CODE_VERSION="${QWEN_CODE_VERSION:-0.24.4}"
GEMINI_CLI_VERSION="${GEMINI_CLI_VERSION:-0.61.0}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.e2e-tools"
# npm's cache outside HOME; the CLIs (even `codex --version`) and the packages' install scripts
# write into their HOME: give them a throwaway one (see .ci/env.sh).
# shellcheck source=.ci/env.sh
source "$root/.ci/env.sh"
use_scratch_home
bin="$prefix/node_modules/.bin"

claude_version() {
    [ -x "$bin/claude" ] || return 1
    "$bin/claude" --version 2>/dev/null | awk '{print $1}'
}
codex_version() {  # runs the native binary: proves the platform package is there
    [ -x "$bin/codex" ] || return 1
    "$bin/codex" --version 2>/dev/null | awk '{print $2}'
}
package_version() {  # JavaScript CLIs: the installed package's version (running gemini takes seconds)
    [ -x "$bin/$2" ] || return 1
    node -p "require('$prefix/node_modules/$1/package.json').version" 2>/dev/null
}
qwen_version() { package_version @qwen-code/qwen-code qwen; }
gemini_version() { package_version @google/gemini-cli gemini; }

# MCP Inspector for tests/e2e/test_mcp_inspector_e2e.py, pinned to the last 1.x: 2.x needs Node >= 22.19
# and Debian ships Node 20 (1.x declares >= 22.7.5, but its --cli mode runs on Node 20). Installed
# first and on its own, so a failure here only skips the Inspector tests, never the assistant CLIs.
MCP_INSPECTOR_VERSION="${MCP_INSPECTOR_VERSION:-1.0.3}"
inspector_version() { package_version @modelcontextprotocol/inspector mcp-inspector; }
if [ "$(inspector_version || true)" = "$MCP_INSPECTOR_VERSION" ]; then
    echo "install-e2e: mcp-inspector $MCP_INSPECTOR_VERSION already in $prefix"
elif command -v npm >/dev/null 2>&1 && npm install --prefix "$prefix" --save-exact --no-audit --no-fund \
        --loglevel=error "@modelcontextprotocol/inspector@$MCP_INSPECTOR_VERSION" \
        && [ "$(inspector_version || true)" = "$MCP_INSPECTOR_VERSION" ]; then
    echo "install-e2e: mcp-inspector $MCP_INSPECTOR_VERSION installed in $prefix"
else
    echo "install-e2e: mcp-inspector $MCP_INSPECTOR_VERSION not installed; its e2e tests will be skipped" >&2
fi

# ccusage for tests/e2e/test_usage_ccusage_e2e.py (`mahavishnu usage` beside it on the same logs), pinned:
# 20.0.26 has no linux-x64 native binary on the registry. Optional like the Inspector: a failure only
# skips that test.
CCUSAGE_VERSION="${CCUSAGE_VERSION:-20.0.24}"
ccusage_version() { package_version ccusage ccusage; }
if [ "$(ccusage_version || true)" = "$CCUSAGE_VERSION" ]; then
    echo "install-e2e: ccusage $CCUSAGE_VERSION already in $prefix"
elif command -v npm >/dev/null 2>&1 && npm install --prefix "$prefix" --save-exact --no-audit --no-fund \
        --loglevel=error "ccusage@$CCUSAGE_VERSION" && [ "$(ccusage_version || true)" = "$CCUSAGE_VERSION" ]; then
    echo "install-e2e: ccusage $CCUSAGE_VERSION installed in $prefix"
else
    echo "install-e2e: ccusage $CCUSAGE_VERSION not installed; its comparison test will be skipped" >&2
fi

# Pi and OpenCode for their e2e tests (switching, and usage read from the sessions they write against the mock),
# pinned. Pi is a JavaScript CLI; OpenCode ships its native binary in a per-platform npm package
# (opencode-linux-x64), checked by running `opencode --version`. Optional like ccusage: a failure
# only skips their tests.
PI_VERSION="${PI_VERSION:-0.73.1}"
OPENCODE_VERSION="${OPENCODE_VERSION:-1.18.33}"
pi_version() { package_version @mariozechner/pi-coding-agent pi; }
opencode_version() {
    [ -x "$bin/opencode" ] || return 1
    "$bin/opencode" --version 2>/dev/null | tail -n 1
}
if [ "$(pi_version || true)" = "$PI_VERSION" ] && [ "$(opencode_version || true)" = "$OPENCODE_VERSION" ]; then
    echo "install-e2e: pi $PI_VERSION, opencode $OPENCODE_VERSION already in $prefix"
elif command -v npm >/dev/null 2>&1 && npm install --prefix "$prefix" --save-exact --no-audit --no-fund \
        --loglevel=error "@mariozechner/pi-coding-agent@$PI_VERSION" "opencode-ai@$OPENCODE_VERSION" \
        && [ "$(pi_version || true)" = "$PI_VERSION" ] && [ "$(opencode_version || true)" = "$OPENCODE_VERSION" ]; then
    echo "install-e2e: pi $PI_VERSION, opencode $OPENCODE_VERSION installed in $prefix"
else
    echo "install-e2e: pi $PI_VERSION or opencode $OPENCODE_VERSION not installed; their e2e tests will be skipped" >&2
fi

missing=()
[ "$(claude_version || true)" = "$CLAUDE_CODE_VERSION" ] || missing+=("@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION")
[ "$(codex_version || true)" = "$CODEX_VERSION" ] || missing+=("@openai/codex@$CODEX_VERSION")
[ "$(qwen_version || true)" = "$QWEN_CODE_VERSION" ] || missing+=("@qwen-code/qwen-code@$QWEN_CODE_VERSION")
[ "$(gemini_version || true)" = "$GEMINI_CLI_VERSION" ] || missing+=("@google/gemini-cli@$GEMINI_CLI_VERSION")

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-e2e: claude $CLAUDE_CODE_VERSION, codex $CODEX_VERSION, qwen $QWEN_CODE_VERSION," \
        "gemini $GEMINI_CLI_VERSION already in $prefix"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install-e2e: npm not found; the assistant-CLI e2e tests will be skipped" >&2
    exit 1
fi

echo "install-e2e: installing ${missing[*]} into $prefix"
npm install --prefix "$prefix" --save-exact --no-audit --no-fund --loglevel=error "${missing[@]}"

if [ "$(claude_version || true)" != "$CLAUDE_CODE_VERSION" ] && [ -d "$prefix/node_modules/@anthropic-ai/claude-code" ]; then
    # bin/claude.exe is a stub until the postinstall hard-links the platform binary
    # over it; npm configs with ignore-scripts skip that, so run it by hand.
    (cd "$prefix/node_modules/@anthropic-ai/claude-code" && node install.cjs)
fi

status=0
check() {  # name, wanted, got
    if [ "$3" != "$2" ]; then
        echo "install-e2e: expected $1 $2, got '${3:-nothing}' in $bin" >&2
        status=1
    fi
}
check claude "$CLAUDE_CODE_VERSION" "$(claude_version || true)"
check codex "$CODEX_VERSION" "$(codex_version || true)"
check qwen "$QWEN_CODE_VERSION" "$(qwen_version || true)"
check gemini "$GEMINI_CLI_VERSION" "$(gemini_version || true)"
[ $status -eq 0 ] && echo "install-e2e: claude, codex, qwen, gemini ready in $prefix"
exit $status

