import type { NatsConnection } from '@nats-io/transport-node';
import { StorageType, jetstream } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { TesseraError } from '../errors/index.js';
import type { PackagePlace } from '../functions/process/package-store.js';

// Small sealed objects a cluster's nodes share (Fn packages), in a JetStream object store bucket of their
// own. What goes in is already sealed by the node; the server sees names (digests) and sizes only.

export class NatsObjectPlace implements PackagePlace {
  private constructor(
    private readonly os: ObjectStore,
    private readonly where: string,
  ) {}

  static async open(nc: NatsConnection, bucket: string, replicas: number, timeoutMs: number): Promise<NatsObjectPlace> {
    try {
      const os = await new Objm(jetstream(nc, { timeout: timeoutMs })).create(bucket, { storage: StorageType.File, replicas });
      return new NatsObjectPlace(os, `the NATS object store bucket '${bucket}'`);
    } catch (err) {
      throw new TesseraError('unavailable', `the NATS object store bucket '${bucket}' could not be opened: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
    }
  }

  private async ask<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw new TesseraError('unavailable', `${this.where} did not answer: ${what} (${(err as Error).message})`, { cause: err, retryAfterSeconds: 5 });
    }
  }

  async has(name: string): Promise<boolean> {
    const info = await this.ask(`is there ${name}`, () => this.os.info(name));
    return info !== null && !info.deleted;
  }

  async put(name: string, sealed: Buffer): Promise<void> {
    await this.ask(`storing ${name}`, () => this.os.putBlob({ name }, sealed));
  }

  async get(name: string): Promise<Buffer | undefined> {
    const bytes = await this.ask(`reading ${name}`, () => this.os.getBlob(name));
    return bytes ? Buffer.from(bytes) : undefined;
  }

  async remove(name: string): Promise<void> {
    await this.ask(`removing ${name}`, async () => {
      if ((await this.os.info(name)) !== null) await this.os.delete(name);
    });
  }
}
