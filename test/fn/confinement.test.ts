// Process functions run confined (src/sandbox/process/confine.ts, cgroups.ts): a real node, functions
// deployed with the real CLI, and functions that try what an attacker's code would: read the node's data
// directory, sealing key, environment and another function's package, write outside their /tmp, fork-bomb,
// hog memory and CPU, listen on and connect over TCP. Each attempt's outcome is reported back by the function
// itself, and what can be is checked on the host too (its files' hashes, its cgroups, its processes). Every
// test also checks that the node keeps serving: a good function answers, and so does its REST API. Where a
// protection were missing, the test fails rather than doing harm: a write to an existing file only opens it,
// and the fork bomb starts only once the host shows its pids limit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { type TestContext, after, before, describe, test } from 'node:test';
import { TEST_ENV, type TestNode, startNode, tempDir, tessera, tied } from '../helpers/cli.js';
import { PYTHON_FN, fnDir, pythonHttpStream } from '../helpers/fn-fixtures.js';
import { https } from '../helpers/https-client.js';
import { markedProcesses } from '../helpers/orphan-check.js';
import { defaultFnDir, identitiesDirOf } from '../../src/node/datadir.js';

/**
 * One python http-stream function that does, per call, what the request body's `do` says: the attacks
 * below, each attempt's outcome reported as {ok, detail} or {ok: false, error}. Only the standard library.
 */
const TOOL = pythonHttpStream(
  String.raw`    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        out = json.dumps(ACTIONS[req.get("do", "answer")](req)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)`,
  String.raw`ANSWER = "A"
INSTANCE = os.urandom(8).hex()  # tells one process from the next
kept = []  # listening sockets outlive the call that opened them

def attempt(fn):
    try:
        return {"ok": True, "detail": fn()}
    except Exception as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}

def read(path):
    with open(path, "rb") as f:
        data = f.read()
    # Environments come back whole, as an attacker would exfiltrate them; files only by size.
    return data.decode("utf-8", "replace") if path.endswith("/environ") else "%d bytes" % len(data)

def write(path):
    # A file that exists is only opened for writing (that is the permission): were the sandbox not to hold,
    # nothing of the host's, the node's own binary included, would be damaged by the test.
    if os.path.lexists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        return "opened for writing"
    with open(path, "xb") as f:
        f.write(b"written by a function\n")
    return "written"

def connect_unix(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(path)
    s.close()
    return "connected"

def connect_tcp(host, port):
    s = socket.create_connection((host, port), timeout=3)
    s.close()
    return "connected"

def probe(req):
    node_pid = os.environ["NODE_PID"]
    data_dir = req["data_dir"]
    # The node's pid, from func.yaml config: straight at its environment, its root, its files.
    direct = ["/proc/%s/environ" % node_pid, "/proc/%s/root%s/master.key.sealed" % (node_pid, data_dir), "/proc/%s/cwd/master.key.sealed" % node_pid,
              "/proc/1/root%s/master.key.sealed" % data_dir]
    reads = {p: attempt(lambda p=p: read(p)) for p in req["read"] + direct}
    # Without the pid: pid 1 (on the host, init), every environment /proc shows, and what every process there is.
    scanned = {p: attempt(lambda p=p: read(p)) for p in ["/proc/1/environ"] + glob.glob("/proc/[0-9]*/environ")}
    procs = {}
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                procs[p.split("/")[2]] = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except Exception:
            pass
    return {
        "uid": os.getuid(),
        "fds": {fd: attempt(lambda fd=fd: os.readlink("/proc/self/fd/" + fd)) for fd in os.listdir("/proc/self/fd")},
        "reads": reads,
        "scanned": scanned,
        "procs": procs,
        "lists": {p: attempt(lambda p=p: os.listdir(p)) for p in req["list"]},
        "unix": {p: attempt(lambda p=p: connect_unix(p)) for p in req["unix"]},
        "writes": {p: attempt(lambda p=p: write(p)) for p in req["write"]},
        # Controls: what the function may do works, so the failures above are the sandbox's.
        "own_read": attempt(lambda: read("/function/func.py")),
        "own_write": attempt(lambda: write(req["own"])),
    }

def forks(req):
    children, error = [], None
    for _ in range(req["n"]):
        try:
            pid = os.fork()
        except OSError as e:
            error = "%s: %s" % (type(e).__name__, e)
            break
        if pid == 0:
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
    # Then the classic bomb, left running: bash's (it retries failed forks, so it keeps at the limit), in a
    # session of its own, out of the process group the node kills.
    bomb = attempt(lambda: subprocess.Popen(["/bin/bash", "-c", ":(){ :|:& };:"], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)
    return {"forked": len(children), "error": error, "bomb": bomb}

def memory(req):
    chunks = []
    for _ in range(req["mb"] // 16):
        chunks.append(b"x" * (16 << 20))  # written, so really resident
    return {"allocated_mb": 16 * len(chunks)}

def fill(req):
    # Memory by another door: files in the private /tmp (a tmpfs) are memory too.
    with open("/tmp/fill", "wb") as f:
        for _ in range(req["mb"] // 16):
            f.write(b"x" * (16 << 20))
    return {"written_mb": os.path.getsize("/tmp/fill") >> 20}

def spin(req):
    start = time.monotonic()
    pids = []
    for _ in range(req["workers"]):
        pid = os.fork()
        if pid == 0:
            while time.monotonic() < start + req["seconds"]:
                pass
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    t = os.times()
    return {"wall": time.monotonic() - start, "cpu": t.children_user + t.children_system}

def listen(req):
    def go():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", req["port"]))
        s.listen(16)
        kept.append(s)
        return connect_tcp("127.0.0.1", req["port"])  # it listens: the function reaches it itself
    return attempt(go)

def connect(req):
    return {"%s:%d" % (h, p): attempt(lambda h=h, p=p: connect_tcp(h, p)) for h, p in req["targets"]}

ACTIONS = {"probe": probe, "fill": fill, "forks": forks, "memory": memory, "spin": spin, "listen": listen, "connect": connect,
           "answer": lambda req: {"answer": ANSWER, "instance": INSTANCE}}`,
  'glob, signal, socket, subprocess, time',
);
/** Go's http-stream, standard library only: a private socket name, then the lsnr.sock symlink to it. */
const GO_FN = `package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	listener := strings.TrimPrefix(os.Getenv("FN_LISTENER"), "unix:")
	private := filepath.Join(filepath.Dir(listener), fmt.Sprintf("go-%d.sock", os.Getpid()))
	ln, err := net.Listen("unix", private)
	if err != nil {
		panic(err)
	}
	if err := os.Symlink(filepath.Base(private), listener); err != nil {
		panic(err)
	}
	panic(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/call" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "go says %s (memory %s)", body, os.Getenv("FN_MEMORY"))
	})))
}
`;

