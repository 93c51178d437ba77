import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modbusSourceSchema, resolveAddress } from './config.ts';
import { planReads, planSource, resolveTags, splitRead } from './plan.ts';

const limits = { maxRegisters: 125, maxBits: 2000, maxGap: 4, maxGapBits: 16 };

function source(devices: unknown[], extra: Record<string, unknown> = {}) {
  return modbusSourceSchema.parse({ id: 's', type: 'modbus', connection: { transport: 'tcp', host: '127.0.0.1' }, devices, ...extra });
}

function tags(list: [number, string?][]) {
  const d = source([{ tags: list.map(([address, type], i) => ({ name: `t${i}`, area: 'holding', address, type })) }]).devices[0]!;
  return resolveTags(d);
}

test('adjacent and nearby tags coalesce into one read; a gap over maxGap starts another', () => {
  const reads = planReads('holding', tags([[0], [1, 'float32'], [3], [8], [20, 'float64']]), limits);
  // 0,1-2,3 contiguous; 8 is 4 unused registers after 4 (gap 4 <= 4): same read; 20 is 11 away
  assert.deepEqual(reads.map((r) => [r.start, r.count, r.tags.length]), [[0, 9, 4], [20, 4, 1]]);
});

test('reads respect the 125-register limit without splitting a value', () => {
  const list: [number, string?][] = Array.from({ length: 124 }, (_, i) => [i] as [number]);
  list.push([124, 'float32']);
  const reads = planReads('holding', tags(list), limits);
  assert.deepEqual(reads.map((r) => [r.start, r.count]), [[0, 124], [124, 2]]);
  const tight = planReads('holding', tags(list), { ...limits, maxRegisters: 50 });
  assert.ok(tight.every((r) => r.count <= 50));
  assert.equal(tight.reduce((n, r) => n + r.tags.length, 0), 125);
});

test('bit areas use the 2000-bit limit and their own gap', () => {
  const d = source([{ tags: [
    ...Array.from({ length: 2001 }, (_, i) => ({ name: `c${i}`, area: 'coil', address: i })),
    { name: 'far', area: 'coil', address: 2100 },
  ] }]).devices[0]!;
  const reads = planReads('coil', resolveTags(d), limits);
  assert.deepEqual(reads.map((r) => [r.start, r.count]), [[0, 2000], [2000, 1], [2100, 1]]);
});

test('overlapping tags (bits of one register, a float and its halves) share a read', () => {
  const d = source([{ tags: [
    { name: 'b0', area: 'holding', address: 10, bit: 0 },
    { name: 'b7', area: 'holding', address: 10, bit: 7 },
    { name: 'f', area: 'holding', address: 11, type: 'float32' },
    { name: 'hi', area: 'holding', address: 11 },
  ] }]).devices[0]!;
  const reads = planReads('holding', resolveTags(d), limits);
  assert.deepEqual(reads.map((r) => [r.start, r.count, r.tags.length]), [[10, 3, 4]]);
});

test('splitting halves the tags and re-bounds each half', () => {
  const [read] = planReads('holding', tags([[0], [1], [2], [3, 'float32'], [6]]), limits);
  const parts = splitRead(read!)!;
  assert.deepEqual(parts.map((r) => [r.start, r.count, r.tags.length]), [[0, 2, 2], [2, 5, 3]]);
  const [single] = planReads('holding', tags([[7]]), limits);
  assert.equal(splitRead(single!), undefined);
});

test('planSource groups by interval, then device and area', () => {
  const cfg = source(
    [
      { name: 'a', unit: 1, tags: [
        { name: 'h', area: 'holding', address: 0 },
        { name: 'i', area: 'input', address: 0 },
        { name: 'slow', area: 'holding', address: 1, interval: '5s' },
      ] },
      { name: 'b', unit: 2, interval: '5s', tags: [{ name: 'c', area: 'coil', address: 3 }] },
    ],
    { interval: '100ms' },
  );
  const groups = planSource(cfg);
  assert.deepEqual(groups.map((g) => [g.interval, g.devices.map((d) => d.name), g.tagCount]), [
    [100, ['a'], 2],
    [5000, ['a', 'b'], 2],
  ]);
  assert.deepEqual(groups[0]!.devices[0]!.reads.map((r) => r.area), ['holding', 'input']);
  assert.equal(groups[1]!.devices[0]!.reads[0]!.tags[0]!.name, 'a.slow');
});

test('40001-style addresses', () => {
  assert.deepEqual(resolveAddress('40001', undefined), { area: 'holding', address: 0 });
  assert.deepEqual(resolveAddress('30010', undefined), { area: 'input', address: 9 });
  assert.deepEqual(resolveAddress('00001', undefined), { area: 'coil', address: 0 });
  assert.deepEqual(resolveAddress('10017', 'discrete'), { area: 'discrete', address: 16 });
  assert.deepEqual(resolveAddress('465536', undefined), { area: 'holding', address: 65535 });
  assert.match(resolveAddress('40001', 'input') as string, /holding area/);
  assert.match(resolveAddress('20001', undefined) as string, /Modicon/);
  assert.match(resolveAddress(5, undefined) as string, /needs an `area`/);
});

test('the schema refuses inconsistent tags with their path', () => {
  const bad = modbusSourceSchema.safeParse({
    id: 's', type: 'modbus', connection: { transport: 'tcp', host: 'h' },
    devices: [{ tags: [
      { name: 'a', area: 'coil', address: 0, type: 'float32' },
      { name: 'b', address: '40001', type: 'string' },
      { name: 'b', address: '40002' },
      { name: 'c', area: 'holding', address: 65535, type: 'float32' },
      { name: 'd', area: 'holding', address: 0, bit: 3, type: 'uint16' },
    ] }],
  });
  assert.equal(bad.success, false);
  const issues = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.ok(issues.some((m) => m.startsWith('devices.0.tags.0.type')), issues.join('\n'));
  assert.ok(issues.some((m) => m.startsWith('devices.0.tags.1.length')), issues.join('\n'));
  assert.ok(issues.some((m) => m.startsWith('devices.0.tags.2.name') && m.includes('duplicate')), issues.join('\n'));
  assert.ok(issues.some((m) => m.startsWith('devices.0.tags.3.address')), issues.join('\n'));
  assert.ok(issues.some((m) => m.startsWith('devices.0.tags.4.type')), issues.join('\n'));
  const unknownKey = modbusSourceSchema.safeParse({ id: 's', type: 'modbus', connection: { transport: 'tcp', host: 'h', baud: 1 }, devices: [{ tags: [{ name: 'a', address: '40001' }] }] });
  assert.equal(unknownKey.success, false);
});

test('float32 flag: only unscaled float32 registers (their samples print as the float32 they are); scaled or other types are doubles', () => {
  const d = source([{ tags: [
    { name: 'f', area: 'holding', address: 0, type: 'float32' },
    { name: 'fs', area: 'holding', address: 2, type: 'float32', scale: 0.1 },
    { name: 'fo', area: 'holding', address: 4, type: 'float32', offset: 3 },
    { name: 'd', area: 'holding', address: 6, type: 'float64' },
    { name: 'i', area: 'holding', address: 10, type: 'int32' },
  ] }]).devices[0]!;
  assert.deepEqual(resolveTags(d).map((t) => [t.name, t.float32]), [['f', true], ['fs', false], ['fo', false], ['d', false], ['i', false]]);
});
