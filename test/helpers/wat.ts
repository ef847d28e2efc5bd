import wabtInit from 'wabt';

const wabt = await wabtInit();

/** Assembles WebAssembly text into a module, for tests. */
export function wat(source: string): Buffer {
  const parsed = wabt.parseWat('test.wat', source);
  try {
    return Buffer.from(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}
