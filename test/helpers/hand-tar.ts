import { Readable } from 'node:stream';
import * as tar from 'tar-stream';

// Tar archives built with tar-stream directly, never through src/packaging: what a hostile or careless
// client could upload instead of what `tessera fn deploy` packs.

export interface HandEntry {
  name: string;
  type?: tar.Header['type'];
  body?: string | Buffer;
  mode?: number;
  mtime?: Date;
  uid?: number;
  gid?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

/** An archive of `entries` in this order; every header field canonical (zero times and owners, modes 0644/0755) unless an entry says otherwise. */
export async function handTar(entries: HandEntry[], trailer?: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  const out = Readable.from(pack).toArray();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: Partial<tar.Header> & { name: string } = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      mtime: e.mtime ?? new Date(0),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: '',
      gname: '',
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, Buffer.from(e.body ?? ''), done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  const bytes = Buffer.concat(await out);
  return trailer ? Buffer.concat([bytes, trailer]) : bytes;
}
