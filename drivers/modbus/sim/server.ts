/**
 * The Modbus simulator: a TCP (MBAP or RTU-over-TCP) or serial (RTU) server answering function
 * codes 1-4 from a register map whose values come from the shared generators
 * (src/sim/generators.ts). Values are recomputed lazily, at most once per `resolution` per unit,
 * so an idle simulator costs nothing and a busy one does not evaluate generators per request.
 *
 * Faults for tests: a fixed answer delay, silent (dead) unit ids, exception 2 ranges, and
 * dropping every connection at once.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createGenerator, type Generator } from '../../../src/sim/generators.ts';
import type { SimulatorHandle } from '../../../src/core/contracts.ts';
import { compileEncoder, isBitArea, type Area, type DataType, type Encoder } from '../codec.ts';
import { normalizeOrder, resolveAddress } from '../config.ts';
import { EXCEPTION, mbapFrame, parseMbap, parseRtu, readRequest, rtuFrame, type Answer } from './frames.ts';
import type { ModbusSimulatorConfig } from './config.ts';

export interface ModbusSimulator extends SimulatorHandle {
  host: string;
  /** the bound TCP port (0 for a serial simulator) */
  port: number;
  /** fault switches a test can flip while the simulator runs */
  faults: {
    /** answer every request this many ms late */
    delayMs: number;
    /** unit ids that never answer */
    silentUnits: Set<number>;
  };
  /** requests answered or ignored so far */
  readonly requests: number;
  /** client connections accepted so far */
  readonly connections: number;
  /** closes every client connection (the server keeps listening) */
  dropConnections(): void;
}

