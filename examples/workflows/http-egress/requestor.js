// Like EDGELESS's functions/http_requestor: every period it calls http-egress with an EdgelessHTTPRequest
// to the URL in its init-payload ("url=<http url>,period=<ms>") and logs the status it got back.
let url;
let period = 1000;

export function handle_init(payload) {
  const args = edgeless.parse_init_payload(payload ?? '');
  // An instance's isolate has no URL class: take the URL apart by hand.
  const m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(args.url ?? '');
  if (!m) throw new Error(`init-payload url=${args.url} is not an http(s) URL`);
  url = { protocol: `${m[1]}:`, host: m[2], pathname: m[3] ?? '/' };
  period = Number(args.period ?? period) || period;
  edgeless.cast('self', 'wakeup');
}

export function handle_cast() {
  const body = Array.from('ping from http-egress', (c) => c.charCodeAt(0));
  const request = { protocol: url.protocol === 'https:' ? 'HTTPS' : 'HTTP', host: url.host, path: url.pathname, method: 'Post', headers: { 'content-type': 'text/plain' }, body };
  const r = edgeless.call('http-egress', JSON.stringify(request));
  edgeless.telemetry_log(3, 'http-egress', r.type === 'reply' ? `status ${JSON.parse(r.data).status}` : `call: ${r.type}`);
  edgeless.delayed_cast(period, 'self', 'wakeup');
}
