// EDGELESS's functions/counter (src/lib.rs) in JavaScript: init casts the init payload to itself when it is an
// integer (else "0"); each cast n casts n+1 to the alias `output` and, a second later, to itself. Calls get NoReply.
export function handle_init(payload) {
  const start = payload !== null && /^[+-]?[0-9]+$/.test(payload) && Math.abs(Number(payload)) < 2 ** 31 ? payload : '0';
  edgeless.cast('self', start);
}

export function handle_cast(src, msg) {
  const next = String(parseInt(msg, 10) + 1);
  edgeless.cast('output', next);
  edgeless.delayed_cast(1000, 'self', next);
}

export function handle_call() {}

export function handle_stop() {}
