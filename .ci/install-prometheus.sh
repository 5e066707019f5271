#!/usr/bin/env bash
# Debian's prometheus (2.42), for tests/test_telemetry.py: a real Prometheus server, started on loopback
# by the test, scrapes the MCP server's /metrics. A no-op when it is installed; without apt-get or root
# it says so and the test skips, printing the reason. Writes nothing into HOME.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "install-prometheus: no apt-get or not root: the Prometheus scrape test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
