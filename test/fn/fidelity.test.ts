// Fn's own behaviours at the edges of /invoke and HTTP triggers, each written from Fn's source (the
// citations are to fnproject/fn @ 00525289 and fnproject/cli @ 2b6493a2, as `repo:path:line`; where
// a behaviour is Go's net/http rather than Fn's code, the comment says so). The function that answers
// most of them is a stdlib-only Python http-stream server that echoes exactly the headers it got and
// answers with exactly the headers its request asks for, so that no FDK stands between the node and
// the test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { REPO, TEST_ENV, type TestNode, startNode, tempDir, tesseraCommand, tessera } from '../helpers/cli.js';
import { PYTHON_FN, fnDir, pythonHttpStream } from '../helpers/fn-fixtures.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

/** http-stream in Python: echoes method, path, headers (every line, in order) and body; replies with `reply_headers` from a JSON body. */
const MIRROR_FN = pythonHttpStream(
  String.raw`    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = []
        try:
            spec = json.loads(body)
            if isinstance(spec, dict):
                reply = spec.get("reply_headers", [])
        except Exception:
            pass
        out = json.dumps({"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()], "body": body.decode("utf-8", "replace")}).encode()
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        for k, v in reply:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)`,
  String.raw``,
  '',
);
let node: TestNode;
let mirror: string;
let rooted: string;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.fn = { allow_direct_deploy: true, start_timeout_ms: 3000 }) });
  const triggers = (sources: string[]) => `triggers:\n${sources.map((s, i) => `- name: t${i}\n  type: http\n  source: ${s}\n`).join('')}`;
  mirror = await deploy(pyDir('mirror', triggers(['/echo', '/a/b'])), 'fid');
  rooted = await deploy(pyDir('rooted', triggers(['/'])), 'root');
});
after(() => node.cleanup());

const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const aliceId = () => `${identitiesDirOf(node.dir)}/alice`;
const cli = (args: string[], opts: { cwd?: string } = {}) => tessera([...args, '-i', aliceId(), '--url', url(''), '--insecure-skip-verification'], opts);

function pyDir(name: string, yamlTail = '', code = MIRROR_FN, head = `schema_version: 20180708\nname: ${name}\nruntime: python\nentrypoint: python3 func.py\n`): string {
  const dir = join(tempDir('tessera-fid-'), name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'func.yaml'), head + yamlTail);
  writeFileSync(join(dir, 'func.py'), code);
  return dir;
}

async function deploy(dir: string, app: string): Promise<string> {
  const r = await cli(['fn', 'deploy', dir, '--app', app]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Every header line as sent, names lower-cased: [name, value] in order. */
  lines: Array<[string, string]>;
  body: Buffer;
  json(): any;
}

/** One request on a connection of its own, as alice (client certificate and bearer token), with the raw header lines of the answer. */
function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | Readable } = {}): Promise<Reply> {
  const alice = node.identity('alice');
  const headers: Record<string, string | number> = { authorization: `Bearer ${alice.token}`, ...(opts.headers ?? {}) };
  if (Buffer.isBuffer(opts.body)) headers['content-length'] = opts.body.length;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: node.ports.https, path, method: opts.method ?? 'POST', cert: alice.cert, key: alice.key, ca: node.ca, servername: 'localhost', agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const lines: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
        resolve({ status: res.statusCode!, headers: res.headers, lines, body, json: () => JSON.parse(body.toString('utf8')) });
      });
    });
    req.on('error', reject);
    if (opts.body === undefined) req.end();
    else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else opts.body.pipe(req);
  });
}

/** The function's echo: the header lines it received, names lower-cased. */
const received = (r: Reply): Array<[string, string]> => {
  assert.equal(r.status, 200, r.body.toString());
  return (r.json().headers as Array<[string, string]>).map(([k, v]) => [k.toLowerCase(), v]);
};
const valuesOf = (lines: Array<[string, string]>, name: string) => lines.filter(([k]) => k === name).map(([, v]) => v);
const replyWith = (headers: Array<[string, string]>, extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ reply_headers: headers, ...extra }));

