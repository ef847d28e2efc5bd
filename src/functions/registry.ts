import { TesseraError } from '../errors/index.js';

export type FunctionType = 'Single' | 'Multiparty';

export interface TaskFileRef {
  user_id: string;
  file_id: string;
}

/** What a function sees of the task it runs for. */
export interface FunctionContext {
  taskId: string;
  creator: string;
  payload: string | null;
  inputFiles: TaskFileRef[];
  signal: AbortSignal;
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
