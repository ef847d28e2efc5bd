// A real nats-server (Debian's package, /usr/sbin/nats-server 2.9.10) with JetStream for the shared blob
// store's tests: its own temp directory, a free port on 127.0.0.1 kept across restarts (so that clients
// reconnect to the same address), optionally mutual TLS; ended by its own pid only.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PemPair, createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { tempDir } from './cli.js';
import { freePort } from './redis-server.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export interface NatsTls {
  /** The CA that signed the server's certificate and that client certificates must chain to. */
  ca: PemPair;
  /** A client certificate issued by `ca`, for the tests' clients. */
  client: PemPair;
}

export interface NatsServer {
  url: string;
  port: number;
  /** The current server process's pid (changes on restart). */
  pid: number;
  /** Present when started with `tls: true`: the server demands a client certificate from this CA. */
  tls?: NatsTls;
  /** Ends the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
  /** Ends the server and starts it again on the same port with the same JetStream directory. */
  restart(): Promise<void>;
  /** Ends the server, keeping its directory, until `start()`. */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** What the server has logged since it (last) started, at most the last 64 KiB. */
  log(): string;
}

export async function startNats(opts: { tls?: boolean } = {}): Promise<NatsServer> {
  const dir = tempDir('tessera-nats-');
  const args = ['-a', '127.0.0.1', '-js', '-sd', join(dir, 'js')];
  let tls: NatsTls | undefined;
  if (opts.tls) {
    const ca = await createCertificateAuthority('nats test CA');
    const server = await issueCertificate(ca, { name: 'nats', role: 'service', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const client = await issueCertificate(ca, { name: 'node', role: 'service' });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'server.pem'), server.certPem);
    writeFileSync(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
    // --tlsverify: the server refuses a client that shows no certificate chaining to --tlscacert.
    args.push('--tlsverify', '--tlscert', join(dir, 'server.pem'), '--tlskey', join(dir, 'server.key'), '--tlscacert', join(dir, 'ca.pem'));
    tls = { ca, client };
  }

  let port = 0;
  let proc: ChildProcess | undefined;
  let serverLog = '';

  const spawnOnce = async (p: number): Promise<{ ok: boolean; log: string }> => {
    const child = spawn(NATS_SERVER, [...args, '-p', String(p)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const ok = await new Promise<boolean>((resolve) => {
      const onData = (d: Buffer) => {
        log = (log + d).slice(-65536);
        if (proc === child) serverLog = log;
        if (log.includes('Server is ready')) resolve(true);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', () => resolve(false));
      child.on('error', () => resolve(false));
    });
    if (ok) {
      proc = child;
      serverLog = log;
    }
    return { ok, log };
  };

  const start = async () => {
    for (let attempt = 0; ; attempt++) {
      const p = port || (await freePort());
      const { ok, log } = await spawnOnce(p);
      if (ok) {
        port = p;
        return;
      }
      // Another process took the port between the probe and the bind (or, on restart, the old socket lingers).
      if (attempt < 5 && /address already in use/i.test(log)) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new Error(`nats-server did not start: ${log}`);
    }
  };

  const halt = async () => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  const server: NatsServer = {
    get url() {
      return `${tls ? 'tls' : 'nats'}://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return proc?.pid ?? -1;
    },
    tls,
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await halt();
      await start();
    },
    halt,
    start,
    log: () => serverLog,
  };
  return server;
}
