import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { TesseraError } from '../errors/index.js';
import { FN_INIT_FDK_VERSIONS, FN_INIT_RUNTIMES, fnInit } from './fn-init.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-fn-init-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (base = 'fn') => join(root, `${base}-${++n}`);
const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

/** Runs a syntax check when its tool is on this machine; undefined when it is not. */
function check(cmd: string, args: string[]): { status: number | null; out: string } | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const expected = {
  go: { image: 'go:1.24', entrypoint: './func', files: ['func.go', 'go.mod'] },
  node: { image: 'node:24', entrypoint: 'node func.js', files: ['package.json', 'func.js'] },
  python: { image: 'python:3.12', entrypoint: '/python/bin/fdk /function/func.py handler', files: ['func.py', 'requirements.txt'] },
  ruby: { image: 'ruby:3.3', entrypoint: 'ruby func.rb', files: ['func.rb', 'Gemfile'] },
} as const;

describe('fn init', () => {
  test('supports exactly go, node, python and ruby', () => {
    assert.deepEqual([...FN_INIT_RUNTIMES], ['go', 'node', 'python', 'ruby']);
  });

  for (const runtime of FN_INIT_RUNTIMES) {
    const want = expected[runtime as keyof typeof expected];
    test(`${runtime}: func.yaml as fn writes it, and the boilerplate files`, () => {
      const dir = join(freshDir(), 'Hello-Fn'); // missing, and its parent too: created
      const result = fnInit(dir, runtime);
      assert.equal(result.dir, dir);
      assert.deepEqual(result.files, [...want.files, 'func.yaml']);
      for (const f of result.files) assert.ok(existsSync(join(dir, f)), f);

      const text = read(dir, 'func.yaml');
      const ff = parse(text);
      const fields: Record<string, unknown> = {
        schema_version: 20180708,
        name: 'hello-fn', // the directory's name, lowercased as fn does
        version: '0.0.1',
        runtime,
        build_image: `fnproject/${want.image}-dev`,
        run_image: `fnproject/${want.image}`,
        entrypoint: want.entrypoint,
      };
      if (runtime === 'python') fields.memory = 256;
      assert.deepEqual(ff, fields);
      // yaml.v2's field order, one plain line each.
      assert.equal(text, Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
    });
  }

  test('go: func.go uses fdk-go and answers {"message":"Hello <name>"}; go.mod requires fdk-go', () => {
    const dir = freshDir();
    fnInit(dir, 'go', 'gofn');
    const src = read(dir, 'func.go');
    assert.match(src, /^package main\n/);
    assert.match(src, /fdk "github\.com\/fnproject\/fdk-go"/);
    assert.match(src, /fdk\.Handle\(fdk\.HandlerFunc\(myHandler\)\)/);
    assert.match(src, /Name string `json:"name"`/);
    assert.match(src, /Msg string `json:"message"`/);
    assert.match(src, /fmt\.Sprintf\("Hello %s", p\.Name\)/);
    assert.equal(read(dir, 'go.mod'), `\nmodule func\n\nrequire github.com/fnproject/fdk-go ${FN_INIT_FDK_VERSIONS.go}\n`);
    const gofmt = check('gofmt', ['-e', '-l', join(dir, 'func.go')]);
    if (gofmt) assert.deepEqual(gofmt, { status: 0, out: '' }, 'func.go parses and is gofmt-clean');
  });

  test('node: func.js requires @fnproject/fdk and calls fdk.handle; package.json depends on it', () => {
    const dir = freshDir();
    fnInit(dir, 'node', 'nodefn');
    const src = read(dir, 'func.js');
    assert.match(src, /^const fdk=require\('@fnproject\/fdk'\);\n/);
    assert.match(src, /fdk\.handle\(function\(input\)\{/);
    assert.match(src, /return \{'message': 'Hello ' \+ name\}/);
    assert.match(src, /console\.log\('\\nInside Node Hello World function'\)/);
    const pkg = JSON.parse(read(dir, 'package.json'));
    assert.deepEqual(pkg, {
      name: 'hellofn',
      version: '1.0.0',
      description: 'example function',
      main: 'func.js',
      author: '',
      license: 'Apache-2.0',
      dependencies: { '@fnproject/fdk': `>=${FN_INIT_FDK_VERSIONS.node}` },
    });
    const syntax = check(process.execPath, ['--check', join(dir, 'func.js')]);
    assert.equal(syntax?.status, 0, syntax?.out);
  });

  test('python: func.py uses fdk.response; requirements.txt asks for fdk', () => {
    const dir = freshDir();
    fnInit(dir, 'python', 'pyfn');
    const src = read(dir, 'func.py');
    assert.match(src, /^import io\nimport json\nimport logging\n\nfrom fdk import response\n/);
    assert.match(src, /def handler\(ctx, data: io\.BytesIO = None\):/);
    assert.match(src, /\{"message": "Hello \{0\}"\.format\(name\)\}/);
    assert.equal(read(dir, 'requirements.txt'), `fdk>=${FN_INIT_FDK_VERSIONS.python}`);
    const py = check('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', join(dir, 'func.py')]);
    if (py) assert.equal(py.status, 0, py.out);
  });

  test('ruby: func.rb uses FDK.handle; the Gemfile asks for fdk', () => {
    const dir = freshDir();
    fnInit(dir, 'ruby', 'rubyfn');
    const src = read(dir, 'func.rb');
    assert.match(src, /^require 'fdk'\n/);
    assert.match(src, /def myfunction\(context:, input:\)/);
    assert.match(src, /\{ message: "Hello #\{name\}!" \}/);
    assert.match(src, /FDK\.handle\(target: :myfunction\)\n$/);
    assert.equal(read(dir, 'Gemfile'), `source 'https://www.rubygems.org' do\n  gem 'fdk', '>= ${FN_INIT_FDK_VERSIONS.ruby}'\nend\n`);
    const rb = check('ruby', ['-c', join(dir, 'func.rb')]);
    if (rb) assert.equal(rb.status, 0, rb.out);
  });

  test('a given name is used, lowercased; a name that needs it is quoted', () => {
    const dir = freshDir();
    fnInit(dir, 'go', 'My.Func_1');
    assert.equal(parse(read(dir, 'func.yaml')).name, 'my.func_1');
    const dir2 = freshDir();
    fnInit(dir2, 'go', '1e3');
    assert.match(read(dir2, 'func.yaml'), /^name: "1e3"$/m);
    assert.equal(parse(read(dir2, 'func.yaml')).name, '1e3');
    const dir3 = freshDir();
    fnInit(dir3, 'go', 'yes');
    assert.equal(parse(read(dir3, 'func.yaml'), { version: '1.1' }).name, 'yes');
  });

  test('refuses a second init into the same directory, and leaves the first alone', () => {
    const dir = freshDir();
    fnInit(dir, 'node');
    const before = read(dir, 'func.yaml');
    for (const runtime of FN_INIT_RUNTIMES) {
      assert.throws(
        () => fnInit(dir, runtime),
        (err: unknown) => err instanceof TesseraError && err.code === 'conflict' && /function file already exists/.test(err.message) && err.message.includes(join(dir, 'func.yaml')),
      );
    }
    assert.equal(read(dir, 'func.yaml'), before);
    const yml = freshDir();
    mkdirSync(yml);
    writeFileSync(join(yml, 'func.yml'), 'name: x\n');
    assert.throws(() => fnInit(yml, 'go'), { name: 'TesseraError', code: 'conflict' });
  });

  test('refuses an unknown runtime, naming it and the supported ones, and writes nothing', () => {
    for (const runtime of ['java', 'go1.24', 'GO', '', 'constructor']) {
      const dir = freshDir();
      assert.throws(() => fnInit(dir, runtime), (err: unknown) => {
        assert.ok(err instanceof TesseraError);
        assert.equal(err.code, 'invalid_input');
        assert.equal(err.message, `fn init does not support the '${runtime}' runtime; supported: go, node, python, ruby`);
        return true;
      });
      assert.equal(existsSync(dir), false);
    }
  });

  test('refuses an invalid name', () => {
    for (const name of ['', 'a b', 'a:b', 'x'.repeat(256), 'é']) {
      assert.throws(() => fnInit(freshDir(), 'go', name), { name: 'TesseraError', code: 'invalid_input' });
    }
    fnInit(freshDir(), 'go', 'x'.repeat(255));
  });

  test('go, python and ruby refuse over an existing function file; node keeps its own and writes only func.yaml', () => {
    for (const [runtime, file] of [['go', 'func.go'], ['go', 'go.mod'], ['python', 'func.py'], ['python', 'requirements.txt'], ['ruby', 'Gemfile']]) {
      const dir = freshDir();
      mkdirSync(dir);
      writeFileSync(join(dir, file), 'mine');
      assert.throws(() => fnInit(dir, runtime), (err: unknown) => err instanceof TesseraError && err.code === 'conflict' && err.message.startsWith(`${file} already exists in `));
      assert.equal(read(dir, file), 'mine');
      assert.equal(existsSync(join(dir, 'func.yaml')), false);
    }
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'func.js'), 'mine');
    assert.deepEqual(fnInit(dir, 'node').files, ['func.yaml']);
    assert.equal(read(dir, 'func.js'), 'mine');
    assert.equal(existsSync(join(dir, 'package.json')), false);
  });

  test('refuses a path that is a file', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    assert.throws(() => fnInit(file, 'go', 'x'), { name: 'TesseraError', code: 'invalid_input' });
  });

  test('node: the func.js written runs on the real @fnproject/fdk over http-stream', async () => {
    const dir = freshDir();
    fnInit(dir, 'node', 'hello');
    const fdkMain = createRequire(import.meta.url).resolve('@fnproject/fdk');
    const nodeModules = dirname(dirname(dirname(fdkMain))); // .../node_modules/@fnproject/fdk/fn-fdk.js
    const socket = join(dir, 'fn.sock');
    const child = spawn(process.execPath, ['func.js'], {
      cwd: dir,
      env: { ...process.env, FN_FORMAT: 'http-stream', FN_LISTENER: `unix:${socket}`, NODE_PATH: nodeModules },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise((res) => child.once('exit', res));
    try {
      // The FDK listens on fn.sock.tmp and then symlinks fn.sock to it: the symlink says it is ready.
      for (let i = 0; !existsSync(socket); i++) {
        assert.ok(i < 200 && child.exitCode === null, `func.js did not start listening: ${output}`);
        await sleep(50);
      }
      const call = (body: string) =>
        new Promise<{ status: number; body: string }>((res, rej) => {
          const req = request({ socketPath: socket, method: 'POST', path: '/call', headers: { 'Content-Type': 'application/json', 'Fn-Call-Id': 'c1' } }, (resp) => {
            let data = '';
            resp.setEncoding('utf8');
            resp.on('data', (d) => (data += d));
            resp.on('end', () => res({ status: resp.statusCode ?? 0, body: data }));
          });
          req.on('error', rej);
          req.end(body);
        });
      const named = await call(JSON.stringify({ name: 'Tessera' }));
      assert.equal(named.status, 200, named.body);
      assert.deepEqual(JSON.parse(named.body), { message: 'Hello Tessera' });
      const anonymous = await call('{}');
      assert.deepEqual(JSON.parse(anonymous.body), { message: 'Hello World' });
      assert.match(output, /Inside Node Hello World function/);
    } finally {
      child.kill();
      await exited;
    }
  });
});
