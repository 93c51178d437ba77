import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPCUACertificateManager } from 'node-opcua';
import { isFgError } from '../../src/core/errors.ts';
import { opcuaSourceSchema } from './config.ts';
import { openConnection } from './connect.ts';
import { clientPkiDir, leaseClientPki, thumbprintOf } from './pki.ts';
import type { OpcuaSimulatorHandle } from './sim/server.ts';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';

describe('opcua security: SignAndEncrypt, explicit trust, user identity', () => {
  let simData: Awaited<ReturnType<typeof tempDataDir>>;
  let sim: OpcuaSimulatorHandle;
  before(async () => {
    simData = await tempDataDir();
    sim = await startSim(simData.dir, {
      securityModes: ['SignAndEncrypt'],
      securityPolicies: ['Basic256Sha256', 'Aes256_Sha256_RsaPss'],
      allowAnonymous: false,
      users: [{ username: 'operator', password: 's3cret-pw' }],
      variables: [{ path: 'Line1/Temp', generator: { kind: 'sine', amplitude: 5, offset: 50, period: '2s' } }],
    });
  });
  after(async () => {
    await sim?.stop();
    await simData?.remove();
  });

  const source = (extra: Record<string, unknown>) => ({
    endpoint: sim.address,
    securityMode: 'SignAndEncrypt',
    identity: { kind: 'username', username: 'operator', password: 's3cret-pw' },
    publishingInterval: '100ms',
    samplingInterval: '100ms',
    reconnect: { initialDelay: '100ms', maxDelay: '300ms' },
    tags: [{ name: 'temp', nodeId: 'ns=1;s=Line1.Temp' }],
    ...extra,
  });

  it('refuses an untrusted server naming its thumbprint and the file to move, then connects once it is moved', async () => {
    const data = await tempDataDir();
    try {
      const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source({}) });
      const pki = await leaseClientPki(data.dir);
      let err: unknown;
      try {
        await openConnection(cfg, pki, (p) => p, AbortSignal.timeout(10_000));
      } catch (e) {
        err = e;
      } finally {
        await pki.release();
      }
      assert.ok(isFgError(err, 'FG_E_OPCUA_UNTRUSTED'), String(err));
      assert.ok(err.message.includes(sim.thumbprint), err.message);
      const rejected = err.details!.rejectedFile as string;
      const trustedDir = join(clientPkiDir(data.dir), 'trusted', 'certs');
      assert.equal(err.details!.trustedDir, trustedDir);
      assert.ok(err.message.includes(`move ${rejected} to ${trustedDir}/`), err.message);
      assert.ok(existsSync(rejected), 'the rejected certificate is on disk, ready to be moved');
      assert.ok(rejected.startsWith(join(clientPkiDir(data.dir), 'rejected')));
      // our own application certificate was created once, under the data directory
      assert.ok(existsSync(join(clientPkiDir(data.dir), 'own', 'certs', 'client_certificate.pem')));

      // a running source reports the same refusal on its probe and keeps retrying
      const src = runSource(data.dir, source({}));
      try {
        await src.until(() => /FG_E_OPCUA_UNTRUSTED/.test(src.probe().reason ?? ''), 10_000, 'the untrusted probe');
        assert.equal(src.probe().state, 'down');
        assert.equal(src.latest.size, 0, 'no data from an untrusted server');
        // do what the message says
        await mkdir(trustedDir, { recursive: true });
        await rename(rejected, join(trustedDir, basename(rejected)));
        // a check running during the move can write the certificate to rejected/ again (seen in
        // CI): the copy in trusted/ must still win
        await copyFile(join(trustedDir, basename(rejected)), rejected);
        await src.until(() => src.latest.get('temp')?.sample.quality === 'good', 10_000, 'data after trusting');
        assert.equal(src.probe().details!.serverThumbprint, sim.thumbprint);
      } finally {
        await src.stop();
      }
    } finally {
      await data.remove();
    }
  });

  it('trusts a server by the thumbprint in the config (Aes256_Sha256_RsaPss)', async () => {
    const data = await tempDataDir();
    try {
      const tp = sim.thumbprint.toUpperCase().match(/../g)!.join(':'); // as tools print it
      const src = runSource(data.dir, source({ securityPolicy: 'Aes256_Sha256_RsaPss', trustedServerThumbprints: [tp] }));
      try {
        await src.until(() => src.latest.get('temp')?.sample.quality === 'good', 10_000, 'data over Aes256_Sha256_RsaPss');
        const v = src.latest.get('temp')!.sample.value as number;
        assert.ok(v >= 45 && v <= 55);
      } finally {
        await src.stop();
      }
    } finally {
      await data.remove();
    }
  });

  it('reports a wrong password and an endpoint the server does not offer', async () => {
    const data = await tempDataDir();
    const pki = await leaseClientPki(data.dir);
    try {
      const wrong = opcuaSourceSchema.parse({
        type: 'opcua', id: 'plc', ...source({ trustedServerThumbprints: [sim.thumbprint], identity: { kind: 'username', username: 'operator', password: 'nope' } }),
      });
      await assert.rejects(openConnection(wrong, pki, (p) => p, AbortSignal.timeout(10_000)), (e: unknown) => {
        assert.ok(isFgError(e, 'FG_E_OPCUA_CONNECT'), String(e));
        assert.match(e.message, /refused the user identity \(username\)/);
        assert.ok(!e.message.includes('nope'), 'the password is not in the message');
        return true;
      });
      const sign = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source({ securityMode: 'Sign', trustedServerThumbprints: [sim.thumbprint] }) });
      await assert.rejects(openConnection(sign, pki, (p) => p, AbortSignal.timeout(10_000)), /offers no Sign\/Basic256Sha256 endpoint; it offers .*SignAndEncrypt\/Basic256Sha256/);
    } finally {
      await pki.release();
      await data.remove();
    }
  });
});

