import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { FgError } from '../../src/core/errors.ts';

/**
 * The client's PKI store: <dataDir>/pki/opcua/client with own/ (our application certificate,
 * created on first use by node-opcua), trusted/certs/ (server certificates the user trusts),
 * rejected/ (server certificates seen but not trusted). One manager per folder per process,
 * shared by every source and reference-counted.
 */
interface Shared {
  manager: OPCUACertificateManager;
  refs: number;
  ready: Promise<void>;
}
const stores = new Map<string, Shared>();

export function clientPkiDir(dataDir: string): string {
  return join(dataDir, 'pki', 'opcua', 'client');
}

export interface PkiLease {
  manager: OPCUACertificateManager;
  rootDir: string;
  release(): Promise<void>;
}

export async function leaseClientPki(dataDir: string): Promise<PkiLease> {
  const rootDir = clientPkiDir(dataDir);
  let s = stores.get(rootDir);
  if (!s) {
    // watchers off: they hold fs handles; the trust list is reloaded before each check instead
    const manager = new OPCUACertificateManager({ rootFolder: rootDir, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
    s = { manager, refs: 0, ready: manager.initialize() };
    stores.set(rootDir, s);
  }
  s.refs++;
  const shared = s;
  try {
    await shared.ready;
  } catch (e) {
    await release();
    throw new FgError('FG_E_DATA_DIR', `cannot open the OPC UA certificate store ${rootDir}: ${(e as Error).message}`, { cause: e });
  }
  let released = false;
  async function release(): Promise<void> {
    if (released) return;
    released = true;
    if (--shared.refs === 0) {
      stores.delete(rootDir);
      await shared.manager.dispose();
    }
  }
  return { manager: shared.manager, rootDir, release };
}

/** SHA-1 thumbprint of a certificate (PEM or DER; the leaf of a DER chain), 40 lowercase hex digits. */
export function thumbprintOf(cert: Buffer | string): string {
  return new X509Certificate(cert).fingerprint.replace(/:/g, '').toLowerCase();
}

function describeCert(der: Buffer): string {
  try {
    const x = new X509Certificate(der);
    const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1] ?? x.subject;
    return `"${cn}", valid ${new Date(x.validFrom).toISOString().slice(0, 10)} to ${new Date(x.validTo).toISOString().slice(0, 10)}`;
  } catch {
    return 'unparseable certificate';
  }
}

/** Finds the file holding a certificate in a folder of PEM/DER files, by thumbprint. */
async function findCertFile(dir: string, thumbprint: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const n of names) {
    if (!/\.(pem|der|crt)$/i.test(n)) continue;
    try {
      if (thumbprintOf(await readFile(join(dir, n))) === thumbprint) return join(dir, n);
    } catch {
      // not a certificate: ignore
    }
  }
  return undefined;
}

/**
 * Decides whether a server certificate is trusted: by thumbprint from the config, or by its
 * file in trusted/certs. An untrusted one is left in rejected/ and refused with
 * FG_E_OPCUA_UNTRUSTED naming the thumbprint and the exact move that trusts it.
 */
export async function assertServerTrusted(
  pki: PkiLease, serverCert: Buffer, opts: { sourceId: string; endpoint: string; trustedThumbprints: readonly string[] },
): Promise<string> {
  const tp = thumbprintOf(serverCert);
  if (opts.trustedThumbprints.includes(tp)) return tp;
  const rejectedDir = pki.manager.rejectedFolder;
  const trustedDir = pki.manager.trustedFolder;
  // the user may have moved a file since the last attempt
  await pki.manager.reloadCertificates();
  // A move that lands while a check runs can leave the certificate in both folders (the check
  // found it in neither and wrote it to rejected/ again); node-opcua then takes rejected/ first,
  // for good. The user's intent is plain: a copy in trusted/ wins and the stale one goes.
  if (await findCertFile(trustedDir, tp)) {
    const stale = await findCertFile(rejectedDir, tp);
    if (stale) {
      await rm(stale, { force: true });
      await pki.manager.reloadCertificates();
    }
  }
  const status = await pki.manager.checkCertificate(serverCert);
  if (status.isGood()) return tp;
  let file = await findCertFile(rejectedDir, tp);
  if (!file) {
    // checkCertificate writes it only the first time it sees it; make sure the user has a file to move
    file = join(rejectedDir, `${tp}.der`);
    await writeFile(file, serverCert);
  }
  const why = status.name === 'BadCertificateUntrusted' ? 'is not trusted' : `was refused (${status.name})`;
  throw new FgError(
    'FG_E_OPCUA_UNTRUSTED',
    `source ${opts.sourceId}: the server certificate of ${opts.endpoint} (${describeCert(serverCert)}, SHA-1 thumbprint ${tp}) ${why}. ` +
      `If this is the right server, trust it: move ${file} to ${trustedDir}/ ` +
      `or add '${tp}' to trustedServerThumbprints of source ${opts.sourceId}. The source retries by itself.`,
    { details: { thumbprint: tp, rejectedFile: file, trustedDir, status: status.name } },
  );
}
