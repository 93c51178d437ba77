/**
 * The RTU wires (serial RTU, and RTU over TCP for serial-to-Ethernet converters) on top of
 * modbus-serial, which frames RTU (CRC, expected lengths, resynchronisation) and checks the
 * frame's length, unit id, function code and CRC. What it does not check is the byte count
 * against the frame: its data is `frame.slice(3, 3 + byteCount)`, so the wire requires exactly
 * the bytes the request asked for (answer.ts) before the link sees them.
 *
 * Uses modbus-serial's public API (`new ModbusRTU()`, connectRTUBuffered / connectTelnet,
 * writeFC1-4, close/destroy, the 'close' and 'error' events) plus ONE private field: after a
 * timeout the bytes its RTU port buffered (`_port._buffer`) are dropped, so a late answer
 * cannot be taken for the next one. modbus-serial is pinned to an exact version in
 * package.json for that, and rtu-port.test.ts fails the moment that field's shape changes.
 */
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { errorMessage } from '../../src/core/errors.ts';
import { loadOnUse } from '../../src/core/load-on-use.ts';
import { ReadError, expectedBytes, frameError, exceptionError } from './answer.ts';
import type { ModbusSourceConfig } from './config.ts';
import type { Wire, WireJob, WireOwner } from './tcp-port.ts';

type RtuConnection = Exclude<ModbusSourceConfig['connection'], { transport: 'tcp' }>;

interface ModbusErrorShape {
  modbusCode?: number;
  errno?: string;
  name?: string;
  message?: string;
}

export const TIMEOUT = new ReadError('timeout', 'FG_E_MODBUS_TIMEOUT');
export const DISCONNECTED = new ReadError('disconnected', 'FG_E_MODBUS_DISCONNECTED');

/** Maps a modbus-serial error to the sample reason and error code. */
export function classify(e: unknown, job: WireJob): ReadError {
  const err = (e ?? {}) as ModbusErrorShape;
  if (typeof err.modbusCode === 'number') return exceptionError(err.modbusCode);
  if (err.errno === 'ETIMEDOUT' || err.name === 'TransactionTimedOutError') return TIMEOUT;
  if (err.name === 'PortNotOpenError' || err.message === 'Port Not Open') return DISCONNECTED;
  // CRC error, data length error, unexpected address or code: the frame is wrong
  return frameError(err.message ?? String(e), job.fc, job.start, job.count);
}

type Callback = (err: unknown, res?: { buffer?: Buffer }) => void;

export class RtuWire<J extends WireJob> implements Wire<J> {
  /** destroyed: reports nothing more (its late events must not touch the link's next wire) */
  private dead = false;
  private lastError: string | undefined;

  constructor(
    private readonly client: ModbusRTU,
    private readonly owner: WireOwner<J>,
    private readonly serial: boolean,
  ) {
    // an 'error' alone is no loss (a port that dies also closes); its text is the close's reason
    client.on('error', (e: unknown) => void (this.lastError = errorMessage(e)));
    client.on('close', () => this.dead || owner.closed(this.lastError ?? 'connection closed'));
  }

  static async connect(c: RtuConnection): Promise<ModbusRTU> {
    // loaded by the first RTU connection, not at import: Modbus TCP never needs it (with serialport, ~18 MB of RSS)
    const ModbusSerial = (await loadOnUse(`modbus ${c.transport}`, 'modbus-serial', () => import('modbus-serial'))).default;
    const client = new ModbusSerial.default();
    try {
      if (c.transport === 'rtu-over-tcp') await client.connectTelnet(c.host, { port: c.port });
      else await client.connectRTUBuffered(c.path, { baudRate: c.baudRate, parity: c.parity, dataBits: c.dataBits, stopBits: c.stopBits });
    } catch (e) {
      destroy(client, c.transport === 'rtu');
      throw e;
    }
    return client;
  }

  send(job: J): void {
    const done: Callback = (err, res) => {
      if (this.dead) return;
      if (err !== undefined && err !== null) {
        this.owner.answer(job, classify(err, job));
        return;
      }
      const data = res?.buffer;
      const want = expectedBytes(job.fc, job.count);
      if (!Buffer.isBuffer(data) || data.length !== want) {
        this.owner.answer(job, frameError(`${Buffer.isBuffer(data) ? data.length : 0} data bytes (byte count), expected ${want}`, job.fc, job.start, job.count));
      } else this.owner.answer(job, data);
    };
    switch (job.fc) {
      case 1: this.client.writeFC1(job.unit, job.start, job.count, done); break;
      case 2: this.client.writeFC2(job.unit, job.start, job.count, done); break;
      case 3: this.client.writeFC3(job.unit, job.start, job.count, done); break;
      case 4: this.client.writeFC4(job.unit, job.start, job.count, done); break;
    }
  }

  /** After a timeout: the line is left quiet by the link, then this drops what arrived. */
  forget(): void {}

  discardReceived(): void {
    const port = rtuPortOf(this.client);
    if (port) port._buffer = Buffer.alloc(0);
  }

  stalled(): number {
    return 0;
  }

  describeStall(): string {
    return '';
  }

  destroy(): void {
    this.dead = true;
    destroy(this.client, this.serial);
  }
}

/** The one private field used (see the file comment); undefined if its shape is not the expected one. */
export function rtuPortOf(client: ModbusRTU): { _buffer: Buffer } | undefined {
  const port = (client as unknown as { _port?: { _buffer?: unknown } })._port;
  return port && Buffer.isBuffer(port._buffer) ? (port as { _buffer: Buffer }) : undefined;
}

function destroy(client: ModbusRTU, serial: boolean): void {
  try {
    // destroy() cancels modbus-serial's pending transactions; a serial port has no destroy(),
    // so it is closed as well
    client.destroy(() => {});
    if (serial && client.isOpen) client.close(() => {});
  } catch {
    // closing a half-open port can throw; the handle is gone either way
  }
}
