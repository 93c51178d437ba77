// Bootstrap of every worker thread: registers tsx, then loads the TypeScript module named as the
// last argv entry. Workers start with execArgv [], so this is the one place tsx is registered in
// them, whether the process runs under `node --import tsx`, from the CLI or from tests.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[process.argv.length - 1]);
