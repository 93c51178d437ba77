// A gateway process for the lifecycle tests: `fieldgate run` as the CLI does it (runLifecycle),
// with the test drivers registered. Prints one JSON line when running and one after the drain,
// then ends by itself: if anything were left open, the process would not exit.
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { pino } from 'pino';
import { runLifecycle } from '../../src/cli/lifecycle.ts';
import { type LoadedConfig, parseConfigText } from '../../src/config/load.ts';
import type { Counter } from 'prom-client';
import { createLogger } from '../../src/log.ts';
import type { Pipeline } from '../../src/pipeline/pipeline.ts';
import { testDrivers, testSchema, tickerControl } from './health-testkit.ts';

const file = resolve(process.argv[2]!);
const load = (f: string): LoadedConfig => ({
  config: parseConfigText(readFileSync(f, 'utf8'), basename(f), dirname(f), { schema: testSchema }),
  file: f,
  baseDir: dirname(f),
});

async function value(c: Counter<'stage'>, stage: string): Promise<number> {
  return (await c.get()).values.find((v) => v.labels.stage === stage)?.value ?? 0;
}

let pipeline: Pipeline | undefined;
const log = createLogger({ level: 'info', format: 'json', destination: pino.destination({ fd: 2, sync: true }) });
const code = await runLifecycle(load(file), log, {
  configPath: file, drivers: testDrivers, load, drainMs: 5_000,
  onStarted: (p) => {
    pipeline = p;
    process.stdout.write(`${JSON.stringify({ started: true, url: p.health?.url, pid: process.pid })}\n`);
  },
});
const p = pipeline!;
let tickerSamples = 0;
for (const [, c] of tickerControl) tickerSamples += c.batches;
process.stdout.write(`${JSON.stringify({
  stopped: true, code,
  routerReceived: await value(p.metrics.received, 'router'),
  routerSent: await value(p.metrics.sent, 'router'),
  tickerBatches: tickerSamples,
})}\n`);
process.exitCode = code;
