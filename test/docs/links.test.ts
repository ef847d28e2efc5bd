import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/cli.js';
import { mdAnchors, mdLinks } from '../helpers/md-links.js';

// Every link of every markdown file in the repository stays in it and leads somewhere: no URL (the docs
// cite other projects by name and path, as text, since a reader of a checkout may have no network and an
// address can move), no path out of the checkout (a link to ../shared/… works on one machine only), no
// missing file, and no #anchor that the target's headings do not make.

const files = execFileSync('git', ['ls-files', '*.md'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);

function problemsOf(file: string): string[] {
  const problems: string[] = [];
  const text = readFileSync(join(REPO, file), 'utf8');
  for (const { target, line } of mdLinks(text)) {
    const where = `${file}:${line}: ${target}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) {
      problems.push(`${where} leaves the repository (a URL): cite it as text, or link a file in the checkout`);
      continue;
    }
    const [path, anchor] = target.split('#', 2) as [string, string | undefined];
    if (path.startsWith('/')) {
      problems.push(`${where} is an absolute path: link relative to ${file}`);
      continue;
    }
    const abs = path ? resolve(REPO, dirname(file), decodeURIComponent(path)) : join(REPO, file);
    const inRepo = relative(REPO, abs);
    if (inRepo === '..' || inRepo.startsWith(`..${sep}`)) {
      problems.push(`${where} leads out of the repository`);
      continue;
    }
    if (!existsSync(abs)) {
      problems.push(`${where}: ${inRepo} does not exist`);
      continue;
    }
    if (anchor !== undefined) {
      if (!abs.endsWith('.md') || statSync(abs).isDirectory()) problems.push(`${where}: an anchor into ${inRepo}, which is not a markdown file`);
      else if (!mdAnchors(readFileSync(abs, 'utf8')).has(anchor)) problems.push(`${where}: ${inRepo} has no heading for #${anchor}`);
    }
  }
  return problems;
}

test('every markdown link stays in the repository and leads to a file (and heading) that exists', () => {
  assert.ok(files.includes('README.md') && files.length > 10, `git ls-files found the markdown files: ${files.length}`);
  const problems = files.flatMap(problemsOf);
  assert.deepEqual(problems, [], `${problems.length} broken link${problems.length === 1 ? '' : 's'}:\n${problems.join('\n')}`);
});

test('the link checker sees the links it must: inline, reference and HTML, not those in code', () => {
  const md = '# Top\n[a](x.md) ![i](img.svg "t") <a href="y.md">y</a>\n[ref]: ../z.md\n`[no](code.md)`\n```\n[no](fenced.md)\n```\n## Top\n### A `b` (c)!\n';
  assert.deepEqual(mdLinks(md).map((l) => l.target), ['x.md', 'img.svg', 'y.md', '../z.md']);
  assert.deepEqual([...mdAnchors(md)].sort(), ['a-b-c', 'top', 'top-1']);
});
