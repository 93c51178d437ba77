import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc16 } from '../crc.ts';
import { mbapFrame, parseMbap, parseRtu, readRequest, rtuFrame } from './frames.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('CRC-16/MODBUS matches the specification example (11 03 00 6B 00 03 -> 76 87)', () => {
  const crc = crc16(hex('11 03 00 6B 00 03'));
  assert.deepEqual([crc & 0xff, crc >> 8], [0x76, 0x87]);
  assert.equal(rtuFrame(0x11, 3, { pdu: hex('03 06 02 2B 00 00 00 64') }).subarray(0, -2).toString('hex'), '1103' + '06022b00000064');
});

test('MBAP: split and concatenated frames, responses and exceptions', () => {
  const req = hex('00 01 00 00 00 06 11 03 00 6B 00 03');
  const got: [number, number, string][] = [];
  const on = (txid: number, unit: number, pdu: Buffer) => got.push([txid, unit, pdu.toString('hex')]);
  assert.equal(parseMbap(req.subarray(0, 9), on), 0); // incomplete: nothing consumed
  assert.equal(parseMbap(Buffer.concat([req, req]), on), 24);
  assert.deepEqual(got, [[1, 0x11, '03006b0003'], [1, 0x11, '03006b0003']]);
  assert.equal(parseMbap(hex('00 01 00 07 00 06 11 03 00 6B 00 03'), on), -1); // protocol id 7
  assert.equal(mbapFrame(5, 1, 3, { exception: 2 }).toString('hex'), '000500000003018302');
  assert.equal(mbapFrame(5, 1, 3, { pdu: hex('03 02 00 2A') }).toString('hex'), '00050000000501' + '0302002a');
  assert.deepEqual(readRequest(0x11, hex('03 00 6B 00 03')), { unit: 0x11, fc: 3, start: 0x6b, quantity: 3 });
  assert.equal(readRequest(1, hex('06 00 01 00 03')), undefined);
});

test('RTU: resynchronises after garbage and skips bad CRCs', () => {
  const frame = hex('11 03 00 6B 00 03 76 87');
  const got: string[] = [];
  const used = parseRtu(Buffer.concat([hex('FF 00'), frame, hex('11 03 00 6B 00 03 00 00'), frame, frame.subarray(0, 3)]), (u, pdu) => got.push(`${u}:${pdu.toString('hex')}`));
  assert.deepEqual(got, ['17:03006b0003', '17:03006b0003']);
  assert.equal(used, 26); // everything but the 3-byte partial frame at the end, which waits for more bytes
});