/** Fn's StripHopHeaders list (fn:api/common/io_utils.go:9-48, Go's reverse-proxy list). */
const HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
/** Hop-by-hop headers from a client, each value carrying a marker that must not reach the function. */
const HOP_FROM_CLIENT: Record<string, string> = {
  connection: 'keep-alive, X-Marker-Conn',
  'keep-alive': 'timeout=4321, marker',
  te: 'gzip;q=0.5, marker',
  trailer: 'X-Marker-Trailer',
  upgrade: 'x-marker-proto/1',
  'proxy-authorization': 'Basic bWFya2VyOnNlY3JldA==',
  'proxy-connection': 'x-marker-pc',
  'proxy-authenticate': 'x-marker-pa',
  'x-normal': 'kept',
};
const MARKERS = /marker|4321|bWFya2Vy/i;

describe('hop-by-hop headers go neither way (fn:api/common/io_utils.go:9-48)', () => {
  // fn:api/agent/agent.go:632 (createUDSRequest) strips them from the request to the function, on both
  // ways in; fn:api/server/runner_httptrigger.go:160 strips them from a trigger's request before the
  // Fn-Http-H- prefix; fn:api/server/runner_fninvoke_test.go:167-193 tests Keep-Alive both ways.
  test('from the client to the function, on /invoke (the body sent chunked)', async () => {
    const r = await call(`/invoke/${mirror}`, { headers: { ...HOP_FROM_CLIENT, 'content-type': 'text/plain' }, body: Readable.from([Buffer.from('chunked '), Buffer.from('body')]) });
    const seen = received(r);
    assert.equal(r.json().body, 'chunked body');
    assert.deepEqual([r.json().method, r.json().path], ['POST', '/call']);
    assert.deepEqual(valuesOf(seen, 'x-normal'), ['kept']);
    assert.deepEqual(valuesOf(seen, 'content-length'), ['12'], 'the function gets a length, not the client’s chunked framing');
    for (const h of HOP.filter((h) => h !== 'connection')) assert.deepEqual(valuesOf(seen, h), [], `${h} reached the function`);
    assert.doesNotMatch(JSON.stringify(seen), MARKERS);
  });

  test('from the client to the function, on a trigger (nothing of them under Fn-Http-H- either)', async () => {
    const r = await call('/t/fid/echo', { headers: { ...HOP_FROM_CLIENT, 'content-type': 'text/plain' }, body: Readable.from([Buffer.from('trigger '), Buffer.from('body')]) });
    const seen = received(r);
    assert.equal(r.json().body, 'trigger body');
    assert.deepEqual(valuesOf(seen, 'fn-http-h-x-normal'), ['kept']);
    for (const h of HOP) assert.deepEqual(valuesOf(seen, `fn-http-h-${h}`), [], `Fn-Http-H-${h} reached the function`);
    for (const h of HOP.filter((h) => h !== 'connection')) assert.deepEqual(valuesOf(seen, h), [], `${h} reached the function`);
    assert.doesNotMatch(JSON.stringify(seen), MARKERS);
  });

  test('except `Te: trailers`, which Fn keeps (fn:api/common/io_utils.go:19)', async () => {
    assert.deepEqual(valuesOf(received(await call(`/invoke/${mirror}`, { headers: { te: 'trailers' }, body: Buffer.from('x') })), 'te'), ['trailers']);
    assert.deepEqual(valuesOf(received(await call('/t/fid/echo', { headers: { te: 'trailers' }, body: Buffer.from('x') })), 'fn-http-h-te'), ['trailers']);
  });

  // fn:api/agent/agent.go:731 strips the function's response headers before they are copied to the client.
  test('from the function to the client, on /invoke', async () => {
    const r = await call(`/invoke/${mirror}`, {
      body: replyWith([
        ['Keep-Alive', 'timeout=4321, max=7'],
        ['Connection', 'keep-alive, X-Marker-Conn'],
        ['Upgrade', 'x-marker-up'],
        ['Trailer', 'X-Marker-Trailer'],
        ['Proxy-Authenticate', 'x-marker-pa'],
        ['Proxy-Connection', 'x-marker-pc'],
        ['Te', 'x-marker-te'],
        ['X-Normal-Out', 'kept'],
      ]),
    });
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(valuesOf(r.lines, 'x-normal-out'), ['kept']);
    for (const h of ['upgrade', 'trailer', 'proxy-authenticate', 'proxy-connection', 'te']) assert.deepEqual(valuesOf(r.lines, h), [], `${h} reached the client`);
    // The node's own Connection/Keep-Alive for its connection to the client may be there; the function's may not.
    assert.doesNotMatch(JSON.stringify(r.lines), MARKERS);
    assert.equal(r.json().method, 'POST', 'the body arrived whole');
  });

  // On a trigger only Fn-Http-H-* (de-prefixed), Content-Type and Fn-Call-Id reach the client
  // (fn:api/server/runner_httptrigger.go:75-136), so un-prefixed hop headers go as every other header
  // does. Prefixed ones name headers of the node's connection to its client, which a proxy must not
  // take from upstream (RFC 9110 §7.6.1): Go's server re-frames what Fn passes (Go stdlib
  // net/http/server.go chunkWriter.writeHeader), and the node does not pass them at all.
  test('from the function to the client, on a trigger: plain or under Fn-Http-H-', async () => {
    const r = await call('/t/fid/echo', {
      body: replyWith([
        ['Keep-Alive', 'timeout=4321'],
        ['Upgrade', 'x-marker-up'],
        ['Fn-Http-H-Keep-Alive', 'timeout=4321, max=7'],
        ['Fn-Http-H-Connection', 'keep-alive, X-Marker-Conn'],
        ['Fn-Http-H-Upgrade', 'x-marker-up'],
        ['Fn-Http-H-Trailer', 'X-Marker-Trailer'],
        ['Fn-Http-H-Proxy-Authenticate', 'x-marker-pa'],
        ['Fn-Http-H-Proxy-Connection', 'x-marker-pc'],
        ['Fn-Http-H-Te', 'x-marker-te'],
        ['Fn-Http-H-Transfer-Encoding', 'x-marker-te'],
        ['Fn-Http-H-X-Normal-Out', 'kept'],
      ]),
    });
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(valuesOf(r.lines, 'x-normal-out'), ['kept']);
    for (const h of ['upgrade', 'trailer', 'proxy-authenticate', 'proxy-connection', 'te', 'transfer-encoding']) assert.deepEqual(valuesOf(r.lines, h), [], `${h} reached the client`);
    assert.doesNotMatch(JSON.stringify(r.lines), MARKERS);
    assert.equal(r.json().method, 'POST', 'the body arrived whole');
  });

  test('a function cannot frame the node’s answer: Fn-Http-H-Content-Length does not cut or split it', async () => {
    const r = await call('/t/fid/echo', { body: replyWith([['Fn-Http-H-Content-Length', '2']]) });
    assert.equal(r.status, 200);
    assert.equal(r.json().method, 'POST', `the body was cut to ${r.body.length} bytes`);
    assert.deepEqual(valuesOf(r.lines, 'content-length'), [String(r.body.length)]);
  });
});

