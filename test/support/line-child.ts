import { type ChildProcess, spawn } from 'node:child_process';

/**
 * Runs a TypeScript fixture in a child process (through tsx) and hands each line it prints to
 * `onLine` as it comes: the kill -9 tests read the fixture's progress that way and kill it mid-stream,
 * the stop test its report of what is left open.
 */
export function runLineChild(fixture: string, args: string[], onLine: (line: string) => void): {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, err })));
  return { child, exited };
}
