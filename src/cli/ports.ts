import { type Command, InvalidArgumentError } from 'commander';
import { TesseraError } from '../errors/index.js';
import { type TesseraConfig, WIRE_LISTENERS, type WireListenerName } from '../node/config-schema.js';
import { EXIT, withExitCode } from './failure.js';

// `tessera serve`'s ports: --port-base N puts the listeners at N, N+1, … in LISTENERS' order; one flag per
// listener overrides one port (and beats --port-base); a port that cannot be bound is said in one line
// naming the listener and the tessera.toml setting.

export type ListenerName = 'https' | WireListenerName;

interface ListenerInfo {
  name: ListenerName;
  /** The flag's option name, without dashes. */
  flag: string;
  title: string;
  setting: string;
}

/** Every listener, in --port-base order: HTTPS first, then the wire listeners as the schema lists them. */
export const LISTENERS: ListenerInfo[] = [
  { name: 'https', flag: 'https-port', title: 'HTTPS (REST, CCF, Fn, workflows)', setting: 'http.port' },
  ...(Object.entries(WIRE_LISTENERS) as [WireListenerName, (typeof WIRE_LISTENERS)[WireListenerName]][]).map(([name, l]) => ({
    name,
    flag: `${name.replace(/_/g, '-')}-port`,
    title: l.title,
    setting: `wire.${name}.port`,
  })),
];

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export interface PortFlags {
  portBase?: number;
  httpPort?: number;
}

export const PORTS_HELP = `Ports: --port-base N puts the listeners at N, N+1, … in this order (a per-listener flag beats it;
0 for either picks free ports); the defaults are tessera.toml's:
${LISTENERS.map((l, i) => `  +${i}  --${l.flag.padEnd(20)} ${l.setting.padEnd(26)} ${l.title}`).join('\n')}`;

export function portOptions(cmd: Command, parsePort: (v: string) => number): Command {
  cmd.option('--port-base <port>', `put the ${LISTENERS.length} listeners at consecutive ports from this one (order below)`, (v) => {
    const n = parsePort(v);
    if (n !== 0 && n + LISTENERS.length - 1 > 65535) throw new InvalidArgumentError(`the last listener would be at ${n + LISTENERS.length - 1}, past 65535`);
    return n;
  });
  for (const l of LISTENERS) cmd.option(`--${l.flag} <port>`, `${l.title} port (${l.setting}; 0 picks a free one)`, parsePort);
  return cmd.option('--http-port <port>', 'the older name of --https-port', parsePort);
}

/** The ports the flags choose, by listener; a listener the flags leave alone keeps tessera.toml's. */
export function portsFromFlags(flags: PortFlags): Partial<Record<ListenerName, number>> {
  const ports: Partial<Record<ListenerName, number>> = {};
  LISTENERS.forEach((l, i) => {
    if (flags.portBase !== undefined) ports[l.name] = flags.portBase === 0 ? 0 : flags.portBase + i;
    const own = ownPort(flags, l);
    if (own !== undefined) ports[l.name] = own;
  });
  return ports;
}

const ownPort = (flags: PortFlags, l: ListenerInfo) => ((flags as Record<string, unknown>)[camel(l.flag)] as number | undefined) ?? (l.name === 'https' ? flags.httpPort : undefined);

/** What chose a listener's port: its flag, --port-base, or its tessera.toml setting. */
const sourceOf = (flags: PortFlags, l: ListenerInfo) => (ownPort(flags, l) !== undefined ? `--${l.flag}` : flags.portBase !== undefined ? `--port-base ${flags.portBase} +${LISTENERS.indexOf(l)}` : l.setting);

const WHY: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
};

/**
 * A listener that could not bind, as one line: which listener, which port, which setting, and what to do.
 * Undefined when `err` is not a bind failure (it is then not ours to explain).
 */
export function listenFailure(err: unknown, config: TesseraConfig, flags: PortFlags): TesseraError | undefined {
  const overrides = portsFromFlags(flags);
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (!e || !WHY[e.code ?? ''] || (e.syscall !== 'listen' && e.syscall !== 'bind')) return undefined;
  const portOf = (name: ListenerName) => overrides[name] ?? (name === 'https' ? config.http.port : config.wire[name].port);
  const enabled = (name: ListenerName) => (name === 'https' ? config.http.enabled : config.wire[name].enabled);
  const hostOf = (name: ListenerName) => (name === 'https' ? config.http.host : config.wire[name].host);
  const candidates = LISTENERS.filter((l) => enabled(l.name) && portOf(l.name) === e.port);
  const l = candidates[0];
  if (!l) return undefined;
  const also = candidates.slice(1).map((c) => `${c.setting} is ${e.port} too`);
  const where = e.code === 'EADDRNOTAVAIL' ? `${hostOf(l.name)}:${e.port}` : `port ${e.port}`;
  const what = `the ${l.title} listener cannot use ${where} (${sourceOf(flags, l)}): ${WHY[e.code!]}${also.length ? ` (${also.join(', ')})` : ''}`;
  const hint = e.code === 'EADDRINUSE' ? `; pass --${l.flag} or --port-base, or stop what holds it` : e.code === 'EACCES' ? `; pass --${l.flag} or --port-base with a port from 1024 up` : `; fix ${l.setting.replace(/port$/, 'host')} in tessera.toml`;
  return withExitCode(new TesseraError('unavailable', `${what}${hint}`, { cause: err }), EXIT.cannot_listen);
}
