#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the real-browser test (never a browser download of its own).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "chromium: not installed; installing Debian's chromium package" >&2
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
$SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
