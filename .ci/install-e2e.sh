#!/usr/bin/env bash
# Install the pinned Claude Code CLI into .e2e-tools/ (repo root) for tests/e2e.
# Idempotent: a no-op (well under a second) when the pinned version is already there.
# The npm package ships its native binary in a per-platform npm package
# (@anthropic-ai/claude-code-linux-x64), so nothing is fetched outside the registry.
set -euo pipefail

CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.197}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.e2e-tools"
bin="$prefix/node_modules/.bin/claude"

installed_version() {
    [ -x "$bin" ] || return 1
    "$bin" --version 2>/dev/null | awk '{print $1}'
}

if [ "$(installed_version || true)" = "$CLAUDE_CODE_VERSION" ]; then
    echo "install-e2e: claude $CLAUDE_CODE_VERSION already in $prefix"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install-e2e: npm not found; the Claude Code e2e tests will be skipped" >&2
    exit 1
fi

echo "install-e2e: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION into $prefix"
npm install --prefix "$prefix" --save-exact --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"

got="$(installed_version || true)"
if [ "$got" != "$CLAUDE_CODE_VERSION" ]; then
    # bin/claude.exe is a stub until the postinstall hard-links the platform binary
    # over it; npm configs with ignore-scripts skip that, so run it by hand.
    (cd "$prefix/node_modules/@anthropic-ai/claude-code" && node install.cjs)
    got="$(installed_version || true)"
fi
if [ "$got" != "$CLAUDE_CODE_VERSION" ]; then
    echo "install-e2e: expected claude $CLAUDE_CODE_VERSION, got '${got:-nothing}' at $bin" >&2
    exit 1
fi
echo "install-e2e: claude $got ready"
