import { readFile } from 'node:fs/promises';
import {
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type UserIdentityInfo,
} from 'node-opcua-client';
import { FgError, isFgError, errorMessage } from '../../src/core/errors.ts';
import { registerSecret } from '../../src/log.ts';
import type { OpcuaSourceConfig } from './config.ts';
import { assertServerTrusted, thumbprintOf, type PkiLease } from './pki.ts';

/** Our application identity; the certificate in <dataDir>/pki/opcua/client/own is made for it once. */
export const APPLICATION_NAME = 'fieldgate';
export const APPLICATION_URI = 'urn:fieldgate:client';

export interface Connection {
  client: OPCUAClient;
  session: ClientSession;
  /** thumbprint of the trusted server certificate (undefined with securityMode None) */
  serverThumbprint?: string;
  /** closes the session and the channel; safe to call twice */
  close(): Promise<void>;
}

type ConnectConfig = Pick<OpcuaSourceConfig, 'id' | 'endpoint' | 'securityMode' | 'securityPolicy' | 'trustedServerThumbprints' | 'serverCertificateFile' | 'identity' | 'requestTimeout' | 'keepAliveInterval' | 'reconnect'>;

/** Rejects when the signal aborts, so a hanging node-opcua call cannot hold up stop(). */
function abortable<T>(p: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', abort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', abort); reject(e); },
    );
  });
}

/** Asks the server (over an unsecured discovery channel) for the endpoint we want and its certificate. */
async function discoverServerCertificate(cfg: ConnectConfig, pki: PkiLease, signal: AbortSignal): Promise<Buffer> {
  const probe = OPCUAClient.create({
    applicationName: APPLICATION_NAME,
    applicationUri: APPLICATION_URI,
    clientCertificateManager: pki.manager,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    endpointMustExist: false,
    transportTimeout: cfg.requestTimeout,
    defaultTransactionTimeout: cfg.requestTimeout,
  });
  try {
    await abortable(probe.connect(cfg.endpoint), signal, () => void probe.disconnect());
    const endpoints = await abortable(probe.getEndpoints(), signal, () => void probe.disconnect());
    const wantedPolicy = SecurityPolicy[cfg.securityPolicy];
    const match = endpoints.find((e) => e.securityMode === MessageSecurityMode[cfg.securityMode] && e.securityPolicyUri === wantedPolicy);
    if (!match) {
      const offered = endpoints.map((e) => `${MessageSecurityMode[e.securityMode]}/${(e.securityPolicyUri ?? '').split('#')[1] ?? '?'}`);
      throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: ${cfg.endpoint} offers no ${cfg.securityMode}/${cfg.securityPolicy} endpoint; it offers ${[...new Set(offered)].join(', ')}`);
    }
    if (!match.serverCertificate || match.serverCertificate.length === 0) {
      throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: ${cfg.endpoint} sent no certificate for its ${cfg.securityMode} endpoint`);
    }
    return match.serverCertificate;
  } catch (e) {
    if (isFgError(e) || signal.aborted) throw e;
    const msg = firstLine(e);
    if (/BadSecurityPolicyRejected|BadSecurityModeRejected/i.test(msg)) {
      // a hardened server: no unsecured channel at all, not even to ask for its endpoints
      throw new FgError('FG_E_OPCUA_CONNECT',
        `source ${cfg.id}: ${cfg.endpoint} refused the unsecured channel fieldgate uses to ask for its endpoints and certificate (${msg}). ` +
        `This server accepts secure channels only: set serverCertificateFile to a copy of the server's certificate (PEM or DER, path relative to the config file) ` +
        `and fieldgate opens the ${cfg.securityMode}/${cfg.securityPolicy} channel directly`, { cause: e, details: { option: 'serverCertificateFile' } });
    }
    throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: cannot reach ${cfg.endpoint}: ${msg}`, { cause: e });
  } finally {
    await probe.disconnect().catch(() => {});
  }
}

/** A certificate file as DER: PEM (the first certificate in it) or DER as it is. */
export function certificateDer(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  if (!text.includes('-----BEGIN')) return raw;
  const m = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(text);
  if (!m) throw new Error('a PEM file without a CERTIFICATE block');
  return Buffer.from(m[1]!.replace(/\s/g, ''), 'base64');
}

/** The configured server certificate: read, checked to be a certificate, its thumbprint taken. */
async function configuredServerCertificate(cfg: ConnectConfig, file: string, resolvePath: (p: string) => string): Promise<{ der: Buffer; thumbprint: string }> {
  const path = resolvePath(file);
  try {
    const der = certificateDer(await readFile(path));
    return { der, thumbprint: thumbprintOf(der) };
  } catch (e) {
    throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: serverCertificateFile ${path} is not a readable X.509 certificate (PEM or DER): ${firstLine(e)}`, { cause: e });
  }
}

