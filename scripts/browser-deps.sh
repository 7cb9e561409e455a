#!/usr/bin/env bash
# What the console's browser tests need from the system: Debian's chromium (driven by
# Playwright through its executable path; Playwright's own browser download is never
# used) and a Japanese font, so that screenshots show the pages' Japanese text.
# Installed with apt-get when missing and running as root; otherwise says what to do.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# fc-list ships with fontconfig, which chromium depends on.
if ! { command -v fc-list >/dev/null 2>&1 && fc-list :lang=ja family | grep -qi "noto sans cjk"; }; then
  missing+=(fonts-noto-cjk)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing for the console's browser tests: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "The console's browser tests need: ${missing[*]}." >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  echo "(without them those tests are skipped outside CI and fail in CI)" >&2
fi
