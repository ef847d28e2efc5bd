import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { guestTemplates, runtimeImports } from './helpers/guest-code.js';
import { type Layering, type SourceFile, checkLayering, importsOf, parseLayering } from './helpers/layering.js';

// Every import in src/ against the layering table of docs/ARCHITECTURE.md (see its "Layering" section).

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(REPO, 'src');

function sources(dir: string): SourceFile[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    if (!entry.name.endsWith('.ts')) return [];
    return [{ path: relative(REPO, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }];
  });
}

const folders = () => readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
const layering = () => parseLayering(readFileSync(join(REPO, 'docs', 'ARCHITECTURE.md'), 'utf8'));

test('every import in src/ follows the layering table, and no folders import each other in a cycle', () => {
  const files = sources(SRC);
  assert.ok(files.length > 50, `found only ${files.length} files under ${SRC}`);
  const report = checkLayering(files, layering(), folders());
  const problems = [
    ...(report.unknown.length ? [`the layering table and src/ disagree:\n  ${report.unknown.join('\n  ')}`] : []),
    ...(report.violations.length
      ? [`${report.violations.length} import(s) go against the layering table in docs/ARCHITECTURE.md:\n  ${report.violations.join('\n  ')}`]
      : []),
    ...(report.cycles.length ? [`folders import each other in a cycle:\n  ${report.cycles.join('\n  ')}`] : []),
  ];
  assert.ok(problems.length === 0, problems.join('\n\n'));
});

// The checker itself, on made-up files, so that a check that can never fail is noticed.

const TABLE = `# Architecture

## Layering
| folder | may import | its tests may also import | why |
|---|---|---|---|
| \`cli\` | \`node\` | — | |
| \`node\` | every folder | — | |
| \`identity\` | — | \`store\` | |
| \`store\` | — | — | |
| \`errors\` | — | — | |
| \`sandbox\` | — | — | |
| \`sandbox/process\` | \`store\` | — | |

Everyone may import: \`errors\`.

## Next
| not | a | layering | row |
`;

const synthetic: Layering = parseLayering(TABLE);
const FOLDERS = ['cli', 'node', 'identity', 'store', 'errors', 'sandbox'];

test('the table parses, with "every folder", tests\' extras, sub-folder rows and the everyone line', () => {
  assert.deepEqual([...synthetic.allowed.keys()], ['cli', 'node', 'identity', 'store', 'errors', 'sandbox', 'sandbox/process']);
  assert.deepEqual([...synthetic.allowed.get('node')!].sort(), ['cli', 'errors', 'identity', 'sandbox', 'sandbox/process', 'store']);
  assert.deepEqual([...synthetic.allowed.get('identity')!], []);
  assert.deepEqual([...synthetic.testsAllowed.get('identity')!], ['store']);
  assert.deepEqual([...synthetic.everyone], ['errors']);
  assert.throws(() => parseLayering(TABLE.replace('| `store` | — |', '| `store` | crypto |')), /'crypto' is not a `folder`/);
  assert.throws(() => parseLayering(TABLE.replace('| `store` | — |', '| `store` | `crypto` |')), /names 'crypto', which has no row/);
  assert.throws(() => parseLayering('# nothing here\n'), /no '## Layering' section/);
});

test('imports are found in every form, each with its line', () => {
  const text = [
    "import { a } from '../a/x.js';",
    "import type { B } from '../b/x.js';",
    "export { c } from '../c/x.js';",
    "export type * from '../d/x.js';",
    "import '../e/x.js';",
    'const f = await import(',
    "  '../f/x.js');",
    "type G = import('../g/x.js').G;",
    "const s = \"import { no } from '../not/an-import.js'\";",
    'const h = await import(name);',
  ].join('\n');
  assert.deepEqual(importsOf('src/z/y.ts', text), [
    { line: 1, specifier: '../a/x.js' },
    { line: 2, specifier: '../b/x.js' },
    { line: 3, specifier: '../c/x.js' },
    { line: 4, specifier: '../d/x.js' },
    { line: 5, specifier: '../e/x.js' },
    { line: 6, specifier: '../f/x.js' },
    { line: 8, specifier: '../g/x.js' },
    { line: 10, specifier: '<computed>' },
  ]);
});

