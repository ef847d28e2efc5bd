# syntax=docker/dockerfile:1
# Tessera in a container (docs/deploy.md). Two stages: `build` installs every dependency and compiles;
# `runtime` keeps the compiled code and the production dependencies only, runs as an unprivileged user,
# and has bubblewrap (process functions) and Debian's python3 (Python payloads, docs/python.md).
#
#   docker build -t tessera .
#
# NODE_IMAGE: Node.js 24 on Debian 12. Any Node 24 image on Debian bookworm works (a mirror of Docker Hub's).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# A native addon (better-sqlite3, isolated-vm) with no prebuilt binary for this Node is compiled here: the
# compiler stays in this stage. npm_config_nodedir points node-gyp at the image's own Node headers, so the
# build downloads nothing beyond the npm registry.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /build
# The dependencies first, on their own layer: a change to the sources does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY examples ./examples
# Install scripts (native addons) run now, with the sources in place, then the build.
RUN npm rebuild --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/bench dist/examples

FROM ${NODE_IMAGE} AS runtime
# bubblewrap confines process functions (docs/fn.md): unprivileged, with user namespaces (see docs/deploy.md
# for what the container needs for that). python3 at /usr/bin runs Python payloads. tini reaps orphans and
# passes signals on: the node stops gracefully on SIGTERM.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap python3 tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tessera \
 && useradd --system --uid 10001 --gid tessera --home-dir /var/lib/tessera --shell /usr/sbin/nologin tessera \
 && install -d -o tessera -g tessera -m 0700 /var/lib/tessera
WORKDIR /opt/tessera
COPY --from=build /build/package.json /build/package-lock.json ./
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY --from=build /build/bin ./bin
COPY models ./models
COPY deploy/docker-entrypoint.sh deploy/listen-all.mjs deploy/healthcheck.mjs ./deploy/
RUN ln -s /opt/tessera/bin/tessera.js /usr/local/bin/tessera

# The data directory (store, blobs, sealed keys) and, beside it, the identities `tessera init` issues.
ENV TESSERA_DATA=/var/lib/tessera/data \
    TESSERA_SEALING_KEY_FILE=/run/secrets/tessera_sealing_key \
    NODE_ENV=production
VOLUME ["/var/lib/tessera"]
# HTTPS, then the MesaTEE listeners (TMS external and internal, FNS, KMS, TDFS external and internal).
EXPOSE 8000 5554 5555 3444 6016 5065 5066
USER tessera
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/opt/tessera/deploy/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/tessera/deploy/docker-entrypoint.sh"]
CMD ["serve"]
