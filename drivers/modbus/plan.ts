/**
 * Request planning, done once at start: tags are grouped by poll interval, device and area, and
 * coalesced into the fewest reads within the protocol limits (125 registers, 2000 bits) and the
 * device's maxGap. A read that answers "illegal data address" is split (see splitRead) and the
 * group's plan keeps the pieces.
 */
import { compileDecoder, isBitArea, widthOf, type Area, type DataType, type Decoder } from './codec.ts';
import { normalizeOrder, resolveAddress, type ModbusDeviceConfig, type ModbusSourceConfig } from './config.ts';

export interface PlannedTag {
  /** sample tag: "<device>.<tag>" or "<tag>" */
  name: string;
  area: Area;
  address: number;
  /** registers (or bits) the value occupies */
  width: number;
  type: DataType;
  decode: Decoder;
  /** absolute deadband, or relative (fraction of the last value) when `relative` */
  deadband?: { value: number; relative: boolean };
  maxInterval?: number;
  /** a NaN or infinite value is marked bad (nonFinite: bad) instead of reported */
  nonFiniteBad: boolean;
  /** an unscaled float32 register: its samples are flagged `float32` (scale/offset make a double) */
  float32: boolean;
}

export interface ReadLimits {
  maxRegisters: number;
  maxBits: number;
  maxGap: number;
  maxGapBits: number;
}

export interface Read {
  area: Area;
  start: number;
  count: number;
  /** sorted by address */
  tags: PlannedTag[];
}

export interface DevicePlan {
  index: number;
  name: string;
  unit: number;
  timeout: number;
  config: ModbusDeviceConfig;
  reads: Read[];
}

export interface PollGroup {
  interval: number;
  devices: DevicePlan[];
  tagCount: number;
}

/** Resolves one device's tags (addresses, defaults, decoders). */
export function resolveTags(device: ModbusDeviceConfig): (PlannedTag & { interval?: number })[] {
  return device.tags.map((t) => {
    const r = resolveAddress(t.address, t.area);
    if (typeof r === 'string') throw new Error(r); // the schema refused this already
    const bitArea = isBitArea(r.area);
    const type: DataType = t.type ?? (bitArea || t.bit !== undefined ? 'bool' : 'uint16');
    const spec = { area: r.area, type, order: normalizeOrder(t.order ?? device.order), bit: t.bit, length: t.length, scale: t.scale, offset: t.offset };
    let deadband: PlannedTag['deadband'];
    if (typeof t.deadband === 'number') deadband = { value: t.deadband, relative: false };
    else if (typeof t.deadband === 'string') deadband = { value: Number(t.deadband.slice(0, -1)) / 100, relative: true };
    return {
      name: device.name ? `${device.name}.${t.name}` : t.name,
      area: r.area,
      address: r.address,
      width: widthOf(r.area, type, t.length),
      type,
      decode: compileDecoder(spec),
      deadband,
      maxInterval: t.maxInterval,
      nonFiniteBad: (t.nonFinite ?? device.nonFinite) === 'bad' && (type === 'float32' || type === 'float64'),
      float32: type === 'float32' && (t.scale ?? 1) === 1 && (t.offset ?? 0) === 0,
      interval: t.interval,
    };
  });
}

/** Coalesces tags of one device and one area into reads. */
export function planReads(area: Area, tags: readonly PlannedTag[], limits: ReadLimits): Read[] {
  const bits = isBitArea(area);
  const max = bits ? limits.maxBits : limits.maxRegisters;
  const gap = bits ? limits.maxGapBits : limits.maxGap;
  const sorted = [...tags].sort((a, b) => a.address - b.address || b.width - a.width);
  const reads: Read[] = [];
  let cur: Read | undefined;
  for (const t of sorted) {
    const end = t.address + t.width;
    if (cur) {
      const curEnd = cur.start + cur.count;
      const newEnd = Math.max(curEnd, end);
      if (t.address - curEnd <= gap && newEnd - cur.start <= max) {
        cur.count = newEnd - cur.start;
        cur.tags.push(t);
        continue;
      }
    }
    cur = { area, start: t.address, count: t.width, tags: [t] };
    reads.push(cur);
  }
  return reads;
}

/**
 * Splits a read whose device refused it (illegal data address) into two reads of half the
 * tags each, so a retry narrows down the bad tags. Undefined when the read holds one tag.
 */
export function splitRead(read: Read): [Read, Read] | undefined {
  if (read.tags.length < 2) return undefined;
  const mid = read.tags.length >> 1;
  return [bound(read.area, read.tags.slice(0, mid)), bound(read.area, read.tags.slice(mid))];
}

function bound(area: Area, tags: PlannedTag[]): Read {
  let start = Infinity;
  let end = 0;
  for (const t of tags) {
    start = Math.min(start, t.address);
    end = Math.max(end, t.address + t.width);
  }
  return { area, start, count: end - start, tags };
}

const AREA_ORDER: Area[] = ['holding', 'input', 'coil', 'discrete'];

/** The whole plan of a source: poll groups by interval, each with its devices' reads. */
export function planSource(cfg: ModbusSourceConfig): PollGroup[] {
  const groups = new Map<number, PollGroup>();
  cfg.devices.forEach((device, index) => {
    const tags = resolveTags(device);
    const byInterval = new Map<number, PlannedTag[]>();
    for (const t of tags) {
      const iv = t.interval ?? device.interval ?? cfg.interval;
      let list = byInterval.get(iv);
      if (!list) byInterval.set(iv, (list = []));
      list.push(t);
    }
    for (const [interval, list] of byInterval) {
      let g = groups.get(interval);
      if (!g) groups.set(interval, (g = { interval, devices: [], tagCount: 0 }));
      const reads: Read[] = [];
      for (const area of AREA_ORDER) {
        const inArea = list.filter((t) => t.area === area);
        if (inArea.length > 0) reads.push(...planReads(area, inArea, device));
      }
      g.devices.push({
        index,
        name: device.name ?? `unit ${device.unit}`,
        unit: device.unit,
        timeout: device.timeout ?? cfg.timeout,
        config: device,
        reads,
      });
      g.tagCount += list.length;
    }
  });
  return [...groups.values()].sort((a, b) => a.interval - b.interval);
}

/** Reads per poll of a plan, for logs and the probe. */
export function describePlan(groups: readonly PollGroup[]): { interval: number; devices: number; tags: number; reads: number }[] {
  return groups.map((g) => ({ interval: g.interval, devices: g.devices.length, tags: g.tagCount, reads: g.devices.reduce((n, d) => n + d.reads.length, 0) }));
}
