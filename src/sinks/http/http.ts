import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { FgError, errorMessage } from '../../core/errors.ts';
import type { OutboxRecord } from '../../outbox/index.ts';
import type { StageContext } from '../../core/contracts.ts';
import { compactLines, recordJson } from '../json.ts';
import type { SendResult, Transport } from '../runner.ts';
import type { HttpSinkConfig } from './config.ts';

const gzip = promisify(gzipCb);

/**
 * POSTs one chunk per request. 2xx confirms it; 5xx, 408, 429, timeouts and network errors throw
 * (the runner retries with backoff); any other 4xx is final: the chunk is dead-lettered and counted.
 * The Idempotency-Key is the chunk's first record id, so a retried chunk carries the same key.
 */
export class HttpTransport implements Transport {
  readonly target: string;
  private readonly url: URL;
  private agent: http.Agent;

  constructor(private readonly cfg: HttpSinkConfig, private readonly ctx: StageContext) {
    this.url = new URL(cfg.url);
    this.target = `${this.url.protocol}//${this.url.host}${this.url.pathname}`;
    this.agent = this.newAgent();
  }

  private newAgent(): http.Agent {
    const t = this.cfg.tls;
    if (this.url.protocol === 'https:') {
      return new https.Agent({
        keepAlive: true, maxSockets: this.cfg.maxInFlight,
        ca: t?.ca ? readFileSync(this.ctx.resolvePath(t.ca)) : undefined,
        cert: t?.cert ? readFileSync(this.ctx.resolvePath(t.cert)) : undefined,
        key: t?.key ? readFileSync(this.ctx.resolvePath(t.key)) : undefined,
        rejectUnauthorized: t?.rejectUnauthorized ?? true,
      });
    }
    return new http.Agent({ keepAlive: true, maxSockets: this.cfg.maxInFlight });
  }

  async connect(): Promise<void> {
    // HTTP has no session: the first request tells whether the upstream is there
  }

  async send(records: OutboxRecord[], signal: AbortSignal): Promise<SendResult> {
    const gateway = this.ctx.gateway.id;
    const text = this.cfg.format === 'compact'
      ? compactLines(records, gateway)
      : this.cfg.format === 'ndjson'
        ? records.map((r) => JSON.stringify(recordJson(r))).join('\n') + '\n'
        : JSON.stringify({ gateway, records: records.map(recordJson) });
    let body: Buffer = Buffer.from(text);
    const headers: Record<string, string> = {
      ...this.cfg.headers,
      'content-type': this.cfg.format === 'json' ? 'application/json' : 'application/x-ndjson',
      'idempotency-key': records[0]!.id,
      'x-fieldgate-records': String(records.length),
    };
    if (this.cfg.gzip) {
      body = await gzip(body);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    const status = await this.post(body, headers, AbortSignal.any([signal, AbortSignal.timeout(this.cfg.timeout)]));
    if (status >= 200 && status < 300) return { ok: true };
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { ok: false, rejected: `HTTP ${status}` };
    throw new FgError('FG_E_SINK_PUBLISH', `${this.target} answered HTTP ${status}`);
  }

  private post(body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<number> {
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise<number>((resolve, reject) => {
      const req = mod.request(this.url, { method: 'POST', headers, agent: this.agent, signal }, (res) => {
        res.resume(); // the body is not needed; reading it frees the socket for keep-alive
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', (e) => reject(new FgError('FG_E_SINK_PUBLISH', `POST ${this.target}: ${errorMessage(e)}`, { cause: e })));
      req.end(body);
    });
  }

  async close(): Promise<void> {
    // drops keep-alive sockets: nothing is left open after stop, and a retry starts on a fresh one
    this.agent.destroy();
    this.agent = this.newAgent();
  }
}
