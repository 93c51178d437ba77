import { setErrorLogger, setWarningLogger } from 'node-opcua-client';
import type { Logger } from '../../src/log.ts';

let sink: Logger | undefined;

/**
 * node-opcua prints its warnings straight to the console (certificate dumps, reconnection
 * chatter). They are routed to our logger at debug level; the driver reports what matters
 * itself with an FG_E_ code. Process-wide: the last logger handed in wins.
 */
export function quietNodeOpcua(log: Logger): void {
  sink = log;
  const write = (...args: unknown[]) => sink?.debug({ lib: 'node-opcua' }, args.map(String).join(' '));
  setWarningLogger(write);
  setErrorLogger(write);
}
