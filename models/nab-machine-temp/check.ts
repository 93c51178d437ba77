/**
 * Replays the NAB machine-temperature series through the real model stage (window assembler,
 * micro-batcher, worker pool, thresholds) and scores the events against NAB's labelled windows.
 *
 *   node --import tsx models/nab-machine-temp/check.ts
 */
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { createModelStage } from '../../src/inference/index.ts';
import { modelSchema } from '../../src/inference/config.ts';
import { MemoryOutbox, testContext } from '../../src/inference/testing.ts';
import type { SampleBatch } from '../../src/core/sample.ts';
import { loadMachineTemperature, windowOf } from './nab.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export interface NabCheck {
  predictions: number;
  /** samples the assembler refused (timestamps not newer than the previous one) */
  outOfOrder: number;
  events: { ts: number; window: number; score: number }[];
  windowsHit: number;
  windowsTotal: number;
  outside: number;
  /** events per labelled window */
  perWindow: number[];
}

export async function checkOnNab(): Promise<NabCheck> {
  const meta = parse(readFileSync(HERE + 'model.yaml', 'utf8')) as {
    sha256: string;
    input: { window: number; features: { normalise: { mean: number; std: number } }[] };
    thresholds: unknown[];
  };
  const cfg = modelSchema.parse({
    id: 'nab-machine-temp',
    path: 'model.onnx',
    sha256: meta.sha256,
    input: { name: 'window', window: meta.input.window, features: [{ tag: 'machine/temperature', normalise: meta.input.features[0]!.normalise }] },
    outputs: [{ name: 'score' }, { name: 't2' }, { name: 'spe' }],
    thresholds: meta.thresholds,
    batching: { maxBatch: 256, maxWait: '5ms', queue: 32_768 },
    deadline: '60s',
    watch: false,
  });
  const { ts, values, windows } = loadMachineTemperature();
  const outbox = new MemoryOutbox();
  const stage = createModelStage(cfg, outbox, testContext(HERE));
  await stage.start();
  try {
    // one batch per simulated hour of readings, as a poller would deliver them
    for (let i = 0; i < ts.length; i += 12) {
      const batch: SampleBatch = { source: 'machine', receivedAt: Date.now(), samples: [] };
      for (let k = i; k < Math.min(i + 12, ts.length); k++) batch.samples.push({ source: 'machine', tag: 'temperature', ts: ts[k]!, value: values[k]!, quality: 'good' });
      stage.offer(batch);
      if (i % 2400 === 0) await new Promise((r) => setImmediate(r));
    }
    const assembled = (stage.probe().details!.assembler as { windows: number }).windows;
    await outbox.waitFor(assembled, 60_000);
  } finally {
    await stage.stop(5_000);
  }
  const outOfOrder = (stage.probe().details!.assembler as { outOfOrder: number }).outOfOrder;
  const raised = outbox.events.filter((e) => e.kind === 'anomaly');
  const events = raised.map((e) => ({ ts: e.ts, window: windowOf(windows, e.ts), score: Number(e.data?.value ?? NaN) }));
  const perWindow = windows.map((_, w) => events.filter((e) => e.window === w).length);
  return {
    predictions: outbox.predictions.length,
    outOfOrder,
    events,
    windowsHit: perWindow.filter((n) => n > 0).length,
    windowsTotal: windows.length,
    outside: events.filter((e) => e.window < 0).length,
    perWindow,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await checkOnNab();
  console.log(`predictions: ${r.predictions} (samples refused as out of order: ${r.outOfOrder})`);
  for (const e of r.events) console.log(`event ${new Date(e.ts).toISOString()} score ${e.score.toFixed(2)} ${e.window >= 0 ? `in window ${e.window + 1}` : 'OUTSIDE the labelled windows'}`);
  console.log(`labelled windows with >= 1 event: ${r.windowsHit} of ${r.windowsTotal} (events per window: ${r.perWindow.join(', ')})`);
  console.log(`events outside the labelled windows: ${r.outside}`);
}
