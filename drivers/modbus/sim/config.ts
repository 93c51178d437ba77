/** The `simulators:` entry of a Modbus simulator (also `fieldgate simulate -c FILE`). */
import { z } from 'zod';
import { idSchema } from '../../../src/core/config-common.ts';
import { duration } from '../../../src/core/units.ts';
import { generatorSchema } from '../../../src/sim/generators.ts';
import { AREAS, DATA_TYPES, ORDER_ALIASES } from '../codec.ts';
import { resolveAddress } from '../config.ts';

export const simRegisterSchema = z
  .strictObject({
    area: z.enum(AREAS).optional().describe('implied by a 40001-style address'),
    address: z.union([z.number().int().min(0).max(65535), z.string()]).describe('0-based, or "40001" style'),
    type: z.enum(DATA_TYPES).optional().describe('default: bool for coil/discrete or with bit, else uint16'),
    order: z.enum(Object.keys(ORDER_ALIASES) as [string, ...string[]]).optional().describe('default: the device order'),
    bit: z.number().int().min(0).max(15).optional(),
    length: z.number().int().min(1).max(125).optional().describe('string length in registers'),
    scale: z.number().refine((v) => v !== 0, 'scale cannot be 0').optional().describe('raw = (value - offset) / scale, so a tag with the same scale reads the value back'),
    offset: z.number().optional(),
    value: z.union([z.number(), z.boolean(), z.string(), generatorSchema]).describe('a constant, or a generator ({kind: sine, ...})'),
  })
  .describe('one simulated value');

export const simDeviceSchema = z
  .strictObject({
    unit: z.number().int().min(0).max(255).default(1),
    order: z.enum(Object.keys(ORDER_ALIASES) as [string, ...string[]]).default('ABCD'),
    registers: z.array(simRegisterSchema).default([]),
    illegal: z
      .array(z.strictObject({ area: z.enum(AREAS), start: z.number().int().min(0).max(65535), count: z.number().int().min(1).default(1) }))
      .default([])
      .describe('addresses that answer exception 2 (illegal data address) when a read touches them'),
    silent: z.boolean().default(false).describe('never answer (a dead unit id)'),
  })
  .describe('one simulated unit id');

export const modbusSimulatorSchema = z
  .strictObject({
    type: z.literal('modbus'),
    id: idSchema(),
    transport: z.enum(['tcp', 'rtu-over-tcp', 'rtu']).default('tcp').describe('tcp (MBAP), RTU frames over TCP, or RTU on a serial path'),
    host: z.string().default('127.0.0.1').describe('address to bind; keep 127.0.0.1 unless a device elsewhere must reach it'),
    port: z.number().int().min(0).max(65535).default(1502).describe('TCP port; 0 picks a free one'),
    path: z.string().optional().describe('serial device for transport rtu (e.g. one end of a socat pty pair)'),
    baudRate: z.number().int().positive().default(9600).describe('serial speed for transport rtu'),
    resolution: duration().prefault(50).describe('register values are recomputed from their generators at most this often'),
    delay: duration().prefault(0).describe('fault: answer every request this late'),
    unknownUnits: z.enum(['silent', 'exception']).default('silent').describe('a unit id not configured: no answer, or exception 11 (gateway target failed)'),
    devices: z.array(simDeviceSchema).min(1),
  })
  .superRefine((c, ctx) => {
    if (c.transport === 'rtu' && !c.path) ctx.addIssue({ code: 'custom', path: ['path'], message: 'transport rtu needs a serial path' });
    c.devices.forEach((d, di) =>
      d.registers.forEach((r, ri) => {
        const res = resolveAddress(r.address, r.area);
        if (typeof res === 'string') ctx.addIssue({ code: 'custom', path: ['devices', di, 'registers', ri, 'address'], message: res });
        if ((r.type ?? 'uint16') === 'string' && r.length === undefined) {
          ctx.addIssue({ code: 'custom', path: ['devices', di, 'registers', ri, 'length'], message: 'a string needs its length in registers' });
        }
      }),
    );
  })
  .describe('a simulated Modbus server serving generated register values');

export type ModbusSimulatorConfig = z.output<typeof modbusSimulatorSchema>;
export type ModbusSimulatorInput = z.input<typeof modbusSimulatorSchema>;
