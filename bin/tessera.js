#!/usr/bin/env -S node --no-node-snapshot
// isolated-vm on Node 20 needs --no-node-snapshot, hence the flag in the shebang.
import '../dist/src/cli/main.js';
