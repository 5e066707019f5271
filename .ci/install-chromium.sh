#!/usr/bin/env bash
# Debian's chromium and chromium-driver, for tests/ui/: the dashboard driven in a real headless Chromium
# through Selenium (Playwright's own browser download is not reachable). A no-op when both are
# installed; without apt-get or root it says so and the browser tests skip, printing the reason.
# Writes nothing into HOME.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: no apt-get or not root: the dashboard's browser tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
    echo "install-chromium: apt-get could not install chromium: the dashboard's browser tests will skip" >&2
fi
