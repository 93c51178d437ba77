import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkOnNab } from '../../models/nab-machine-temp/check.ts';

describe('reference model on the NAB machine-temperature series', () => {
  it('fitted blind (normal until the first labelled window), replayed through the model stage: all 4 labelled windows get an event, few fall outside', async () => {
    const r = await checkOnNab();
    // 22,695 readings, 12 with repeated timestamps refused by the assembler, 177-row windows
    assert.equal(r.outOfOrder, 12);
    assert.equal(r.predictions, 22_695 - 12 - 176);
    assert.equal(r.windows.length, 4);
    assert.equal(r.windowsAfterNormal, 4, 'the normal period ends before the first labelled window');
    assert.deepEqual(r.windows.map((w) => w.events > 0), [true, true, true, true]);
    assert.equal(r.windowsHit, 4);
    assert.ok(r.eventsOutside <= 3, `events outside the labelled windows: ${r.eventsOutside}`);
    for (const e of r.events) assert.ok(e.score > 1 && Number.isFinite(Date.parse(e.ts)));
  });
});
