import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.ts';
import { parseConfigText } from '../../src/config/load.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, destination };
}

test('values substituted from ${env:...} never reach the log, whatever field holds them', async () => {
  const secret = 's3cr3t-Pa55word';
  parseConfigText('gateway:\n  id: gw\nsinks:\n  - id: f\n    type: file\n    path: ${env:FG_SECRET_FOR_TEST}\n', 'x.yaml', '/tmp', {
    env: { FG_SECRET_FOR_TEST: secret },
  });
  const { lines, destination } = capture();
  const log = createLogger({ format: 'json', destination });
  const child = log.child({ stage: 'sink.f' });
  child.info({ url: `mqtt://user:${secret}@host`, nested: { anything: secret } }, `connecting with ${secret}`);
  child.info({ password: 'typed-by-hand', headers: { authorization: 'Bearer abc' } }, 'hand-written secrets in known fields');
  await new Promise((r) => setImmediate(r));
  const out = lines.join('');
  assert.ok(!out.includes(secret), out);
  assert.ok(!out.includes('typed-by-hand'), out);
  assert.ok(!out.includes('Bearer abc'), out);
  assert.ok(out.includes('[REDACTED]'));
  const first = JSON.parse(lines[0]!) as { stage: string; msg: string };
  assert.equal(first.stage, 'sink.f');
});
