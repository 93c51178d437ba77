// A TCP proxy on loopback that passes bytes from clients to a target at most `rate` bytes per
// second (the answers come back at full speed): a healthy upstream that is slow. Used by the
// overload test and bench:e2e's overload mode. The rate can change while it runs (0 = no limit).
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export class ThrottleProxy {
  port = 0;
  /** bytes passed client -> target */
  forwarded = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** the time (performance.now) at which everything passed so far has been paid for */
  private paidUntil = 0;

  constructor(private readonly targetPort: number, public rate = 0) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
      this.sockets.add(client);
      this.sockets.add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      upstream.on('data', (d: Buffer) => client.write(d));
      client.on('data', (d: Buffer) => {
        upstream.write(d);
        this.forwarded += d.length;
        if (this.rate <= 0) return;
        // one budget for every connection: the link, not a connection, is slow
        const now = performance.now();
        this.paidUntil = Math.max(this.paidUntil, now) + (d.length / this.rate) * 1000;
        const wait = this.paidUntil - now;
        if (wait > 2) {
          client.pause();
          setTimeout(() => client.resume(), wait).unref();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
