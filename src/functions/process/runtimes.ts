import { TesseraError } from '../../errors/index.js';
import type { FuncFile } from './funcfile.js';

// What runs a function, from its func.yaml. Fn builds an image per runtime and starts its ENTRYPOINT with
// CMD; Tessera runs the same command with the host's interpreter inside the function's sandbox, with the
// package at /function as in Fn's images. Any runtime name `fn init` writes maps by its family: `go1.24`
// is go, `node22` is node, `python3.12` is python. A func.yaml `entrypoint` always wins; `cmd` is
// appended, as CMD is to ENTRYPOINT.

const FAMILIES = ['go', 'node', 'python', 'ruby', 'java', 'kotlin', 'dotnet', 'docker', 'binary'] as const;
export type RuntimeFamily = (typeof FAMILIES)[number];

/** The default entrypoint of Fn's runtime images, where the host has the interpreter. */
const DEFAULT_ENTRYPOINT: Partial<Record<RuntimeFamily, string>> = {
  go: './func',
  node: 'node func.js',
  python: 'python3 func.py',
  ruby: 'ruby func.rb',
};

export function runtimeFamily(runtime: string | undefined): RuntimeFamily {
  if (!runtime) return 'binary';
  const family = FAMILIES.find((f) => runtime === f || (runtime.startsWith(f) && /^[0-9.]/.test(runtime.slice(f.length))));
  if (!family) throw new TesseraError('invalid_input', `func.yaml runtime '${runtime}' is not one Tessera knows (${FAMILIES.join(', ')}, optionally with a version such as go1.24 or python3.12)`);
  return family;
}

/** The command that runs the function: its entrypoint (or the runtime's), then its cmd. */
export function commandOf(f: FuncFile): string[] {
  const family = runtimeFamily(f.runtime);
  const entry = f.entrypoint ?? DEFAULT_ENTRYPOINT[family];
  if (!entry) throw new TesseraError('invalid_input', `func.yaml for ${f.name}: runtime '${f.runtime ?? 'none'}' needs an entrypoint (the command that starts the function, e.g. 'java -cp /function/app.jar com.fnproject.fn.runtime.EntryPoint')`);
  return [...split(entry), ...split(f.cmd ?? '')];
}

const split = (s: string) => s.split(/\s+/).filter(Boolean);
