#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser test (tests/dashboard/test_browser.py), if missing.
# Idempotent: does nothing when /usr/bin/chromium exists. Installs only when running as root (CI images,
# dev containers); otherwise it says what to run and exits 0, and the browser test skips (or fails under
# CI=true). Playwright drives this system Chromium; never run `playwright install` (it downloads a build).
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  echo "chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "warning: $CHROMIUM is missing and this is not root; run: sudo apt-get install -y chromium" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
