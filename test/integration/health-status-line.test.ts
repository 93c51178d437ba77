// The terminal status line: when it is shown, and what it says about a running pipeline.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { formatStatusLine, startStatusLine, statusLineLogDestination, wantStatusLine } from '../../src/health/status-line.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { tempDir, testConfig, testDrivers, tickerControl, until } from './health-testkit.ts';

const tmp = tempDir('fg-statusline-');
after(() => tmp.cleanup());

test('auto shows the line when stdout is a terminal; log lines on the same terminal erase it first', () => {
  assert.equal(wantStatusLine('auto', { stdoutIsTTY: true, stderrIsTTY: false }), true);
  assert.equal(wantStatusLine('auto', { stdoutIsTTY: true, stderrIsTTY: true }), true);
  const written: string[] = [];
  const dest = statusLineLogDestination({ statusLine: 'auto' }, { stdoutIsTTY: true, stderrIsTTY: true }, { write: (s: string) => written.push(s) > 0 });
  assert.ok(dest);
  dest.write('{"msg":"hello"}\n');
  assert.deepEqual(written, ['\r\x1b[2K{"msg":"hello"}\n'], 'the status line is erased before the log line');
  assert.equal(statusLineLogDestination({ statusLine: 'auto' }, { stdoutIsTTY: false, stderrIsTTY: true }), undefined);
  assert.equal(wantStatusLine('auto', { stdoutIsTTY: false, stderrIsTTY: false }), false, 'plain logs when piped');
  assert.equal(wantStatusLine('on', { stdoutIsTTY: true, stderrIsTTY: true }), true);
  assert.equal(wantStatusLine('on', { stdoutIsTTY: false, stderrIsTTY: true }), false, 'never into a pipe or file');
  assert.equal(wantStatusLine('off', { stdoutIsTTY: true, stderrIsTTY: false }), false);
});

test('the line shows samples/s, predictions/s, backlog and health, and is redrawn in place', async () => {
  const cfg = testConfig({
    gateway: { id: 'gw-line', dataDir: tmp.dir },
    sources: [{ type: 'ticker', id: 'line-a', interval: '10ms', tags: 5 }, { type: 'ticker', id: 'line-b', interval: '10ms', tags: 5 }],
    health: { port: 0, probes: { unhealthy: '100ms', stable: '200ms' } },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  const out = new PassThrough();
  let written = '';
  out.on('data', (c: Buffer) => { written += c.toString(); });
  const stop = startStatusLine({ stream: Object.assign(out, { columns: 200 }) as unknown as NodeJS.WriteStream, status: () => p.health!.status(), intervalMs: 200 });
  try {
    const line = await until('a rate on the line', async () => {
      const l = formatStatusLine(await p.health!.status(), 200);
      return /[1-9][\d.]* samples\/s/.test(l) ? l : undefined;
    });
    assert.match(line, /^fieldgate gw-line \| [\d.]+ samples\/s \| 0\.0 predictions\/s \| backlog \d+ \| (not )?ready \| all up$/);
    tickerControl.get('line-b')!.down = true;
    const down = await until('the down source on the line', async () => {
      const l = formatStatusLine(await p.health!.status(), 200);
      return l.includes('DOWN: source.line-b') ? l : undefined;
    });
    assert.match(down, /not ready/);
    assert.equal(formatStatusLine(await p.health!.status(), 30).length, 30, 'cut to the terminal width');
    await until('redraws', () => written.split('\r\x1b[2K').length > 3);
  } finally {
    stop();
    await p.stop(5_000);
  }
  assert.ok(written.endsWith('\r\x1b[2K'), 'the line is cleared when it stops');
});
