// `fn init --runtime <rt>` for go, node, python and ruby: boilerplate as fnproject/cli langs/*.go writes it
// (langs/go.go, node.go, python.go, ruby.go and the helper registration in langs/base.go), and func.yaml as
// commands/init.go fills it and common/funcfile.go encodes it (gopkg.in/yaml.v2, FuncFileV20180708 field
// order, empty fields left out). Read from fnproject/cli at 2b6493a; the file contents are reproduced here,
// the CLI's Go code is not.
//
// What fn does and this module does too:
// - `--runtime go` selects the first helper registered for "go" (go 1.24, node 24, python 3.12, ruby 3.3) and
//   writes the runtime as given ("go", not "go1.24"); the helper's version only shows in the images.
// - The name defaults to the directory's base name and is lowercased, as fn lowercases it.
// - An existing func.yaml, func.yml or func.json refuses the init ("Function file already exists").
// - node keeps an existing func.js or package.json and writes only func.yaml (fn's ErrBoilerplateExists);
//   go, python and ruby refuse when their function file exists.
// - python gets memory: 256 (PythonLangHelper.CustomMemory); the others set no memory.
// Where it differs:
// - fn asks GitHub, npm, PyPI and RubyGems for the latest FDK version at init time; these are pinned below.
// - fn overwrites an existing go.mod or requirements.txt; this refuses instead and never overwrites a file.
// - fn switches to runtime docker when the directory holds a Dockerfile; this ignores Dockerfiles.
// - yaml.v2 quotes a name only when it would read back as another type; this also quotes some that would not
//   (every name starting with a digit, '.' or '-'), which reads back the same.

import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';

export const FN_INIT_RUNTIMES: readonly string[] = Object.freeze(['go', 'node', 'python', 'ruby']);

export interface InitResult {
  /** The function directory, absolute. */
  dir: string;
  /** The files written, relative to dir, in the order written (func.yaml last, as fn writes it). */
  files: string[];
}

/** FDK versions written as the minimum (or, for go.mod, exact) requirement. fn looks these up at init time. */
export const FN_INIT_FDK_VERSIONS = Object.freeze({
  go: 'v0.0.66', // newest tag of fnproject/fdk-go
  node: '0.0.76', // newest @fnproject/fdk on npm
  python: '0.1.128', // newest fdk on PyPI
  ruby: '0.0.96', // newest fdk gem (fnproject/fdk-ruby lib/fdk/version.rb)
});

const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,255}$/;
const FUNC_FILE_NAMES = ['func.yaml', 'func.yml', 'func.json'];

interface RuntimeSpec {
  /** The version of the helper fn picks for the bare runtime name (langs/base.go's registration order). */
  version: string;
  entrypoint: string;
  memory?: number;
  files: Array<[file: string, content: string]>;
  /** node: existing boilerplate is kept and only func.yaml is written; the others refuse. */
  keepExistingBoilerplate?: boolean;
}

const GO_FUNC = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"

	fdk "github.com/fnproject/fdk-go"
)

func main() {
	fdk.Handle(fdk.HandlerFunc(myHandler))
}

