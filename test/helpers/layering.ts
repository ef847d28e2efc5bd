import { posix } from 'node:path';
import ts from 'typescript';

// The layering check behind test/architecture.test.ts. The rules come from the "Layering" table of
// docs/ARCHITECTURE.md, parsed here, so the document and the check cannot drift apart.

/** What the table allows. A unit is a folder under src/ (`cli`) or a sub-folder with a row of its own (`sandbox/process`). */
export interface Layering {
  /** Every unit, with the units its files may import. */
  allowed: Map<string, Set<string>>;
  /** Units that the unit's tests (`*.test.ts`) may import as well. */
  testsAllowed: Map<string, Set<string>>;
  /** Units that every unit may import. */
  everyone: Set<string>;
}

export interface SourceFile {
  /** Relative to the repository root, with forward slashes: `src/cli/main.ts`. */
  path: string;
  text: string;
}

export interface ImportRef {
  line: number;
  specifier: string;
}

export interface LayeringReport {
  /** `file:line  from → to`, one per import the table does not allow. */
  violations: string[];
  /** One line per cycle between units: `a → b → a`, with the import behind each step. */
  cycles: string[];
  /** Folders under src/ with no row in the table, and names in the table that are not folders. */
  unknown: string[];
}

const SECTION = '## Layering';
const EVERY = 'every folder';
const NONE = '—';

/** Parses the first table after the `## Layering` heading, and the "Everyone may import" line after it. */
export function parseLayering(markdown: string): Layering {
  const start = markdown.indexOf(`\n${SECTION}\n`);
  if (start < 0) throw new Error(`docs/ARCHITECTURE.md has no '${SECTION}' section`);
  const lines = markdown.slice(start + SECTION.length + 2).split('\n');
  const next = lines.findIndex((l) => l.startsWith('## '));
  const section = next < 0 ? lines : lines.slice(0, next);
  const rows = section.filter((l) => l.startsWith('|')).slice(2); // the header and its rule
  if (!rows.length) throw new Error(`the '${SECTION}' section has no table`);

  const names = (cell: string, where: string): string[] => {
    const text = cell.trim();
    if (text === NONE) return [];
    const parts = text.split(',').map((p) => p.trim());
    return parts.map((p) => {
      const m = /^`([a-z0-9/-]+)`$/.exec(p);
      if (!m) throw new Error(`layering table, ${where}: '${p}' is not a \`folder\` (write ${NONE} for none)`);
      return m[1];
    });
  };

  const allowed = new Map<string, Set<string>>();
  const testsAllowed = new Map<string, Set<string>>();
  const every: string[] = [];
  for (const row of rows) {
    const cells = row.split('|').slice(1, -1);
    if (cells.length !== 4) throw new Error(`layering table: a row has folder | may import | its tests may also import | why, not '${row}'`);
    const [unit] = names(cells[0], 'first column');
    if (!unit || allowed.has(unit)) throw new Error(`layering table: '${cells[0].trim()}' is empty or listed twice`);
    if (cells[1].trim() === EVERY) {
      every.push(unit);
      allowed.set(unit, new Set());
    } else allowed.set(unit, new Set(names(cells[1], unit)));
    testsAllowed.set(unit, new Set(names(cells[2], `${unit} tests`)));
  }
  for (const unit of every) allowed.set(unit, new Set([...allowed.keys()].filter((u) => u !== unit)));

  const everyoneLine = section.find((l) => l.startsWith('Everyone may import:'));
  if (!everyoneLine) throw new Error(`the '${SECTION}' section has no 'Everyone may import:' line`);
  const everyone = new Set(names(everyoneLine.slice('Everyone may import:'.length).replace(/\.$/, ''), 'everyone'));

  for (const [unit, set] of [...allowed, ...testsAllowed, ['everyone', everyone] as const]) {
    for (const name of set) if (!allowed.has(name)) throw new Error(`layering table: ${unit} names '${name}', which has no row`);
  }
  return { allowed, testsAllowed, everyone };
}

