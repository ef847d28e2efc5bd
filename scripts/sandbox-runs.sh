#!/usr/bin/env bash
# Runs the sandbox suites RUNS times in a row (100 by default), stopping at the first failure or crash:
# the JS and WASM engine tests, the escape and abuse patterns, and the review's cases (whose shared-memory
# case itself repeats TESSERA_REPRO_RUNS times). Part of `npm run test:long`; expects a built dist/.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100}"
files="dist/src/sandbox/js/engine.test.js dist/src/sandbox/wasm/engine.test.js dist/test/reliability/sandbox-escapes.test.js dist/test/reliability/sandbox-limits.test.js"
log=$(mktemp)
started=$(date +%s)
for i in $(seq 1 "$runs"); do
  if ! node --no-node-snapshot --test --test-concurrency=1 $files >"$log" 2>&1; then
    echo "sandbox run $i of $runs failed (exit $?):"; grep -E "✖|Error|signal" "$log" | head -40
    echo "sandbox runs: $((i - 1)) passed, 1 failed"
    rm -f "$log"; exit 1
  fi
  [ $((i % 10)) -eq 0 ] && echo "sandbox runs: $i of $runs passed ($(( $(date +%s) - started )) s)"
done
rm -f "$log"
echo "sandbox runs: $runs passed, 0 failed in $(( $(date +%s) - started )) s"
