// Child process for outbox-kill9.test.ts: `write` runs a writer into the outbox with a file sink
// draining it and prints every committed range; `drain` only lets the file sink catch up, then exits.
import { join } from 'node:path';
import { Metrics } from '../../src/core/metrics.ts';
import { silentLogger } from '../../src/log.ts';
import { createOutbox, outboxSchema } from '../../src/outbox/index.ts';
import { assertSourceAccounting, numberBatch } from '../../src/outbox/testing.ts';
import { sinkSchema } from '../../src/sinks/config.ts';
import { createSink } from '../../src/sinks/index.ts';

const [dir, mode] = process.argv.slice(2) as [string, 'write' | 'drain'];
const ctx = { gateway: { id: 'gw-k', dataDir: dir }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p: string) => join(dir, p) };
const box = createOutbox(outboxSchema.parse({ commitInterval: '10ms', commitRows: 2000 }), ctx);
const sink = createSink(sinkSchema.parse({ id: 'file', type: 'file', path: 'out.jsonl', maxBytes: '1GB', batchSize: 300 }), box, ctx);
await box.start();
await sink.start();

if (mode === 'write') {
  let next = 0;
  const writer = async () => {
    for (;;) {
      const start = next;
      next += 100;
      await box.writeSamples(numberBatch('plc1', start, 100, 7));
      process.stdout.write(`C ${start} ${start + 100}\n`);
    }
  };
  // several writers in flight: their batches share group commits
  await Promise.all([writer(), writer(), writer(), writer()]);
} else {
  for (;;) {
    if (sink.probe().details?.backlog === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await sink.stop(2000);
  // the identity per source after the kill: the rows found at start are this run's pending at start
  const a = await assertSourceAccounting(box, ctx.metrics);
  process.stdout.write(`A ${JSON.stringify(a)}\n`);
  await box.stop(2000);
  process.stdout.write('DRAINED\n');
}
