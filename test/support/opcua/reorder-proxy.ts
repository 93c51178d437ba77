// Test support (not used at run time): a TCP proxy in front of an OPC UA server that holds back
// every CreateMonitoredItems response until a Publish response carrying notifications has passed
// it, so the client sees an item's first value before it learns the item was created. OPC UA
// matches responses to requests by request id, so a server may answer in any order; node-opcua
// servers do this on their own when the client is slow to read its socket.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { BinaryStream, ObjectIds, PublishResponse } from 'node-opcua';

export interface ReorderProxy {
  /** opc.tcp:// address of the proxy */
  address: string;
  /** CreateMonitoredItems responses held back so far, and how many were released by a Publish response with data (the rest by the timeout) */
  held: number;
  releasedByData: number;
  close(): Promise<void>;
}

const HEADER = 8; // message type (3), chunk type (1), size (4)

/** Offset of the sequence number in an OPN or MSG chunk (after the security header), or -1. */
function sequenceOffset(chunk: Buffer): number {
  const type = chunk.toString('latin1', 0, 3);
  if (type === 'MSG' || type === 'CLO') return HEADER + 4 + 4; // secure channel id, token id
  if (type !== 'OPN') return -1;
  let at = HEADER + 4; // secure channel id, then policy URI, sender certificate, receiver thumbprint
  for (let k = 0; k < 3; k++) {
    const n = chunk.readInt32LE(at);
    at += 4 + Math.max(0, n);
  }
  return at;
}

/** The binary encoding id of a final single-chunk MSG's body (four-byte NodeId in namespace 0), or -1. */
function bodyTypeOf(chunk: Buffer): number {
  if (chunk.toString('latin1', 0, 4) !== 'MSGF') return -1;
  const at = HEADER + 16; // channel id, token id, sequence number, request id
  if (chunk.length < at + 4 || chunk[at] !== 0x01 || chunk[at + 1] !== 0) return -1;
  return chunk.readUInt16LE(at + 2);
}

function publishHasData(chunk: Buffer): boolean {
  try {
    const r = new PublishResponse();
    r.decode(new BinaryStream(chunk.subarray(HEADER + 20)));
    return (r.notificationMessage.notificationData?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

export async function startReorderProxy(target: { host?: string; port: number }, opts: { maxHoldMs?: number } = {}): Promise<ReorderProxy> {
  const maxHoldMs = opts.maxHoldMs ?? 3_000;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const stats = { held: 0, releasedByData: 0 };

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host ?? '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const closeBoth = () => { client.destroy(); upstream.destroy(); };
    for (const s of [client, upstream]) {
      s.on('error', closeBoth);
      s.on('close', () => { sockets.delete(s); closeBoth(); });
    }
    client.pipe(upstream);

    // server -> client: cut into chunks, hold back CreateMonitoredItems responses, and renumber the
    // sequence numbers so the client still sees 1, 2, 3, ... in the order it receives the chunks
    let buf = Buffer.alloc(0);
    let nextSeq = -1;
    let held: Buffer[] = [];
    let holdTimer: NodeJS.Timeout | undefined;
    const forward = (chunk: Buffer): void => {
      const at = sequenceOffset(chunk);
      if (at >= 0) {
        if (nextSeq < 0) nextSeq = chunk.readUInt32LE(at);
        chunk.writeUInt32LE(nextSeq >>> 0, at);
        nextSeq = (nextSeq + 1) >>> 0;
      }
      client.write(chunk);
    };
    const releaseHeld = (byData: boolean): void => {
      if (holdTimer) { clearTimeout(holdTimer); timers.delete(holdTimer); holdTimer = undefined; }
      if (held.length === 0) return;
      if (byData) stats.releasedByData += held.length;
      const out = held;
      held = [];
      for (const c of out) forward(c);
    };
    upstream.on('data', (data: Buffer) => {
      buf = Buffer.concat([buf, data]);
      while (buf.length >= HEADER) {
        const size = buf.readUInt32LE(4);
        if (buf.length < size) break;
        const chunk = Buffer.from(buf.subarray(0, size));
        buf = buf.subarray(size);
        const type = bodyTypeOf(chunk);
        if (type === ObjectIds.CreateMonitoredItemsResponse_Encoding_DefaultBinary) {
          stats.held++;
          held.push(chunk);
          if (!holdTimer) {
            holdTimer = setTimeout(() => releaseHeld(false), maxHoldMs);
            timers.add(holdTimer);
          }
          continue;
        }
        forward(chunk);
        if (held.length > 0 && type === ObjectIds.PublishResponse_Encoding_DefaultBinary && publishHasData(chunk)) releaseHeld(true);
      }
    });
    upstream.on('close', () => { if (holdTimer) { clearTimeout(holdTimer); timers.delete(holdTimer); } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    address: `opc.tcp://127.0.0.1:${port}`,
    get held() { return stats.held; },
    get releasedByData() { return stats.releasedByData; },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
