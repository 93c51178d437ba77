import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutboxRecord } from '../../outbox/index.ts';
import type { StageContext } from '../../core/contracts.ts';
import { compactLines, recordJson } from '../json.ts';
import type { SendResult, Transport } from '../runner.ts';
import type { FileSinkConfig } from './config.ts';

/** Appends one JSON line per record (or per source of a chunk, compact); a chunk is confirmed once written (and fsynced, if asked). */
export class FileTransport implements Transport {
  readonly target: string;
  private readonly path: string;
  private fh?: FileHandle;
  private size = 0;

  constructor(private readonly cfg: FileSinkConfig, private readonly ctx: StageContext) {
    this.path = ctx.resolvePath(cfg.path);
    this.target = this.path;
  }

  async connect(): Promise<void> {
    await this.close();
    await mkdir(dirname(this.path), { recursive: true });
    this.fh = await open(this.path, 'a');
    this.size = (await this.fh.stat()).size;
  }

  async send(records: OutboxRecord[]): Promise<SendResult> {
    let text = '';
    if (this.cfg.format === 'compact') text = compactLines(records, this.ctx.gateway.id);
    else for (const r of records) text += JSON.stringify(recordJson(r)) + '\n';
    const bytes = Buffer.byteLength(text);
    if (this.size > 0 && this.size + bytes > this.cfg.maxBytes) await this.rotate();
    const fh = this.fh!;
    await fh.write(text);
    if (this.cfg.fsync) await fh.datasync();
    this.size += bytes;
    return { ok: true };
  }

  /** path -> path.1 -> path.2 ...; the oldest beyond `keep` is removed (that is what rotation is for). */
  private async rotate(): Promise<void> {
    await this.close();
    if (this.cfg.keep === 0) await rm(this.path, { force: true });
    else {
      await rm(`${this.path}.${this.cfg.keep}`, { force: true });
      for (let i = this.cfg.keep - 1; i >= 1; i--) {
        if (await exists(`${this.path}.${i}`)) await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      }
      await rename(this.path, `${this.path}.1`);
    }
    this.fh = await open(this.path, 'a');
    this.size = 0;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
