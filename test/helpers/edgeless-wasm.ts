import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cli.js';
import { wat } from './wat.js';

/** Assembles a test guest from test/fixtures/edgeless (with the shared allocator and helpers). */
export function edgelessGuest(name: string): Buffer {
  const dir = join(REPO, 'test', 'fixtures', 'edgeless');
  const common = readFileSync(join(dir, 'common.wat'), 'utf8');
  return wat(readFileSync(join(dir, `${name}.wat`), 'utf8').replace(';;COMMON;;', common));
}
