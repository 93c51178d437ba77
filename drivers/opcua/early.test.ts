import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DataValue, Variant, DataType } from 'node-opcua-client';
import { EarlyValues } from './early.ts';

const dv = (v: number) => new DataValue({ value: new Variant({ dataType: DataType.Double, value: v }) });
const values = (m: Map<number, DataValue[]>) => Object.fromEntries([...m].map(([h, l]) => [h, l.map((d) => d.value.value as number)]));

it('early values: kept per handle in arrival order, taken for the created handles only, the rest forgotten', () => {
  const early = new EarlyValues(10);
  assert.ok(early.keep(7, dv(1)));
  assert.ok(early.keep(8, dv(2)));
  assert.ok(early.keep(7, dv(3)));
  assert.ok(early.keep(99, dv(4))); // an item deleted meanwhile
  assert.equal(early.size, 4);
  assert.deepEqual(values(early.take([7, 8, 9])), { 7: [1, 3], 8: [2] });
  assert.equal(early.size, 0);
  assert.deepEqual(values(early.take([99])), {});
});

it('early values: refuses past its cap (the caller counts the drop) and takes again after a take', () => {
  const early = new EarlyValues(2);
  assert.ok(early.keep(1, dv(1)));
  assert.ok(early.keep(1, dv(2)));
  assert.equal(early.keep(1, dv(3)), false);
  assert.deepEqual(values(early.take([1])), { 1: [1, 2] });
  assert.ok(early.keep(1, dv(4)));
});