describe('opcua security: every mode and policy the driver offers', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let sim: OpcuaSimulatorHandle;
  before(async () => {
    data = await tempDataDir();
    // the simulator's defaults: None, Sign and SignAndEncrypt with all four policies
    sim = await startSim(data.dir, { variables: [{ path: 'Line1/Temp', generator: { kind: 'constant', value: 21.5 } }] });
  });
  after(async () => {
    await sim?.stop();
    await data?.remove();
  });

  for (const [mode, policy] of [
    ['Sign', 'Basic256Sha256'], ['Sign', 'Aes128_Sha256_RsaOaep'], ['SignAndEncrypt', 'Aes128_Sha256_RsaOaep'], ['Sign', 'Aes256_Sha256_RsaPss'],
  ] as const) {
    it(`${mode} / ${policy}`, async () => {
      const src = runSource(data.dir, {
        endpoint: sim.address, securityMode: mode, securityPolicy: policy, trustedServerThumbprints: [sim.thumbprint],
        publishingInterval: '100ms', tags: [{ name: 'temp', nodeId: 'ns=1;s=Line1.Temp' }],
      });
      try {
        await src.until(() => src.latest.has('temp'), 10_000, `data over ${mode}/${policy}`);
        assert.deepEqual([src.latest.get('temp')!.sample.value, src.latest.get('temp')!.sample.quality], [21.5, 'good']);
      } finally {
        await src.stop();
      }
    });
  }
});

/** A self-signed user certificate and its key, made by node-opcua's own certificate manager in dir. */
async function makeUserCertificate(dir: string, user: string): Promise<{ certificateFile: string; privateKeyFile: string }> {
  const manager = new OPCUACertificateManager({ rootFolder: join(dir, `pki-${user}`), automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  try {
    await manager.initialize();
    const certificateFile = join(dir, `${user}.pem`);
    await manager.createSelfSignedCertificate({
      applicationUri: `urn:fieldgate:user:${user}`,
      subject: `/CN=${user}`,
      dns: [],
      startDate: new Date(Date.now() - 24 * 3600_000),
      validity: 365,
      outputFile: certificateFile,
    });
    return { certificateFile, privateKeyFile: manager.privateKey };
  } finally {
    await manager.dispose();
  }
}

describe('opcua security: X.509 user identity (identity kind certificate)', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let sim: OpcuaSimulatorHandle;
  let trusted: { certificateFile: string; privateKeyFile: string };
  let stranger: { certificateFile: string; privateKeyFile: string };
  before(async () => {
    data = await tempDataDir();
    trusted = await makeUserCertificate(data.dir, 'operator');
    stranger = await makeUserCertificate(data.dir, 'stranger');
    sim = await startSim(data.dir, {
      securityModes: ['SignAndEncrypt'],
      securityPolicies: ['Basic256Sha256'],
      allowAnonymous: false,
      trustedUserCertificates: [trusted.certificateFile],
      variables: [{ path: 'Line1/Temp', generator: { kind: 'constant', value: 21.5 } }],
    });
  });
  after(async () => {
    await sim?.stop();
    await data?.remove();
  });

  const source = (identity: { certificateFile: string; privateKeyFile: string }) => ({
    endpoint: sim.address,
    securityMode: 'SignAndEncrypt',
    trustedServerThumbprints: [sim.thumbprint],
    identity: { kind: 'certificate', ...identity },
    publishingInterval: '100ms',
    reconnect: { initialDelay: '100ms', maxDelay: '300ms' },
    tags: [{ name: 'temp', nodeId: 'ns=1;s=Line1.Temp' }],
  });

  it('connects with a user certificate the server trusts and delivers good data', async () => {
    const src = runSource(data.dir, source(trusted));
    try {
      await src.until(() => src.latest.has('temp'), 15_000, 'data with a certificate identity');
      assert.deepEqual([src.latest.get('temp')!.sample.value, src.latest.get('temp')!.sample.quality], [21.5, 'good']);
      assert.equal(src.probe().state, 'up');
    } finally {
      await src.stop();
    }
  });

  it('reports a user certificate the server does not trust', async () => {
    const pki = await leaseClientPki(data.dir);
    try {
      const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source(stranger) });
      await assert.rejects(openConnection(cfg, pki, (p) => p, AbortSignal.timeout(15_000)), (e: unknown) => {
        assert.ok(isFgError(e, 'FG_E_OPCUA_CONNECT'), String(e));
        assert.match(e.message, /refused the user identity \(certificate\)/);
        // it names the certificate to trust on the server, by file and thumbprint
        assert.ok(e.message.includes(stranger.certificateFile), e.message);
        assert.ok(e.message.includes(thumbprintOf(readFileSync(stranger.certificateFile))), e.message);
        return true;
      });
    } finally {
      await pki.release();
    }
  });
});
