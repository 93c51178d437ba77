/**
 * Helpers for the health, lifecycle and reload tests and the health benchmark: a small
 * test-only driver ("ticker") that produces batches on a timer, a config builder that validates
 * against a schema with the test drivers registered, and an HTTP getter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { drivers as registeredDrivers } from '../../drivers/index.ts';
import { defineDriver } from '../../src/core/contracts.ts';
import { channelSchema, sourceBaseShape } from '../../src/core/config-common.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { buildConfigSchema, type FieldgateConfig } from '../../src/config/schema.ts';
import { duration } from '../../src/core/units.ts';
import { FgError } from '../../src/core/errors.ts';
import type { Sample, SampleBatch } from '../../src/core/sample.ts';
import type { DriverDefinition } from '../../src/core/contracts.ts';
import { stringify } from 'yaml';

const tickerSchema = z.strictObject({
  ...sourceBaseShape,
  type: z.literal('ticker'),
  channel: channelSchema.optional(),
  interval: duration().default(50).describe('one batch per interval'),
  tags: z.number().int().min(1).default(4),
  wedgeAfter: z.number().int().min(1).optional().describe('after this many batches the run hangs (until aborted) without heartbeats'),
});
type TickerConfig = z.output<typeof tickerSchema>;

/** Per-source switches a test flips while the pipeline runs, and what the driver did. */
export const tickerControl = new Map<string, { down: boolean; runs: number; batches: number }>();

function control(id: string): { down: boolean; runs: number; batches: number } {
  let c = tickerControl.get(id);
  if (!c) tickerControl.set(id, (c = { down: false, runs: 0, batches: 0 }));
  return c;
}

/** A driver standing in for a device: a batch of `tags` samples every `interval`. */
export const tickerDriver = defineDriver<TickerConfig>({
  type: 'ticker',
  description: 'test-only: batches on a timer',
  schema: tickerSchema,
  channelDefaults: { capacity: 64, whenFull: 'block' },
  create(cfg, ctx) {
    const c = control(cfg.id);
    let polls = 0;
    let connected = false;
    return {
      async run(signal) {
        c.runs++;
        polls = 0;
        const names = Array.from({ length: cfg.tags }, (_, i) => `t${i}`);
        while (!signal.aborted) {
          if (c.down) {
            connected = false;
            throw new FgError('FG_E_MODBUS_CONNECT', `ticker ${cfg.id}: device unreachable`);
          }
          connected = true;
          if (cfg.wedgeAfter !== undefined && polls >= cfg.wedgeAfter) {
            // a read that never returns (but honours abort), so no heartbeat
            await new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
          }
          const now = Date.now();
          const samples: Sample[] = names.map((tag, i) => ({ source: cfg.id, tag, ts: now, value: polls + i, quality: 'good' }));
          const batch: SampleBatch = { source: cfg.id, samples, receivedAt: now };
          await ctx.out.send(batch, signal);
          ctx.stageMetrics.received(samples.length);
          polls++;
          c.batches++;
          ctx.heartbeat();
          await new Promise<void>((resolve) => {
            const onAbort = (): void => { clearTimeout(t); resolve(); };
            const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, cfg.interval);
            signal.addEventListener('abort', onAbort, { once: true });
          });
        }
      },
      probe() {
        return connected ? { state: 'up', details: { polls } } : { state: 'down', reason: 'device unreachable', details: { polls } };
      },
    };
  },
});

export const testDrivers: readonly DriverDefinition[] = [...registeredDrivers, tickerDriver];
const schema = buildConfigSchema(testDrivers);

/** Validates a config object (as YAML text, so defaults and errors are exactly the loader's). */
export function testConfig(input: Record<string, unknown>, baseDir: string): FieldgateConfig {
  return parseConfigText(stringify(input), 'test.yaml', baseDir, { schema });
}

/** For reloadFromFile / runLifecycle: reads a YAML file with the test drivers registered. */
export { schema as testSchema };

export function tempDir(prefix = 'fg-health-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET over a fresh connection (no keep-alive left behind). */
export function get(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.end();
  });
}

export { until } from '../support/wait.ts';
