import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFgError } from '../../src/core/errors.ts';
import { browseOpcua } from './browse.ts';
import { opcuaSourceSchema } from './config.ts';
import { openConnection } from './connect.ts';
import { leaseClientPki } from './pki.ts';
import type { OpcuaSimulatorHandle } from './sim/server.ts';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';

// A hardened server: SignAndEncrypt only, and no unsecured channel at all, not even for
// GetEndpoints (node-opcua's disableDiscovery). fieldgate reaches it only when told the server
// certificate up front (serverCertificateFile), and says so in words when it is not.
describe('opcua: a server with secure endpoints only', () => {
  let simData: Awaited<ReturnType<typeof tempDataDir>>;
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let sim: OpcuaSimulatorHandle;
  let configDir: string;
  before(async () => {
    simData = await tempDataDir();
    data = await tempDataDir();
    sim = await startSim(simData.dir, {
      securityModes: ['SignAndEncrypt'],
      securityPolicies: ['Basic256Sha256'],
      disableDiscovery: true,
      variables: [{ path: 'Line1/Temp', generator: { kind: 'constant', value: 21.5 } }],
    });
    // the config directory holds the server certificate, as PEM and as DER
    configDir = join(data.dir, 'conf');
    await mkdir(join(configDir, 'certs'), { recursive: true });
    await copyFile(sim.certificateFile, join(configDir, 'certs', 'server.pem'));
    await writeFile(join(configDir, 'certs', 'server.der'), new X509Certificate(await readFile(sim.certificateFile)).raw);
  });
  after(async () => {
    await sim?.stop();
    await simData?.remove();
    await data?.remove();
  });
  const resolvePath = (p: string) => join(configDir, p);
  const source = (extra: Record<string, unknown>) => ({
    endpoint: sim.address, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256',
    publishingInterval: '100ms', samplingInterval: '100ms', reconnect: { initialDelay: '100ms', maxDelay: '300ms' },
    tags: [{ name: 'temp', nodeId: 'ns=1;s=Line1.Temp' }], ...extra,
  });

  it('refuses the unsecured endpoint request: without serverCertificateFile the error says so and names the option', async () => {
    const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source({}) });
    const pki = await leaseClientPki(data.dir);
    let err: unknown;
    try {
      await openConnection(cfg, pki, resolvePath, AbortSignal.timeout(15_000));
    } catch (e) {
      err = e;
    } finally {
      await pki.release();
    }
    assert.ok(isFgError(err, 'FG_E_OPCUA_CONNECT'), String(err));
    assert.match(err.message, /refused the unsecured channel fieldgate uses to ask for its endpoints/);
    assert.match(err.message, /set serverCertificateFile to a copy of the server's certificate/);
    assert.match(err.message, /BadSecurityPolicyRejected/);
    // a running source shows the same on its probe, and delivers nothing
    const src = runSource(data.dir, source({}), 4096, { resolvePath });
    try {
      await src.until(() => /serverCertificateFile/.test(src.probe().reason ?? ''), 15_000, 'the probe naming the option');
      assert.equal(src.probe().state, 'down');
      assert.equal(src.latest.size, 0);
    } finally {
      await src.stop();
    }
  });

  for (const file of ['certs/server.pem', 'certs/server.der']) {
    it(`connects with serverCertificateFile ${file.endsWith('pem') ? 'PEM' : 'DER'} (relative to the config file), no unsecured request`, async () => {
      const src = runSource(data.dir, source({ serverCertificateFile: file }), 4096, { resolvePath });
      try {
        await src.until(() => src.latest.get('temp')?.sample.quality === 'good', 15_000, 'data over SignAndEncrypt');
        assert.equal(src.latest.get('temp')!.sample.value, 21.5);
        assert.equal(src.probe().state, 'up');
        assert.equal(src.probe().details!.serverThumbprint, sim.thumbprint);
      } finally {
        await src.stop();
      }
    });
  }

  it('fieldgate browse takes serverCertificateFile too', async () => {
    const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source({ serverCertificateFile: 'certs/server.pem' }) });
    const entries = await browseOpcua(cfg, { dataDir: data.dir, node: 'ns=1;s=Line1', resolvePath, signal: AbortSignal.timeout(20_000) });
    assert.deepEqual(entries.map((e) => [e.nodeId, e.value]), [['ns=1;s=Line1.Temp', '21.5']]);
  });

  it('the certificate of another server is refused', async () => {
    // another simulator, another data directory: another application certificate
    const otherData = await tempDataDir();
    const other = await startSim(otherData.dir, { securityModes: ['SignAndEncrypt'], securityPolicies: ['Basic256Sha256'] });
    const pki = await leaseClientPki(data.dir);
    try {
      await copyFile(other.certificateFile, join(configDir, 'certs', 'other.pem'));
      const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source({ serverCertificateFile: 'certs/other.pem', requestTimeout: '3s' }) });
      let err: unknown;
      await openConnection(cfg, pki, resolvePath, AbortSignal.timeout(15_000)).then((c) => c.close(), (e: unknown) => { err = e; });
      assert.ok(isFgError(err, 'FG_E_OPCUA_CONNECT'), String(err));
      assert.match(err.message, new RegExp(`cannot connect to ${sim.address.replace(/[.]/g, '\\.')}`));
      assert.match(err.message, /check that serverCertificateFile .*other\.pem \(SHA-1 thumbprint [0-9a-f]{40}\) is the server's current certificate/);
      console.log(`wrong serverCertificateFile: ${err.message}`);
    } finally {
      await pki.release();
      await other.stop();
      await otherData.remove();
    }
  });

  it('a file that is not a certificate is refused with its path', async () => {
    await writeFile(join(configDir, 'certs', 'junk.pem'), 'not a certificate\n');
    const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...source({ serverCertificateFile: 'certs/junk.pem' }) });
    const pki = await leaseClientPki(data.dir);
    try {
      await assert.rejects(openConnection(cfg, pki, resolvePath, AbortSignal.timeout(10_000)),
        (e: unknown) => isFgError(e, 'FG_E_OPCUA_CONNECT') && e.message.includes(`serverCertificateFile ${join(configDir, 'certs', 'junk.pem')} is not a readable X.509 certificate`));
    } finally {
      await pki.release();
    }
  });

  it('the schema refuses serverCertificateFile with securityMode None', () => {
    const r = opcuaSourceSchema.safeParse({ type: 'opcua', id: 'plc', endpoint: 'opc.tcp://x:4840', securityMode: 'None', securityPolicy: 'None', serverCertificateFile: 'a.pem', tags: ['i=1'] });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /serverCertificateFile is for Sign or SignAndEncrypt/);
  });
});
