import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';
import { socketsAndTimersLeft } from '../../test/support/wait.ts';

// Users of node-opcua report reconnects that do not restore subscriptions. This guards against it:
// the simulator is stopped and started again on the same port mid-stream (a server restart, so the
// session and subscription are gone on the server side), and every tag must report again within 10 s.
let data: Awaited<ReturnType<typeof tempDataDir>>;
before(async () => { data = await tempDataDir(); });
after(async () => { await data.remove(); });

const simConfig = {
  variables: Array.from({ length: 20 }, (_, i) => ({ path: `Line1/T${i}`, generator: { kind: 'ramp', min: 0, max: 1000, period: '5s' } })),
};
const tags = simConfig.variables.map((v) => `ns=1;s=${v.path.replace('/', '.')}`);

for (const mode of ['subscription', 'polling'] as const) {
  it(`${mode}: every tag resumes within 10 s after the server restarts on the same port`, async () => {
    let sim = await startSim(data.dir, simConfig);
    const port = sim.port;
    const src = runSource(data.dir, {
      endpoint: sim.address, securityMode: 'None', mode, publishingInterval: '100ms', samplingInterval: '100ms', pollInterval: '100ms',
      keepAliveInterval: '1s', reconnect: { initialDelay: '100ms', maxDelay: '1s' }, tags,
    });
    try {
      await src.until(() => src.latest.size === tags.length, 10_000, 'all tags before the restart');
      await sim.stop();
      const stoppedAt = performance.now();
      await new Promise((r) => setTimeout(r, 1500));
      assert.notEqual(src.probe().state, 'up', 'the probe notices the outage');
      sim = await startSim(data.dir, { ...simConfig, port });
      const restartedAt = performance.now();
      await src.until(() => tags.every((t) => src.latest.get(t)!.at > restartedAt), 10_000, 'every tag after the restart');
      const resumeMs = performance.now() - restartedAt;
      assert.ok(resumeMs < 10_000, `resumed in ${resumeMs} ms`);
      // and it keeps flowing: each tag reports again after that
      const mark = performance.now();
      await src.until(() => tags.every((t) => src.latest.get(t)!.at > mark), 5_000, 'continued flow');
      await src.until(() => src.probe().state === 'up', 5_000, 'probe up again');
      const d = src.probe().details!;
      console.log(`${mode}: outage ${Math.round(restartedAt - stoppedAt)} ms, all ${tags.length} tags back ${Math.round(resumeMs)} ms after restart (repairs ${d.repairs}, rebuilds ${d.rebuilds})`);
    } finally {
      await src.stop();
      await sim.stop();
    }
  });
}

it('subscription: a subscription the server drops silently is rebuilt by the watchdog', async () => {
  const sim = await startSim(data.dir, simConfig);
  const src = runSource(data.dir, {
    endpoint: sim.address, securityMode: 'None', publishingInterval: '100ms', samplingInterval: '100ms',
    keepAliveInterval: '1s', reconnect: { initialDelay: '100ms', maxDelay: '1s' }, tags,
  });
  try {
    await src.until(() => src.latest.size === tags.length, 10_000, 'all tags');
    // the connection stays up, but the server forgets the subscription: no data, no keep-alive
    for (const session of sim.server.engine.getSessions()) {
      for (const sub of session.publishEngine.subscriptions) session.deleteSubscription(sub.id);
    }
    const droppedAt = performance.now();
    await src.until(() => tags.every((t) => src.latest.get(t)!.at > droppedAt + 500), 10_000, 'every tag after the subscription was dropped');
    console.log(`silent drop: all tags back ${Math.round(performance.now() - droppedAt)} ms later (rebuilds ${src.probe().details!.rebuilds}, repairs ${src.probe().details!.repairs})`);
  } finally {
    await src.stop();
    await sim.stop();
  }
});

it('leaves no socket or timer behind after stop()', async () => {
  assert.deepEqual(await socketsAndTimersLeft(), []);
});
