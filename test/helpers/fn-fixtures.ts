import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from './cli.js';

/**
 * A function directory with a func.yaml and its source, and a copy of @fnproject/fdk in its own
 * node_modules (a package holds its dependencies; a link out of it would be refused).
 */
export function fnDir(name: string, funcYaml: string, files: Record<string, string>): string {
  const dir = join(tempDir('tessera-fn-'), name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'func.yaml'), funcYaml);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  const fdk = join(dir, 'node_modules', '@fnproject', 'fdk');
  mkdirSync(fdk, { recursive: true });
  for (const f of ['fn-fdk.js', 'package.json']) copyFileSync(join(REPO, 'node_modules', '@fnproject', 'fdk', f), join(fdk, f));
  return dir;
}

export const nodeYaml = (name: string, extra = '') => `schema_version: 20180708\nname: ${name}\nversion: 0.0.1\nruntime: node\nentrypoint: node func.js\n${extra}`;

/**
 * An http-stream function in Python with only the standard library: the handshake and server an FDK would
 * provide (a private socket beside FN_LISTENER, made reachable, then the lsnr.sock symlink to its bare
 * name), around `handler`, the methods of its BaseHTTPRequestHandler (indented four spaces), and
 * `preamble`, module-level code that may use `listener` and `os`, `json`, `sys`.
 */
export function pythonHttpStream(handler: string, preamble = '', extraImports = ''): string {
  return `import http.server, json, os, socketserver, sys${extraImports ? `, ${extraImports}` : ''}

listener = os.environ["FN_LISTENER"][len("unix:"):]
private = "%s.%d" % (listener, os.getpid())
${preamble}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
${handler}
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

for stale in (private, listener):
    if os.path.lexists(stale):
        os.unlink(stale)
server = Server(private, Handler)
os.chmod(private, 0o666)
os.symlink(os.path.basename(private), listener)
server.serve_forever()
`;
}

/** http-stream in Python: answers with the body, call id and deadline it got; IDLE_CLOSE_SECONDS closes idle connections. */
export const PYTHON_FN = pythonHttpStream(
  String.raw`    if idle:
        timeout = idle  # closes idle keep-alive connections: a hostile peer for the client's reuse logic
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        out = json.dumps({"python": body.decode(), "call_id": self.headers.get("Fn-Call-Id"), "deadline": self.headers.get("Fn-Deadline")}).encode()
        print("handled", self.headers.get("Fn-Call-Id"), file=sys.stderr, flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)`,
  'idle = float(os.environ.get("IDLE_CLOSE_SECONDS", "0"))',
);