test('a bad import is reported with its file, line and folders; allowed ones are not', () => {
  const report = checkLayering(
    [
      { path: 'src/identity/provision.ts', text: "import { x } from '../errors/index.js';\nimport type { DataDirPaths } from '../node/datadir.js';" },
      { path: 'src/cli/shared.ts', text: "import { node } from '../node/node.js';\n\nimport { SqliteStore } from '../store/sqlite.js';" },
      { path: 'src/identity/provision.test.ts', text: "import { s } from '../store/sqlite.js';\nimport { h } from '../../test/helpers/wat.js';" },
      { path: 'src/store/sqlite.ts', text: "import { h } from '../../test/helpers/wat.js';\nimport 'node:fs';\nimport 'better-sqlite3';" },
      { path: 'src/sandbox/process/service.ts', text: "import type { Store } from '../../store/types.js';\nimport { limits } from '../limits.js';" },
      { path: 'src/node/node.ts', text: "import { p } from '../sandbox/process/pool.js';\nimport { m } from '../cli/main.js';" },
    ],
    synthetic,
    FOLDERS,
  );
  assert.deepEqual(report.violations, [
    'src/identity/provision.ts:2  identity → node',
    'src/cli/shared.ts:3  cli → store',
    'src/store/sqlite.ts:1  store → test/helpers/wat.js (outside src/)',
    'src/sandbox/process/service.ts:2  sandbox/process → sandbox',
  ]);
  assert.deepEqual(report.unknown, []);
  assert.equal(report.cycles.length, 1);
  assert.match(report.cycles[0], /^cli → node → cli {3}\[2 folders tied: cli, node\]/);
  assert.match(report.cycles[0], /cli → node \(src\/cli\/shared\.ts:1\)/);
  assert.match(report.cycles[0], /node → cli \(src\/node\/node\.ts:2\)/);
});

test('a cycle through several folders is reported once, along one path; test files close none', () => {
  const report = checkLayering(
    [
      { path: 'src/identity/a.ts', text: "import '../node/a.js';" },
      { path: 'src/node/a.ts', text: "import '../store/a.js';\nimport '../identity/a.js';" },
      { path: 'src/store/a.ts', text: "import '../identity/a.js';" },
      { path: 'src/cli/a.test.ts', text: "import '../node/a.js';" },
      { path: 'src/node/a.test.ts', text: "import '../cli/a.js';" },
    ],
    synthetic,
    FOLDERS,
  );
  assert.equal(report.cycles.length, 1);
  assert.match(report.cycles[0], /^identity → node → identity {3}\[3 folders tied: identity, node, store\]/);
});

test('a folder missing from the table, or a row with no folder, is reported', () => {
  const report = checkLayering([{ path: 'src/wire/x.ts', text: "import '../errors/index.js';\nimport '../node/a.js';" }], synthetic, [...FOLDERS, 'wire'].filter((f) => f !== 'sandbox'));
  assert.deepEqual(report.unknown, [
    'src/wire/ has no row in the layering table',
    'the layering table has a row for sandbox, which is not a folder under src/',
    'the layering table has a row for sandbox/process, which is not a folder under src/',
  ]);
  assert.deepEqual(report.violations, ['src/wire/x.ts:2  wire → node']);
});

// Code that runs inside isolates is written as `*.sandbox.ts` modules, type-checked by tsc and bundled at
// build time (docs/ARCHITECTURE.md, "Code that runs inside isolates"), never as template strings in host
// code: these two tests keep it that way.

/** More non-blank lines than this, and a template literal that looks like guest code is refused. */
const GUEST_TEMPLATE_LINES = 3;