/** Every module a file names: static imports and re-exports (type-only included), dynamic `import()`, `import('…')` types and `require`. */
export function importsOf(path: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: ImportRef[] = [];
  const add = (node: ts.Node, specifier: ts.Node | undefined) => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    // A dynamic import of a computed name cannot be checked, so it is not allowed.
    found.push({ line, specifier: specifier && ts.isStringLiteralLike(specifier) ? specifier.text : '<computed>' });
  };
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) add(node, node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node, node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal);
    else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      add(node, node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The unit a path under src/ belongs to: its longest folder with a row (`src/sandbox/process/pool.ts` → `sandbox/process`). */
export function unitOf(path: string, units: Iterable<string>): string | null {
  if (!path.startsWith('src/')) return null;
  let best: string | null = null;
  for (const unit of units) {
    if (path.startsWith(`src/${unit}/`) && (!best || unit.length > best.length)) best = unit;
  }
  return best ?? path.slice('src/'.length).split('/')[0];
}

const isTest = (path: string) => path.endsWith('.test.ts');

/**
 * Checks files (under src/) against the table. Relative imports are resolved to a unit; package and
 * `node:` imports are not layering. Tests may also import what their row's third column names, and
 * helpers under test/. Cycles are looked for among the imports of non-test files: nothing imports a
 * test, so a test cannot close a cycle.
 */
export function checkLayering(files: SourceFile[], layering: Layering, folders: string[]): LayeringReport {
  const units = [...layering.allowed.keys()];
  const unknown = [
    ...folders.filter((f) => !layering.allowed.has(f)).map((f) => `src/${f}/ has no row in the layering table`),
    ...units.filter((u) => !folders.includes(u.split('/')[0])).map((u) => `the layering table has a row for ${u}, which is not a folder under src/`),
  ];
  const violations: string[] = [];
  const edges = new Map<string, Map<string, string>>(); // from → to → the first import behind it
  for (const file of files) {
    const from = unitOf(file.path, units)!;
    for (const ref of importsOf(file.path, file.text)) {
      const where = `${file.path}:${ref.line}`;
      if (ref.specifier === '<computed>') {
        violations.push(`${where}  ${from} → an import() of a computed name, which cannot be checked`);
        continue;
      }
      if (!ref.specifier.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file.path), ref.specifier));
      const to = unitOf(target, units);
      if (to === from) continue;
      if (to === null) {
        if (!(isTest(file.path) && target.startsWith('test/'))) violations.push(`${where}  ${from} → ${target} (outside src/)`);
        continue;
      }
      const ok =
        layering.everyone.has(to) ||
        layering.allowed.get(from)?.has(to) ||
        (isTest(file.path) && layering.testsAllowed.get(from)?.has(to));
      if (!ok) violations.push(`${where}  ${from} → ${to}`);
      if (!isTest(file.path)) {
        if (!edges.has(from)) edges.set(from, new Map());
        if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, where);
      }
    }
  }
  return { violations, cycles: findCycles(edges), unknown };
}

/** One cycle per strongly connected group of units (Tarjan), each step with the import behind it. */
export function findCycles(edges: Map<string, Map<string, string>>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let counter = 0;
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) groups.push(group);
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v);

  return groups.map((group) => {
    // A shortest way back to the group's first unit, by breadth-first search inside the group.
    const members = new Set(group);
    const first = [...group].sort()[0];
    const previous = new Map<string, string>();
    const queue = [first];
    let last: string | undefined;
    while (queue.length && !last) {
      const v = queue.shift()!;
      for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
        if (!members.has(w)) continue;
        if (w === first) {
          last = v;
          break;
        }
        if (!previous.has(w)) {
          previous.set(w, v);
          queue.push(w);
        }
      }
    }
    const path = [last!];
    while (path[0] !== first) path.unshift(previous.get(path[0])!);
    path.push(first);
    const steps = path.slice(1).map((to, i) => `${path[i]} → ${to} (${edges.get(path[i])!.get(to)})`);
    return `${path.join(' → ')}   [${group.length} folders tied: ${[...group].sort().join(', ')}]\n    ${steps.join('\n    ')}`;
  });
}
