import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { TesseraConfig } from './config-schema.js';

/**
 * Fields that would carry a secret if some code ever logged them: censored whatever logs them. Nothing
 * logs them today (requests are logged by method, URL, caller and status; credentials never leave the
 * identity folders), so this is a second line, not the first.
 */
const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'keyPem',
  '*.keyPem',
  'privateKey',
  '*.privateKey',
];

/** Whether logs to `destination` are pretty: `auto` means a terminal reads them, so a person does. */
export function isPretty(format: TesseraConfig['log']['format'], destination: NodeJS.WritableStream): boolean {
  if (format !== 'auto') return format === 'pretty';
  return (destination as NodeJS.WriteStream).isTTY === true;
}

/**
 * The node's logger: JSON lines (for collectors; what `auto` gives when stdout is not a terminal), or
 * pino-pretty's readable lines. pino-pretty runs in this thread (not a transport worker), so a line is
 * written before the process exits and the `tessera ready` line still follows the start-up logs in order.
 */
export function createLogger(log: TesseraConfig['log'], destination: NodeJS.WritableStream = process.stdout): Logger {
  const options = { level: log.level, base: { node: 'tessera' }, redact: { paths: REDACT, censor: '[redacted]' } };
  if (!isPretty(log.format, destination)) return pino(options, destination);
  const colorize = (destination as NodeJS.WriteStream).isTTY === true;
  return pino(options, pretty({ destination, colorize, sync: true, ignore: 'pid,hostname,node', translateTime: 'SYS:HH:MM:ss.l' }));
}