describe('multi-valued response headers stay separate lines', () => {
  // fn:api/agent/agent.go:737-741 adds each value of each header (Go writes one line per value).
  test('two Set-Cookie (and two X-Multi) from the function on /invoke', async () => {
    const r = await call(`/invoke/${mirror}`, { body: replyWith([['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2; Path=/'], ['X-Multi', 'one'], ['X-Multi', 'two']]) });
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
    assert.deepEqual(valuesOf(r.lines, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/']);
    assert.deepEqual(valuesOf(r.lines, 'x-multi'), ['one', 'two']);
  });

  // fn:api/server/runner_httptrigger.go:75-136: gw[TrimPrefix(k)] = vs keeps the whole slice; Fn-Http-Status sets the status.
  test('two Fn-Http-H-Set-Cookie on a trigger become two set-cookie lines', async () => {
    const r = await call('/t/fid/echo', {
      body: replyWith([['Fn-Http-H-Set-Cookie', 'a=1'], ['Fn-Http-H-Set-Cookie', 'b=2'], ['Fn-Http-H-X-Multi', 'one'], ['Fn-Http-H-X-Multi', 'two'], ['Fn-Http-Status', '201'], ['X-Unprefixed', 'dropped']]),
    });
    assert.equal(r.status, 201, r.body.toString());
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.deepEqual(valuesOf(r.lines, 'set-cookie'), ['a=1', 'b=2']);
    assert.deepEqual(valuesOf(r.lines, 'x-multi'), ['one', 'two']);
    assert.deepEqual(valuesOf(r.lines, 'x-unprefixed'), []);
    assert.ok(r.headers['fn-call-id'], 'Fn-Call-Id is kept on a trigger');
  });

  // fn:api/server/runner_httptrigger.go:75-136 reads Fn-Http-Status with strconv.Atoi and ignores what
  // does not parse; a 1xx other than 101 is informational in Go's server (Go stdlib net/http server.go,
  // response.WriteHeader), so the body then goes with 200.
  test('Fn-Http-Status: digits only; a 1xx is not the final status', async () => {
    for (const [status, expected] of [['404', 404], ['+202', 202], ['201x', 200], ['abc', 200], ['103', 200], ['100', 200]] as const) {
      const r = await call('/t/fid/echo', { body: replyWith([['Fn-Http-Status', status]]) });
      assert.equal(r.status, expected, `Fn-Http-Status: ${status}`);
      assert.equal(r.json().method, 'POST', `Fn-Http-Status: ${status}: the body arrived`);
    }
  });
});

describe('requests', () => {
  // fn:api/server/server.go:1015-1017 registers triggers with Any; the body passes on every method
  // (fn:api/agent/agent.go:621-649 always sends POST /call with the body).
  test('a GET (and a DELETE) with a body reach the function through a trigger, with their body', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await call('/t/fid/echo?q=1', { method, headers: { 'content-type': 'text/plain' }, body: Buffer.from(`${method} has a body`) });
      const seen = received(r);
      assert.equal(r.json().body, `${method} has a body`);
      assert.deepEqual([r.json().method, r.json().path], ['POST', '/call']);
      assert.deepEqual(valuesOf(seen, 'fn-http-method'), [method]);
      assert.deepEqual(valuesOf(seen, 'content-type'), ['text/plain'], 'Content-Type stays un-prefixed (runner_httptrigger.go:154-181)');
      assert.deepEqual(valuesOf(seen, 'fn-intent'), ['httprequest']);
      assert.match(valuesOf(seen, 'fn-http-request-url')[0], /^https:\/\/[^/]+\/t\/fid\/echo\?q=1$/);
    }
  });

  // Fn passes every (non-hop) header to the function (fn:api/agent/agent.go:632), Authorization
  // included: it has no authentication of its own. A Tessera caller's bearer token is their credential
  // for the whole node, so it never reaches a function (src/functions/process/fn-http.ts).
  test("the caller's Authorization never reaches the function, on /invoke or a trigger", async () => {
    const token = node.identity('alice').token;
    assert.ok(token.length > 10);
    for (const path of [`/invoke/${mirror}`, '/t/fid/echo']) {
      const seen = received(await call(path, { body: Buffer.from('who am i') }));
      assert.deepEqual(seen.filter(([k]) => k.endsWith('authorization')), [], path);
      assert.ok(!JSON.stringify(seen).includes(token), `${path}: the token reached the function`);
      assert.ok(seen.length > 3, 'the echo does list the headers');
    }
  });
});

