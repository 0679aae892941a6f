#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (Playwright cannot download its
# own browsers here). Installs it with apt when it is missing and apt can be used; otherwise
# says so (the browser tests then skip, or fail under IMGREC_REQUIRE_SERVICES=1, as in CI).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests (apt-get)..."
    apt-get install -y -q chromium >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q chromium >/dev/null
    }
    chromium --version
else
    echo "note: chromium is not installed; the browser tests will skip (sudo apt-get install chromium)."
fi
