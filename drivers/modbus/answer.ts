/**
 * Strict checks of one Modbus answer against the request it answers, before anything is
 * decoded: unit id, function code (or exception), byte count equal to what the request asked
 * for (2 x registers, ceil(bits / 8)) and to the bytes the frame carries. A device that gets any
 * of these wrong has sent something other than what was asked for, so nothing of it is trusted.
 */
import type { ErrorCode } from '../../src/core/errors.ts';

/** Why a read gave no data; `reason` is the sample's bad-quality reason. */
export class ReadError extends Error {
  constructor(
    readonly reason: string,
    readonly code: ErrorCode,
    /** Modbus exception code, when the device answered with one */
    readonly exception?: number,
  ) {
    super(reason);
    this.name = 'ReadError';
  }
}

export type FunctionCode = 1 | 2 | 3 | 4;

/** Data bytes the answer to a read of `count` registers or bits carries. */
export function expectedBytes(fc: FunctionCode, count: number): number {
  return fc <= 2 ? (count + 7) >> 3 : count * 2;
}

const NOUN: Record<FunctionCode, [string, string]> = {
  1: ['coil', 'coils'],
  2: ['discrete input', 'discrete inputs'],
  3: ['holding register', 'holding registers'],
  4: ['input register', 'input registers'],
};

/** "4 holding registers at 40": the read, as a reason names it. */
export function describeRead(fc: FunctionCode, start: number, count: number): string {
  const [one, many] = NOUN[fc];
  return `${count} ${count === 1 ? one : many} at ${start}`;
}

export function frameError(problem: string, fc: FunctionCode, start: number, count: number): ReadError {
  return new ReadError(`${problem} for ${describeRead(fc, start, count)}`, 'FG_E_MODBUS_FRAME');
}

const EXCEPTIONS: ReadError[] = [];
/** The device answered with exception `code` (one shared instance per code). */
export function exceptionError(code: number): ReadError {
  return (EXCEPTIONS[code] ??= new ReadError(`exception ${code}`, 'FG_E_MODBUS_EXCEPTION', code));
}

/**
 * Checks the answer `pdu` (function code onwards, without CRC) that came from unit `gotUnit`
 * for a read of `count` registers/bits at `start` from `unit` with function `fc`. Returns the
 * data bytes (a view of `pdu`, exactly expectedBytes long) or the ReadError to report. Reads
 * only inside `pdu`; never throws.
 */
export function checkAnswer(unit: number, fc: FunctionCode, start: number, count: number, gotUnit: number, pdu: Buffer): Buffer | ReadError {
  if (gotUnit !== unit) return frameError(`unit id ${gotUnit}, expected ${unit}`, fc, start, count);
  if (pdu.length === 0) return frameError('empty answer (no function code)', fc, start, count);
  const f = pdu[0]!;
  if (f === (fc | 0x80)) {
    if (pdu.length !== 2) return frameError(`exception answer of ${pdu.length} bytes, expected 2`, fc, start, count);
    return exceptionError(pdu[1]!);
  }
  if (f !== fc) return frameError(`function code ${f}, expected ${fc}`, fc, start, count);
  if (pdu.length < 2) return frameError('answer ends before its byte count', fc, start, count);
  const want = expectedBytes(fc, count);
  const bc = pdu[1]!;
  if (bc !== want) return frameError(`byte count ${bc}, expected ${want}`, fc, start, count);
  if (pdu.length - 2 !== bc) return frameError(`byte count ${bc} but ${pdu.length - 2} data bytes in the frame`, fc, start, count);
  return pdu.subarray(2);
}
