import { TesseraError } from '../errors/index.js';

export type FunctionType = 'Single' | 'Multiparty';

export interface TaskFileRef {
  user_id: string;
  file_id: string;
}

/**
 * What a function sees of the task it runs for: MesaTEE's worker context and WorkerHelper. A built-in
 * gets it in a worker thread, where each method is a request to the node; there the data given to a
 * save is handed over (transferred, not copied) and must not be used after the call.
 */
export interface FunctionContext {
  taskId: string;
  creator: string;
  payload: string | null;
  /** The creator's files, then each collaborator's, in approval order. */
  inputFiles: TaskFileRef[];
  collaborators: string[];
  signal: AbortSignal;
  /** A file's plaintext: any input file, or a file the creator may read. */
  readFile(fileId: string): Promise<Buffer>;
  /** Saves a private result for the creator; returns its file id. */
  saveForCreator(data: Buffer): Promise<string>;
  /** Saves a private result for the owner of one input file. */
  saveForFileOwner(data: Buffer, inputFileId: string): Promise<string>;
  /** Saves the shared result, readable by every participant; the last call wins. */
  saveForAllParticipants(data: Buffer): Promise<string>;
}

export interface ArgumentSpec {
  name: string;
  description: string;
  required: boolean;
}

export interface FileSpec {
  name: string;
  description: string;
  /** For inputs: this one and any after it (at least one). */
  variadic?: boolean;
  /** For inputs: may be left out (only after the required ones). */
  optional?: boolean;
  /** For outputs: who receives it (MesaTEE's save_file_for_*). */
  for?: 'creator' | 'file_owner' | 'all_participants';
  /** For a file_owner output: the input whose owner receives it. */
  owner_of?: string;
}

/**
 * A function's declared interface. Over the MesaTEE wire, `payload` carries the arguments (plain text,
 * or a JSON object when `argumentsJson`), and the task's input files fill `inputs` in order: the
 * creator's files, then each collaborator's in approval order.
 */
export interface FunctionInterface {
  payload: 'none' | 'text' | 'json' | 'optional-json';
  arguments: ArgumentSpec[];
  inputs: FileSpec[];
  outputs: FileSpec[];
}

export interface FunctionDefinition {
  name: string;
  kind: 'builtin' | 'js' | 'wasm' | 'python' | 'process';
  type: FunctionType;
  /** For registered code: the SHA-256 of the code alone. */
  codeHash?: string;
  /**
   * For registered code: what a task records and its approvals consent to, the SHA-256 of the code,
   * interface (with each output's recipient), type, entry and limits (`functionHash` in user.ts). Built-ins
   * have none: they are part of the node's measured code.
   */
  functionHash?: string;
  description: string;
  interface: FunctionInterface;
  /**
   * Who may create tasks with it, when not everyone: a reason to refuse `creator`, or null. (A user's own
   * process function is for that user; run() checks the same again.)
   */
  refuseCreator?(creator: string): string | null;
  /** Returns the task's result string (MesaTEE `result`). */
  run(ctx: FunctionContext): Promise<string> | string;
}

export class FunctionRegistry {
  private readonly functions = new Map<string, FunctionDefinition>();

  /**
   * `isEnabled` lets governance switch built-ins off (set_node_function / remove_node_function);
   * `registered` finds functions users registered.
   */
  constructor(
    private readonly isEnabled: (name: string) => boolean = () => true,
    private readonly registered: (id: string) => FunctionDefinition | undefined = () => undefined,
  ) {}

  register(def: FunctionDefinition): void {
    if (this.functions.has(def.name)) throw new Error(`function '${def.name}' is registered twice`);
    this.functions.set(def.name, def);
  }

  get(name: string): FunctionDefinition | undefined {
    return this.functions.get(name);
  }

  mustGet(name: string): FunctionDefinition {
    const def = this.functions.get(name) ?? this.registered(name);
    if (def && !this.isEnabled(name)) throw new TesseraError('unsupported_function', `function '${name}' is switched off by governance on this node`);
    if (!def) {
      throw new TesseraError(
        'unsupported_function',
        `no function named '${name}'; available: ${[...this.functions.keys()].sort().join(', ')}`,
      );
    }
    return def;
  }

  /** Checks a task's input files against the function's declared inputs. */
  static checkInputs(def: FunctionDefinition, inputCount: number): void {
    const declared = def.interface.inputs;
    const min = declared.filter((i) => !i.optional).length;
    const max = declared.some((i) => i.variadic) ? Infinity : declared.length;
    if (inputCount < min || inputCount > max) {
      const names = declared.map((i) => (i.variadic ? `${i.name}…` : i.optional ? `[${i.name}]` : i.name)).join(', ') || 'none';
      const count = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      throw new TesseraError('invalid_input', `${def.name} takes ${count} input file(s) (${names}); the task has ${inputCount}`);
    }
  }

  list(): FunctionDefinition[] {
    return [...this.functions.values()];
  }
}
