import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { abortable } from '../../../src/core/abortable.ts';

test('abortable settles like its promise and leaves no listener on the signal', async () => {
  const lost = new AbortController();
  for (let i = 0; i < 1000; i++) assert.equal(await abortable(Promise.resolve(i), lost.signal), i);
  await assert.rejects(abortable(Promise.reject(new Error('nack')), lost.signal), /nack/);
  // what Promise.race([p, longLived]) got wrong: 1000 calls must not pile up on the long-lived side
  assert.equal(getEventListeners(lost.signal, 'abort').length, 0);
});

test('abortable rejects with the reason when the signal aborts first, or was aborted already', async () => {
  const lost = new AbortController();
  const never = new Promise<number>(() => {});
  const pending = abortable(never, lost.signal);
  assert.equal(getEventListeners(lost.signal, 'abort').length, 1);
  lost.abort(new Error('connection lost'));
  await assert.rejects(pending, /connection lost/);
  await assert.rejects(abortable(Promise.resolve(1), lost.signal), /connection lost/);
  await assert.rejects(abortable(Promise.reject(new Error('late')), lost.signal), /connection lost/);
});