const toolYaml = (name: string, extra = '') => `schema_version: 20180708\nname: ${name}\nruntime: python\nentrypoint: python3 func.py\n${extra}`;
const toolDir = (name: string, extra = '', files: Record<string, string> = {}) => functionDir(name, toolYaml(name, extra), { 'func.py': TOOL, ...files });
/** fnDir, its temporary directory removed after the tests. */
function functionDir(name: string, funcYaml: string, files: Record<string, string>): string {
  const dir = fnDir(name, funcYaml, files);
  cleanups.push(join(dir, '..'));
  return dir;
}

/** A marker in the node's environment: wherever it shows up, the node's environment was read. */
const MARKER = `tessera-confinement-marker-${process.pid}-${Date.now()}`;

let node: TestNode;
let fnRun: string;
let goodId: string;
let goBuild: Promise<{ dir: string } | { skip: string }>;
const cleanups: string[] = [];

const alice = () => ({ ...node.identity('alice'), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;

async function deploy(dir: string, app: string): Promise<string> {
  const r = await tessera(['fn', 'deploy', dir, '--app', app, '-i', `${identitiesDirOf(node.dir)}/alice`, '--url', url(''), '--insecure-skip-verification']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
const invoke = (id: string, body: unknown) => https(url(`/invoke/${id}`), alice(), { method: 'POST', body: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' } });
const packageOf = async (id: string): Promise<string> => ((await https(url('/v1/fns'), alice())).json().fns as Array<{ id: string; package: string }>).find((f) => f.id === id)!.package;

/** The node keeps serving: a good function answers, and so does its REST API (public and authenticated). */
async function assertServing(when: string) {
  const r = await https(url(`/invoke/${goodId}`), alice(), { method: 'POST', body: Buffer.from('still here') });
  assert.equal(r.status, 200, `the good function, ${when}: ${r.body.toString()}`);
  assert.equal(r.json().python, 'still here');
  assert.equal((await https(url('/v1/health'), { ca: node.ca })).status, 200, `GET /v1/health, ${when}`);
  assert.equal((await https(url('/v1/fns'), alice())).status, 200, `GET /v1/fns, ${when}`);
}

/** Every file under `dir` by its path relative to `dir`, with its SHA-256. */
function hashes(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, e.name);
    if (e.isDirectory()) Object.assign(out, hashes(dir, rel));
    else if (e.isFile()) out[rel] = createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex');
  }
  return out;
}

/** Live (not zombie) host processes whose environment holds `needle`. */
const processesWith = (needle: string) => markedProcesses(needle);

/** A host process's cgroup for `controller`: its directory in v1's hierarchy of that name, or in v2's unified one. */
function cgroupOf(pid: number, controller: 'pids' | 'cpu' | 'memory'): { dir: string; v2: boolean } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.map((l) => l.split(':')).find(([, controllers]) => controllers?.split(',').includes(controller));
  return v1 ? { dir: join('/sys/fs/cgroup', controller, v1[2]), v2: false } : { dir: join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3)), v2: true };
}
const readIn = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();
/** The host pid of a function's own process (the python3 of TOOL), found by its FN_FN_ID. */
const functionPid = (id: string) => processesWith(`FN_FN_ID=${id}`).find((p) => p.cmdline.startsWith('python3'))?.pid;

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function until<T>(what: string, withinMs: number, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`${what} within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Connects from the host: 'connected', or the error code. */
function hostConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const c = connect({ port, host });
    c.setTimeout(3000, () => {
      c.destroy();
      resolve('ETIMEDOUT');
    });
    c.once('connect', () => {
      c.destroy();
      resolve('connected');
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function findOnPath(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin']) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  return null;
}

/** Builds GO_FN with the host's Go (offline, standard library only) into a function directory. */
async function buildGo(): Promise<{ dir: string } | { skip: string }> {
  const go = findOnPath('go');
  if (!go) return { skip: 'go is not installed (Debian: apt-get install golang-go); the Go function test needs it to build its function' };
  const work = tempDir('tessera-go-');
  cleanups.push(work);
  writeFileSync(join(work, 'main.go'), GO_FN);
  writeFileSync(join(work, 'go.mod'), 'module tessera.test/fngo\n\ngo 1.19\n');
  const dir = functionDir('gofn', 'schema_version: 20180708\nname: gofn\nruntime: go\nmemory: 128\n', {});
  rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, GOCACHE: join(work, 'cache'), GOPATH: join(work, 'gopath'), CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local' };
  await new Promise<void>((resolve, reject) =>
    execFile(...tied(go, ['build', '-trimpath', '-o', join(dir, 'func'), '.']), { cwd: work, env, timeout: 120_000 }, (err, _stdout, stderr) => (err ? reject(new Error(`go build failed: ${stderr || err.message}`)) : resolve())),
  );
  return { dir };
}

before(async () => {
  // Built while the other tests run: the Go toolchain compiles net/http once (about 10 s on 2 cores).
  goBuild = buildGo();
  goBuild.catch(() => {});
  node = await startNode({
    users: ['alice'],
    env: { TESSERA_CONFINEMENT_MARKER: MARKER },
    config: (c) => (c.fn = { allow_direct_deploy: true, start_timeout_ms: 5000, max_processes_per_function: 2 }),
  });
  // The node's function directory (outside its data directory): <tmpdir>/tessera-fn-<12 hex of the data dir>.
  fnRun = defaultFnDir(node.dir);
  assert.ok(existsSync(join(fnRun, 'code')), `the node's code cache is not at ${fnRun}`);
  goodId = await deploy(functionDir('good', 'schema_version: 20180708\nname: good\nruntime: python\nentrypoint: python3 func.py\n', { 'func.py': PYTHON_FN }), 'conf-good');
  await assertServing('at the start');
});

