// EDGELESS's functions/ping, in JS: counts wakeups in its synced state, calls the ponger with PING-<n>
// and logs the reply, then wakes itself up again a second later.
let count = 0;

export function handle_init(payload, state) {
  edgeless.telemetry_log(3, "Pinger: 'Init' called");
  if (state) count = JSON.parse(state).count;
  edgeless.cast('self', 'wakeup');
}

export function handle_cast(src, msg) {
  edgeless.telemetry_log(3, `Pinger: 'Cast' called, MSG: ${msg}`);
  if (msg !== 'wakeup') return;
  const id = count++;
  edgeless.sync(JSON.stringify({ count }));
  const res = edgeless.call('ponger', `PING-${id}`);
  if (res.type === 'reply') edgeless.telemetry_log(3, `Got Reply: ${res.data}`);
  edgeless.delayed_cast(1000, 'self', 'wakeup');
}

export function handle_call(src, msg) {
  edgeless.telemetry_log(3, `Pinger: 'Call' called, MSG: ${msg}`);
}

export function handle_stop() {
  edgeless.telemetry_log(3, "Pinger: 'Stop' called");
}
