import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkOnNab } from '../../models/nab-machine-temp/check.ts';

describe('reference model on the NAB machine-temperature series', () => {
  it('replayed through window assembler + worker pool: all 4 labelled windows get an event, 2 events fall outside', async () => {
    const r = await checkOnNab();
    // 22,695 readings, 12 with repeated timestamps refused by the assembler, 288-sample windows
    assert.equal(r.outOfOrder, 12);
    assert.equal(r.predictions, 22_695 - 12 - 287);
    assert.equal(r.windowsTotal, 4);
    assert.deepEqual(r.perWindow, [1, 1, 1, 1]);
    assert.equal(r.windowsHit, 4);
    assert.equal(r.outside, 2);
  });
});
