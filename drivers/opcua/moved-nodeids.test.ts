import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Sample } from '../../src/core/sample.ts';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';
import { socketsAndTimersLeft } from '../../test/support/wait.ts';

// A server whose NodeIds move on a restart (numeric ids in creation order, like many PLC servers
// after a program download): the same browse paths, other NodeIds. Tags configured by browsePath
// must follow their variables; a NodeId that now names another variable must never deliver that
// variable's value as good; a path that vanished turns bad with the reason.
//
// Layout 0 creates A, B, C, Text, Gone as i=1001..1005. Layout 1 creates them in the other order
// (Text, C, B, A) and puts a new variable, New, at i=1005, where Gone was. Every value is
// trial * 100 + the variable's own number, so a value tells which variable and which run it came from.
// Keep1 and Keep2 keep their string NodeIds. chunkSize 2 makes four item groups, [A, B] [C, Text]
// [Gone, Keep1] [Keep2]: the first three are recreated, Keep2's is not, and its value after a
// restart can only come from the notifications held during the check.
let data: Awaited<ReturnType<typeof tempDataDir>>;
before(async () => { data = await tempDataDir(); });
after(async () => { await data.remove(); });

const OWN: Record<string, number> = { A: 1, B: 2, C: 3, Text: 4, Gone: 5, Keep1: 6, Keep2: 7, New: 99 };

function layout(trial: number) {
  const v = (name: string, id?: number) => ({
    path: `Plant/${name}`, nodeId: id === undefined ? `Plant.${name}` : `i=${id}`, dataType: name === 'Text' ? 'String' : 'Double',
    generator: { kind: 'constant', value: trial * 100 + OWN[name]! },
  });
  return {
    variables: trial % 2 === 0
      ? [v('A', 1001), v('B', 1002), v('C', 1003), v('Text', 1004), v('Gone', 1005), v('Keep1'), v('Keep2')]
      : [v('Keep2'), v('Text', 1001), v('C', 1002), v('B', 1003), v('A', 1004), v('New', 1005), v('Keep1')],
  };
}

const tags = ['A', 'B', 'C', 'Text', 'Gone', 'Keep1', 'Keep2'].map((n) => ({ name: n, browsePath: `/Objects/1:Plant/1:${n}` }));
const valueOf = (s: Sample) => (typeof s.value === 'string' ? Number(s.value) : (s.value as number));

/** A good sample is truthful when its value is its own variable's (any run). */
function wrongGood(s: Sample): boolean {
  return s.quality === 'good' && (valueOf(s) % 100) !== OWN[s.tag];
}

/** Every tag shows this trial's value of its own variable; Gone is bad (layout 1) or its own value (layout 0). */
function correctFor(trial: number, latest: Map<string, { sample: Sample }>): boolean {
  return tags.every(({ name }) => {
    const s = latest.get(name)?.sample;
    if (!s) return false;
    if (name === 'Gone' && trial % 2 === 1) return s.quality === 'bad';
    return s.quality === 'good' && valueOf(s) === trial * 100 + OWN[name]!;
  });
}

const TRIALS = Number(process.env.FG_OPCUA_MOVED_TRIALS ?? 3);

// subscription with a 1 s keep-alive: the staleness watchdog usually rebuilds the session first;
// with 5 s, node-opcua's own repair (new session, subscription recreated) comes first and the
// NodeIds are checked before anything it recreated is delivered
const variants = [
  { mode: 'subscription', keepAliveInterval: '1s', label: 'subscription' },
  { mode: 'subscription', keepAliveInterval: '5s', label: 'subscription (node-opcua repair)' },
  { mode: 'polling', keepAliveInterval: '1s', label: 'polling' },
] as const;

