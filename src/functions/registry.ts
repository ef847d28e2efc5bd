import { TesseraError } from '../errors/index.js';

export type FunctionType = 'Single' | 'Multiparty';

export interface TaskFileRef {
  user_id: string;
  file_id: string;
}

/** What a function sees of the task it runs for: MesaTEE's worker context and WorkerHelper. */
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

export interface FunctionDefinition {
  name: string;
  kind: 'builtin';
  type: FunctionType;
  description: string;
  /** Returns the task's result string (MesaTEE `result`). */
  run(ctx: FunctionContext): Promise<string> | string;
}

export class FunctionRegistry {
  private readonly functions = new Map<string, FunctionDefinition>();

  register(def: FunctionDefinition): void {
    if (this.functions.has(def.name)) throw new Error(`function '${def.name}' is registered twice`);
    this.functions.set(def.name, def);
  }

  get(name: string): FunctionDefinition | undefined {
    return this.functions.get(name);
  }

  mustGet(name: string): FunctionDefinition {
    const def = this.functions.get(name);
    if (!def) {
      throw new TesseraError(
        'unsupported_function',
        `no function named '${name}'; available: ${[...this.functions.keys()].sort().join(', ')}`,
      );
    }
    return def;
  }

  list(): FunctionDefinition[] {
    return [...this.functions.values()];
  }
}
