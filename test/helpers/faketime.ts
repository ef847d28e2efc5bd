import { existsSync } from 'node:fs';

// A process whose clock is off: Debian's libfaketime (package `faketime`), preloaded into the child through
// its environment, so that the child keeps its own pid (the `faketime` wrapper would stay as its parent).
// The multi-threaded build, as Node runs threads. Node 24 reads the faked time for Date, TLS certificate
// checks (OpenSSL calls time()) and timers alike; the offset is fixed, so timers keep their length.

const LIBRARIES = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1'];

export const FAKETIME_LIBRARY = LIBRARIES.find((p) => existsSync(p));

/** The environment that runs a child `seconds` ahead of the real clock (behind when negative). */
export function skewedClock(seconds: number): Record<string, string> {
  if (!FAKETIME_LIBRARY) throw new Error("libfaketime is not installed: apt-get install faketime (.ci/run installs it)");
  return { LD_PRELOAD: FAKETIME_LIBRARY, FAKETIME: `${seconds >= 0 ? '+' : '-'}${Math.abs(seconds)}` };
}
