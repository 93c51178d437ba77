import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, setLogLevel } from '../../src/log.ts';
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

test('setLogLevel reaches children and grandchildren made before the change; a child with its own level keeps it', async () => {
  const { lines, destination } = capture();
  const log = createLogger({ format: 'json', level: 'debug', destination });
  const child = log.child({ stage: 'source.a' });
  const grandchild = child.child({ driver: 'modbus' });
  // (pino gives a child a level of its own only when it differs from its parent's at creation)
  const pinned = log.child({ stage: 'pinned' }, { level: 'info' });
  grandchild.debug('d1');
  setLogLevel(log, 'warn');
  assert.equal(child.level, 'warn');
  assert.equal(grandchild.isLevelEnabled('info'), false);
  child.info('hidden');
  grandchild.debug('hidden');
  grandchild.warn('w1');
  pinned.info('p1');
  pinned.debug('hidden');
  setLogLevel(log, 'debug');
  grandchild.debug('d2');
  assert.throws(() => setLogLevel(log, 'loud'), /unknown log level/);
  assert.equal(log.level, 'debug');
  await new Promise((r) => setImmediate(r));
  const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['d1', 'w1', 'p1', 'd2']);
});
