// Child process for cluster.test.ts: `write` streams samples of plc1 through the outbox into the NATS
// sink and prints every committed range; `drain` only lets the sink catch up, then exits.
import { join } from 'node:path';
import { Metrics } from '../../../src/core/metrics.ts';
import { silentLogger } from '../../../src/log.ts';
import { createOutbox, outboxSchema } from '../../../src/outbox/index.ts';
import { numberBatch } from '../outbox/testing.ts';
import { sinkSchema } from '../../../src/sinks/config.ts';
import { createSink } from '../../../src/sinks/index.ts';

const [dir, urls, mode] = process.argv.slice(2) as [string, string, 'write' | 'drain'];
const ctx = { gateway: { id: 'gw-k', dataDir: dir }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p: string) => join(dir, p) };
const box = createOutbox(outboxSchema.parse({ commitInterval: '10ms', commitRows: 2000 }), ctx);
const sink = createSink(sinkSchema.parse({
  id: 'js', type: 'nats', servers: urls.split(','), stream: 'FGK', subject: 'fgk.{gateway}.{source}',
  backoff: { initial: '50ms', max: '500ms' }, ackTimeout: '3s',
}), box, ctx);
await box.start();
await sink.start();

if (mode === 'write') {
  let next = 0;
  const writer = async () => {
    for (;;) {
      // keep the backlog bounded so the drain after the restart stays short
      if (Number(sink.probe().details?.backlog ?? 0) > 30_000) { await new Promise((r) => setTimeout(r, 5)); continue; }
      const start = next;
      next += 100;
      await box.writeSamples(numberBatch('plc1', start, 100, 7));
      process.stdout.write(`C ${start} ${start + 100}\n`);
    }
  };
  await Promise.all([writer(), writer(), writer(), writer()]);
} else {
  for (;;) {
    if (sink.probe().details?.backlog === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await sink.stop(2000);
  await box.stop(2000);
  const dups = (await ctx.metrics.registry.getSingleMetric('fieldgate_nats_duplicates_total')?.get())?.values[0]?.value ?? 0;
  process.stdout.write(`DRAINED ${dups}\n`);
}
