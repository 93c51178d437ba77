// Bootstrap for inference workers: registers tsx so the TypeScript worker loads the same way
// under `node --import tsx`, from the CLI, and from tests. Workers are started with execArgv []
// so this is the only place tsx gets registered in them.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
