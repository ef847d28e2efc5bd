// EDGELESS's functions/pong, in JS: answers every call with PONG.
export function handle_call(src, msg) {
  edgeless.telemetry_log(3, `Ponger: 'Call' called, MSG: ${msg}`);
  return 'PONG';
}

export function handle_cast(src, msg) {
  edgeless.telemetry_log(3, `Ponger: 'Cast' called, MSG: ${msg}`);
}