type Person struct {
	Name string \`json:"name"\`
}

func myHandler(ctx context.Context, in io.Reader, out io.Writer) {
	p := &Person{Name: "World"}
	json.NewDecoder(in).Decode(p)
	msg := struct {
		Msg string \`json:"message"\`
	}{
		Msg: fmt.Sprintf("Hello %s", p.Name),
	}
	log.Print("Inside Go Hello World function")
	json.NewEncoder(out).Encode(&msg)
}
`;

// fn's go.mod starts with an empty line and has no go directive.
const GO_MOD = `
module func

require github.com/fnproject/fdk-go ${FN_INIT_FDK_VERSIONS.go}
`;

const NODE_FUNC = `const fdk=require('@fnproject/fdk');

fdk.handle(function(input){
  let name = 'World';
  if (input.name) {
    name = input.name;
  }
  console.log('\\nInside Node Hello World function')
  return {'message': 'Hello ' + name}
})
`;

// Indentation as fn writes it: tabs, except four spaces before "version".
const NODE_PACKAGE = `{
	"name": "hellofn",
    "version": "1.0.0",
	"description": "example function",
	"main": "func.js",
	"author": "",
	"license": "Apache-2.0",
	"dependencies": {
		"@fnproject/fdk": ">=${FN_INIT_FDK_VERSIONS.node}"
	}
}
`;

const PYTHON_FUNC = `import io
import json
import logging

from fdk import response


def handler(ctx, data: io.BytesIO = None):
    name = "World"
    try:
        body = json.loads(data.getvalue())
        name = body.get("name")
    except (Exception, ValueError) as ex:
        logging.getLogger().info('error parsing json payload: ' + str(ex))

    logging.getLogger().info("Inside Python Hello World function")
    return response.Response(
        ctx, response_data=json.dumps(
            {"message": "Hello {0}".format(name)}),
        headers={"Content-Type": "application/json"}
    )
`;

// fn writes requirements.txt without a final newline.
const PYTHON_REQUIREMENTS = `fdk>=${FN_INIT_FDK_VERSIONS.python}`;

const RUBY_FUNC = `require 'fdk'

def myfunction(context:, input:)
  input_value = input.respond_to?(:fetch) ? input.fetch('name') : input
  name = input_value.to_s.strip.empty? ? 'World' : input_value
  FDK.log(entry: "Inside Ruby Hello World function")
  { message: "Hello #{name}!" }
end

FDK.handle(target: :myfunction)
`;

const RUBY_GEMFILE = `source 'https://www.rubygems.org' do
  gem 'fdk', '>= ${FN_INIT_FDK_VERSIONS.ruby}'
end
`;

const RUNTIMES: Record<string, RuntimeSpec> = {
  go: { version: '1.24', entrypoint: './func', files: [['func.go', GO_FUNC], ['go.mod', GO_MOD]] },
  node: {
    version: '24',
    entrypoint: 'node func.js',
    files: [['package.json', NODE_PACKAGE], ['func.js', NODE_FUNC]],
    keepExistingBoilerplate: true,
  },
  python: {
    version: '3.12',
    entrypoint: '/python/bin/fdk /function/func.py handler',
    memory: 256,
    files: [['func.py', PYTHON_FUNC], ['requirements.txt', PYTHON_REQUIREMENTS]],
  },
  ruby: { version: '3.3', entrypoint: 'ruby func.rb', files: [['func.rb', RUBY_FUNC], ['Gemfile', RUBY_GEMFILE]] },
};

/** A plain YAML scalar where no YAML 1.1 or 1.2 reader could take it for anything but a string; else double-quoted. */
function yamlString(s: string): string {
  const plainSafe = /^[a-z0-9_][a-z0-9_.-]*$/i.test(s) && !/^[0-9]/.test(s) && !/^(y|n|yes|no|on|off|true|false|null)$/i.test(s);
  return plainSafe ? s : JSON.stringify(s);
}

/** func.yaml as fn init writes it: FuncFileV20180708's fields in declaration order, empty ones left out. */
function funcYaml(name: string, runtime: string, spec: RuntimeSpec): string {
  const lines = [
    'schema_version: 20180708',
    `name: ${yamlString(name)}`,
    'version: 0.0.1',
    `runtime: ${runtime}`,
    `build_image: fnproject/${runtime}:${spec.version}-dev`,
    `run_image: fnproject/${runtime}:${spec.version}`,
    `entrypoint: ${spec.entrypoint}`,
  ];
  if (spec.memory) lines.push(`memory: ${spec.memory}`);
  return lines.join('\n') + '\n';
}

/** Writes the boilerplate into dir (created if missing); refuses if dir already has a func.yaml or the runtime is unknown. name defaults to basename(dir). */
export function fnInit(dir: string, runtime: string, name?: string): InitResult {
  if (!Object.hasOwn(RUNTIMES, runtime)) {
    throw new TesseraError('invalid_input', `fn init does not support the '${runtime}' runtime; supported: ${FN_INIT_RUNTIMES.join(', ')}`);
  }
  const spec = RUNTIMES[runtime];
  const absDir = resolve(dir);
  // fn lowercases the name, given or taken from the directory, before it checks it.
  const fnName = (name ?? basename(absDir)).toLowerCase();
  if (!NAME_PATTERN.test(fnName)) {
    throw new TesseraError('invalid_input', `invalid function name '${fnName}': use 1 to 255 of the characters a-z, 0-9, '_', '.' and '-'`);
  }

  if (existsSync(absDir)) {
    if (!statSync(absDir).isDirectory()) throw new TesseraError('invalid_input', `${absDir} exists and is not a directory`);
    for (const f of FUNC_FILE_NAMES) {
      if (existsSync(join(absDir, f))) throw new TesseraError('conflict', `function file already exists, aborting: ${join(absDir, f)}`);
    }
  }

  let boilerplate = spec.files;
  const existing = boilerplate.map(([f]) => f).filter((f) => existsSync(join(absDir, f)));
  if (existing.length > 0) {
    if (spec.keepExistingBoilerplate) boilerplate = [];
    else throw new TesseraError('conflict', `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''} in ${absDir}, canceling init`);
  }

  mkdirSync(absDir, { recursive: true, mode: 0o755 });
  const files: string[] = [];
  // 'wx': never overwrite, also should a file appear after the checks above.
  const write = (file: string, content: string) => {
    try {
      writeFileSync(join(absDir, file), content, { mode: 0o644, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new TesseraError('conflict', `${file} appeared in ${absDir} during init, canceling init`, { cause: err });
      }
      throw err;
    }
    files.push(file);
  };
  for (const [file, content] of boilerplate) write(file, content);
  write('func.yaml', funcYaml(fnName, runtime, spec));
  return { dir: absDir, files };
}
