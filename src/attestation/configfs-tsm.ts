import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../errors/index.js';

export const TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';

/**
 * One report through Linux's configfs-tsm interface: make a report entry, write the 64 bytes of
 * report data to `inblob`, check `provider`, read `outblob` (and `auxblob` where the kernel offers
 * certificates), then remove the entry.
 */
export async function tsmReport(reportData: Buffer, expectedProvider: 'sev_guest' | 'tdx_guest', base = TSM_REPORT_DIR): Promise<{ outblob: Buffer; auxblob: Buffer | null }> {
  if (!existsSync(base)) {
    throw new TesseraError(
      'unavailable',
      `${base} does not exist: this machine offers no configfs-tsm attestation (not a SEV-SNP or TDX guest, or configfs is not mounted); use attestation.provider = "software"`,
    );
  }
  const entry = join(base, `tessera-${randomBytes(6).toString('hex')}`);
  await mkdir(entry);
  try {
    const provider = (await readFile(join(entry, 'provider'), 'utf8')).trim();
    if (provider !== expectedProvider) {
      throw new TesseraError('unavailable', `configfs-tsm provider is '${provider}', not '${expectedProvider}'; set attestation.provider to match this machine`);
    }
    await writeFile(join(entry, 'inblob'), reportData);
    const outblob = await readFile(join(entry, 'outblob'));
    const auxblob = await readFile(join(entry, 'auxblob')).catch(() => null);
    return { outblob, auxblob: auxblob && auxblob.length ? auxblob : null };
  } finally {
    await rmdir(entry).catch(() => {});
  }
}
