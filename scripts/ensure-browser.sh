#!/usr/bin/env bash
# Installs what the tests need from Debian when it is missing: chromium (browser tests, driven by
# Playwright: never `playwright install`, which downloads a browser and fails offline), a CJK font
# (Chinese pages render as boxes without one) and msgfmt from gettext (compilemessages).
# Idempotent; prints nothing when everything is present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v msgfmt >/dev/null 2>&1 || need+=(gettext)
if ! command -v fc-list >/dev/null 2>&1; then
  need+=(fontconfig fonts-noto-cjk)
# Not `fc-list | grep -q`: grep stops at the first match, and under pipefail fc-list's SIGPIPE
# would read as "no font" now and then.
elif ! grep -qiE "noto sans cjk|wqy|droid sans fallback" <<<"$(fc-list 2>/dev/null)"; then
  need+=(fonts-noto-cjk)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "The tests need these Debian packages: ${need[*]}." >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
echo "Installing ${need[*]} (Debian packages) for the tests..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for tool in chromium msgfmt; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-browser: $tool is still missing." >&2; exit 1; }
done
