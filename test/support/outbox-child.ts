import { join } from 'node:path';
import { Metrics } from '../../src/core/metrics.ts';
import { silentLogger } from '../../src/log.ts';
import { createOutbox, outboxSchema } from '../../src/outbox/index.ts';
import { assertSourceAccounting, numberBatch } from './outbox/testing.ts';
import { sinkSchema } from '../../src/sinks/config.ts';
import { createSink } from '../../src/sinks/index.ts';

export interface OutboxChildOptions {
  /** the data directory (the outbox file, and the sink's relative paths) */
  dir: string;
  mode: 'write' | 'drain';
  /** the sink's config, as it would stand in a config file */
  sink: Record<string, unknown>;
  /** `write` pauses while the sink's backlog is above this (keeps the drain after a restart short) */
  maxBacklog?: number;
  /** `drain`: what to print after DRAINED (e.g. a metric), given the child's metrics */
  report?: (metrics: Metrics) => Promise<string>;
  /** `drain`: assert the accounting identity per source after the sink stops and print it as `A <json>` */
  accounting?: boolean;
}

/**
 * The body of a kill -9 test's child process: an outbox with one sink draining it.
 * `write` streams samples of plc1 from four writers (their batches share group commits) and
 * prints every committed range as `C <start> <end>`, until it is killed; `drain` lets the sink
 * catch up with what the outbox holds, stops both and prints `DRAINED` (and the report).
 */
export async function runOutboxChild(opts: OutboxChildOptions): Promise<void> {
  const { dir } = opts;
  const ctx = { gateway: { id: 'gw-k', dataDir: dir }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p: string) => join(dir, p) };
  const box = createOutbox(outboxSchema.parse({ commitInterval: '10ms', commitRows: 2000 }), ctx);
  const sink = createSink(sinkSchema.parse(opts.sink), box, ctx);
  await box.start();
  await sink.start();
  const backlog = (): number => Number(sink.probe().details?.backlog ?? 0);

  if (opts.mode === 'write') {
    let next = 0;
    const writer = async (): Promise<never> => {
      for (;;) {
        if (opts.maxBacklog !== undefined && backlog() > opts.maxBacklog) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const start = next;
        next += 100;
        await box.writeSamples(numberBatch('plc1', start, 100, 7));
        process.stdout.write(`C ${start} ${start + 100}\n`);
      }
    };
    await Promise.all([writer(), writer(), writer(), writer()]);
    return;
  }
  while (sink.probe().details?.backlog !== 0) await new Promise((r) => setTimeout(r, 20));
  await sink.stop(2000);
  // the identity per source after the kill: the rows found at start are this run's pending at start
  if (opts.accounting) process.stdout.write(`A ${JSON.stringify(await assertSourceAccounting(box, ctx.metrics))}\n`);
  await box.stop(2000);
  const extra = opts.report ? ` ${await opts.report(ctx.metrics)}` : '';
  process.stdout.write(`DRAINED${extra}\n`);
}
