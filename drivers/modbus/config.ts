/**
 * The `sources:` entry of a Modbus connection. One source is one connection (a TCP endpoint,
 * a serial bus, or a serial-to-Ethernet converter speaking RTU over TCP); the connection
 * carries one or more devices (unit ids), each with its tags.
 */
import { z } from 'zod';
import { channelSchema, idSchema, sourceBaseShape } from '../../src/core/config-common.ts';
import { duration } from '../../src/core/units.ts';
import { AREAS, DATA_TYPES, ORDER_ALIASES, type Area, type Order } from './codec.ts';

const orderSchema = z
  .enum(Object.keys(ORDER_ALIASES) as [string, ...string[]])
  .describe('byte/word order: ABCD (big-endian), CDAB (word swap), BADC (byte swap), DCBA (little-endian); 64-bit aliases ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA');

/** 40001-style (Modicon) address: first digit is the area, the rest is 1-based. */
const MODICON_RE = /^([0134])(\d{4,5})$/;
const MODICON_AREA: Record<string, Area> = { '0': 'coil', '1': 'discrete', '3': 'input', '4': 'holding' };

/** Turns a tag's address (0-based number, or a '40001'-style string) into area + 0-based address. */
export function resolveAddress(address: number | string, area: Area | undefined): { area: Area; address: number } | string {
  if (typeof address === 'number') {
    if (!area) return 'a numeric address needs an `area` (holding, input, coil, discrete)';
    return { area, address };
  }
  const m = MODICON_RE.exec(address.trim());
  if (!m) return `"${address}" is not a 0-based number or a Modicon address such as 40001 or 400001`;
  const implied = MODICON_AREA[m[1]!]!;
  const n = Number(m[2]);
  if (n < 1 || n > 65536) return `"${address}": the register part must be 1..65536`;
  if (area && area !== implied) return `"${address}" is in the ${implied} area but the tag says area: ${area}`;
  return { area: implied, address: n - 1 };
}

const nonFiniteSchema = z
  .enum(['report', 'bad'])
  .describe('a float that decodes to NaN or ±Infinity: report it as it is (good), or mark the sample bad (FG_E_MODBUS_NOT_FINITE)');

export const tagSchema = z
  .strictObject({
    name: z.string().min(1).regex(/^[^\s/#+]+$/, 'no spaces, /, # or +').describe('tag name; the sample tag is "<device>.<name>" when the device has a name'),
    area: z.enum(AREAS).optional().describe('holding (FC3), input (FC4), coil (FC1), discrete (FC2); implied by a 40001-style address'),
    address: z.union([z.number().int().min(0).max(65535), z.string()])
      .describe('0-based protocol address (e.g. 0), or a Modicon string: "40001" = holding 0, "30010" = input 9, "00001" = coil 0, "10001" = discrete 0; 6 digits ("400001") also work'),
    type: z.enum(DATA_TYPES).optional().describe('default: bool in coil/discrete or with `bit`, else uint16'),
    order: orderSchema.optional().describe('overrides the device order for this tag'),
    bit: z.number().int().min(0).max(15).optional().describe('a single bit of a holding/input register (0 = least significant); the value is bool'),
    length: z.number().int().min(1).max(125).optional().describe('string length in registers (2 characters each); required for type string'),
    scale: z.number().optional().describe('value = raw * scale + offset'),
    offset: z.number().optional().describe('value = raw * scale + offset'),
    deadband: z.union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?%$/, 'a number or a percentage such as "2%"')]).optional()
      .describe('report only changes larger than this (absolute, or "2%" of the last reported value); 0 = on change only. Unset: every poll'),
    maxInterval: duration().optional().describe('with a deadband: report an unchanged value at least this often'),
    interval: duration().optional().describe('poll interval of this tag (default: the device interval)'),
    nonFinite: nonFiniteSchema.optional().describe('overrides the device nonFinite for this tag'),
    engUnit: z.string().min(1).max(32).optional().describe('engineering unit shown beside the value on the dashboard and in `fieldgate read` (e.g. "°C"); display only'),
  })
  .describe('one value read from a device');

export const breakerSchema = z
  .strictObject({
    failureRate: z.number().min(0.01).max(1).default(0.5).describe('failure ratio that opens the breaker'),
    minCalls: z.number().int().min(1).default(3).describe('requests in the window before the ratio counts'),
    window: duration().prefault(30_000).describe('sliding window of the failure ratio'),
    cooldown: duration().prefault(10_000).describe('how long a failing device is left alone before one probe request'),
  })
  .describe('per-device circuit breaker: a dead unit id is backed off so it cannot stall its neighbours');

export const deviceSchema = z
  .strictObject({
    name: idSchema().optional().describe('prefix of the sample tags ("<name>.<tag>"); omit for a single device'),
    unit: z.number().int().min(0).max(255).default(1).describe('unit id (slave address); TCP devices often ignore it, gateways route by it'),
    order: orderSchema.default('ABCD').describe('default byte/word order of multi-byte tags of this device'),
    interval: duration().optional().describe('poll interval of this device (default: the source interval)'),
    timeout: duration().optional().describe('request timeout for this device (default: the source timeout)'),
    maxGap: z.number().int().min(0).max(124).default(16).describe('unused registers one read may span to join two tags'),
    maxGapBits: z.number().int().min(0).max(1999).default(128).describe('unused coils/inputs one read may span to join two tags'),
    maxRegisters: z.number().int().min(1).max(125).default(125).describe('most registers per read (some devices accept fewer)'),
    maxBits: z.number().int().min(1).max(2000).default(2000).describe('most coils/inputs per read'),
    breaker: breakerSchema.prefault({}),
    nonFinite: nonFiniteSchema.default('report'),
    tags: z.array(tagSchema).min(1).describe('values read from this device'),
  })
  .describe('one unit id on the connection');

