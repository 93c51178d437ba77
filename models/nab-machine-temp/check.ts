/**
 * Replays the NAB machine-temperature series through the real model stage with
 * `fieldgate model evaluate` and scores the events against NAB's labelled windows.
 *
 *   node --import tsx models/nab-machine-temp/check.ts
 *   (the same as: npm run fieldgate -- model evaluate models/nab-machine-temp \
 *      --data deploy/examples/nab/machine_temperature_system_failure.csv --windows deploy/examples/nab/windows.json)
 */
import { fileURLToPath } from 'node:url';
import { evaluate, type EvaluateResult } from '../../src/inference/fit/evaluate.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const NAB_DIR = fileURLToPath(new URL('../../deploy/examples/nab/', import.meta.url));

export function checkOnNab(): Promise<EvaluateResult> {
  return evaluate({ dir: HERE, data: `${NAB_DIR}machine_temperature_system_failure.csv`, windows: `${NAB_DIR}windows.json` });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await checkOnNab();
  console.log(`predictions: ${r.predictions} (rows refused as out of order: ${r.outOfOrder})`);
  for (const e of r.events) console.log(`event ${e.ts} peak score ${e.score.toFixed(2)} ${e.window === null ? 'OUTSIDE the labelled windows' : `in window ${e.window + 1}`}`);
  console.log(`labelled windows with >= 1 event: ${r.windowsHit} of ${r.windows.length} (events per window: ${r.windows.map((w) => w.events).join(', ')})`);
  console.log(`events outside the labelled windows: ${r.eventsOutside}`);
}
