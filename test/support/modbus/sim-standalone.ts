/**
 * Runs one Modbus simulator in its own process, for benchmarks that must not share an event
 * loop with the client under test: `node --import tsx test/support/modbus/sim-standalone.ts '<json config>'`.
 * Prints "READY <port>" once listening; stops on SIGTERM/SIGINT or when stdin closes.
 * (`fieldgate simulate -c FILE` is the user-facing way to run simulators.)
 */
import { modbusSimulatorSchema } from '../../../drivers/modbus/sim/config.ts';
import { startModbusSimulator } from '../../../drivers/modbus/sim/server.ts';

const cfg = modbusSimulatorSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const sim = await startModbusSimulator(cfg);
process.stdout.write(`READY ${sim.port}\n`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`REQUESTS ${sim.requests}\n`);
  await sim.stop();
  process.exit(0);
};
// a failed stop must not become an unhandled rejection: say so and exit non-zero
const onStop = (): void => {
  stop().catch((e: unknown) => { console.error(e); process.exit(1); });
};
process.on('SIGTERM', onStop);
process.on('SIGINT', onStop);
process.stdin.on('end', onStop);
process.stdin.on('close', onStop);
process.stdin.resume();