for (const { mode, keepAliveInterval, label } of variants) {
  it(`${label}: after restarts that move NodeIds, every tag follows its browse path within 10 s and no other variable's value is ever good`, async () => {
    const logLines: string[] = [];
    let sim = await startSim(data.dir, layout(0));
    const port = sim.port;
    const src = runSource(data.dir, {
      endpoint: sim.address, securityMode: 'None', mode, publishingInterval: '100ms', samplingInterval: '100ms', pollInterval: '100ms',
      keepAliveInterval, chunkSize: 2, reconnect: { initialDelay: '100ms', maxDelay: '1s' }, tags,
    }, 4096, { keepAll: true, logLines });
    const times: number[] = [];
    try {
      await src.until(() => correctFor(0, src.latest), 10_000, 'layout 0 before any restart');
      for (let trial = 1; trial <= TRIALS; trial++) {
        await sim.stop();
        sim = await startSim(data.dir, { ...layout(trial), port });
        const restartedAt = performance.now();
        await src.until(() => correctFor(trial, src.latest), 10_000, `trial ${trial}: every tag on its own variable (latest: ${JSON.stringify([...src.latest.values()].map((l) => l.sample))})`);
        times.push(performance.now() - restartedAt);
        const wrong = src.all.filter((x) => wrongGood(x.sample));
        assert.deepEqual(wrong.map((x) => x.sample), [], `trial ${trial}: samples marked good that carry another variable's value`);
        if (trial % 2 === 1) {
          const gone = src.latest.get('Gone')!.sample;
          assert.match(gone.reason ?? '', /BadNoMatch.*browse path \/Objects\/1:Plant\/1:Gone does not resolve/);
          assert.equal(gone.value, null);
          assert.match(src.probe().reason ?? '', /1 of 7 tags bad \(Gone: BadNoMatch/);
        } else {
          await src.until(() => src.probe().state === 'up', 5_000, `trial ${trial}: probe up again once Gone is back`);
        }
      }
      // and values keep flowing afterwards, still truthful
      const mark = performance.now();
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(src.all.filter((x) => x.at > mark).every((x) => !wrongGood(x.sample)));
      const metrics = await src.ctx.metrics.registry.getSingleMetricAsString('fieldgate_errors_total');
      const unresolved = Number(/stage="source:plc",code="FG_E_OPCUA_NODE"} (\d+)/.exec(metrics)?.[1] ?? 0);
      assert.ok(unresolved >= Math.ceil(TRIALS / 2), `the vanished path is counted: ${metrics}`);
      const moved = Number(/stage="source:plc",code="FG_E_OPCUA_NODE_MOVED"} (\d+)/.exec(metrics)?.[1] ?? 0);
      assert.equal(moved, TRIALS, `each move is counted once: ${metrics}`);
      const d = src.probe().details!;
      // one warn line per move, one per path that vanished (not one per attempt or sample)
      const logged = logLines.map((l) => JSON.parse(l) as { level: number; code?: string; msg: string });
      assert.equal(logged.filter((l) => l.code === 'FG_E_OPCUA_NODE_MOVED' && l.level === 40).length, TRIALS, logLines.join(''));
      assert.equal(logged.filter((l) => /^tag Gone cannot be read: BadNoMatch/.test(l.msg)).length, Math.ceil(TRIALS / 2), logLines.join(''));
      const warns = logged.filter((l) => l.level >= 40).length;
      assert.ok(warns <= 5 * TRIALS, `log lines bounded: ${warns} warnings for ${TRIALS} restarts`);
      if (keepAliveInterval === '5s') assert.ok((d.repairs as number) >= 1, `node-opcua's repair path was taken: ${JSON.stringify(d)}`);
      const sorted = [...times].sort((a, b) => a - b);
      console.log(`${label}: ${TRIALS} restarts that move NodeIds; all tags correct after ${sorted.map((t) => Math.round(t)).join(', ')} ms ` +
        `(median ${Math.round(sorted[Math.floor(sorted.length / 2)]!)}, max ${Math.round(sorted.at(-1)!)}); ${src.all.length} samples, none wrong and good; repairs ${d.repairs}, rebuilds ${d.rebuilds}; ${warns} warn lines`);
    } finally {
      await src.stop();
      await sim.stop();
    }
  });
}

it('leaves no socket or timer behind after stop()', async () => {
  assert.deepEqual(await socketsAndTimersLeft(), []);
});
