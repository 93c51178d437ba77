// Bootstrap for the outbox writer thread: registers tsx so the TypeScript worker loads the same way
// under `node --import tsx`, from the CLI and from tests. The worker is started with execArgv []
// so this is the only place tsx gets registered in it (as in src/inference/worker-entry.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./writer-worker.ts');