describe("Fn's error answers (fn:api/server/error_response.go:29-73: {\"message\"} and a newline, JSON)", () => {
  const exactly = (r: Reply, status: number, message: string) => {
    assert.equal(r.status, status, r.body.toString());
    assert.equal(r.body.toString(), `${JSON.stringify({ message })}\n`);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  };

  // fn:api/models/fn.go:69-72
  test('/invoke/<unknown id>: 404 Fn not found', async () => {
    exactly(await call('/invoke/01HK421P480000000000000001', { body: Buffer.from('{}') }), 404, 'Fn not found');
    exactly(await call(`/invoke/${'0'.repeat(64)}`), 404, 'Fn not found');
  });

  // fn:api/server/server.go:1021-1022 registers /invoke/:fn_id for POST only; gin's HandleMethodNotAllowed
  // answers the rest (server.go:1032-1037), with no Allow header.
  test('GET (PUT, DELETE) /invoke/<id>: 405 Method not allowed: <METHOD> <path>', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const r = await call(`/invoke/${mirror}`, { method });
      exactly(r, 405, `Method not allowed: ${method} /invoke/${mirror}`);
      assert.equal(r.headers.allow, undefined);
    }
    exactly(await call('/invoke/nosuch?x=1', { method: 'GET' }), 405, 'Method not allowed: GET /invoke/nosuch');
  });

  // fn:api/server/runner_httptrigger.go:28-31: app by name first (fn:api/models/app.go:53-56), then the
  // trigger by its exact source (fn:api/models/trigger.go:128-130), no prefix matching.
  test('/t/<unknown app>/x: 404 App not found; /t/<app>/nosuch: 404 Trigger not found', async () => {
    exactly(await call('/t/nosuchapp/x', { method: 'GET' }), 404, 'App not found');
    exactly(await call('/t/nosuchapp', { method: 'POST' }), 404, 'App not found');
    exactly(await call('/t/fid/nosuch', { method: 'GET' }), 404, 'Trigger not found');
    exactly(await call('/t/fid/echo/more', { method: 'GET' }), 404, 'Trigger not found');
    exactly(await call('/t/fid/a', { method: 'GET' }), 404, 'Trigger not found');
    exactly(await call('/t/fid', { method: 'GET' }), 404, 'Trigger not found');
    assert.equal((await call('/t/fid/a/b', { method: 'GET' })).status, 200, 'a source with two segments');
  });

  // fn:api/server/server.go:1015-1017 routes /t/:app_name and /t/:app_name/*trigger_source; an empty
  // source becomes "/" (runner_httptrigger.go:28-31).
  test('/t/<app> and /t/<app>/ both reach the trigger whose source is /', async () => {
    for (const path of ['/t/root', '/t/root/', '/t/root?x=1']) {
      const r = await call(path, { method: 'GET' });
      assert.equal(r.status, 200, `${path}: ${r.body}`);
      assert.match(valuesOf(received(r), 'fn-http-request-url')[0], new RegExp(`/t/root${path.slice('/t/root'.length).replace('?', '\\?')}$`));
    }
    exactly(await call('/t/root/x', { method: 'GET' }), 404, 'Trigger not found');
    assert.match(rooted, /^[0-9a-f]{64}$/);
  });

  // fn:api/models/trigger.go (ErrTriggerSourceExists) and fn:api/datastore/sql/sql.go InsertTrigger: a
  // second trigger with the same type and source on one app is refused, 409 "Trigger with the same type
  // and source exists on this app".
  test('a second function in the same app claiming a trigger source already taken is refused (409)', async () => {
    const trigger = 'triggers:\n- name: c\n  type: http\n  source: /same\n';
    await deploy(pyDir('first', trigger), 'clash');
    const r = await cli(['fn', 'deploy', pyDir('second', trigger), '--app', 'clash']);
    assert.equal(r.code, 1, `deployed ${r.stdout.trim()}: /t/clash/same now names two functions`);
    assert.match(r.stderr, /Trigger with the same type and source exists on this app/);
  });

  // fn:api/agent/agent.go:678-680 and fn:api/models/error.go:175-178 name the error; Tessera's limit is
  // 16 KiB of response headers (Node's default), where Go's transport allows more.
  test('a function whose response headers exceed 16 KiB: 502 function response header too large', async () => {
    exactly(await call(`/invoke/${mirror}`, { body: replyWith([['X-Big', 'x'.repeat(17 * 1024)]]) }), 502, 'function response header too large');
    exactly(await call('/t/fid/echo', { body: replyWith([['Fn-Http-H-X-Big', 'x'.repeat(17 * 1024)]]) }), 502, 'function response header too large');
    const fits = await call(`/invoke/${mirror}`, { body: replyWith([['X-Big', 'x'.repeat(12 * 1024)]]) });
    assert.equal(fits.status, 200, 'headers under the limit pass, and the pool recovered from the kill');
    assert.equal(String(fits.headers['x-big']).length, 12 * 1024);
  });
});

