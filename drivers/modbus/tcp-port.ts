/**
 * The Modbus TCP port the driver hands to modbus-serial (`new ModbusRTU(port)`, its pluggable
 * port interface), in place of its bundled TcpPort. modbus-serial parses every response as an
 * RTU frame, so a TCP port rewrites each MBAP frame into unit | PDU | CRC. The bundled port does
 * that with a bit-by-bit CRC, joins every chunk into a new buffer, and sends each request through
 * two promises; on the benchmark's 300-byte responses those cost about as much as all of the
 * driver's own work per request. This port frames with a table CRC (crc.ts), copies only a
 * frame split across chunks, and writes to the socket at once (the socket keeps the order).
 *
 * What modbus-serial relies on is kept: `open`, `close`, `destroy`, `write`, `isOpen`, the
 * 'data' event with `_transactionIdRead` set first, the 'close' event, and transaction ids
 * counted in `_transactionIdWrite` (0..255, as the bundled port does). `_client` is the socket.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { crc16 } from './crc.ts';

const MBAP = 6;
/** the MBAP length field counts the unit id and the PDU: 2..254 bytes (PDU at most 253) */
const MIN_LENGTH = 2;
const MAX_LENGTH = 254;
const TRANSACTION_IDS = 256;

type Callback = (err?: Error | null) => void;

export class MbapPort extends EventEmitter {
  readonly _client: net.Socket;
  _transactionIdWrite = 1;
  _transactionIdRead = 1;
  private openFlag = false;
  /** connected once and not yet reported closed */
  private live = false;
  private pending?: Callback;
  /** bytes of a frame that arrived split across chunks */
  private rest?: Buffer;

  constructor(private readonly host: string, private readonly port: number) {
    super();
    const socket = new net.Socket();
    this._client = socket;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('connect', () => {
      socket.setNoDelay(true);
      this.openFlag = true;
      this.live = true;
      this.callBack();
    });
    socket.on('error', (err) => {
      this.openFlag = false;
      this.callBack(err);
    });
    socket.on('close', () => {
      const wasLive = this.live;
      this.openFlag = false;
      this.live = false;
      this.rest = undefined;
      this.callBack();
      if (wasLive) this.emit('close');
    });
  }

  get isOpen(): boolean {
    return this.openFlag;
  }

  open(callback: Callback): void {
    this.pending = callback;
    this._client.connect({ host: this.host, port: this.port });
  }

  close(callback: Callback): void {
    this.pending = callback;
    this._client.end();
  }

  destroy(callback: Callback): void {
    this.pending = callback;
    if (this._client.destroyed) this.callBack();
    else this._client.destroy();
  }

  /** `data` is an RTU frame from modbus-serial: unit | PDU | CRC; it goes out as MBAP | unit | PDU. */
  write(data: Buffer): void {
    if (data.length < 4) return;
    const frame = Buffer.allocUnsafe(MBAP + data.length - 2);
    frame.writeUInt16BE(this._transactionIdWrite, 0);
    frame.writeUInt16BE(0, 2);
    frame.writeUInt16BE(data.length - 2, 4);
    data.copy(frame, MBAP, 0, data.length - 2);
    this._client.write(frame);
    this._transactionIdWrite = (this._transactionIdWrite + 1) % TRANSACTION_IDS;
  }

  private callBack(err?: Error): void {
    const cb = this.pending;
    this.pending = undefined;
    cb?.(err ?? null);
  }

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let off = 0;
    while (buf.length - off >= MBAP) {
      const length = buf.readUInt16BE(off + 4);
      if (length < MIN_LENGTH || length > MAX_LENGTH) {
        // not Modbus TCP, or out of step: nothing after this can be trusted
        this._client.destroy(new Error(`invalid MBAP length ${length} from ${this.host}:${this.port}`));
        return;
      }
      if (buf.length - off < MBAP + length) break;
      const frame = Buffer.allocUnsafe(length + 2);
      buf.copy(frame, 0, off + MBAP, off + MBAP + length);
      frame.writeUInt16LE(crc16(frame, 0, length), length);
      this._transactionIdRead = buf.readUInt16BE(off);
      off += MBAP + length;
      this.emit('data', frame);
    }
    if (off < buf.length) this.rest = buf.subarray(off);
  }
}
