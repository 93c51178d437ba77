// Child process for outbox-kill9.test.ts: `write` runs writers into the outbox with a file sink
// draining it and prints every committed range; `drain` only lets the file sink catch up, then exits.
import { runOutboxChild } from '../support/outbox-child.ts';

const [dir, mode] = process.argv.slice(2) as [string, 'write' | 'drain'];
await runOutboxChild({ dir, mode, sink: { id: 'file', type: 'file', path: 'out.jsonl', maxBytes: '1GB', batchSize: 300 }, accounting: true });
