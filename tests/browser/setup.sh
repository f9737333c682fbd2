#!/usr/bin/env bash
# Installs, once, what the dashboard's browser test needs: Debian's Chromium (apt-get) and
# playwright-core (npm, pinned) into target/browser-tools. Prints the path of node_modules.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS="$ROOT/target/browser-tools"
PLAYWRIGHT=1.64.1
if ! command -v chromium >/dev/null 2>&1; then
    echo "browser: installing Debian's chromium and chromium-driver (apt-get)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! grep -qs "\"version\": \"$PLAYWRIGHT\"" "$TOOLS/node_modules/playwright-core/package.json"; then
    echo "browser: installing playwright-core $PLAYWRIGHT from the npm registry into $TOOLS" >&2
    mkdir -p "$TOOLS"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS" "playwright-core@$PLAYWRIGHT" >&2
fi
echo "$TOOLS/node_modules"