const AREA_OF_FC: Record<number, Area> = { 1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input' };
const REGISTER_BYTES = 65536 * 2;
const BIT_BYTES = 65536 / 8;

interface ValueDef {
  area: Area;
  at: number;
  encode: Encoder;
  /** undefined for constants (written once at start) */
  gen?: Generator;
  scale: number;
  offset: number;
  numeric: boolean;
}

class SimUnit {
  readonly memory = new Map<Area, Buffer>();
  readonly defs: ValueDef[] = [];
  refreshedAt = -Infinity;
  constructor(
    readonly silent: boolean,
    readonly illegal: { area: Area; start: number; count: number }[],
  ) {}

  area(a: Area): Buffer {
    let m = this.memory.get(a);
    if (!m) this.memory.set(a, (m = Buffer.alloc(isBitArea(a) ? BIT_BYTES : REGISTER_BYTES)));
    return m;
  }

  refresh(t: number): void {
    this.refreshedAt = t;
    for (const d of this.defs) {
      if (!d.gen) continue;
      const v = d.gen(t);
      d.encode(d.numeric ? (v - d.offset) / d.scale : v, this.area(d.area), d.at);
    }
  }
}

function buildUnits(cfg: ModbusSimulatorConfig, resolvePath: (p: string) => string): Map<number, SimUnit> {
  const units = new Map<number, SimUnit>();
  for (const d of cfg.devices) {
    const unit = new SimUnit(d.silent, d.illegal);
    for (const r of d.registers) {
      const res = resolveAddress(r.address, r.area);
      if (typeof res === 'string') throw new Error(res);
      const type: DataType = r.type ?? (isBitArea(res.area) || r.bit !== undefined ? 'bool' : 'uint16');
      const encode = compileEncoder({ area: res.area, type, order: normalizeOrder(r.order ?? d.order), bit: r.bit, length: r.length });
      const numeric = type !== 'bool' && type !== 'string';
      const def: ValueDef = { area: res.area, at: res.address, encode, scale: r.scale ?? 1, offset: r.offset ?? 0, numeric };
      const v = r.value;
      if (typeof v === 'object') def.gen = createGenerator(v, resolvePath);
      else encode(numeric && typeof v === 'number' ? (v - def.offset) / def.scale : v, unit.area(res.area), res.address);
      unit.defs.push(def);
    }
    units.set(d.unit, unit);
  }
  return units;
}

/** Starts a simulator; resolves once it listens (or the serial port is open). */
export async function startModbusSimulator(
  cfg: ModbusSimulatorConfig,
  opts: { resolvePath?: (p: string) => string; /** sees every request (tests) */ onRequest?: (unit: number, pdu: Buffer) => void } = {},
): Promise<ModbusSimulator> {
  const units = buildUnits(cfg, opts.resolvePath ?? ((p) => p));
  const startedAt = performance.now();
  const rtu = cfg.transport !== 'tcp';
  const faults = { delayMs: cfg.delay, silentUnits: new Set<number>() };
  const timers = new Set<NodeJS.Timeout>();
  const streams = new Set<Duplex>();
  let requests = 0;
  let connections = 0;

  const answer = (unitId: number, pdu: Buffer): Answer => {
    requests++;
    opts.onRequest?.(unitId, pdu);
    const unit = units.get(unitId);
    if (!unit) return cfg.unknownUnits === 'silent' ? null : { exception: EXCEPTION.GATEWAY_TARGET_FAILED };
    if (unit.silent || faults.silentUnits.has(unitId)) return null;
    const req = readRequest(unitId, pdu);
    if (!req) return { exception: EXCEPTION.ILLEGAL_FUNCTION };
    const area = AREA_OF_FC[req.fc]!;
    const bits = isBitArea(area);
    if (req.quantity < 1 || req.quantity > (bits ? 2000 : 125)) return { exception: EXCEPTION.ILLEGAL_DATA_VALUE };
    if (req.start + req.quantity > 65536) return { exception: EXCEPTION.ILLEGAL_DATA_ADDRESS };
    for (const r of unit.illegal) {
      if (r.area === area && req.start < r.start + r.count && r.start < req.start + req.quantity) return { exception: EXCEPTION.ILLEGAL_DATA_ADDRESS };
    }
    const t = performance.now() - startedAt;
    if (t - unit.refreshedAt >= cfg.resolution) unit.refresh(t);
    const mem = unit.memory.get(area);
    if (bits) {
      const n = (req.quantity + 7) >> 3;
      const pdu = Buffer.alloc(2 + n);
      pdu[0] = req.fc;
      pdu[1] = n;
      if (mem) {
        for (let i = 0; i < req.quantity; i++) {
          const b = req.start + i;
          if ((mem[b >> 3]! >> (b & 7)) & 1) pdu[2 + (i >> 3)]! |= 1 << (i & 7);
        }
      }
      return { pdu };
    }
    const n = req.quantity * 2;
    const out = Buffer.allocUnsafe(2 + n);
    out[0] = req.fc;
    out[1] = n;
    if (mem) mem.copy(out, 2, req.start * 2, req.start * 2 + n);
    else out.fill(0, 2);
    return { pdu: out };
  };

  /** Wires one byte stream (a TCP socket or the serial port) to the request handler. */
  const serve = (stream: Duplex): void => {
    streams.add(stream);
    connections++;
    let pending: Buffer | null = null;
    stream.on('data', (chunk: Buffer) => {
      const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      const out: Buffer[] = [];
      const used = rtu
        ? parseRtu(buf, (unit, pdu) => {
            const a = answer(unit, pdu);
            if (a && unit !== 0) out.push(rtuFrame(unit, pdu[0]!, a)); // unit 0 is broadcast: never answered
          })
        : parseMbap(buf, (txid, unit, pdu) => {
            const a = answer(unit, pdu);
            if (a) out.push(mbapFrame(txid, unit, pdu[0]!, a));
          });
      if (used < 0) {
        stream.destroy();
        return;
      }
      pending = used < buf.length ? Buffer.from(buf.subarray(used)) : null;
      if (out.length === 0) return;
      const data = out.length === 1 ? out[0]! : Buffer.concat(out);
      if (faults.delayMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!stream.destroyed) stream.write(data);
        }, faults.delayMs);
        timers.add(t);
      } else stream.write(data);
    });
    stream.on('error', () => stream.destroy());
    stream.on('close', () => streams.delete(stream));
  };

  const stopCommon = () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };

  if (cfg.transport === 'rtu') {
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path: cfg.path!, baudRate: cfg.baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    serve(port);
    return {
      address: `rtu:${cfg.path}`,
      host: '',
      port: 0,
      faults,
      get requests() { return requests; },
      get connections() { return connections; },
      dropConnections() { /* a serial line cannot be dropped */ },
      async stop() {
        stopCommon();
        if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
      },
    };
  }

  const server = net.createServer({ noDelay: true }, (socket) => serve(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  return {
    address: `${cfg.transport === 'tcp' ? 'modbus-tcp' : 'rtu-over-tcp'}://${cfg.host}:${addr.port}`,
    host: cfg.host,
    port: addr.port,
    faults,
    get requests() { return requests; },
    get connections() { return connections; },
    dropConnections() {
      for (const s of streams) s.destroy();
    },
    async stop() {
      stopCommon();
      for (const s of streams) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
