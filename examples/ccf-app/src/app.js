// A CCF JavaScript app in plain JavaScript, deployable as it is: `tessera app deploy examples/ccf-app`.
// Each handler takes CCF's request object and returns CCF's response object; `ccf` is the global CCF
// gives every app (the KV store, buffer conversions). The same folder deploys unchanged on CCF.

// A private KV map: its keys and values are sealed at rest and never appear in the ledger in the clear.
const greetings = () => ccf.kv['greetings'];

// PUT /app/greetings/{name}, body: the greeting text. Stores it with the caller's certificate id.
export function putGreeting(request) {
  const name = request.params.name;
  const text = request.body.text();
  if (!text) return { statusCode: 400, body: { error: 'send the greeting as the request body' } };
  const record = { text, by: request.caller.id };
  greetings().set(ccf.strToBuf(name), ccf.jsonCompatibleToBuf(record));
  return { statusCode: 201, body: { name } };
}

// GET /app/greetings/{name}: the stored greeting, or 404.
export function getGreeting(request) {
  const name = request.params.name;
  const value = greetings().get(ccf.strToBuf(name));
  if (value === undefined) return { statusCode: 404, body: { error: `no greeting for ${name}` } };
  return { body: ccf.bufToJsonCompatible(value) };
}

// GET /app/hello: needs no credentials (authn_policies: no_auth).
export function hello() {
  return { body: 'Hello from a CCF app on Tessera\n', headers: { 'content-type': 'text/plain' } };
}
