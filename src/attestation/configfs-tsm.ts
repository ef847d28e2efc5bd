import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../errors/index.js';

export const TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';

/** How many times a report is asked for again when another writer changed the entry meanwhile. */
const ATTEMPTS = 3;

/** The entry's `generation`: how many writes to inblob (or another option) it has seen. */
async function generation(entry: string): Promise<number> {
  const text = (await readFile(join(entry, 'generation'), 'utf8')).trim();
  if (!/^\d+$/.test(text)) throw new TesseraError('unavailable', `configfs-tsm: ${join(entry, 'generation')} reads '${text}', not a count`);
  return Number(text);
}

/**
 * One report through Linux's configfs-tsm interface (Documentation/ABI/testing/configfs-tsm-report):
 * make a report entry, check `provider`, write the 64 bytes of report data to `inblob`, read `outblob`
 * (and `auxblob` where the kernel offers certificates), then remove the entry.
 *
 * Any process that can write the entry can change inblob between our write and our read, and outblob
 * would then be a report over their data. The ABI's `generation` counts the writes: read before ours,
 * it must be one more after it, and still that after outblob and auxblob are read. Otherwise the report
 * is asked for again, and after ATTEMPTS races the call fails saying so.
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
    const races: string[] = [];
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const expected = (await generation(entry)) + 1;
      /** Whether the entry still holds our inblob after `step`; if not, the race is noted for the error. */
      const untouched = async (step: string) => {
        const now = await generation(entry);
        if (now !== expected) races.push(`after ${step}, generation ${now}, not ${expected}`);
        return now === expected;
      };
      await writeFile(join(entry, 'inblob'), reportData);
      if (!(await untouched('writing inblob'))) continue;
      const outblob = await readFile(join(entry, 'outblob'));
      if (!(await untouched('reading outblob'))) continue;
      const auxblob = await readFile(join(entry, 'auxblob')).catch(() => null);
      if (!(await untouched('reading auxblob'))) continue;
      return { outblob, auxblob: auxblob && auxblob.length ? auxblob : null };
    }
    throw new TesseraError(
      'unavailable',
      `configfs-tsm: another writer changed ${entry} while this report was made, ${ATTEMPTS} times (${races.join('; ')}), so the report may be over someone else's data and is not used; find what else writes under ${base}`,
    );
  } finally {
    await rmdir(entry).catch(() => {});
  }
}
