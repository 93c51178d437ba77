// The health HTTP server on loopback: routes, bearer token (all but /healthz and /readyz),
// the dashboard assets, a clear error for a port in use, and no connection left after stop().
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { isFgError } from '../../src/core/errors.ts';
import { HealthServer, type HealthRoutes } from '../../src/health/server.ts';
import { silentLogger } from '../../src/log.ts';
import { get } from './health-testkit.ts';

function routes(ready = true): HealthRoutes {
  return {
    healthz: () => ({ ok: true, body: { status: 'ok' } }),
    readyz: () => ({ ok: ready, body: { status: ready ? 'ready' : 'not ready', reasons: ready ? [] : ['source.a is down'] } }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'fieldgate_up 1\n' }),
    status: async () => ({ stages: [], big: 12n }),
  };
}

test('routes answer on an ephemeral port; readiness 503 carries its reasons', async () => {
  const s = new HealthServer({ host: '127.0.0.1', port: 0, routes: routes(false), log: silentLogger(), stage: 'health' });
  await s.start();
  try {
    const url = s.url!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await get(`${url}/healthz`)).status, 200);
    const r = await get(`${url}/readyz`);
    assert.equal(r.status, 503);
    assert.deepEqual((JSON.parse(r.body) as { reasons: string[] }).reasons, ['source.a is down']);
    const m = await get(`${url}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], 'text/plain; version=0.0.4');
    const st = await get(`${url}/api/status`);
    assert.deepEqual(JSON.parse(st.body), { stages: [], big: '12' }, 'bigint travels as a string');
    const page = await get(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<script src="\/dashboard.js">/);
    const uplot = await get(`${url}/vendor/uPlot.iife.min.js`);
    assert.equal(uplot.status, 200);
    assert.match(uplot.body, /uPlot/);
    assert.equal((await get(`${url}/nope`)).status, 404);
  } finally {
    await s.stop();
  }
});

test('a token protects everything but /healthz and /readyz; the dashboard trades ?token= for a cookie', async () => {
  const token = 's3cret-token-value';
  const s = new HealthServer({ host: '127.0.0.1', port: 0, token, routes: routes(), log: silentLogger(), stage: 'health' });
  await s.start();
  try {
    const url = s.url!;
    assert.equal((await get(`${url}/healthz`)).status, 200);
    assert.equal((await get(`${url}/readyz`)).status, 200);
    for (const p of ['/metrics', '/api/status', '/', '/dashboard.js']) {
      const r = await get(`${url}${p}`);
      assert.equal(r.status, 401, p);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="fieldgate"');
    }
    assert.equal((await get(`${url}/metrics`, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await get(`${url}/metrics`, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await get(`${url}/?token=wrong`)).status, 401);
    const login = await get(`${url}/?token=${token}`);
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, '/');
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    assert.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
    assert.equal((await get(`${url}/api/status`, { cookie })).status, 200);
  } finally {
    await s.stop();
  }
});

test('a port in use gives one clear FG_E_PORT_IN_USE message: which port, which stage, what to change', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const s = new HealthServer({ host: '127.0.0.1', port, routes: routes(), log: silentLogger(), stage: 'health' });
  try {
    await assert.rejects(s.start(), (e: unknown) => {
      assert.ok(isFgError(e, 'FG_E_PORT_IN_USE'));
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(e.message, /stage "health"/);
      assert.match(e.message, /Set health\.port/);
      return true;
    });
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
});

test('stop() closes keep-alive connections too', async () => {
  const s = new HealthServer({ host: '127.0.0.1', port: 0, routes: routes(), log: silentLogger(), stage: 'health' });
  await s.start();
  const { request, Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    request(`${s.url}/healthz`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject).end();
  });
  const t0 = Date.now();
  await s.stop();
  assert.ok(Date.now() - t0 < 2_000, 'stop does not wait for the keep-alive timeout');
  agent.destroy();
  assert.equal(s.url, undefined);
});
