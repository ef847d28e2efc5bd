#!/bin/sh
# The container's entry point (Dockerfile, docs/deploy.md). `serve` (the default command) creates the data
# directory at the first start (with TESSERA_CLUSTER_FROM, from that cluster node's: compose.yaml's cluster
# profile), then runs the node in the foreground; any other command is `tessera` itself
# (`docker compose run --rm tessera backup --out /backup/b.tar`, `… user add carol`).
set -eu
data="${TESSERA_DATA:-/var/lib/tessera/data}"
here="$(dirname "$0")"
if [ "${1:-serve}" = serve ]; then
  [ "$#" -gt 0 ] && shift
  if [ ! -f "$data/tessera.toml" ]; then
    key="${TESSERA_SEALING_KEY_FILE:-}"
    if [ ! -e "$key" ]; then
      echo "tessera: no sealing key at ${key:-(TESSERA_SEALING_KEY_FILE unset)}: mount one (docs/deploy.md)" >&2
      exit 1
    elif [ ! -r "$key" ]; then
      echo "tessera: the sealing key $key is not readable by uid $(id -u): on the host, chown $(id -u) the key file (docs/deploy.md)" >&2
      exit 1
    fi
    if [ -n "${TESSERA_CLUSTER_FROM:-}" ]; then
      # Another node of a cluster (compose.yaml's cluster profile): the same service as the node whose data
      # directory is mounted there, with an identity of its own (docs/cluster.md).
      tessera cluster add-node --from "$TESSERA_CLUSTER_FROM" --data "$data"
    else
      tessera init --data "$data" --users "${TESSERA_INIT_USERS:-}" --members "${TESSERA_INIT_MEMBERS:-m0}"
    fi
    # In a container the listeners must bind every interface for the published ports to reach them.
    node "$here/listen-all.mjs" "$data/tessera.toml"
  fi
  exec tessera serve --data "$data" "$@"
fi
exec tessera "$@"