export const connectionSchema = z
  .discriminatedUnion('transport', [
    z.strictObject({
      transport: z.literal('tcp').describe('Modbus TCP (MBAP framing)'),
      host: z.string().min(1).describe('device or gateway address'),
      port: z.number().int().min(1).max(65535).default(502),
      maxInFlight: z.number().int().min(1).max(32).default(1).describe('requests outstanding at once; raise only if the device allows it'),
      connectTimeout: duration().prefault(5_000),
    }),
    z.strictObject({
      transport: z.literal('rtu-over-tcp').describe('RTU frames (with CRC) over a TCP socket, for serial-to-Ethernet converters'),
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(502),
      connectTimeout: duration().prefault(5_000),
    }),
    z.strictObject({
      transport: z.literal('rtu').describe('Modbus RTU on a serial port'),
      path: z.string().min(1).describe('serial device, e.g. /dev/ttyUSB0'),
      baudRate: z.number().int().positive().default(9600),
      parity: z.enum(['none', 'even', 'odd']).default('even').describe('the Modbus spec default is even'),
      dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
      stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
      connectTimeout: duration().prefault(5_000),
    }),
  ])
  .describe('how to reach the devices: tcp, rtu-over-tcp or rtu (serial)');

export const modbusSourceSchema = z
  .strictObject({
    ...sourceBaseShape,
    type: z.literal('modbus'),
    channel: channelSchema.optional().describe('channel to the router; Modbus default {capacity: 64, whenFull: block}: a slow consumer slows polling, nothing is dropped'),
    connection: connectionSchema,
    interval: duration().prefault(1_000).describe('default poll interval; 0 polls back to back (benchmarks)'),
    timeout: duration().prefault(1_000).describe('default request timeout'),
    retries: z.number().int().min(0).max(5).default(0).describe('extra attempts after a timeout, within the same poll'),
    requestDelay: duration().prefault(0).describe('pause between two requests on this connection, for slow devices or RS-485 turnaround'),
    reconnect: z
      .strictObject({
        initial: duration().prefault(500),
        max: duration().prefault(30_000),
        stable: duration().prefault(10_000).describe('a connection that stays up this long was healthy: when it is lost, retries start within about a second and the backoff starts over; one that drops sooner counts as a failure'),
      })
      .prefault({})
      .describe('reconnect backoff: exponential (half fixed, half random) between initial and max; fast retries after a healthy connection is lost'),
    devices: z.array(deviceSchema).min(1).describe('unit ids on this connection'),
  })
  .superRefine((cfg, ctx) => {
    const names = new Map<string, string>();
    cfg.devices.forEach((d, di) => {
      d.tags.forEach((t, ti) => {
        const path = ['devices', di, 'tags', ti];
        const r = resolveAddress(t.address, t.area);
        if (typeof r === 'string') {
          ctx.addIssue({ code: 'custom', path: [...path, 'address'], message: r });
          return;
        }
        const bitArea = r.area === 'coil' || r.area === 'discrete';
        const type = t.type ?? (bitArea || t.bit !== undefined ? 'bool' : 'uint16');
        if (bitArea && type !== 'bool') ctx.addIssue({ code: 'custom', path: [...path, 'type'], message: `${r.area} holds single bits: type must be bool` });
        if (bitArea && t.bit !== undefined) ctx.addIssue({ code: 'custom', path: [...path, 'bit'], message: 'bit applies to holding/input registers only' });
        if (t.bit !== undefined && type !== 'bool') ctx.addIssue({ code: 'custom', path: [...path, 'type'], message: 'a tag with `bit` is a bool' });
        if (type === 'string' && t.length === undefined) ctx.addIssue({ code: 'custom', path: [...path, 'length'], message: 'a string needs its length in registers' });
        if (type !== 'string' && t.length !== undefined) ctx.addIssue({ code: 'custom', path: [...path, 'length'], message: 'length applies to strings only' });
        const width = type === 'string' ? (t.length ?? 1) : /64/.test(type) ? 4 : /32/.test(type) ? 2 : 1;
        if (!bitArea && r.address + width > 65536) ctx.addIssue({ code: 'custom', path: [...path, 'address'], message: 'the value runs past register 65535' });
        if (!bitArea && width > d.maxRegisters) ctx.addIssue({ code: 'custom', path: [...path, 'length'], message: `the value needs ${width} registers but the device reads at most ${d.maxRegisters}` });
        if ((t.scale !== undefined || t.offset !== undefined) && (type === 'bool' || type === 'string')) {
          ctx.addIssue({ code: 'custom', path: [...path, 'scale'], message: 'scale/offset apply to numeric types only' });
        }
        if (t.maxInterval !== undefined && t.deadband === undefined) {
          ctx.addIssue({ code: 'custom', path: [...path, 'maxInterval'], message: 'maxInterval only matters with a deadband (without one every poll is reported)' });
        }
        const full = d.name ? `${d.name}.${t.name}` : t.name;
        const first = names.get(full);
        if (first) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `duplicate tag "${full}" (first at ${first}); give the devices names` });
        else names.set(full, `devices[${di}].tags[${ti}]`);
      });
    });
  })
  .describe('a Modbus connection (TCP, RTU over TCP, or RTU serial) with its devices and tags');

export type ModbusSourceConfig = z.output<typeof modbusSourceSchema>;
export type ModbusDeviceConfig = ModbusSourceConfig['devices'][number];
export type ModbusTagConfig = ModbusDeviceConfig['tags'][number];

export function normalizeOrder(o: string): Order {
  return ORDER_ALIASES[o]!;
}
