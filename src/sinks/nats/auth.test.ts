import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { nkeys, type TlsOptions } from '@nats-io/transport-node';
import { createOutbox, outboxSchema } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { NatsCluster, natsServerBinary } from '../../../test/support/nats/test-cluster.ts';
import { until } from '../../../test/support/wait.ts';

const bin = natsServerBinary();
const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));

/** Runs a sink with `cfg` until it delivered 20 records (or `expectError` shows in its probe). */
async function deliver(server: NatsCluster, stream: string, cfg: object, expectError?: RegExp): Promise<void> {
  const ctx = tempContext('gw-a');
  const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
  const sink = createSink(sinkSchema.parse({
    id: 'js', type: 'nats', servers: server.urls, stream, subject: `${stream.toLowerCase()}.{source}`,
    backoff: { initial: '20ms', max: '200ms' }, connectTimeout: '2s', ...cfg,
  }), box, ctx);
  try {
    await box.start();
    await sink.start();
    await box.writeSamples(numberBatch('plc1', 0, 20));
    if (expectError) {
      await until('connect error', () => sink.probe().details?.lastError !== undefined, 15_000);
      const p = sink.probe();
      assert.equal(p.state, 'down');
      assert.match(String(p.reason), expectError);
      assert.equal(p.details?.backlog, 20, 'the records wait in the outbox');
    } else {
      await until('delivered', () => sink.probe().details?.backlog === 0, 15_000);
      assert.equal(sink.probe().state, 'up');
    }
  } finally {
    await sink.stop(2000);
    await box.stop(2000);
    ctx.cleanup();
  }
}

describe('nats sink credentials: user/password and NKey', { skip: bin.path ? false : bin.why }, () => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  let server: NatsCluster;
  before(async () => {
    server = await NatsCluster.start(bin.path!, 1,
      `authorization { users: [ { user: "gw", password: "pw-s3cret" }, { nkey: "${user.getPublicKey()}" } ] }`,
      { user: 'gw', pass: 'pw-s3cret' });
    const nc = await server.client();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'AUTH', subjects: ['auth.>'], storage: 'memory' as never });
    await nc.close();
  });
  after(async () => { await server?.stop(); });

  test('user and password', async () => {
    await deliver(server, 'AUTH', { user: 'gw', password: 'pw-s3cret' });
  });
  test('a wrong password: FG_E_SINK_CONNECT', async () => {
    await deliver(server, 'AUTH', { user: 'gw', password: 'nope' }, /FG_E_SINK_CONNECT/);
  });
  test('an NKey user seed (the server knows only the public key)', async () => {
    assert.match(seed, /^SU/);
    await deliver(server, 'AUTH', { nkeySeed: seed });
  });
});

describe('nats sink TLS: private CA, client certificate, verification', { skip: !bin.path ? bin.why : !openssl ? 'openssl is not installed (Debian package openssl; .ci/run installs it)' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-nats-tls-'));
  let server: NatsCluster;
  const f = (n: string) => join(dir, n);
  before(async () => {
    const run = (...args: string[]) => execFileSync(openssl!, args, { cwd: dir, stdio: 'pipe' });
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=fieldgate test CA');
    writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'gw1']] as const) {
      run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    }
    server = await NatsCluster.start(bin.path!, 1,
      `tls { cert_file: "${f('server.pem')}", key_file: "${f('server.key')}", ca_file: "${f('ca.pem')}", verify: true }`,
      // the rig's own client names the address for the certificate check, as the sink does
      { tls: { ca: readFileSync(f('ca.pem'), 'utf8'), cert: readFileSync(f('client.pem'), 'utf8'), key: readFileSync(f('client.key'), 'utf8'), host: '127.0.0.1' } as TlsOptions });
    const nc = await server.client();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'TLS', subjects: ['tls.>'], storage: 'memory' as never });
    await nc.close();
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the private CA and a client certificate: delivered (the certificate names only IP 127.0.0.1)', async () => {
    await deliver(server, 'TLS', { tls: { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key') } });
  });
  test('no client certificate: refused by the server', async () => {
    await deliver(server, 'TLS', { tls: { ca: f('ca.pem') } }, /FG_E_SINK_CONNECT/);
  });
  test('without the private CA the server certificate is not trusted: FG_E_SINK_CONNECT', async () => {
    await deliver(server, 'TLS', { tls: { cert: f('client.pem'), key: f('client.key') } }, /FG_E_SINK_CONNECT/);
  });
});