async function identityOf(cfg: ConnectConfig, resolvePath: (p: string) => string): Promise<UserIdentityInfo> {
  const id = cfg.identity;
  switch (id.kind) {
    case 'anonymous':
      return { type: UserTokenType.Anonymous };
    case 'username':
      registerSecret(id.password);
      return { type: UserTokenType.UserName, userName: id.username, password: id.password };
    case 'certificate': {
      const certRaw = await readFile(resolvePath(id.certificateFile));
      const key = await readFile(resolvePath(id.privateKeyFile), 'utf8');
      return { type: UserTokenType.Certificate, certificateData: certificateDer(certRaw), privateKey: key };
    }
  }
}

export function firstLine(e: unknown): string {
  const m = errorMessage(e);
  return m.split('\n')[0]!.trim();
}

/**
 * Opens a channel and a session. With security, the server certificate is checked by us first
 * (thumbprint in the config or file in trusted/certs) and then pinned, so node-opcua never
 * decides trust on its own. The first connect fails fast (the caller retries with backoff);
 * once up, node-opcua's own reconnection (transfer, then recreate) is switched on.
 */
export async function openConnection(
  cfg: ConnectConfig, pki: PkiLease, resolvePath: (p: string) => string, signal: AbortSignal,
): Promise<Connection> {
  let serverCertificate: Buffer | undefined;
  let serverThumbprint: string | undefined;
  if (cfg.securityMode !== 'None' && cfg.serverCertificateFile !== undefined) {
    // given up front: no unsecured GetEndpoints request at all; naming the file is the trust decision
    ({ der: serverCertificate, thumbprint: serverThumbprint } = await configuredServerCertificate(cfg, cfg.serverCertificateFile, resolvePath));
  } else if (cfg.securityMode !== 'None') {
    serverCertificate = await discoverServerCertificate(cfg, pki, signal);
    serverThumbprint = await assertServerTrusted(pki, serverCertificate, {
      sourceId: cfg.id, endpoint: cfg.endpoint, trustedThumbprints: cfg.trustedServerThumbprints,
    });
  }
  const identity = await identityOf(cfg, resolvePath);
  const client = OPCUAClient.create({
    applicationName: APPLICATION_NAME,
    applicationUri: APPLICATION_URI,
    clientCertificateManager: pki.manager,
    securityMode: MessageSecurityMode[cfg.securityMode],
    securityPolicy: cfg.securityMode === 'None' ? SecurityPolicy.None : SecurityPolicy[cfg.securityPolicy],
    serverCertificate,
    endpointMustExist: false,
    keepSessionAlive: true,
    keepAliveInterval: cfg.keepAliveInterval,
    requestedSessionTimeout: Math.max(60_000, cfg.keepAliveInterval * 10),
    connectionStrategy: { maxRetry: 0, initialDelay: cfg.reconnect.initialDelay, maxDelay: cfg.reconnect.maxDelay },
    transportTimeout: cfg.requestTimeout,
    defaultTransactionTimeout: cfg.requestTimeout,
  });
  const drop = () => void client.disconnect().catch(() => {});
  try {
    await abortable(client.connect(cfg.endpoint), signal, drop);
    const session = await abortable(client.createSession(identity), signal, drop);
    // from here on, a lost connection is repaired by node-opcua (session reactivated or recreated,
    // subscriptions transferred or recreated); the source's staleness watchdog covers its failures
    (client.connectionStrategy as { maxRetry: number }).maxRetry = -1;
    let closed = false;
    return {
      client,
      session,
      serverThumbprint,
      async close() {
        if (closed) return;
        closed = true;
        (client.connectionStrategy as { maxRetry: number }).maxRetry = 0;
        await withTimeout(session.close(true), 2_000).catch(() => {});
        await withTimeout(client.disconnect(), 2_000).catch(() => {});
      },
    };
  } catch (e) {
    await client.disconnect().catch(() => {});
    if (isFgError(e) || signal.aborted) throw e;
    const msg = firstLine(e);
    if (/BadUserAccessDenied|BadIdentityToken/i.test(msg)) {
      const hint = identity.type === UserTokenType.Certificate
        ? `; the server must trust the user certificate ${cfg.identity.kind === 'certificate' ? cfg.identity.certificateFile : ''} (SHA-1 thumbprint ${thumbprintOf(identity.certificateData)})`
        : '';
      throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: ${cfg.endpoint} refused the user identity (${cfg.identity.kind}): ${msg}${hint}`, { cause: e });
    }
    if (/BadSecurityChecksFailed|BadCertificate/i.test(msg)) {
      throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: ${cfg.endpoint} refused our client certificate (${msg}); trust ${pki.rootDir}/own/certs/client_certificate.pem on the server`, { cause: e });
    }
    // with a pinned certificate, a refused handshake most often means the server has another one now
    const pinned = cfg.serverCertificateFile !== undefined && cfg.securityMode !== 'None'
      ? `; check that serverCertificateFile ${resolvePath(cfg.serverCertificateFile)} (SHA-1 thumbprint ${serverThumbprint}) is the server's current certificate`
      : '';
    throw new FgError('FG_E_OPCUA_CONNECT', `source ${cfg.id}: cannot connect to ${cfg.endpoint}: ${msg.replace(/,$/, '')}${pinned}`, { cause: e });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<undefined>((r) => { t = setTimeout(() => r(undefined), ms); })]).finally(() => clearTimeout(t));
}
