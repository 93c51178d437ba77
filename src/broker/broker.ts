import { createServer, type Server, type Socket } from 'node:net';
import type { Aedes } from 'aedes';
import { FgError } from '../core/errors.ts';
import { loadOnUse } from '../core/load-on-use.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { Stage, StageContext } from '../core/contracts.ts';
import type { BrokerConfig } from './config.ts';

/**
 * An in-process MQTT broker (aedes) on a TCP port. It starts before the sinks so an MQTT sink
 * pointed at it connects at once, and stops after them.
 */
export class BrokerStage implements Stage {
  readonly name = 'broker';
  readonly kind = 'sink' as const;
  private server?: Server;
  private broker?: Aedes;
  private readonly sockets = new Set<Socket>();
  private clients = 0;
  private boundPort = 0;

  constructor(private readonly cfg: BrokerConfig, private readonly ctx: StageContext) {}

  /** the port actually bound (differs from the config when it says 0) */
  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `mqtt://${this.cfg.host}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    // aedes is loaded here, not at import: a configuration without the broker never loads it
    const { Aedes } = await loadOnUse('broker', 'aedes', () => import('aedes'));
    const broker = await Aedes.createBroker();
    broker.on('client', () => { this.clients++; });
    broker.on('clientDisconnect', () => { this.clients--; });
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE') {
          reject(new FgError('FG_E_PORT_IN_USE',
            `the embedded MQTT broker cannot listen on ${this.cfg.host}:${this.cfg.port}: the port is already in use ` +
            `(another broker such as Mosquitto?). Set broker.port to a free port, or broker.enabled: false to use the existing broker`));
        } else reject(e);
      });
      server.listen(this.cfg.port, this.cfg.host, () => resolve());
    });
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.cfg.port;
    this.server = server;
    this.broker = broker;
    this.ctx.log.info({ stage: this.name, url: this.url }, 'embedded MQTT broker listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = undefined;
    this.broker = undefined;
    if (!server || !broker) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }

  probe(): ProbeResult {
    if (!this.server) return { state: 'down', reason: 'not listening' };
    return { state: 'up', details: { url: this.url, clients: this.clients } };
  }
}
