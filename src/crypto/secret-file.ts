import { writeFileSync } from 'node:fs';

/** Private material is created with mode 0600 and never overwritten. */
export const writeSecretFile = (path: string, data: string) => writeFileSync(path, data, { mode: 0o600, flag: 'wx' });