describe('func.yaml (cli:common/funcfile.go:152-178, FuncFileV20180708)', () => {
  test('cmd, type, build_image, run_image, content_type, build, expects, annotations and a versioned runtime (python3.12, node22) are accepted and run', async () => {
    const py = pyDir(
      'allfields',
      [
        'version: 0.0.1',
        'runtime: python3.12',
        'build_image: fnproject/python:3.12-dev',
        'run_image: fnproject/python:3.12',
        'cmd: handler',
        'content_type: application/json',
        'type: sync',
        'memory: 256',
        'timeout: 30',
        'idle_timeout: 30',
        'config:',
        '  GREETING: hi',
        'annotations:',
        '  com.example/owner: alice',
        '  fnproject.io/fn/invokeEndpoint: http://example.invalid/invoke/x',
        'build:',
        '- echo building',
        'expects:',
        '  config:',
        '  - name: GREETING',
        '    required: true',
        '',
      ].join('\n'),
      PYTHON_FN,
      'schema_version: 20180708\nname: allfields\n',
    );
    const pyId = await deploy(py, 'yaml');
    const r = await call(`/invoke/${pyId}`, { body: Buffer.from('fields') });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().python, 'fields', 'runtime python3.12 ran python3 func.py (with cmd appended)');
    const nodeDir = fnDir('n22', 'schema_version: 20180708\nname: n22\nversion: 0.0.1\nruntime: node22\nbuild_image: fnproject/node:22-dev\nrun_image: fnproject/node:22\n', {
      'func.js': "require('@fnproject/fdk').handle((input) => ({ node: process.versions.node, got: input }));",
    });
    const nodeId = await deploy(nodeDir, 'yaml');
    const n = await call(`/invoke/${nodeId}`, { headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":1}') });
    assert.equal(n.status, 200, n.body.toString());
    assert.deepEqual(n.json().got, { a: 1 }, 'runtime node22 ran node func.js');
  });

  // There is no `format` field in FuncFileV20180708 or the legacy FuncFile (cli:common/funcfile.go:110-178);
  // Fn ignores it silently, Tessera refuses it by name so that it is not mistaken for a setting.
  test('format is refused, saying why', async () => {
    const r = await cli(['fn', 'deploy', pyDir('fmt', 'format: http-stream\n'), '--app', 'yaml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown field 'format': func\.yaml \(schema 20180708\) has none; Fn functions speak http-stream, and a legacy format is chosen with the annotation tessera\.io\/format/);
  });
});

describe('fn init, deploy, invoke (cli:commands/init.go, cli:langs/node.go, cli:commands/invoke.go)', () => {
  test("`tessera fn init --runtime node`, deployed with @fnproject/fdk copied in, answers `tessera fn invoke` with Fn's hello", async () => {
    const dir = join(tempDir('tessera-fid-init-'), 'hello');
    const init = await tessera(['fn', 'init', '--runtime', 'node', dir]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /func\.yaml created\./);
    const fdk = join(dir, 'node_modules', '@fnproject', 'fdk');
    mkdirSync(fdk, { recursive: true });
    for (const f of ['fn-fdk.js', 'package.json']) copyFileSync(join(REPO, 'node_modules', '@fnproject', 'fdk', f), join(fdk, f));
    const id = await deploy(dir, 'hello');
    const invoke = (stdin: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(...tesseraCommand(['fn', 'invoke', id, '--content-type', 'application/json', '-i', aliceId(), '--url', url(''), '--insecure-skip-verification']), { cwd: REPO, env: TEST_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(stdin);
      });
    const bob = await invoke('{"name":"Bob"}');
    assert.equal(bob.code, 0, bob.stderr);
    assert.equal(bob.stdout, '{"message":"Hello Bob"}\n');
    const world = await invoke('{}');
    assert.equal(world.stdout, '{"message":"Hello World"}\n');
  });
});
