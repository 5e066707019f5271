#!/usr/bin/env bash
# Debian's pgbouncer (1.18), for tests/memory/test_team_pgbouncer.py: the test starts it in transaction
# mode in front of the embedded PostgreSQL (as nobody when root: PgBouncer refuses root). A no-op when
# it is installed; without apt-get or root it says so and the test skips, printing the reason.
# Writes nothing into HOME; Debian's own service is not started here (no systemd in CI).
set -euo pipefail

if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "install-pgbouncer: no apt-get or not root: the PgBouncer test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
