// EDGELESS's functions/message_generator in JS: init-payload "message=<text>,period=<ms>"; every period it
// casts "from node_id <uuid> function_id <uuid> [#<k>]: <text>" to `output` (the sender id of its self-cast).
let message = 'hello';
let period = 1000;
let count = 0;

export function handle_init(payload) {
  const args = edgeless.parse_init_payload(payload ?? '');
  message = args.message ?? message;
  period = Number(args.period ?? period) || period;
  edgeless.cast('self', 'wakeup');
}

export function handle_cast(src) {
  count++;
  edgeless.cast('output', `from node_id ${src.node_id} function_id ${src.component_id} [#${count}]: ${message}`);
  edgeless.delayed_cast(period, 'self', 'wakeup');
}