after(async () => {
  if (node) {
    // A graceful stop ends the function processes and removes the node's cgroups; cleanup removes the data.
    await node.stop('SIGTERM');
    await node.cleanup();
  }
  for (const dir of [fnRun, ...cleanups]) {
    if (!dir) continue;
    // The code cache is read-only (0555), and Go's module cache too.
    makeWritable(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

function makeWritable(dir: string) {
  if (!existsSync(dir)) return;
  const walk = (p: string) => {
    try {
      const st = statSync(p);
      if (!st.isDirectory()) return;
      chmodSync(p, 0o700);
      for (const name of readdirSync(p)) walk(join(p, name));
    } catch {
      // gone
    }
  };
  walk(dir);
}

/** The attacker's probe, and what the test checks of it and of the host. */
async function probe(
  t: TestContext,
  { victimId, victimCode, victimSockets, attackerId, nodePid, dataFiles, sealingKey, litter }: { victimId: string; victimCode: string; victimSockets: string[]; attackerId: string; nodePid: number; dataFiles: string[]; sealingKey: string; litter: string[] },
) {
  const before = { data: hashes(node.dir), victim: hashes(victimCode), sealing: hashes(join(sealingKey, '..')) };
  const allData = Object.keys(before.data).map((f) => join(node.dir, f));
  const request = {
    do: 'probe',
    data_dir: node.dir,
    read: [...new Set([...dataFiles, ...allData, sealingKey, join(victimCode, 'secret.txt'), join(victimCode, 'func.py'), join(victimCode, 'func.yaml')])],
    own: litter[3],
    list: [node.dir, join(node.dir, '..'), fnRun, join(fnRun, 'code'), victimCode, join(sealingKey, '..')],
    unix: victimSockets,
    write: [
      '/function/func.py', '/function/new-file', ...litter.slice(0, 3), '/opt/tessera/bin/node',
      join(node.dir, 'pwned'), join(identitiesDirOf(node.dir), 'alice', 'token'), join(node.dir, 'store.sqlite'), join(node.dir, 'master.key.sealed'),
      sealingKey, join(victimCode, 'func.py'), join(victimCode, 'pwned'), join(fnRun, 'pwned'),
    ],
  };
  const r = await invoke(attackerId, request);
  assert.equal(r.status, 200, r.body.toString());
  const out = r.json();

  // The controls: the function reads its own package and writes its own /tmp.
  assert.equal(out.own_read.ok, true, JSON.stringify(out.own_read));
  assert.equal(out.own_write.ok, true, JSON.stringify(out.own_write));
  if (process.getuid?.() === 0) assert.equal(out.uid, 65534, 'a node running as root runs functions as nobody');
  else assert.notEqual(out.uid, 0);

  const succeeded = (group: Record<string, { ok: boolean; error?: string }>) => Object.entries(group).filter(([, v]) => v.ok).map(([k]) => k);
  assert.deepEqual(succeeded(out.reads), [], 'reads that succeeded');
  assert.equal(Object.keys(out.reads).length, request.read.length + 4, 'every read was tried');
  assert.ok(out.reads[`/proc/${nodePid}/environ`], 'the node pid was tried directly');
  assert.deepEqual(succeeded(out.lists), [], 'directory listings that succeeded');
  assert.deepEqual(succeeded(out.unix), [], "connections to another function's socket that succeeded");
  assert.deepEqual(succeeded(out.writes), [], 'writes that succeeded');
  assert.equal(Object.keys(out.writes).length, request.write.length, 'every write was tried');

  // The node hands the function none of its open files (its own descriptors are all close-on-exec).
  for (const [fd, v] of Object.entries(out.fds as Record<string, { ok: boolean; detail?: string }>)) {
    if (v.ok && v.detail!.startsWith('/')) assert.ok(v.detail === '/dev/null' || v.detail!.startsWith('/proc/'), `the function holds descriptor ${fd} on ${v.detail}`);
  }
  // Scanning /proc (pid 1 first) finds environments, but only the sandbox's own: never the node's.
  const scanned = Object.entries(out.scanned as Record<string, { ok: boolean; detail?: string }>);
  assert.ok(scanned.some(([, v]) => v.ok && v.detail!.includes(`FN_FN_ID=${attackerId}`)), `the scan reads the function's own environment (${JSON.stringify(out.scanned)})`);
  for (const [path, v] of scanned) {
    if (!v.ok) continue;
    for (const secret of [MARKER, 'TESSERA_SEALING_KEY_FILE', sealingKey, node.dir]) assert.ok(!v.detail!.includes(secret), `${path} inside the sandbox shows the node's environment`);
  }
  assert.ok(out.scanned['/proc/1/environ'], '/proc/1/environ was tried');
  // ...and the processes it can see are its own (a PID namespace: bwrap as pid 1, then the function), not the node.
  const procs = Object.values(out.procs as Record<string, string>);
  assert.ok(procs.length > 0 && procs.length < 10, `the function sees ${procs.length} processes: ${procs.join(' | ')}`);
  for (const cmdline of procs) assert.ok(!/tessera\.js|serve --data|--no-node-snapshot/.test(cmdline) && !cmdline.includes(node.dir), `the function sees a process of the node: ${cmdline}`);

  // Nothing changed on the host. (The store is the node's own: it writes it as it runs; the function's write to it failed above.)
  const store = (f: string) => f.startsWith('store.sqlite');
  const after = { data: hashes(node.dir), victim: hashes(victimCode), sealing: hashes(join(sealingKey, '..')) };
  const strip = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([f]) => !store(f)));
  assert.deepEqual(strip(after.data), strip(before.data), 'the data directory is unchanged');
  assert.deepEqual(Object.keys(after.data).sort(), Object.keys(before.data).sort(), 'no file appeared in the data directory');
  assert.deepEqual(after.victim, before.victim, "the other function's package is unchanged");
  assert.deepEqual(after.sealing, before.sealing, 'the sealing key is unchanged');
  for (const p of [...litter, join(fnRun, 'pwned')]) assert.ok(!existsSync(p), `${p} was created on the host`);
  assert.equal((await invoke(victimId, { do: 'answer' })).json().answer, 'A', 'the victim still answers');
  t.diagnostic(`${Object.keys(out.reads).length} reads, ${Object.keys(out.writes).length} writes, ${scanned.length} environments scanned, all contained`);
}

describe('a function cannot read or change the node', () => {
  test("the data directory, the sealing key, the node's environment, another function's package: every read and write fails", async (t) => {
    const dataFiles = [...['store.sqlite', 'master.key.sealed', 'ca.key.sealed', 'node/key.sealed'].map((f) => join(node.dir, f)), join(identitiesDirOf(node.dir), 'alice', 'token')];
    const sealingKey = TEST_ENV.TESSERA_SEALING_KEY_FILE;
    for (const f of [...dataFiles, sealingKey]) assert.ok(existsSync(f), `${f} exists on the host (the read must have something to find)`);

    // The victim: a function with a secret in its package, running, its copy in the cache.
    const victimId = await deploy(toolDir('victim', '', { 'secret.txt': `victim's secret ${MARKER}\n` }), 'conf-victim');
    assert.equal((await invoke(victimId, { do: 'answer' })).status, 200);
    const victimCode = join(fnRun, 'code', await packageOf(victimId));
    assert.ok(readFileSync(join(victimCode, 'secret.txt'), 'utf8').includes(MARKER), `the victim's package is at ${victimCode} on the host`);
    const victimSockets = readdirSync(join(fnRun, 'run')).filter((d) => d.startsWith('fn-')).map((d) => join(fnRun, 'run', d, 'lsnr.sock')).filter((p) => existsSync(p));
    assert.ok(victimSockets.length > 0, 'the hot processes have sockets on the host');

    // The attacker is told the node's real pid; on the host it is the function's ancestor.
    const nodePid = node.proc.pid!;
    assert.ok(readFileSync(`/proc/${nodePid}/environ`).includes(MARKER), "the node's environment holds the marker (as root, the host reads it)");
    assert.ok(readFileSync(`/proc/${nodePid}/environ`).includes('TESSERA_SEALING_KEY_FILE='), "the node's environment names its sealing key file");
    const attackerId = await deploy(toolDir('attacker', `config:\n  NODE_PID: "${nodePid}"\n`), 'conf-attacker');
    assert.equal((await invoke(attackerId, { do: 'answer' })).status, 200);
    const [fnProcess] = processesWith(`FN_FN_ID=${attackerId}`).filter((p) => p.cmdline.startsWith('python3'));
    assert.ok(fnProcess, 'the attacking function runs on the host');
    const ancestors: number[] = [];
    for (let pid = fnProcess.pid; pid > 1; pid = ppidOf(pid)) ancestors.push(pid);
    assert.ok(ancestors.includes(nodePid), `node pid ${nodePid} is an ancestor of the function (${ancestors.join(' <- ')})`);

    // Where a write would land on the host itself if the sandbox did not hold: names of this run's own, removed
    // at the end whatever happens, so that a failing run leaves nothing in the host's / or /etc.
    const litter = ['/', '/usr', '/etc', '/tmp'].map((d) => join(d, `written-by-${MARKER}`));
    try {
      await probe(t, { victimId, victimCode, victimSockets, attackerId, nodePid, dataFiles, sealingKey, litter });
    } finally {
      for (const p of litter) rmSync(p, { force: true });
    }
    await assertServing('after the probe');
  });
});

describe('resource abuse is contained', () => {
  test('a fork bomb stops at the pids limit; the node and other functions keep answering; nothing is left', async (t) => {
    const id = await deploy(toolDir('forks'), 'conf-forks');
    // First the limit, seen from the host: without it, the bomb below would be the host's.
    assert.equal((await invoke(id, { do: 'answer' })).status, 200);
    const pid = functionPid(id);
    assert.ok(pid, 'the function runs on the host');
    const group = cgroupOf(pid, 'pids').dir;
    assert.match(group, new RegExp(`/tessera-fn-${node.proc.pid}/`));
    assert.equal(readIn(group, 'pids.max'), '50');
    const r = await invoke(id, { do: 'forks', n: 300 });
    // The function may answer or fail; this one answers (its handler thread needs no new pid), saying how far it got.
    assert.equal(r.status, 200, r.body.toString());
    const out = r.json();
    t.diagnostic(`forked ${out.forked} before: ${out.error}; bomb: ${JSON.stringify(out.bomb)}`);
    assert.ok(out.forked < 50, `forked ${out.forked} processes past fn.max_pids (50)`);
    assert.ok(out.forked >= 10, `forked only ${out.forked}: ${out.error}`);
    assert.match(String(out.error), /BlockingIOError|Resource temporarily unavailable/);
    assert.equal(out.bomb.ok, true, JSON.stringify(out.bomb));
    assert.equal(functionPid(id), pid, 'the same process answered');
    // The bomb fills the group, and no more.
    const samples: number[] = [];
    for (let i = 0; i < 50 && (i < 10 || Math.max(...samples) < 40); i++) {
      const seen = processesWith(`FN_FN_ID=${id}`).length;
      samples.push(Number(readIn(group, 'pids.current')));
      assert.ok(seen <= 50, `${seen} processes of the function on the host`);
      await sleep(100);
    }
    const refused = Number(/max (\d+)/.exec(readIn(group, 'pids.events'))?.[1] ?? 0);
    t.diagnostic(`pids.current while it bombs: ${samples.join(', ')}; forks refused at the limit: ${refused}`);
    assert.ok(Math.max(...samples) <= 50);
    assert.ok(Math.max(...samples) >= 40, 'the bomb reached the limit');
    assert.ok(refused > 0, 'no fork was refused at the limit');
    await assertServing('while a fork bomb runs');
    const still = Number(readIn(group, 'pids.current'));
    t.diagnostic(`pids.current after the first checks: ${still}`);
    assert.ok(still >= 20, `the bomb no longer runs (${still} pids)`);
    await assertServing('still while a fork bomb runs');
    // Its owner removes it: the node ends the process, and with it its PID namespace, bomb and all, and its group.
    const removed = await tessera(['fn', 'remove', id, '-i', `${identitiesDirOf(node.dir)}/alice`, '--url', url(''), '--insecure-skip-verification']);
    assert.equal(removed.code, 0, removed.stderr);
    await until('no process of the function left', 10_000, () => processesWith(`FN_FN_ID=${id}`).length === 0);
    await until('its pids group removed', 10_000, () => !existsSync(group));
    await assertServing('after the fork bomb');
  });

  test('a memory hog at memory: 64 dies: 502, and the next calls work', async (t) => {
    const id = await deploy(toolDir('hog', 'memory: 64\n'), 'conf-hog');
    assert.equal((await invoke(id, { do: 'memory', mb: 16 })).status, 200);
    const memory = cgroupOf(functionPid(id)!, 'memory');
    assert.equal(readIn(memory.dir, memory.v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(64 * 1024 * 1024), `the limit of ${memory.dir}`);
    const r = await invoke(id, { do: 'memory', mb: 512 });
    assert.equal(r.status, 502, `the function got its 512 MB: ${r.body.toString()}`);
    assert.equal(r.json().message, 'error receiving function response');
    await assertServing('after the memory hog');
    // Files in its private /tmp are memory too, charged to the same limit.
    const fill = await invoke(id, { do: 'fill', mb: 512 });
    assert.equal(fill.status, 502, `the function wrote 512 MB to its /tmp: ${fill.body.toString()}`);
    // The same function, asking for less than its limit, gets a fresh process that answers.
    const small = await invoke(id, { do: 'memory', mb: 16 });
    assert.equal(small.status, 200, small.body.toString());
    assert.equal(small.json().allocated_mb, 16);
    t.diagnostic('512 MB at memory 64: 502; 512 MB into /tmp: 502; 16 MB: 200');
  });

  test("a CPU spinner is held to fn.cpus (1); the node's REST API keeps answering", async (t) => {
    const id = await deploy(toolDir('spin'), 'conf-spin');
    const spinning = invoke(id, { do: 'spin', workers: 4, seconds: 3 });
    let done = false;
    spinning.then(() => (done = true), () => (done = true));
    const cpuGroup = cgroupOf(await until('the spinner runs', 5000, () => functionPid(id)), 'cpu');
    const quota = cpuGroup.v2 ? readIn(cpuGroup.dir, 'cpu.max') : `${readIn(cpuGroup.dir, 'cpu.cfs_quota_us')} ${readIn(cpuGroup.dir, 'cpu.cfs_period_us')}`;
    assert.equal(quota, '100000 100000', `the quota of ${cpuGroup.dir}: one core`);
    const timings: number[] = [];
    while (!done) {
      const start = performance.now();
      const [health, fns] = await Promise.all([https(url('/v1/health'), { ca: node.ca }), https(url('/v1/fns'), alice())]);
      assert.deepEqual([health.status, fns.status], [200, 200]);
      timings.push(performance.now() - start);
      await sleep(200);
    }
    const r = await spinning;
    assert.equal(r.status, 200, r.body.toString());
    const { wall, cpu } = r.json();
    t.diagnostic(`4 spinners for ${wall.toFixed(2)} s used ${cpu.toFixed(2)} s of CPU; REST during it: ${timings.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    assert.ok(timings.length >= 3, `only ${timings.length} REST rounds while it spun`);
    // Four busy processes on a quota of one core get at most about one core's time (on an idle machine of two
    // cores, two without it; a busy machine gives them less either way).
    assert.ok(cpu < wall * 1.4 + 0.3, `the spinners used ${cpu.toFixed(2)} s of CPU in ${wall.toFixed(2)} s with fn.cpus = 1`);
    await assertServing('after the CPU spinner');
  });

  test('a function that listens on TCP cannot be reached from the host; one that connects out gets nowhere', async (t) => {
    const id = await deploy(toolDir('net'), 'conf-net');
    const port = await freePort();
    const l = await invoke(id, { do: 'listen', port });
    assert.equal(l.status, 200, l.body.toString());
    assert.deepEqual(l.json(), { ok: true, detail: 'connected' }, 'the function listens on 127.0.0.1 and reaches itself there');
    const fromHost = await hostConnect(port);
    assert.notEqual(fromHost, 'connected', `the host reached the function's port ${port}`);
    t.diagnostic(`the host connecting to 127.0.0.1:${port}: ${fromHost}`);

    // A TCP server of the test's own, on every host address, counting whoever connects.
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    try {
      const serverPort = (server.address() as { port: number }).port;
      const external = Object.values(networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);
      const targets = [['127.0.0.1', node.ports.https], ['127.0.0.1', serverPort], ...external.map((a) => [a, serverPort]), ...external.map((a) => [a, node.ports.https])];
      const c = await invoke(id, { do: 'connect', targets });
      assert.equal(c.status, 200, c.body.toString());
      const out = c.json() as Record<string, { ok: boolean; error?: string }>;
      assert.equal(Object.keys(out).length, targets.length);
      for (const [target, v] of Object.entries(out)) assert.equal(v.ok, false, `the function connected to ${target}`);
      t.diagnostic(Object.entries(out).map(([k, v]) => `${k}: ${v.error}`).join('; '));
      assert.equal(connections, 0, "the test's server saw a connection from the function");
      // The control: the host itself does reach that server.
      assert.equal(await hostConnect(serverPort), 'connected');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await assertServing('after the network attempts');
  });
});

describe('other runtimes', () => {
  test('a Go function (standard library, built here) at memory 128 answers', async (t) => {
    const built = await goBuild;
    if ('skip' in built) return t.skip(built.skip);
    const id = await deploy(built.dir, 'conf-go');
    const r = await https(url(`/invoke/${id}`), alice(), { method: 'POST', body: Buffer.from('hello') });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.body.toString(), 'go says hello (memory 128)');
    await assertServing('after the Go function');
  });
});

describe('what runs is what was deployed', () => {
  test('changing the package on disk (its directory and the node’s cached copy) does not change what runs', async () => {
    const dir = toolDir('pinned', 'idle_timeout: 1\n');
    const id = await deploy(dir, 'conf-pinned');
    const first = await invoke(id, { do: 'answer' });
    assert.equal(first.status, 200, first.body.toString());
    assert.equal(first.json().answer, 'A');

    const cached = join(fnRun, 'code', await packageOf(id));
    const original = readFileSync(join(cached, 'func.py'), 'utf8');
    assert.ok(original.includes('ANSWER = "A"'));
    for (const file of [join(dir, 'func.py'), join(cached, 'func.py')]) {
      chmodSync(join(file, '..'), 0o755);
      chmodSync(file, 0o644);
      writeFileSync(file, readFileSync(file, 'utf8').replace('ANSWER = "A"', 'ANSWER = "B"'));
    }
    assert.ok(readFileSync(join(cached, 'func.py'), 'utf8').includes('ANSWER = "B"'));
    // idle_timeout 1: the process goes (about 2 s), and the next call starts a new one from the cache.
    await until('the idle process ended', 10_000, () => !functionPid(id));
    const second = await invoke(id, { do: 'answer' });
    assert.equal(second.status, 200, second.body.toString());
    assert.notEqual(second.json().instance, first.json().instance, 'a new process answered');
    assert.equal(second.json().answer, 'A', 'the changed copy ran');
    await until('the node logs the changed copy', 2000, () => /the cached copy of a package changed on disk/.test(node.logs()));
    assert.equal(readFileSync(join(cached, 'func.py'), 'utf8'), original, 'the cache holds the deployed code again');
    await assertServing('after the changed copy');

    // While the node is stopped: the check at start-up finds the changed copy and discards it.
    await node.stop('SIGTERM');
    chmodSync(cached, 0o755);
    chmodSync(join(cached, 'func.py'), 0o644);
    writeFileSync(join(cached, 'func.py'), original.replace('ANSWER = "A"', 'ANSWER = "C"'));
    await node.restart();
    assert.match(node.logs(), /the cached copy of a package changed on disk while the node was stopped/);
    const third = await invoke(id, { do: 'answer' });
    assert.equal(third.status, 200, third.body.toString());
    assert.equal(third.json().answer, 'A', 'after a restart, the copy changed while stopped did not run');
    assert.equal(readFileSync(join(cached, 'func.py'), 'utf8'), original);
  });
});

