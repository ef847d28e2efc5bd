import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, isPretty } from './logger.js';

/** A stream that keeps what is written; `tty` makes it look like a terminal, as process.stdout on one does. */
function sink(tty: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as Writable & { isTTY?: boolean };
  if (tty) stream.isTTY = true;
  return { stream, text: () => chunks.join('') };
}

test('auto: pretty on a terminal, JSON otherwise; json and pretty whatever the output', () => {
  assert.equal(isPretty('auto', sink(true).stream), true);
  assert.equal(isPretty('auto', sink(false).stream), false);
  assert.equal(isPretty('json', sink(true).stream), false);
  assert.equal(isPretty('pretty', sink(false).stream), true);
});

test('on a terminal, auto writes coloured readable lines; off one, JSON lines', () => {
  const tty = sink(true);
  createLogger({ level: 'info', format: 'auto' }, tty.stream).info({ listener: 'https' }, 'hello');
  assert.match(tty.text(), /\x1b\[\d+mINFO\x1b\[\d+m.*hello/);
  const pipe = sink(false);
  createLogger({ level: 'info', format: 'auto' }, pipe.stream).info('hello');
  assert.equal(JSON.parse(pipe.text()).msg, 'hello');
});

test('credentials are censored in either format', () => {
  for (const format of ['json', 'pretty'] as const) {
    const out = sink(false);
    createLogger({ level: 'info', format }, out.stream).info({ token: 'sekrit', headers: { authorization: 'Bearer sekrit' }, user: { password: 'sekrit' } }, 'creds');
    assert.doesNotMatch(out.text(), /sekrit/, format);
    assert.match(out.text(), /\[redacted\]/, format);
  }
});
