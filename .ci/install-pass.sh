#!/usr/bin/env bash
# Debian's pass (1.7), for tests/integrations/test_password_stores.py: `pass:NAME` secret references read
# from a password store the test makes with a throwaway GnuPG key (GNUPGHOME and PASSWORD_STORE_DIR in a
# tmp folder). A no-op when it is installed; without apt-get or root it says so and the test skips,
# printing the reason. Writes nothing into HOME.
set -euo pipefail

if command -v pass >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "install-pass: no apt-get or not root: the pass: reference test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends pass >/dev/null