/**
 * Template strings that look like guest code on purpose, each with why: `path` and the literal's first
 * characters (so that a second one in the same file is still caught).
 */
const GUEST_TEMPLATE_EXCEPTIONS: Array<{ path: string; start: string; why: string }> = [
  {
    path: 'src/sandbox/boundary.ts',
    start: '`(() => {\nconst LIMITS = ',
    why: "setupScript puts one context's data (limits, host function names) before the boundary's bundle and wraps the prelude's bundle in the scope that holds the host functions; its own code is two statements",
  },
];

test('no guest JavaScript in template strings in src/ (outside tests): it is written as *.sandbox.ts', () => {
  const found: string[] = [];
  const excepted = new Set<string>();
  for (const file of sources(SRC)) {
    // Tests beside the code write guest code as strings on purpose: it is the user code under test.
    if (file.path.endsWith('.test.ts')) continue;
    for (const t of guestTemplates(file.path, file.text, GUEST_TEMPLATE_LINES)) {
      const exception = GUEST_TEMPLATE_EXCEPTIONS.find((e) => e.path === file.path && t.start.startsWith(e.start));
      if (exception) excepted.add(`${exception.path} ${exception.start}`);
      else found.push(`${file.path}:${t.line}  ${t.lines} lines: ${JSON.stringify(t.start)}…`);
    }
  }
  assert.deepEqual(found, [], `template strings that look like guest code (write them as *.sandbox.ts, see docs/ARCHITECTURE.md, or add a reasoned exception here):\n  ${found.join('\n  ')}`);
  const stale = GUEST_TEMPLATE_EXCEPTIONS.filter((e) => !excepted.has(`${e.path} ${e.start}`));
  assert.deepEqual(stale, [], 'exceptions that no longer match anything: remove them');
});

test('guest modules import at run time only other guest modules (and the one self-contained helper both sides run)', () => {
  // capMemory runs on the host and inside the isolate alike; it is written to need nothing from either (cap-memory.ts).
  const shared = new Set(['src/sandbox/wasm/cap-memory.ts']);
  const found: string[] = [];
  for (const file of sources(SRC).filter((f) => f.path.endsWith('.sandbox.ts'))) {
    for (const { line, specifier } of runtimeImports(file.path, file.text)) {
      const target = specifier.startsWith('.') ? posix.join(posix.dirname(file.path), specifier).replace(/\.js$/, '.ts') : specifier;
      if (!target.endsWith('.sandbox.ts') && !shared.has(target)) found.push(`${file.path}:${line}  ${specifier}`);
    }
  }
  assert.deepEqual(found, [], `guest code imports host code or packages at run time (only \`import type\` may name them):\n  ${found.join('\n  ')}`);
});

test('the guest-code checks find what they look for', () => {
  const big = "const PRELUDE = String.raw`\nexport function apply(p) {\n  const x = 1;\n  return ccf.kv;\n}\n`;";
  assert.deepEqual(guestTemplates('x.ts', big, 3).map((t) => [t.line, t.lines]), [[1, 4]]);
  assert.deepEqual(guestTemplates('x.ts', `const s = \`a \${1}\nb\nc\nd\nglobalThis.x = 1;\`;`, 3).length, 1);
  assert.deepEqual(guestTemplates('x.ts', "const small = `export function a() {}\n`;", 3), []);
  assert.deepEqual(guestTemplates('x.ts', 'const sql = `\nCREATE TABLE a (\n  b TEXT,\n  c TEXT\n);\n`;', 3), []);
  const imports = "import type { A } from './a.js';\nimport { type B } from './b.js';\nimport { c } from './c.js';\nexport type { D } from './d.js';\nexport { e } from './e.js';\nimport './f.js';";
  assert.deepEqual(runtimeImports('x.ts', imports).map((i) => i.specifier), ['./c.js', './e.js', './f.js']);
});
