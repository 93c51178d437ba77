import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesPublishPacket } from 'aedes';

export interface Received { topic: string; payload: Buffer; qos: number }

/**
 * A real MQTT broker (aedes) on a loopback port, for tests and the benchmark. `stop()` drops every
 * connection and closes the port; `start()` listens again on the same port (port 0 the first time).
 */
export class TestBroker {
  port = 0;
  readonly received: Received[] = [];
  onPublish?: (p: Received) => void;
  private broker?: Aedes;
  private server?: Server;
  private sockets = new Set<Socket>();

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    broker.on('publish', (packet: AedesPublishPacket, client) => {
      // client null: the broker's own $SYS messages (wills carry the client). A packet a stopped
      // broker finishes processing after stop() reaches nobody: no subscriber of the next broker
      // would see it, so it is not recorded (seen under load: an old record listed after the restart)
      if (client && this.broker === broker) this.record(packet);
    });
    const server = createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      broker.handle(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.broker = broker;
    this.server = server;
  }

  private record(packet: AedesPublishPacket): void {
    if (packet.topic.startsWith('$SYS')) return;
    const r: Received = { topic: packet.topic, payload: Buffer.from(packet.payload as Buffer), qos: packet.qos };
    this.received.push(r);
    this.onPublish?.(r);
  }

  /** Cuts every client connection without a DISCONNECT (wills fire). */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = undefined;
    this.broker = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
}
