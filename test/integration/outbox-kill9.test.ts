import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SourceAccounting } from '../../src/outbox/index.ts';
import { runLineChild } from '../support/line-child.ts';

const fixture = fileURLToPath(new URL('./outbox-kill9.fixture.ts', import.meta.url));

function run(dir: string, mode: 'write' | 'drain', onLine: (l: string) => void) {
  return runLineChild(fixture, [dir, mode], onLine);
}

test('kill -9 mid-stream: every committed record reaches the sink after a restart; duplicates only with the same id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-kill9-'));
  try {
    const committed: [number, number][] = [];
    let total = 0;
    const w = run(dir, 'write', (l) => {
      const [tag, a, b] = l.split(' ');
      if (tag === 'C') {
        committed.push([Number(a), Number(b)]);
        total += Number(b) - Number(a);
      }
    });
    const end = Date.now() + 30_000;
    while (total < 30_000 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    w.child.kill('SIGKILL');
    const r1 = await w.exited;
    assert.equal(r1.signal, 'SIGKILL', r1.err);
    assert.ok(total >= 30_000, `the writer committed ${total} records before the kill: ${r1.err}`);

    const newlines = () => readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').length - 1;
    const linesBefore = newlines();
    let accounting: SourceAccounting | undefined;
    const d = run(dir, 'drain', (l) => { if (l.startsWith('A ')) accounting = JSON.parse(l.slice(2)) as SourceAccounting; });
    const r2 = await d.exited;
    assert.equal(r2.code, 0, r2.err);
    // per source after the restart (asserted in the child against its /metrics too): what was in the
    // file after the persisted cursor is pending at start, and all of it was confirmed, nothing dropped
    const file = accounting?.sinks.file;
    assert.ok(file, 'the drain child reported its accounting');
    assert.deepEqual(accounting!.accepted, {});
    assert.deepEqual(Object.keys(file.pendingAtStart), ['plc1']);
    assert.deepEqual(file.confirmed, file.pendingAtStart);
    assert.deepEqual(file.dropped, {});
    assert.equal(newlines() - linesBefore, file.confirmed.plc1, 'the sink appended as many records as it confirmed');

    const byId = new Map<string, string>();
    const idsByValue = new Map<number, string>();
    for (const line of readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n')) {
      if (!line) continue; // a line cut by the kill is at most the last one before the restart's appends
      let rec: { id: string; value: number };
      try { rec = JSON.parse(line) as typeof rec; } catch { continue; }
      const prev = byId.get(rec.id);
      if (prev !== undefined) assert.equal(prev, line, 'a duplicate has the same id and the same content');
      byId.set(rec.id, line);
      const other = idsByValue.get(rec.value);
      assert.ok(other === undefined || other === rec.id, `value ${rec.value} under two ids: ${other}, ${rec.id}`);
      idsByValue.set(rec.value, rec.id);
    }
    let missing = 0;
    for (const [a, b] of committed) for (let v = a; v < b; v++) if (!idsByValue.has(v)) missing++;
    assert.equal(missing, 0, `${missing} committed records never reached the sink`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
