import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './wait.ts';

/** The repository's folder, and the CLI's source (tests run it through tsx, as `npm run fieldgate` does). */
export const root = fileURLToPath(new URL('../../', import.meta.url));
export const cliSource = join(root, 'src/cli.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `fieldgate ARGS` in its own process, run to its end from the repository's folder. */
export function fieldgate(args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cliSource, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: opts.timeout ?? 90_000,
    maxBuffer: 16 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface CliChild {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved */
  output: () => string;
  /** sends `signal` (SIGTERM) and waits for the exit; the exit code (the one it had, if it has ended) */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * A long-running `fieldgate ARGS` (run, simulate) in its own process; resolves once its output
 * satisfies `ready`, within `ms`; fails at once if the process ends before that.
 */
export async function startFieldgate(args: string[], what: string, ready: (output: string) => boolean, ms = 60_000): Promise<CliChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', cliSource, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill(signal);
    return exited;
  };
  try {
    await until(what, () => {
      if (child.exitCode !== null) throw new Error(`fieldgate ${args[0]} exited (${child.exitCode}) before ${what}`);
      return ready(out);
    }, ms, 100);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${out.slice(-2000)}`, { cause: e });
  }
  return { child, output: () => out, stop };
}
