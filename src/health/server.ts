import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FgError } from '../core/errors.ts';
import type { Logger } from '../log.ts';

/** What the routes answer with; the stage supplies them. */
export interface HealthRoutes {
  healthz(): { ok: boolean; body: unknown };
  readyz(): { ok: boolean; body: unknown };
  metrics(): Promise<{ contentType: string; body: string }>;
  status(): Promise<unknown>;
  /** /api/tags, /api/series, /api/alarms ...: undefined = no such path (see api.ts) */
  api?(req: { method: string; path: string; query: URLSearchParams; user: string }): { status: number; body: unknown } | undefined;
}

interface Asset {
  type: string;
  body: Buffer;
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** The dashboard page and its script, plus uPlot straight from node_modules: no build step. */
function loadAssets(): Map<string, Asset> {
  const uplotDir = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  const dash = join(HERE, 'dashboard');
  const files: [string, string, string][] = [
    ['/', join(dash, 'index.html'), 'text/html; charset=utf-8'],
    ['/dashboard.js', join(dash, 'dashboard.js'), 'text/javascript; charset=utf-8'],
    ['/dashboard.css', join(dash, 'dashboard.css'), 'text/css; charset=utf-8'],
    ['/vendor/uPlot.iife.min.js', join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/vendor/uPlot.min.css', join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([url, file, type]) => [url, { type, body: readFileSync(file) }]));
}

const OPEN = new Set(['/healthz', '/readyz']);
const COOKIE = 'fieldgate_token';

/**
 * The health HTTP server (node:http). Binds 127.0.0.1 by default. With a token, every path but
 * /healthz and /readyz needs `Authorization: Bearer <token>`, or the cookie the dashboard gets by
 * opening `/?token=<token>` once (a browser cannot send a header when opening a page).
 */
export class HealthServer {
  private server?: Server;
  private assets?: Map<string, Asset>;
  private readonly tokenHash?: Buffer;

  constructor(
    private readonly opts: { host: string; port: number; token?: string; routes: HealthRoutes; log: Logger; stage: string },
  ) {
    // compare digests so the comparison takes the same time whatever the length
    if (opts.token) this.tokenHash = sha(opts.token);
  }

  /** host:port actually bound (port 0 resolves to the one the OS picked) */
  get address(): { host: string; port: number } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  get url(): string | undefined {
    const a = this.address;
    if (!a) return undefined;
    return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  }

  async start(): Promise<void> {
    this.assets ??= loadAssets();
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.log.error({ err, url: req.url }, 'health request failed');
        if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 5_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    const { host, port, stage } = this.opts;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        if (err.code === 'EADDRINUSE') {
          reject(new FgError(
            'FG_E_PORT_IN_USE',
            `stage "${stage}": cannot listen on ${host}:${port}: the port is already in use by another process ` +
              `(another fieldgate?). Set health.port to a free port (0 picks any free one), or stop the process that holds it ` +
              `(find it with: ss -ltnp 'sport = :${port}')`,
            { cause: err, details: { host, port, stage } },
          ));
        } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') {
          reject(new FgError(
            'FG_E_HTTP',
            `stage "${stage}": cannot listen on ${host}:${port} (${err.code}): ` +
              (err.code === 'EACCES' ? 'ports below 1024 need privileges; choose health.port >= 1024' : `${host} is not an address of this machine; fix health.host`),
            { cause: err, details: { host, port, stage } },
          ));
        } else {
          reject(new FgError('FG_E_HTTP', `stage "${stage}": cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
        }
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(port, host);
    });
    server.on('error', (err) => this.opts.log.error({ err, code: 'FG_E_HTTP' }, 'health server error'));
    this.server = server;
  }

  /** Closes the listener and every open connection (keep-alive ones too). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const t = setTimeout(() => server.closeAllConnections(), 1_000);
    await closed;
    clearTimeout(t);
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenHash) return true;
    const auth = req.headers.authorization;
    let given: string | undefined;
    if (auth?.startsWith('Bearer ')) given = auth.slice(7).trim();
    else given = cookie(req.headers.cookie, COOKIE);
    return given !== undefined && timingSafeEqual(sha(given), this.tokenHash);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    // the only writes: acknowledging an alarm, local to the gateway. A JSON content type is
    // required so a plain cross-site form cannot post it (and the cookie is SameSite=Strict).
    const ack = req.method === 'POST' && /^\/api\/alarms\/[^/]+\/ack$/.test(path);
    if (ack && !String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      send(res, 415, 'application/json', JSON.stringify({ error: 'POST with Content-Type: application/json' }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !ack) {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    const routes = this.opts.routes;
    if (path === '/healthz' || path === '/readyz') {
      const r = path === '/healthz' ? routes.healthz() : routes.readyz();
      send(res, r.ok ? 200 : 503, 'application/json', JSON.stringify(r.body));
      return;
    }
    if (!OPEN.has(path) && this.tokenHash) {
      const q = url.searchParams.get('token');
      if (path === '/' && q !== null && timingSafeEqual(sha(q), this.tokenHash)) {
        // trade the token in the URL for a cookie, and drop it from the address bar
        res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(q)}; HttpOnly; SameSite=Strict; Path=/`);
        res.setHeader('Location', '/');
        send(res, 303, 'text/plain', 'see /');
        return;
      }
      if (!this.authorized(req)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="fieldgate"');
        send(res, 401, 'application/json', JSON.stringify({ error: 'this path needs the health token: Authorization: Bearer <token> (the dashboard: open /?token=<token> once)' }));
        return;
      }
    }
    if (path === '/metrics') {
      const m = await routes.metrics();
      send(res, 200, m.contentType, m.body);
      return;
    }
    if (path === '/api/status') {
      send(res, 200, 'application/json', JSON.stringify(await routes.status(), jsonReplacer));
      return;
    }
    if (path.startsWith('/api/') && routes.api) {
      const user = this.tokenHash ? 'token holder' : `${req.socket.remoteAddress ?? 'unknown'} (no token configured)`;
      const r = routes.api({ method: req.method ?? 'GET', path, query: url.searchParams, user });
      if (r) {
        send(res, r.status, 'application/json', JSON.stringify(r.body, jsonReplacer));
        return;
      }
    }
    const asset = this.assets?.get(path === '/index.html' ? '/' : path);
    if (asset) {
      res.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
      send(res, 200, asset.type, asset.body, 'public, max-age=60');
      return;
    }
    send(res, 404, 'application/json', JSON.stringify({ error: `no such path: ${path}`, paths: ['/', '/healthz', '/readyz', '/metrics', '/api/status', '/api/tags', '/api/tags/<source>/<tag>/history?since=15m', '/api/series?since=1h', '/api/alarms'] }));
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', cache);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sha(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** bigint sample values travel as strings; NaN/Infinity as null (JSON has neither). */
function jsonReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
