import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { PYTHON_FN, fnDir, nodeYaml } from '../helpers/fn-fixtures.js';
import { member } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

let node: TestNode;
before(async () => {
  // The node inherits a file open across exec (fd 99), as a careless parent leaves one: no function may get it.
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], inheritFile: true, config: (c) => (c.fn = { allow_direct_deploy: true, start_timeout_ms: 2000, max_response_bytes: 4096, max_processes_per_function: 3 }) });
});
after(() => node.cleanup());

const alice = () => ({ ...node.identity('alice'), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
async function deploy(dir: string, app = 'demo'): Promise<string> {
  const r = await tessera(['fn', 'deploy', dir, '--app', app, '-i', `${identitiesDirOf(node.dir)}/alice`, '--url', url(''), '--insecure-skip-verification']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
const invoke = (id: string, body: string, headers: Record<string, string> = {}) => https(url(`/invoke/${id}`), alice(), { method: 'POST', body: Buffer.from(body), headers: { 'content-type': 'application/json', ...headers } });

describe('unmodified @fnproject/fdk functions', () => {
  test('JSON input mode through /invoke: 200 with the FDK headers', async () => {
    const id = await deploy(fnDir('hello', nodeYaml('hello'), { 'func.js': "const fdk = require('@fnproject/fdk'); fdk.handle((input, ctx) => ({ hello: input.name, fnID: ctx.fnID, callID: ctx.callID, memory: ctx.memory }));" }));
    assert.match(id, /^[0-9a-f]{64}$/);
    const r = await invoke(id, JSON.stringify({ name: 'alice' }));
    assert.equal(r.status, 200, r.body.toString());
    const body = r.json();
    assert.equal(body.hello, 'alice');
    assert.equal(body.fnID, id);
    assert.equal(body.callID, r.headers['fn-call-id']);
    assert.equal(body.memory, 128);
    assert.match(String(r.headers['fn-fdk-version']), /^fdk-node\//);
    assert.match((await tessera(['fn', 'list', '-i', `${identitiesDirOf(node.dir)}/alice`, '--url', url(''), '--insecure-skip-verification'])).stdout, new RegExp(`${id}  demo  hello`));
  });

  test('string input mode: a returned string arrives JSON-encoded, as fdk-node does', async () => {
    const id = await deploy(fnDir('echo', nodeYaml('echo'), { 'func.js': "const fdk = require('@fnproject/fdk'); fdk.handle((input) => 'got ' + input, { inputMode: 'string' });" }));
    const r = await invoke(id, 'plain text');
    assert.deepEqual([r.status, r.body.toString()], [200, '"got plain text"']);
  });

  test('httpGateway status and headers map back through an HTTP trigger; detached calls answer 202', async () => {
    const id = await deploy(
      fnDir('gw', nodeYaml('gw', 'triggers:\n- name: gw\n  type: http\n  source: /gw\n'), {
        'func.js': "const fdk = require('@fnproject/fdk'); fdk.handle((input, ctx) => { ctx.httpGateway.statusCode = 201; ctx.httpGateway.setResponseHeader('X-Custom', 'yes'); return { method: ctx.httpGateway.method, url: ctx.httpGateway.requestURL, test: ctx.httpGateway.getHeader('X-Test'), input }; });",
      }),
    );
    const r = await https(url('/t/demo/gw?q=1'), alice(), { method: 'POST', json: { a: 1 }, headers: { 'x-test': 'header value' } });
    assert.equal(r.status, 201, r.body.toString());
    assert.equal(r.headers['x-custom'], 'yes');
    assert.equal(r.headers['fn-fdk-version'], undefined, 'FDK headers are dropped on the trigger path');
    assert.ok(r.headers['fn-call-id']);
    const body = r.json();
    assert.deepEqual([body.method, body.test, body.input], ['POST', 'header value', { a: 1 }]);
    assert.match(body.url, /^https:\/\/127\.0\.0\.1:\d+\/t\/demo\/gw\?q=1$/);
    const detached = await invoke(id, '{}', { 'fn-invoke-type': 'detached' });
    assert.equal(detached.status, 202);
    assert.equal((await https(url('/t/demo/nothing'), alice())).status, 404);
  });
});

describe('the environment a function gets', () => {
  test('PATH, HOME, its config, then FN_* (config cannot override them); nothing of the node', async () => {
    const id = await deploy(
      fnDir('envfn', nodeYaml('envfn', 'config:\n  FN_FN_ID: spoofed\n  FN_MEMORY: "4096"\n  GREETING: hello\n'), {
        'func.js': "require('@fnproject/fdk').handle(() => ({ env: process.env, cwd: process.cwd(), uid: process.getuid() }));",
      }),
      'envapp',
    );
    const r = await invoke(id, '{}');
    assert.equal(r.status, 200, r.body.toString());
    const { env, cwd } = r.json();
    assert.equal(env.FN_FN_ID, id);
    assert.equal(env.FN_MEMORY, '128');
    assert.equal(env.GREETING, 'hello');
    assert.equal(env.FN_APP_ID, 'envapp');
    assert.equal(env.FN_LISTENER, 'unix:/tmp/iofs/lsnr.sock');
    assert.equal(cwd, '/function');
    const unexpected = Object.keys(env).filter((k) => !/^(PATH|HOME|PWD|SHLVL|_|GREETING|NODE_OPTIONS|FN_[A-Z_]+)$/.test(k));
    assert.deepEqual(unexpected, [], 'nothing of the node\'s environment (TESSERA_*, the sealing key path) reaches a function');
  });
});

describe('the file descriptors a function gets', () => {
  test('only its stdin, stdout and stderr: nothing the node inherited or opened', async () => {
    // A cold (default-format) function runs ls as the function's own process; ls's own directory handle is the one extra.
    const id = await deploy(fnDir('fds', 'name: fds\nruntime: binary\nentrypoint: sh fds.sh\nannotations:\n  tessera.io/format: default\n', { 'fds.sh': 'ls /proc/self/fd\n' }), 'fds');
    const r = await invoke(id, '');
    assert.equal(r.status, 200, r.body.toString());
    const fds = r.body.toString().trim().split(/\s+/).map(Number);
    assert.deepEqual(fds.filter((fd) => fd > 2).length, 1, `descriptors seen: ${fds.join(' ')}`);
  });
});

describe('the system calls a function may make', () => {
  test('a seccomp filter is in force: new namespaces, mounts and ptrace are refused with EPERM; threads and children work', async () => {
    const probe = `const cp = require('child_process');
const run = (c) => { try { return cp.execSync(c, { stdio: 'pipe' }).toString().trim(); } catch (e) { return 'FAILED: ' + e.stderr.toString().trim(); } };
require('@fnproject/fdk').handle(() => ({
  status: run("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"),
  unshareUser: run('unshare -U true'),
  unshareNet: run('unshare -n true'),
  mount: run('mount -t tmpfs none /tmp'),
  child: run('echo child ran'),
}));`;
    const id = await deploy(fnDir('sysfn', nodeYaml('sysfn'), { 'func.js': probe }), 'sys');
    const r = await invoke(id, '{}');
    assert.equal(r.status, 200, r.body.toString());
    const out = r.json();
    assert.match(out.status, /Seccomp:\s+2/);
    assert.match(out.status, /NoNewPrivs:\s+1/);
    assert.match(out.unshareUser, /^FAILED: .*Operation not permitted/);
    assert.match(out.unshareNet, /^FAILED: .*Operation not permitted/);
    assert.match(out.mount, /^FAILED/);
    assert.equal(out.child, 'child ran');
  });
});

describe('a second language', () => {
  test('a Python function with only the standard library speaks http-stream', async () => {
    const id = await deploy(fnDir('py', 'schema_version: 20180708\nname: py\nruntime: python\nentrypoint: python3 func.py\n', { 'func.py': PYTHON_FN }));
    const r = await invoke(id, 'from node');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().python, 'from node');
    assert.equal(r.json().call_id, r.headers['fn-call-id']);
    assert.match(r.json().deadline, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await new Promise((res) => setTimeout(res, 100));
    assert.match(node.logs(), new RegExp(`"call_id":"${r.headers['fn-call-id']}".*handled ${r.headers['fn-call-id']}`), 'stderr lines reach the log with the call id');
  });

  test('keep-alive: connections the process closes are never reused into a 502, under load', async () => {
    const id = await deploy(fnDir('flaky', 'name: flaky\nruntime: python\nentrypoint: python3 func.py\nconfig:\n  IDLE_CLOSE_SECONDS: "0.03"\n', { 'func.py': PYTHON_FN }));
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let i = 0; i < 40; i++) {
          await new Promise((res) => setTimeout(res, Math.random() * 60));
          statuses.push((await invoke(id, `n${i}`)).status);
        }
      }),
    );
    assert.deepEqual([...new Set(statuses)], [200], `statuses: ${statuses.join(',')}`);
  });
});

describe('bad processes get Fn’s statuses, and the pool recovers', () => {
  const good = () => deploy(fnDir('ok', nodeYaml('ok'), { 'func.js': "require('@fnproject/fdk').handle(() => ({ ok: true }));" }), 'good');

  test('a process that never creates its socket: 504; a socket that is not a socket: 502', async () => {
    const silent = await deploy(fnDir('silent', 'name: silent\nruntime: binary\nentrypoint: sleep 30\n', {}), 'bad');
    const r = await invoke(silent, '{}');
    assert.equal(r.status, 504);
    assert.match(r.json().message, /Container initialization timed out/);
    const notSocket = await deploy(fnDir('file', 'name: file\nruntime: binary\nentrypoint: sh notsocket.sh\n', { 'notsocket.sh': 'touch "${FN_LISTENER#unix:}"\nsleep 30\n' }), 'bad');
    const r2 = await invoke(notSocket, '{}');
    assert.equal(r2.status, 502);
    assert.match(r2.json().message, /Container failed to initialize: not a socket/);
    assert.equal((await invoke(await good(), '{}')).status, 200);
  });

  test('garbage, an exit mid-call, a hang past the deadline, an oversized response', async () => {
    const fdk = (name: string, body: string, yaml = '') => deploy(fnDir(name, nodeYaml(name, yaml), { 'func.js': `const fdk = require('@fnproject/fdk'); ${body}` }), 'bad');
    const exits = await fdk('exits', "fdk.handle(() => { process.exit(1); });");
    const e = await invoke(exits, '{}');
    assert.deepEqual([e.status, e.json().message], [502, 'error receiving function response']);
    const hangs = await fdk('hangs', 'fdk.handle(() => new Promise(() => {}));', 'timeout: 1\n');
    const h = await invoke(hangs, '{}');
    assert.deepEqual([h.status, h.json().message], [504, 'Timed out']);
    const big = await fdk('big', "fdk.handle(() => 'x'.repeat(10000));");
    const b = await invoke(big, '{}');
    assert.deepEqual([b.status, b.json().message], [502, 'function response body too large']);
    const garbage = await deploy(fnDir('garbage', 'name: garbage\nruntime: python\nentrypoint: python3 func.py\n', { 'func.py': PYTHON_FN.replace('self.send_response(200)', 'self.wfile.write(b"not http at all\\r\\n\\r\\n"); self.wfile.flush(); return') }), 'bad');
    const g = await invoke(garbage, 'x');
    assert.equal(g.status, 502);
    const fails = await fdk('fails', "fdk.handle(() => { throw new Error('nope'); });");
    const f = await invoke(fails, '{}');
    assert.deepEqual([f.status, f.json().message], [502, 'function failed']);
    assert.equal((await invoke(fails, '{}')).status, 502, 'a 502 from the function keeps the process');
    assert.equal((await invoke(hangs, '{}')).status, 504, 'the hung process was replaced and the next call gets its own deadline');
  });

  test('func.yaml with unknown fields or bad values is refused by name', async () => {
    const bad = async (yaml: string, pattern: RegExp) => {
      const r = await tessera(['fn', 'deploy', fnDir('bad', yaml, {}), '-i', `${identitiesDirOf(node.dir)}/alice`, '--url', url(''), '--insecure-skip-verification']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, pattern);
    };
    await bad('name: x\nruntime: node\nbogus: 1\n', /unknown field 'bogus'/);
    await bad('name: x\nruntime: node\ntimeout: 9999\n', /timeout must be <= 300/);
    await bad('name: x\nruntime: cobol\n', /runtime 'cobol' is not one Tessera knows/);
    await bad('name: x\nruntime: node\nformat: json\n', /unknown field 'format': func.yaml \(schema 20180708\) has none/);
    await bad('schema_version: 1\nname: x\nruntime: node\n', /unsupported func.yaml version/);
  });
});

describe('registration through governance', () => {
  test('set_node_function with kind process registers a function when direct deploy is off', async () => {
    const dir = fnDir('governed', nodeYaml('governed'), { 'func.js': "require('@fnproject/fdk').handle(() => 'governed', { inputMode: 'string' });" });
    const propose = await tessera(['fn', 'deploy', dir, '--app', 'gov', '--propose', '-i', `${identitiesDirOf(node.dir)}/m0`, '--url', url('')]);
    assert.equal(propose.code, 0, propose.stderr);
    const proposalId = propose.stdout.split(/\s+/)[0];
    const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
    await m0.vote(proposalId, ACCEPT_BALLOT);
    assert.equal((await m1.vote(proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
    const list = (await https(url('/v1/fns'), alice())).json().fns;
    const f = list.find((x: any) => x.name === 'governed');
    assert.deepEqual([f.app, f.owner, f.package], ['gov', '@consortium', propose.stderr.match(/sha256 ([0-9a-f]{64})/)![1]]);
    assert.equal((await invoke(f.id, '')).body.toString(), '"governed"');
    const byPath = (await m0.propose({ actions: [{ name: 'set_node_function', args: { name: 'x', kind: 'process', dir: '/nonexistent' } }] })).json();
    assert.match(byPath.error.message, /approved by its package digest, not a path/);
    const unknown = (await m0.propose({ actions: [{ name: 'set_node_function', args: { name: 'x', kind: 'process', package: 'ab'.repeat(32) } }] })).json();
    assert.match(unknown.error.message, /no uploaded package has digest abab/);
  });
});

describe('the legacy formats, as adapters', () => {
  const JSON_FN = `let buf = '';
process.stdin.setEncoding('utf8').on('data', (c) => {
  buf += c;
  let end;
  while ((end = complete(buf)) > 0) {
    const text = buf.slice(0, end); buf = buf.slice(end);
    const req = JSON.parse(text);
    const reply = process.env.FN_FORMAT === 'json'
      ? { body: 'json saw ' + req.body, content_type: 'text/plain', protocol: { status_code: 200, headers: { 'X-Format': ['json'] } } }
      : { data: { saw: req.data, id: req.eventID }, contentType: 'application/json', extensions: { protocol: { status_code: 201, headers: {} } } };
    process.stdout.write(JSON.stringify(reply));
  }
});
function complete(s) { let d = 0, q = false, e = false; for (let i = 0; i < s.length; i++) { const c = s[i]; if (q) { if (e) e = false; else if (c === '\\\\') e = true; else if (c === '"') q = false; continue; } if (c === '"') q = true; else if (c === '{') d++; else if (c === '}' && --d === 0) return i + 1; } return -1; }`;

  test('json and cloudevent envelopes over stdin/stdout, hot', async () => {
    const json = await deploy(fnDir('jsonfmt', 'name: jsonfmt\nruntime: node\nentrypoint: node func.js\nannotations:\n  tessera.io/format: json\n', { 'func.js': JSON_FN }), 'fmt');
    const r = await invoke(json, 'hello');
    assert.deepEqual([r.status, r.body.toString(), r.headers['x-format'], r.headers['content-type']], [200, 'json saw hello', 'json', 'text/plain']);
    assert.equal((await invoke(json, 'again')).body.toString(), 'json saw again', 'the same hot process answers the next call');
    const ce = await deploy(fnDir('cefmt', 'name: cefmt\nruntime: node\nentrypoint: node func.js\nannotations:\n  tessera.io/format: cloudevent\n', { 'func.js': JSON_FN }), 'fmt');
    const c = await invoke(ce, JSON.stringify({ x: 1 }));
    assert.equal(c.status, 201);
    assert.deepEqual(c.json().saw, { x: 1 });
    assert.equal(c.json().id, c.headers['fn-call-id']);
  });

  test('default: one cold process per call, body on stdin, FN_* in the environment', async () => {
    const cold = await deploy(fnDir('cold', 'name: cold\nruntime: binary\nentrypoint: sh cold.sh\nannotations:\n  tessera.io/format: default\n', { 'cold.sh': 'printf "%s|%s|" "$FN_METHOD" "$FN_CALL_ID"\ntr a-z A-Z\n' }), 'fmt');
    const r = await invoke(cold, 'shout');
    assert.equal(r.status, 200, r.body.toString());
    const [method, callId, body] = r.body.toString().split('|');
    assert.deepEqual([method, callId, body], ['POST', r.headers['fn-call-id'], 'SHOUT']);
  });
});

describe('process functions as task functions', () => {
  test('a task names fn:<id> and gets the function’s answer as its result', async () => {
    const id = await deploy(fnDir('taskfn', nodeYaml('taskfn'), { 'func.js': "require('@fnproject/fdk').handle((input) => 'task says ' + input, { inputMode: 'string' });" }), 'tasks');
    const create = await https(url('/v1/tasks'), alice(), { method: 'POST', json: { function_name: `fn:${id}` } });
    assert.equal(create.status, 201, create.body.toString());
    const { task_id, task_token } = create.json();
    const run = await https(url(`/v1/tasks/${task_id}/invoke`), alice(), { method: 'POST', json: { task_token, payload: 'hi' } });
    assert.deepEqual([run.status, run.json().result], [200, '"task says hi"']);
  });
});
